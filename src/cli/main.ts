import { Console } from 'node:console';
import { closeDeps, openDeps } from '../app.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { VERSION } from '../config/version.js';
import { dataDirHolder } from '../db/lock.js';
import { CLI_ACTOR } from '../deps.js';
import { ClientExistsError, ClientMetadataRefusedError, UnknownRoleError } from '../domain/clients/clients.service.js';
import { ensureSystemTenant, InvalidSlugError, TenantExistsError } from '../domain/tenants/tenants.service.js';
import { PasswordPolicyError, UserExistsError } from '../domain/users/users.service.js';
import { configureLogger } from '../log/logger.js';
import { InvalidClientMetadataError } from '../tenancy/validate-client.js';
import { clientCommands } from './commands/client.js';
import { operationCommands } from './commands/operations.js';
import { tenantCommands } from './commands/tenant.js';
import { userCommands } from './commands/user.js';
import { commandHelp, generalHelp, parseCommandArgs, Refused, UsageError, type CommandSpec } from './table.js';

/** The one table of commands: dispatch, usage lines and help all come from it. */
const COMMANDS: CommandSpec[] = [...operationCommands, ...tenantCommands, ...clientCommands, ...userCommands].filter((c) => c.run || c.standalone);

const isHelp = (a: string) => a === '--help' || a === '-h';

/** The command named by the first one or two words, or a UsageError saying what exists. */
function resolve(words: string[]): { spec: CommandSpec; rest: string[] } {
  const [first, second] = words;
  const spec = COMMANDS.find((c) => c.name === `${first} ${second}`) ?? COMMANDS.find((c) => c.name === first);
  if (spec) return { spec, rest: words.slice(spec.name.split(' ').length) };
  const family = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (family.length) {
    const verbs = family.map((c) => c.name.split(' ')[1]).join(', ');
    throw new UsageError(second && !second.startsWith('-') ? `unknown command: ${first} ${second} (${first} takes ${verbs})` : `${first} needs one of: ${verbs}`, `gatehouse help ${first}`);
  }
  throw new UsageError(`unknown command: ${first}`);
}

function familyHelp(noun: string) {
  return COMMANDS.filter((c) => c.name.startsWith(`${noun} `)).map(commandHelp).join('\n');
}

/** `help`, `--help` and `--version` print on stdout and open nothing. True when handled. */
function answerHelp(argv: string[]): boolean {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--version' || first === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return true;
  }
  if (isHelp(first) || first === 'help') {
    const words = rest.filter((a) => !isHelp(a));
    if (!words.length) process.stdout.write(generalHelp(COMMANDS, VERSION));
    else if (COMMANDS.some((c) => c.name.startsWith(`${words[0]} `)) && words.length === 1) process.stdout.write(familyHelp(words[0]));
    else process.stdout.write(commandHelp(resolveExact(words)));
    return true;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option: ${first}`);
  if (argv.some(isHelp)) {
    const noun = COMMANDS.some((c) => c.name.startsWith(`${first} `)) && (argv[1] === undefined || isHelp(argv[1]));
    process.stdout.write(noun ? familyHelp(first) : commandHelp(resolve(argv).spec));
    return true;
  }
  return false;
}

function resolveExact(words: string[]) {
  const { spec, rest } = resolve(words);
  if (rest.length) throw new UsageError(`unknown command: ${words.join(' ')}`);
  return spec;
}

async function run(argv: string[]): Promise<number> {
  if (answerHelp(argv)) return 0;
  const { spec, rest } = resolve(argv);
  const { values, positionals } = parseCommandArgs(spec, rest);
  if (spec.standalone) return (await spec.standalone(rest)) ?? 0;
  const config = loadConfig();
  if (!config.databaseUrl) {
    const holder = dataDirHolder(config.dataDir);
    if (holder) throw new Refused(`the embedded database in ${config.dataDir} is held by a running server (pid ${holder}): stop the server, or set DATABASE_URL`);
  }
  const deps = await openDeps(config);
  try {
    await ensureSystemTenant(deps, CLI_ACTOR);
    const json = Boolean(values.json);
    const print = (object: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(object, null, 2)}\n` : `${text}\n`);
    return (await spec.run!({ deps, config, values, positionals, json, print })) ?? 0;
  } finally {
    await closeDeps(deps);
  }
}

// DESIGN.md "CLI": stdout carries only the command's output, so `gatehouse … --json | jq` works.
// Our logs and any library's console notices (oidc-provider prints some with console.info) go to stderr.
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
configureLogger({ level: 'warn', stderr: true });

const REFUSALS = [Refused, ConfigError, TenantExistsError, InvalidSlugError, ClientExistsError, UnknownRoleError, UserExistsError, PasswordPolicyError, InvalidClientMetadataError, ClientMetadataRefusedError];

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      // One line: what is wrong and where the right form is shown.
      process.stderr.write(`gatehouse: ${err.message} (see \`${err.hint}\`)\n`);
      process.exit(2);
    }
    if (REFUSALS.some((k) => err instanceof k)) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`gatehouse: unexpected error: ${err?.message ?? err}\n`);
    process.exit(1);
  },
);
