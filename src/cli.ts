// The yargs command tree (SPEC §2), loaded only off the hot path: yargs costs 90–140 ms to import.
// Options come from the same table as the hot-path parser (config/options.ts).
import type { Argv, Options } from 'yargs';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS, type OptionSpec, type RawOptions } from './config/options.js';
import { verboseFrom } from './config/resolve.js';
import type { Deps } from './deps.js';
import { OidcCredError, UsageError } from './errors.js';
import { VERSION } from './version.js';

export function toYargs(o: OptionSpec): Options {
  const base: Options = { describe: o.describe, ...(o.alias ? { alias: o.alias } : {}) };
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
        ...(o.choices ? { choices: [...o.choices] } : {}),
        coerce: (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v),
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

export async function runCli(argv: string[], deps: Deps): Promise<number> {
  let exitCode = 0;
  // Imported here, not at the top: the bundle's static imports load with it, and the token
  // commands' refresh path must not pay for yargs.
  const { default: yargs } = await import('yargs');
  const commands = await import('./commands/index.js');
  const run =
    (fn: (positionals: string[], flags: RawOptions, deps: Deps) => Promise<number>, positionals: (a: Record<string, unknown>) => string[]) =>
    async (a: Record<string, unknown>): Promise<void> => {
      const flags = rawOptions(a);
      deps.log.verbose = verboseFrom(flags, deps.env);
      exitCode = await fn(positionals(a), flags, deps);
    };

  let y = yargs(argv)
    .scriptName('oidc-cred')
    .usage('$0 <command> [options]\n\nOAuth 2.0 / OpenID Connect tokens for git, kubectl, docker and scripts.')
    .parserConfiguration({ 'boolean-negation': false, 'greedy-arrays': false, 'camel-case-expansion': false, 'duplicate-arguments-array': true })
    .env(false)
    .strict()
    .exitProcess(false)
    .version(VERSION)
    .help()
    .wrap(Math.min(110, deps.stderr.columns ?? 100))
    .fail((msg, err) => {
      // Our own errors (from handlers) pass through; yargs' own (YError, also wrapping what a
      // `coerce` threw) are usage errors: exit 2.
      if (err instanceof OidcCredError) throw err;
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(err?.message ?? msg ?? 'invalid command line', { hint: "see 'oidc-cred --help'" });
    });
  y = withOptions(y, GLOBAL_OPTIONS).group(GLOBAL_OPTIONS.map((o) => o.name), 'Options for every command:');

  y = y
    .command('login', 'log in now and cache the tokens', (c) => c, run(commands.login, () => ['login']))
    .command('token', 'print a valid access token (or ID token), logging in or refreshing on demand', (c) => withOptions(c, COMMAND_OPTIONS.token), run(commands.token, () => ['token']))
    .command('status', 'list cached sessions (never prints a token)', (c) => withOptions(c, COMMAND_OPTIONS.status), run(commands.status, () => ['status']))
    .command('logout', 'remove the cached session(s)', (c) => withOptions(c, COMMAND_OPTIONS.logout), run(commands.logout, () => ['logout']))
    .command(
      'git <action>',
      'git credential helper (get, store, erase)',
      (c) => c.positional('action', { choices: ['get', 'store', 'erase'], describe: 'what git asks for' }),
      run(commands.git, (a) => ['git', String(a.action)]),
    )
    .command(['kube', 'get-token'], 'kubectl exec credential plugin (prints an ExecCredential)', (c) => c, run(commands.kube, () => ['kube']))
    .command(
      'docker <action>',
      'docker credential helper (get, store, erase, list)',
      (c) => c.positional('action', { choices: ['get', 'store', 'erase', 'list'], describe: 'what docker asks for' }),
      run(commands.docker, (a) => ['docker', String(a.action)]),
    )
    .command(
      'setup <tool>',
      'print (or with --write apply) the configuration that wires a tool to oidc-cred',
      (c) => withOptions(c.positional('tool', { choices: ['git', 'kube', 'docker'], describe: 'which tool' }), COMMAND_OPTIONS.setup),
      run(commands.setup, (a) => ['setup', String(a.tool)]),
    )
    .demandCommand(1, 'name a command')
    .recommendCommands();

  await y.parseAsync();
  return exitCode;
}
