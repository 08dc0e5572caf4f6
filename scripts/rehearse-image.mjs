#!/usr/bin/env node
// Rehearses the Dockerfile where no Docker engine runs: reads its stages and performs their COPY
// and RUN steps into empty folders under /tmp (one fake root per stage, the build context filtered
// by .dockerignore), so a file the image lacks fails here too. Then starts the runtime stage's CMD
// with that stage's ENV, WORKDIR and USER, on the Node.js major of its FROM line (from the npm
// registry through npx), with production settings against a fresh PostgreSQL database and Redis,
// and checks /readyz, the HEALTHCHECK command, a client_credentials token of the system tenant for
// ${PUBLIC_URL}/admin, an admin API call, a page rendered from views/, the `gatehouse` CLI from the image (creating a user: bcrypt
// on that Node), and a clean exit on SIGTERM. Before starting it: the dependencies' patches (patches/)
// are applied in the image.
//
//   node scripts/rehearse-image.mjs        (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379)
// Env: REHEARSE_PG_ADMIN (default: postgres://root@127.0.0.1:5432, else the postgres user),
//      REHEARSE_REDIS_URL (default redis://127.0.0.1:6379/0), REHEARSE_KEEP=1 keeps the folder.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const context = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const step = (msg) => console.log(`[rehearse ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${msg}`);
const fail = (msg) => {
  throw new Error(msg);
};
// What the machine's environment lends to RUN steps: not NODE_ENV, nor npm's settings when run by npm.
const hostEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_ENV' && !/^npm_/i.test(k)));
// The official node images run as `node`, uid and gid 1000.
const IMAGE_USERS = { root: [0, 0], node: [1000, 1000] };

// ---- Dockerfile ----------------------------------------------------------------------------------
function parseDockerfile(text) {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages = [];
  for (const line of lines) {
    const [, op, rest] = line.match(/^(\w+)\s+(.*)$/) ?? fail(`cannot read Dockerfile line: ${line}`);
    const ins = op.toUpperCase();
    if (ins === 'FROM') {
      const m = rest.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i) ?? fail(`cannot read FROM ${rest}`);
      stages.push({ image: m[1], name: m[2] ?? String(stages.length), steps: [] });
    } else if (!stages.length) {
      if (ins !== 'ARG') fail(`${ins} before FROM`);
    } else {
      stages.at(-1).steps.push({ ins, rest });
    }
  }
  return stages;
}

function words(s) {
  return s.match(/"[^"]*"|'[^']*'|\S+/g).map((w) => w.replace(/^(["'])(.*)\1$/, '$2'));
}

function parseEnv(rest) {
  const out = {};
  const parts = words(rest);
  if (parts.length === 2 && !parts[0].includes('=')) out[parts[0]] = parts[1]; // legacy `ENV KEY value`
  else for (const p of parts) out[p.slice(0, p.indexOf('='))] = p.slice(p.indexOf('=') + 1);
  return out;
}

// ---- .dockerignore (the subset this repository uses: plain names and globs, no `!` exceptions) ---
function dockerignore() {
  const file = path.join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    : [];
  if (patterns.some((p) => p.startsWith('!'))) fail('.dockerignore exceptions (!) are not rehearsed');
  const regexes = patterns.map((p) => {
    const glob = p.replace(/^\/+|\/+$/g, '');
    const re = glob.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*');
    return new RegExp(`^${re}(/.*)?$`);
  });
  return (rel) => !regexes.some((re) => re.test(rel));
}

// ---- steps ---------------------------------------------------------------------------------------
function copyStep(stage, rest, stagesByName, included) {
  const args = words(rest);
  const flags = {};
  while (args[0]?.startsWith('--')) {
    const [k, v] = args.shift().slice(2).split('=');
    flags[k] = v;
  }
  const dest = args.pop();
  if (!args.length) fail(`COPY without a source: ${rest}`);
  const into = path.join(stage.root, path.posix.isAbsolute(dest) ? dest : path.posix.join(stage.workdir, dest));
  const fromRoot = flags.from ? (stagesByName.get(flags.from)?.root ?? fail(`COPY --from=${flags.from}: no such stage`)) : context;
  for (const src of args) {
    const abs = path.join(fromRoot, flags.from ? src : path.normalize(src));
    const rel = path.relative(fromRoot, abs);
    if (!existsSync(abs) || (!flags.from && !included(rel))) fail(`COPY ${src}: not in the ${flags.from ? `${flags.from} stage` : 'build context'}`);
    const target = statSync(abs).isDirectory() ? into : dest.endsWith('/') || args.length > 1 ? path.join(into, path.basename(abs)) : into;
    mkdirSync(statSync(abs).isDirectory() ? target : path.dirname(target), { recursive: true });
    cpSync(abs, target, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (p) => flags.from || included(path.relative(context, p)),
    });
    if (flags.chown) chownTree(target, flags.chown);
  }
}

