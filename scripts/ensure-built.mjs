#!/usr/bin/env node
// Compiles src/ and migrations/ to dist/ with tsc when dist/ is missing or older than any source,
// so `npm start` and `npx gatehouse` run plain JavaScript on a fresh clone (DESIGN.md "Stack": no
// TypeScript loader at run time). Quick when up to date: it compares modification times only.
// Progress goes to stderr, so `gatehouse … --json` keeps stdout pure JSON.
// Without src/ (a production image) dist/ is taken as it is.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const stamp = path.join(dist, '.built');
const lock = path.join(root, '.build.lock');
const inputs = ['src', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newest(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted or renamed file changes its folder's time
  for (const entry of readdirSync(p)) max = Math.max(max, newest(path.join(p, entry)));
  return max;
}

function isFresh() {
  if (!existsSync(path.join(dist, 'src/main.js'))) return false;
  if (!existsSync(path.join(root, 'src'))) return true; // an image with only the compiled output
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return inputs.every((p) => newest(path.join(root, p)) <= built);
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// One build at a time: `npm start` beside `npx gatehouse`, or tests spawning the CLI in parallel.
function withLock(fn) {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > 300_000) rmSync(lock, { recursive: true, force: true }); // left by a killed build
      else if (Date.now() > deadline) throw new Error(`another build holds ${lock}`);
      else sleep(250);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function build({ clean }) {
  // tsc's incremental build trusts dist/.tsbuildinfo and would not emit files deleted from dist/.
  if (clean) rmSync(dist, { recursive: true, force: true });
  else if (!existsSync(path.join(dist, 'src/main.js'))) rmSync(path.join(dist, '.tsbuildinfo'), { force: true });
  let tsc;
  try {
    tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('gatehouse: dist/ is missing or out of date, and TypeScript is not installed to build it.\n' +
      '  Run `npm install` (with dev dependencies), then `npm run build`.\n');
    return 1;
  }
  process.stderr.write('gatehouse: compiling TypeScript to dist/ (npm run build) …\n');
  const started = new Date();
  const res = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (res.status !== 0) {
    process.stderr.write(`gatehouse: the build failed (tsc exit ${res.status ?? res.signal}); fix the errors above.\n`);
    return 1;
  }
  copyAssets(path.join(root, 'src'), path.join(dist, 'src'));
  // Stamped with the start time: a source saved while tsc ran counts as newer, so it builds again.
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
  process.stderr.write(`gatehouse: built dist/ in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s\n`);
  return 0;
}

/** Data files beside the sources (e.g. security/common-passwords.txt) go where the compiled code reads them. */
function copyAssets(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyAssets(source, path.join(to, entry.name));
    else if (!/\.(ts|md)$/.test(entry.name)) {
      mkdirSync(to, { recursive: true });
      copyFileSync(source, path.join(to, entry.name));
    }
  }
}

/** Returns 0 when dist/ is usable, else 1 (having said why on stderr). `force`: a clean build. */
export function ensureBuilt({ force = false } = {}) {
  if (!force && isFresh()) return 0;
  return withLock(() => (!force && isFresh() ? 0 : build({ clean: force })));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = ensureBuilt({ force: process.argv.includes('--force') });
}
