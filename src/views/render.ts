import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { text } from './text/index.js';

// views/ sits at the package root: two levels up from src/views/ (tsx, jest), three from the
// compiled dist/src/views/ (`npm run build`), which leaves the templates where they are.
const here = path.dirname(fileURLToPath(import.meta.url));
export const viewsDir = [path.resolve(here, '../../views'), path.resolve(here, '../../../views')].find((dir) =>
  existsSync(path.join(dir, 'layout.eta')),
) ?? path.resolve(here, '../../views');

// autoEscape is on: `<%= %>` escapes; nothing here uses the raw `<%~ %>` form except layout slots.
const eta = new Eta({ views: viewsDir, autoEscape: true, cache: true });

export interface PageData {
  title: string;
  [key: string]: unknown;
}

/** Renders a page; its template reads every word from `it.t` (views/text/en.ts). */
export function renderPage(view: string, data: PageData): string {
  return eta.render(view, { t: text, ...data });
}
