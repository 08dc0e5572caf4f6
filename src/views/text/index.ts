import { en, type Catalogue } from './en.js';

/** The catalogue the pages speak. One language today; a later one picks by Accept-Language here. */
export const text: Catalogue = en;
export type { Catalogue };
