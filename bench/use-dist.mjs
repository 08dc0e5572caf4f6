// `node --import tsx --import ./bench/use-dist.mjs bench/run.ts`: the bench's own code runs
// through tsx, and Gatehouse's (src/) from its compiled output (dist/src/), the JavaScript that
// `npm start` and the image run. tsx's transform (esbuild, names kept) costs a call and a property
// definition for every function a hot path creates, which production never pays; the bare
// oidc-provider beside it is plain JavaScript from node_modules either way.
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
register('./use-dist-hooks.mjs', import.meta.url, { data: { root } });
