import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Debian's layout: `apt-get install apache2-bin libapache2-mod-auth-openidc`. */
export const APACHE_BIN = process.env.APACHE_BIN ?? '/usr/sbin/apache2';
export const MODULES_DIR = process.env.APACHE_MODULES_DIR ?? '/usr/lib/apache2/modules';
const MODULES = ['mpm_event', 'authn_core', 'authz_core', 'authz_user', 'dir', 'include', 'auth_openidc'];

/** Why Apache with mod_auth_openidc cannot run here, or undefined when it can. */
export function apacheMissing(): string | undefined {
  if (!existsSync(APACHE_BIN)) return `${APACHE_BIN} not found`;
  const absent = MODULES.filter((m) => !existsSync(path.join(MODULES_DIR, `mod_${m}.so`)));
  return absent.length ? `Apache modules not found in ${MODULES_DIR}: ${absent.join(', ')}` : undefined;
}

/** A port nobody listens on right now, on loopback. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ApacheOidc {
  metadataUrl: string;
  clientId: string;
  clientSecret: string;
  /** More mod_auth_openidc directives, server-wide. */
  extra?: string[];
}

export interface Apache {
  origin: string;
  /** The URL a visitor asks for; mod_auth_openidc guards everything under /protected. */
  protectedUrl: string;
  redirectUri: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export const redirectUriFor = (port: number) => `http://127.0.0.1:${port}/protected/redirect_uri`;

/**
 * A standalone httpd acting as a relying party, configured the way mod_auth_openidc's README
 * shows; its config, pid file, logs and mutexes live in a temp dir of its own, removed on stop.
 * The protected page echoes, through SSI, the REMOTE_USER Apache derived from the id_token
 * (OIDCRemoteUserClaim email) and the claims the module passes on as environment variables.
 */
export async function startApache(port: number, oidc: ApacheOidc): Promise<Apache> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-apache-'));
  const origin = `http://127.0.0.1:${port}`;
  const redirectUri = redirectUriFor(port);
  const docs = path.join(dir, 'htdocs');
  mkdirSync(path.join(docs, 'protected'), { recursive: true });
  writeFileSync(path.join(docs, 'protected', 'index.html'), 'user=<!--#echo var="REMOTE_USER" -->\nsub=<!--#echo var="OIDC_CLAIM_sub" -->\nemail=<!--#echo var="OIDC_CLAIM_email" -->\n');
  // Started as root, httpd serves from an unprivileged user that must read the tree.
  for (const p of [dir, docs, path.join(docs, 'protected')]) chmodSync(p, 0o755);
  const root = process.getuid?.() === 0;
  const conf = path.join(dir, 'httpd.conf');
  writeFileSync(conf, [
    ...MODULES.map((m) => `LoadModule ${m}_module ${MODULES_DIR}/mod_${m}.so`),
    `ServerRoot "${dir}"`,
    `ServerName 127.0.0.1:${port}`,
    `Listen 127.0.0.1:${port}`,
    `PidFile "${dir}/httpd.pid"`,
    `DefaultRuntimeDir "${dir}"`,
    `ErrorLog "${dir}/error.log"`,
    'LogLevel warn auth_openidc:debug',
    ...(root ? ['User www-data', 'Group www-data'] : []),
    `DocumentRoot "${docs}"`,
    'DirectoryIndex index.html',
    `<Directory "${docs}">`,
    '  Options +Includes',
    '  AllowOverride None',
    '  Require all granted',
    '</Directory>',
    `OIDCProviderMetadataURL ${oidc.metadataUrl}`,
    `OIDCClientID ${oidc.clientId}`,
    `OIDCClientSecret ${oidc.clientSecret}`,
    `OIDCRedirectURI ${redirectUri}`,
    `OIDCCryptoPassphrase ${randomBytes(24).toString('hex')}`,
    'OIDCScope "openid email profile"',
    'OIDCPKCEMethod S256',
    'OIDCRemoteUserClaim email',
    ...(oidc.extra ?? []),
    '<Location /protected>',
    '  AuthType openid-connect',
    '  Require valid-user',
    '  SetOutputFilter INCLUDES',
    '</Location>',
    '',
  ].join('\n'));
  const errorLog = () => (existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8') : '');
  const child = spawn(APACHE_BIN, ['-d', dir, '-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitForPort(port, child, exited, () => `${output}\n${errorLog()}`);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    origin,
    protectedUrl: `${origin}/protected/`,
    redirectUri,
    errorLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, exited: Promise<number | null>, diagnostics: () => string) {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 100; i++) {
    if (gone) throw new Error(`apache2 exited with ${child.exitCode}:\n${diagnostics()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error(`apache2 did not listen on ${port} within 10 s:\n${diagnostics()}`);
}

function canConnect(port: number) {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
