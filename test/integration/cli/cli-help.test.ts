import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

// Help, version and usage errors open no database: they run with an empty environment.
function gatehouse(args: string[]) {
  const res = spawnSync(process.execPath, [path.resolve('bin/gatehouse.js'), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8', timeout: 180_000 });
  // Node 20 (development only) makes oidc-provider print a runtime warning, and bin/gatehouse.js
  // reports a rebuild of dist/ after a source changed: neither is the command's output.
  const stderr = res.stderr.split('\n').filter((l) => l && !l.includes('oidc-provider WARNING') && !/^gatehouse: (compiling TypeScript|built dist\/)/.test(l));
  return { code: res.status, stdout: res.stdout, stderr };
}

const COMMANDS = ['migrate', 'tenant create', 'tenant list', 'tenant show', 'client create', 'client list', 'client show', 'user create', 'user list', 'user show', 'keys list', 'keys rotate', 'audit verify'];

jest.setTimeout(600_000); // dozens of CLI processes on a loaded machine

describe('gatehouse help', () => {
  it('--help, -h and help list every command on stdout with exit 0', () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const res = gatehouse(args);
      expect(res).toMatchObject({ code: 0, stderr: [] });
      for (const c of COMMANDS) expect(res.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    }
  });

  it('--version prints the package.json version', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(gatehouse(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: [] });
  });

  it('help COMMAND and COMMAND --help print the same usage, options and example', () => {
    for (const c of COMMANDS) {
      const words = c.split(' ');
      const a = gatehouse(['help', ...words]);
      const b = gatehouse([...words, '--help']);
      expect(a.code).toBe(0);
      expect(b).toEqual(a);
      expect(a.stdout).toMatch(new RegExp(`^usage: gatehouse ${c}\\b.*\\[--json\\]$`, 'm'));
      expect(a.stdout).toContain('--help');
      expect(a.stdout).toMatch(/^Examples?:\n  \S*.*\bgatehouse /m);
    }
    expect(gatehouse(['tenant', 'create', '--help']).stdout).toMatch(/^usage: gatehouse tenant create SLUG \[--name NAME\] \[--json\]$/m);
    expect(gatehouse(['user', 'create', '--help']).stdout).toMatch(/^usage: gatehouse user create --tenant SLUG --email EMAIL \[--password-stdin \| --password PW\] /m);
  });

  it('help NOUN prints the usage of each of its commands', () => {
    const res = gatehouse(['help', 'user']);
    expect(res.code).toBe(0);
    expect(res.stdout.match(/^usage: /gm)).toHaveLength(3);
    expect(gatehouse(['user', '--help'])).toEqual(res);
  });

  it('every usage line names only options the command accepts (and it accepts each of them)', () => {
    for (const c of COMMANDS) {
      const usage = gatehouse(['help', ...c.split(' ')]).stdout.split('\n')[0];
      const options = [...usage.matchAll(/--([a-z-]+)/g)].map((m) => m[1]).filter((o) => o !== 'json');
      // An option the usage line shows is never refused as unknown (it may fail later for want of a database or value).
      const res = gatehouse([...c.split(' '), ...options.flatMap((o) => [`--${o}`, 'x']), '--bogus-check']);
      expect(res).toMatchObject({ code: 2, stderr: [`gatehouse: ${c}: unknown option --bogus-check (see \`gatehouse ${c} --help\`)`] });
    }
  });

  it('an unknown command or option: exit 2, one line on stderr with the hint to --help', () => {
    expect(gatehouse(['frobnicate'])).toMatchObject({ code: 2, stdout: '', stderr: ['gatehouse: unknown command: frobnicate (see `gatehouse --help`)'] });
    expect(gatehouse(['--frobnicate'])).toMatchObject({ code: 2, stdout: '', stderr: ['gatehouse: unknown option: --frobnicate (see `gatehouse --help`)'] });
    expect(gatehouse([])).toMatchObject({ code: 2, stderr: ['gatehouse: no command given (see `gatehouse --help`)'] });
    expect(gatehouse(['tenant', 'create', 'acme', '--bogus'])).toMatchObject({ code: 2, stdout: '', stderr: ['gatehouse: tenant create: unknown option --bogus (see `gatehouse tenant create --help`)'] });
    expect(gatehouse(['tenant', 'frob'])).toMatchObject({ code: 2, stderr: ['gatehouse: unknown command: tenant frob (tenant takes create, list, show) (see `gatehouse help tenant`)'] });
    expect(gatehouse(['client', 'list'])).toMatchObject({ code: 2, stderr: ['gatehouse: client list: --tenant is required (see `gatehouse client list --help`)'] });
    expect(gatehouse(['tenant', 'show'])).toMatchObject({ code: 2, stderr: ['gatehouse: tenant show: SLUG is missing (see `gatehouse tenant show --help`)'] });
    expect(gatehouse(['tenant', 'show', 'a', 'b'])).toMatchObject({ code: 2, stderr: ['gatehouse: tenant show: unexpected argument b (see `gatehouse tenant show --help`)'] });
    expect(gatehouse(['tenant', 'create', 'acme', '--name'])).toMatchObject({ code: 2, stderr: ['gatehouse: tenant create: --name needs a value (NAME) (see `gatehouse tenant create --help`)'] });
    expect(gatehouse(['user', 'create', '--tenant', 't', '--email', 'a@b.co', '--password', 'x', '--password-stdin']).code).toBe(2);
    expect(gatehouse(['help', 'frobnicate'])).toMatchObject({ code: 2, stderr: ['gatehouse: unknown command: frobnicate (see `gatehouse --help`)'] });
  });
});
