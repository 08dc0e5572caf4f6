import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// package.json sits two levels above src/config/ (tsx, jest) and three above dist/src/config/ (a build).
const here = path.dirname(fileURLToPath(import.meta.url));
const manifest = [path.resolve(here, '../../package.json'), path.resolve(here, '../../../package.json')].find(existsSync);

/** The package.json version: `gatehouse --version`, the front page and the start banner. */
export const VERSION: string = manifest ? String(JSON.parse(readFileSync(manifest, 'utf8')).version ?? 'unknown') : 'unknown';
