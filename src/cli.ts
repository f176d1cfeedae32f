// The yargs command tree (README.md, "Commands"), loaded only off the hot path: yargs costs 90–140 ms to import.
// Options come from the same table as the hot-path parser (config/options.ts), commands from the
// command list (commands/index.ts). yargs' own messages are replaced by ours: a user should never
// read "Not enough non-option arguments".
import type { Argv, Options } from 'yargs';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS, type OptionSpec, type RawOptions } from './config/options.js';
import { verboseFrom } from './config/resolve.js';
import type { Deps } from './deps.js';
import { OidcCredError, UsageError } from './errors.js';
import { closest } from './config/suggest.js';
import { VERSION } from './version.js';
import type { CommandSpec } from './commands/index.js';

const HELP_HINT = "see 'oidc-cred --help'";

/** What the help shows after an option's description: its type, choices and environment variable. */
export function optionExtras(o: OptionSpec): string {
  const parts: string[] = [];
  if (o.choices) parts.push(`[${o.choices.join('|')}]`);
  else if (o.type === 'number') parts.push('[number]');
  else if (o.type === 'array') parts.push('[repeatable]');
  if (o.env) parts.push(`[env ${o.env}]`);
  return parts.join(' ');
}

export function toYargs(o: OptionSpec): Options {
  const extras = optionExtras(o);
  const base: Options = { describe: extras ? `${o.describe} ${extras}` : o.describe, ...(o.alias ? { alias: o.alias } : {}) };
  switch (o.type) {
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'number':
      return {
        ...base,
        type: 'string',
        coerce: (v: unknown) => {
          const last = Array.isArray(v) ? v[v.length - 1] : v;
          const n = Number(last);
          if (last === '' || !Number.isFinite(n)) throw new UsageError(`--${o.name} must be a number, not "${String(last)}"`);
          return n;
        },
      };
    case 'array':
      return { ...base, type: 'string', array: true };
    default:
      return {
        ...base,
        type: 'string',
        coerce: (v: unknown) => {
          const last = Array.isArray(v) ? v[v.length - 1] : v;
          // `--profile` at the end of a line is a forgotten name, not "no profile".
          if (last === '') throw new UsageError(`--${o.name} needs a value`, { hint: `see 'oidc-cred --help'` });
          if (o.choices && !o.choices.includes(String(last))) {
            throw new UsageError(`--${o.name} must be one of ${orList(o.choices)}, not "${String(last)}"`);
          }
          return last;
        },
      };
  }
}

function withOptions(y: Argv, list: readonly OptionSpec[] | undefined): Argv {
  for (const o of list ?? []) y = y.option(o.name, toYargs(o));
  return y;
}

/** The options yargs parsed, keyed by long flag name, without yargs' own extras. */
export function rawOptions(args: Record<string, unknown>): RawOptions {
  const out: RawOptions = {};
  for (const o of [...GLOBAL_OPTIONS, ...Object.values(COMMAND_OPTIONS).flat()]) {
    const v = args[o.name];
    if (v === undefined) continue;
    out[o.name] = v as RawOptions[string];
  }
  return out;
}

