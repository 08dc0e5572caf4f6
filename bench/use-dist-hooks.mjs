// Module hooks of bench/use-dist.mjs. Registered after tsx's, they resolve first: a module tsx
// resolves into src/ is loaded from dist/src/ instead (scripts/ensure-built.mjs keeps it current).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let src;
let dist;

export function initialize({ root }) {
  src = `${pathToFileURL(path.join(root, 'src')).href}/`;
  dist = `${pathToFileURL(path.join(root, 'dist', 'src')).href}/`;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (!resolved.url.startsWith(src)) return resolved;
  const compiled = dist + resolved.url.slice(src.length).replace(/\.ts$/, '.js');
  if (!existsSync(fileURLToPath(compiled))) throw new Error(`bench: ${fileURLToPath(compiled)} is missing: run npm run build`);
  return { url: compiled, format: 'module', shortCircuit: true };
}
