import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The line patches/oidc-provider+9.13.3.patch puts into oidc-provider (lib/helpers/initialize_app.js):
 * each request's OIDC context as a plain property, so an answered request dies young instead of
 * being promoted whole (docs/BENCHMARKS.md, the sixteenth session).
 */
export const OIDC_PROVIDER_PATCHED_LINE = 'ctx.oidc = new this.OIDCContext(ctx);';

/** The file of the installed oidc-provider that the patch changes. */
export function oidcProviderPatchedFile() {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('oidc-provider')), 'helpers', 'initialize_app.js');
}

/**
 * Whether the installed oidc-provider carries Gatehouse's patch. `npm ci` and `npm install` apply
 * it (package.json `postinstall`); an install with `--ignore-scripts` does not, and the server then
 * runs correctly but with a longer latency tail under load, which nothing else would show.
 * 'unknown' when the file cannot be read (a bundled or relocated install).
 */
export function oidcProviderPatch(read: (file: string) => string = (file) => readFileSync(file, 'utf8')): 'applied' | 'missing' | 'unknown' {
  let source: string;
  try {
    source = read(oidcProviderPatchedFile());
  } catch {
    return 'unknown';
  }
  return source.includes(OIDC_PROVIDER_PATCHED_LINE) ? 'applied' : 'missing';
}
