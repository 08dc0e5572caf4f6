import { parseArgs } from 'node:util';
import type { Config } from '../config/load.js';
import type { Deps } from '../deps.js';

/** Bad usage (exit 2): `hint` names the help that shows the right form. */
export class UsageError extends Error {
  constructor(message: string, readonly hint = 'gatehouse --help') {
    super(message);
  }
}

/** A refused command (exit 1): one line on stderr. */
export class Refused extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** The placeholder (or `a|b|c` choices) shown after a string option. */
  value?: string;
  multiple?: boolean;
  required?: boolean;
  help: string;
}

export interface CommandContext {
  deps: Deps;
  config: Config;
  values: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
  json: boolean;
  /** `--json`: the object as JSON; otherwise the readable text. Nothing else reaches stdout. */
  print(object: unknown, text: string): void;
}

export interface CommandSpec {
  /** One or two words: `migrate`, `tenant create`. */
  name: string;
  /** Positionals as shown in usage (`SLUG`, `(ID|EMAIL)`); `arity` says how many are taken. */
  args?: string;
  arity?: number;
  summary: string;
  /** Command-specific options; `--json` and `--help` are added to every command. */
  options: Record<string, OptionSpec>;
  /** Usage text for options that exclude each other, used instead of their own entries. */
  usageGroups?: string[][];
  examples: string[];
  run?: (cx: CommandContext) => Promise<number | void>;
  /**
   * A command that opens storage itself, in its own way (`master-key rotate` opens the database
   * before its key fits); it gets the arguments after its name, already checked against `options`.
   */
  standalone?: (args: string[]) => Promise<number | void>;
}

export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'print the result as JSON (as the admin API answers it) and nothing else on stdout' },
  help: { type: 'boolean', help: 'show this help' },
};

export function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, json: spec.options.json ?? COMMON_OPTIONS.json }; // a command may say what its JSON is
}

function optionUsage(name: string, o: OptionSpec) {
  const text = o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`;
  const shown = o.multiple ? `${text}...` : text;
  return o.required ? shown : `[${shown}]`;
}

/** The usage line, derived from the same spec that parses the arguments. */
export function usageOf(spec: CommandSpec): string {
  const grouped = new Set((spec.usageGroups ?? []).flat());
  const parts = [`gatehouse ${spec.name}`];
  if (spec.args) parts.push(spec.args);
  const options = Object.entries(optionsOf(spec));
  for (const [name, o] of options.filter(([, o]) => o.required)) parts.push(optionUsage(name, o));
  for (const group of spec.usageGroups ?? []) parts.push(`[${group.map((n) => optionUsage(n, { ...spec.options[n], required: true })).join(' | ')}]`);
  for (const [name, o] of options.filter(([n, o]) => !o.required && !grouped.has(n))) parts.push(optionUsage(name, o));
  return parts.join(' ');
}

export function commandHelp(spec: CommandSpec): string {
  const options = Object.entries({ ...optionsOf(spec), help: COMMON_OPTIONS.help });
  const shown = options.map(([name, o]) => [o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`, o.help + (o.multiple ? ' (repeatable)' : '')]);
  const width = Math.max(...shown.map(([left]) => left.length));
  return [
    `usage: ${usageOf(spec)}`,
    '',
    spec.summary,
    '',
    'Options:',
    ...shown.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`),
    '',
    spec.examples.length > 1 ? 'Examples:' : 'Example:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

export function generalHelp(commands: CommandSpec[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `gatehouse ${version}: manage a Gatehouse instance from the command line`,
    '',
    'usage: gatehouse COMMAND [ARGUMENTS] [OPTIONS]',
    '       gatehouse help [COMMAND]    gatehouse COMMAND --help    gatehouse --version',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --json (its result as JSON on stdout, exactly as the admin API answers it) and --help.',
    'The CLI reads the same environment as the server (DATABASE_URL, GATEHOUSE_DATA_DIR, GATEHOUSE_MASTER_KEY, ...)',
    'and works on the database directly. With the embedded database, stop the server first.',
    'Exit status: 0 done, 1 refused (one line on stderr says why), 2 bad usage.',
    '',
  ].join('\n');
}

/** Parses a command's arguments strictly against its spec; anything else is a UsageError. */
export function parseCommandArgs(spec: CommandSpec, args: string[]) {
  const hint = `gatehouse ${spec.name} --help`;
  const options = optionsOf(spec);
  const { values, positionals, tokens } = parseArgs({
    args,
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(Object.entries(options).map(([n, o]) => [n, { type: o.type, multiple: Boolean(o.multiple) }])),
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const o = options[token.name];
    if (!o) {
      // An argument may itself start with '-' (an id, a name): after `--` nothing is an option.
      const literal = (spec.arity ?? 0) > 0 && !token.rawName.startsWith('--') ? '; an argument that starts with "-" goes after --' : '';
      throw new UsageError(`${spec.name}: unknown option ${token.rawName}${literal}`, hint);
    }
    if (o.type === 'string' && token.value === undefined) throw new UsageError(`${spec.name}: ${token.rawName} needs a value (${o.value ?? 'VALUE'})`, hint);
    if (o.type === 'boolean' && token.value !== undefined) throw new UsageError(`${spec.name}: ${token.rawName} takes no value`, hint);
    if (!o.multiple && tokens.filter((t) => t.kind === 'option' && t.name === token.name).length > 1) throw new UsageError(`${spec.name}: ${token.rawName} given more than once`, hint);
  }
  for (const [name, o] of Object.entries(options)) {
    if (o.required && values[name] === undefined) throw new UsageError(`${spec.name}: --${name} is required`, hint);
  }
  const arity = spec.arity ?? 0;
  if (positionals.length > arity) throw new UsageError(`${spec.name}: unexpected argument ${positionals[arity]}`, hint);
  if (positionals.length < arity) throw new UsageError(`${spec.name}: ${spec.args} is missing`, hint);
  for (const group of spec.usageGroups ?? []) {
    const given = group.filter((n) => values[n] !== undefined);
    if (given.length > 1) throw new UsageError(`${spec.name}: use either ${given.map((n) => `--${n}`).join(' or ')}`, hint);
  }
  return { values: values as CommandContext['values'], positionals };
}