function chownTree(p, spec) {
  const [u, g] = IMAGE_USERS[spec.split(':')[0]] ?? spec.split(':').map(Number);
  execFileSync('chown', ['-R', `${u}:${g ?? u}`, p]);
}

// A RUN line runs with the stage's root standing in for `/`: absolute paths point into it, and the
// image's user names become their ids.
function runStep(stage, cmd, env) {
  const mapped = cmd
    .replace(/(^|[\s=:'"])\/(?=[A-Za-z_])/g, `$1${stage.root}/`)
    .replace(/\bchown\s+(-R\s+)?(\w+):(\w+)/g, (m, r, u, g) => `chown ${r ?? ''}${IMAGE_USERS[u]?.[0] ?? u}:${IMAGE_USERS[g]?.[1] ?? g}`);
  const res = spawnSync('sh', ['-ec', mapped], { cwd: path.join(stage.root, stage.workdir), env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.status !== 0) fail(`RUN ${cmd}: exit ${res.status ?? res.signal}`);
}

function nodeFor(image) {
  const major = image.match(/^node:(\d+)/)?.[1] ?? fail(`FROM ${image}: not a node image`);
  if (process.versions.node.split('.')[0] === major) return process.execPath;
  const out = execFileSync('npx', ['-y', '-p', `node@${major}`, 'node', '-e', 'console.log(process.execPath)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').at(-1);
}

function buildStages(stages) {
  const included = dockerignore();
  const byName = new Map();
  for (const stage of stages) {
    stage.root = path.join(workRoot, stage.name);
    stage.workdir = '/';
    stage.env = {};
    stage.user = 'root';
    mkdirSync(stage.root, { recursive: true });
    // The image's node at its place in the official images; a copy, so the image user can run it.
    const node = nodeFor(stage.image);
    mkdirSync(path.join(stage.root, 'usr/local/bin'), { recursive: true });
    copyFileSync(node, path.join(stage.root, 'usr/local/bin/node'));
    chmodSync(path.join(stage.root, 'usr/local/bin/node'), 0o755);
    step(`stage ${stage.name} (${stage.image}: node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()})`);
    for (const { ins, rest } of stage.steps) {
      // npm's cache stays the machine's (warm; an image keeps it in /root, outside the stage).
      const env = { ...hostEnv, npm_config_prefer_offline: 'true', ...stage.env, PATH: `${path.join(stage.root, 'usr/local/bin')}:${process.env.PATH}` };
      if (ins === 'WORKDIR') {
        stage.workdir = path.posix.resolve(stage.workdir, rest);
        mkdirSync(path.join(stage.root, stage.workdir), { recursive: true });
      } else if (ins === 'ENV') Object.assign(stage.env, parseEnv(rest));
      else if (ins === 'USER') stage.user = rest;
      else if (ins === 'COPY') copyStep(stage, rest, byName, included);
      else if (ins === 'RUN') {
        step(`${stage.name}: RUN ${rest}`);
        runStep(stage, rest, env);
      } else if (ins === 'ADD') fail('ADD is not rehearsed: use COPY');
      else if (['CMD', 'HEALTHCHECK', 'EXPOSE', 'VOLUME', 'LABEL', 'ARG', 'ENTRYPOINT', 'STOPSIGNAL', 'SHELL'].includes(ins)) stage[ins.toLowerCase()] = rest;
      else fail(`${ins} is not rehearsed`);
    }
    byName.set(stage.name, stage);
  }
  return stages.at(-1);
}

// ---- the runtime stage, started ------------------------------------------------------------------
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function psql(url, sql) {
  return spawnSync('psql', [url, '-Atqc', sql], { encoding: 'utf8' });
}

function pgAdmin() {
  const candidates = process.env.REHEARSE_PG_ADMIN ? [process.env.REHEARSE_PG_ADMIN] : ['postgres://root@127.0.0.1:5432', 'postgres://postgres@127.0.0.1:5432'];
  return candidates.find((u) => psql(`${u}/postgres`, 'select 1').status === 0) ?? fail('PostgreSQL does not answer on 127.0.0.1:5432');
}

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The dependencies' patches (patches/, applied by npm ci's postinstall) are in the image: in each
 * file a patch changes under the runtime stage's node_modules, every hunk reads as the patch leaves
 * it (its context and added lines, in order) and no longer as it found it (context and removed
 * lines). A Dockerfile that ran npm ci before copying patches/ would ship the dependencies
 * unpatched, and nothing else here would notice.
 */
function checkPatches(appRoot) {
  const dir = path.join(context, 'patches');
  const patches = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.patch')) : [];
  for (const name of patches) {
    const hunks = []; // { file, before: string[], after: string[] }
    let file;
    let hunk;
    for (const raw of readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      const line = raw.replace(/\r$/, '');
      if (line.startsWith('diff --git ')) file = hunk = undefined;
      else if (line.startsWith('+++ ')) {
        const target = line.slice(4).trim();
        file = target === '/dev/null' ? undefined : target.replace(/^b\//, ''); // a deleted file: nothing to read
      } else if (line.startsWith('--- ')) continue;
      else if (line.startsWith('@@')) {
        hunk = file && { file, before: [], after: [] };
        if (hunk) hunks.push(hunk);
      } else if (hunk && line.startsWith('+')) hunk.after.push(line.slice(1));
      else if (hunk && line.startsWith('-')) hunk.before.push(line.slice(1));
      else if (hunk && (line.startsWith(' ') || line === '')) {
        hunk.before.push(line.slice(1));
        hunk.after.push(line.slice(1));
      }
    }
    for (const { file: rel, before, after } of hunks) {
      const abs = path.join(appRoot, rel);
      if (!existsSync(abs)) fail(`${name} changes ${rel}, which is not in the image`);
      const text = readFileSync(abs, 'utf8');
      // The line after a hunk's last one may be the file's last: compare without trailing blanks.
      const block = (lines) => lines.join('\n').trimEnd();
      if (!text.includes(block(after))) fail(`${name} is not applied in the image: ${rel} does not read as the patch leaves it`);
      if (block(before) !== block(after) && text.includes(block(before))) fail(`${name} is not applied in the image: ${rel} still reads as before the patch`);
    }
    step(`${name}: applied (${hunks.length} hunk${hunks.length === 1 ? '' : 's'})`);
  }
}

async function runImage(stage) {
  if (!stage.cmd) fail('the runtime stage has no CMD');
  if (stage.env.NODE_ENV !== 'production') fail(`the runtime stage sets NODE_ENV=${stage.env.NODE_ENV}, not production`);
  if (stage.user === 'root') fail('the runtime stage runs as root');
  const [uid, gid] = IMAGE_USERS[stage.user] ?? fail(`USER ${stage.user}: unknown to the rehearsal`);
  const argv = JSON.parse(stage.cmd);
  const forbidden = ['src', 'test', 'tsconfig.json', 'node_modules/typescript', 'node_modules/tsx', 'node_modules/ts-jest', 'node_modules/jest'];
  const present = forbidden.filter((p) => existsSync(path.join(stage.root, stage.workdir, p)));
  if (present.length) fail(`the runtime stage holds what it should not: ${present.join(', ')}`);
  checkPatches(path.join(stage.root, stage.workdir));

  const admin = pgAdmin();
  const db = `gatehouse_rehearse_${Date.now()}_${process.pid}`;
  if (psql(`${admin}/postgres`, `create database ${db}`).status !== 0) fail(`cannot create database ${db}`);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientId = 'rehearse-admin';
  const secret = randomBytes(32).toString('hex');
  const rootPath = (p) => (p?.startsWith('/') ? path.join(stage.root, p) : p);
  const env = {
    PATH: `${path.join(stage.root, 'usr/local/bin')}:/usr/bin:/bin`,
    HOME: path.join(stage.root, 'home', stage.user), // absent, as nothing should write there
    ...stage.env,
    GATEHOUSE_DATA_DIR: rootPath(stage.env.GATEHOUSE_DATA_DIR),
    PORT: String(port),
    PUBLIC_URL: publicUrl,
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
    DATABASE_URL: `${admin}/${db}`,
    REDIS_URL: process.env.REHEARSE_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID: clientId,
    GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: secret,
  };
  const asImageUser = process.getuid?.() === 0 ? { uid, gid } : {};
  if (!asImageUser.uid) step('not root: the server runs as the current user, not the image user');
  chmodSync(workRoot, 0o755);
  step(`CMD ${argv.join(' ')} (uid ${uid}) on ${publicUrl}, database ${db}`);
  const child = spawn(argv[0], argv.slice(1), { cwd: path.join(stage.root, stage.workdir), env, stdio: ['ignore', 'pipe', 'pipe'], ...asImageUser });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let exit;
  exited.then((e) => (exit = e));
  try {
    await waitFor(async () => {
      if (exit) fail(`the server exited (${JSON.stringify(exit)})`);
      return (await fetch(`${publicUrl}/readyz`)).status === 200;
    }, 120_000, '/readyz 200');
    step('/readyz 200');

    const hc = stage.healthcheck?.match(/\bCMD\s+(.*)$/)?.[1] ?? fail('no HEALTHCHECK CMD');
    const hcRun = spawnSync('sh', ['-c', hc], { env, cwd: path.join(stage.root, stage.workdir), ...asImageUser, encoding: 'utf8', timeout: 10_000 });
    if (hcRun.status !== 0) fail(`HEALTHCHECK exit ${hcRun.status}: ${hcRun.stderr}`);
    step('HEALTHCHECK exit 0');

    // A page from views/ (oidc-provider's error page for an unknown client): templates in the image.
    const page = await fetch(`${publicUrl}/t/system/auth?client_id=rehearse-unknown&response_type=code&scope=openid`);
    const html = await page.text();
    if (page.status < 400 || page.status >= 500 || !/<html[\s\S]*Gatehouse/.test(html)) fail(`error page: ${page.status} ${html.slice(0, 200)}`);
    step(`an error page rendered from views/ (${page.status})`);

    const tokenRes = await fetch(`${publicUrl}/t/system/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${publicUrl}/admin` }),
    });
    const token = await tokenRes.json();
    if (tokenRes.status !== 200 || !token.access_token) fail(`token: ${tokenRes.status} ${JSON.stringify(token)}`);
    step(`client_credentials token for ${publicUrl}/admin (${token.token_type}, expires_in ${token.expires_in})`);
    const tenants = await fetch(`${publicUrl}/admin/v1/tenants`, { headers: { authorization: `Bearer ${token.access_token}` } });
    if (tenants.status !== 200) fail(`GET /admin/v1/tenants: ${tenants.status} ${await tenants.text()}`);
    step('GET /admin/v1/tenants 200');

    // The CLI from the same image, beside the live server (DATABASE_URL): the bin with only dist/,
    // and bcrypt's native prebuild hashing a password on this Node.
    const cli = spawnSync('node', ['bin/gatehouse.js', 'user', 'create', '--tenant', 'system', '--email', 'rehearse@example.com', '--password-stdin', '--json'], {
      env, cwd: path.join(stage.root, stage.workdir), ...asImageUser, input: 'correct horse battery staple\n', encoding: 'utf8', timeout: 60_000,
    });
    let user;
    try {
      user = JSON.parse(cli.stdout);
    } catch {}
    if (cli.status !== 0 || !user?.id) fail(`gatehouse user create: exit ${cli.status}, stdout ${cli.stdout.slice(0, 300)}, stderr ${cli.stderr.slice(0, 500)}`);
    step(`gatehouse user create --json: ${user.email} (stdout pure JSON)`);

    child.kill('SIGTERM');
    const result = await Promise.race([exited, new Promise((r) => setTimeout(() => r({ timeout: true }), 30_000))]);
    if (result.timeout || result.code !== 0) fail(`SIGTERM: ${JSON.stringify(result)}`);
    step('SIGTERM: exit 0');
    const written = readdirSync(rootPath(stage.env.GATEHOUSE_DATA_DIR));
    step(`data folder after the run: ${written.length ? written.join(', ') : '(empty)'}`);
  } catch (err) {
    process.stderr.write(`--- server output ---\n${output.slice(-6000)}\n---\n`);
    throw err;
  } finally {
    if (!exit) child.kill('SIGKILL');
    psql(`${admin}/postgres`, `drop database if exists ${db} with (force)`);
  }
}

const workRoot = mkdtempSync('/tmp/gatehouse-image.');
try {
  const stages = parseDockerfile(readFileSync(path.join(context, 'Dockerfile'), 'utf8'));
  const runtime = buildStages(stages);
  await runImage(runtime);
  step('image rehearsal passed');
} catch (err) {
  console.error(`image rehearsal FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  if (process.env.REHEARSE_KEEP === '1') step(`kept ${workRoot}`);
  else rmSync(workRoot, { recursive: true, force: true });
}