/** "a, b or c" */
function orList(xs: readonly string[]): string {
  return xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}` : (xs[0] ?? '');
}

export { closest } from './config/suggest.js';

/** yargs' own failure texts, in our words (the ones a command line can still reach). */
export function usageMessage(msg: string, command: string | undefined, names: { commands: string[]; options: string[] }, argv: readonly string[] = []): UsageError {
  const unknown = /^Unknown arguments?: (.+)$/.exec(msg);
  if (unknown) {
    const first = unknown[1]!.split(', ')[0]!.replace(/^"|"$/g, '');
    // yargs names flags and words alike without their dashes: the command line tells them apart.
    const isFlag = argv.some((a) => a === `--${first}` || a.startsWith(`--${first}=`) || a === `-${first}`);
    if (!isFlag && command) return new UsageError(`'oidc-cred ${command}' takes no argument "${first}"`, { hint: `see 'oidc-cred ${command} --help'` });
    if (isFlag) {
      const flag = first.length === 1 ? `-${first}` : `--${first.replace(/^-+/, '')}`;
      const guess = closest(flag.replace(/^-+/, ''), names.options);
      const where = command ? `'oidc-cred ${command}'` : 'oidc-cred';
      return new UsageError(`unknown option ${flag} for ${where}`, { hint: guess ? `did you mean --${guess}? see 'oidc-cred ${command ?? ''} --help'`.replace('  ', ' ') : HELP_HINT });
    }
    const guess = closest(first, names.commands);
    return new UsageError(`unknown command "${first}"`, { hint: guess ? `did you mean '${guess}'? ${HELP_HINT}` : HELP_HINT });
  }
  return new UsageError(msg, { hint: HELP_HINT });
}

export async function runCli(argv: string[], deps: Deps): Promise<number> {
  let exitCode = 0;
  // Imported here, not at the top: the bundle's static imports load with it, and the token
  // commands' refresh path must not pay for yargs.
  const { default: yargs } = await import('yargs');
  const commands = await import('./commands/index.js');
  let current: string | undefined;
  const allOptions = [...new Set([...GLOBAL_OPTIONS, ...Object.values(COMMAND_OPTIONS).flat()].map((o) => o.name))].concat(['help', 'version']);
  const commandNames = commands.COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const handlers: Record<string, (positionals: string[], flags: RawOptions, deps: Deps) => Promise<number>> = {
    login: commands.login,
    token: commands.token,
    status: commands.status,
    logout: commands.logout,
    git: commands.git,
    kube: commands.kube,
    docker: commands.docker,
    setup: commands.setup,
    doctor: commands.doctor,
    completion: commands.completion,
  };
  const globalNames = [...GLOBAL_OPTIONS.map((o) => o.name), 'help', 'version'];

  // usageConfiguration is yargs 17.7+; @types/yargs does not know it yet. The types are shown by
  // optionExtras instead, so that numbers read [number] although yargs parses them as strings.
  const base = yargs(argv) as Argv & { usageConfiguration(c: { 'hide-types': boolean }): Argv };
  let y = base
    .usageConfiguration({ 'hide-types': true })
    .scriptName('oidc-cred')
    .usage('Usage: oidc-cred <command> [options]\n\nOAuth 2.0 / OpenID Connect tokens for git, kubectl, docker and scripts.\nStuck? Run \'oidc-cred doctor\'.')
    .parserConfiguration({ 'boolean-negation': false, 'greedy-arrays': false, 'camel-case-expansion': false, 'duplicate-arguments-array': true })
    .env(false)
    .strict()
    .exitProcess(false)
    .version(VERSION)
    .describe('version', 'print the version')
    .help()
    .alias('help', 'h')
    .describe('help', 'show help (also after a command: oidc-cred token -h)')
    .wrap(Math.min(110, deps.stderr.columns ?? 100))
    .fail((msg: string | undefined, err: Error | undefined) => {
      // Our own errors (from handlers and coerce) pass through; yargs' own (YError) are usage
      // errors: exit 2, in our words.
      if (err instanceof OidcCredError) throw err;
      if (err && err.name !== 'YError') throw err;
      throw usageMessage(err?.message ?? msg ?? 'invalid command line', current, { commands: commandNames, options: allOptions }, argv);
    });
  y = withOptions(y, GLOBAL_OPTIONS);

  const define = (spec: CommandSpec): void => {
    const pos = spec.positional;
    const names = [pos ? `${spec.name} [${pos.name}]` : spec.name, ...(spec.aliases ?? [])];
    y = y.command(
      names,
      spec.describe,
      (c: Argv) => {
        current = spec.name;
        const own = COMMAND_OPTIONS[spec.name] ?? [];
        let b = withOptions(c, own);
        if (pos) b = b.positional(pos.name, { describe: `${pos.describe}: ${pos.choices.join(', ')}`, type: 'string' });
        // The command's own flags first, then the ones every command takes.
        if (own.length) b = b.group(own.map((o) => o.name), `Options of 'oidc-cred ${spec.name}':`);
        return b.group(globalNames, 'Options for every command:').example(spec.example, '');
      },
      async (a: Record<string, unknown>) => {
        const positionals = [spec.name];
        if (pos) {
          const v = a[pos.name];
          // The completion shell may be left out ($SHELL decides); every other action is required.
          if (v === undefined && spec.name !== 'completion') {
            throw new UsageError(`'oidc-cred ${spec.name}' needs ${pos.name === 'action' ? 'an action' : `a ${pos.name}`}: ${orList(pos.choices)}`, { hint: `see 'oidc-cred ${spec.name} --help'` });
          }
          if (v !== undefined && !pos.choices.includes(String(v))) {
            throw new UsageError(`'oidc-cred ${spec.name}' takes ${orList(pos.choices)}, not "${String(v)}"`, { hint: `see 'oidc-cred ${spec.name} --help'` });
          }
          if (v !== undefined) positionals.push(String(v));
        }
        const flags = rawOptions(a);
        deps.log.verbose = verboseFrom(flags, deps.env);
        exitCode = await handlers[spec.name]!(positionals, flags, deps);
      },
    );
  };
  for (const spec of commands.COMMANDS) define(spec);
  y = y
    .group(globalNames, 'Options for every command:')
    .demandCommand(1, `no command given (one of: ${commands.COMMANDS.map((c) => c.name).join(', ')})`)
    .epilog('Each command has its own help: oidc-cred <command> --help. Docs: https://github.com/oidc-cred/oidc-cred#readme');

  await y.parseAsync();
  return exitCode;
}
