// main(argv, deps) → exit code. The only place where errors become exit codes and lines on
// stderr (docs/architecture.md, "Errors and exit codes"). No stack trace unless --verbose.
import { parseArgvLight } from './config/argv.js';
import { verboseFrom } from './config/resolve.js';
import { describeError, InterruptedError, OidcCredError, UsageError } from './errors.js';
import { processDeps, type Deps } from './deps.js';
import { translateKubeloginArgs, type KubeloginTranslation } from './protocols/kubelogin.js';

export async function main(argv: string[], deps: Deps, kubelogin?: KubeloginTranslation): Promise<number> {
  // One reading of argv: the option table's parser, and yargs only where it gives up.
  const light = parseArgvLight(argv);
  deps.log.verbose = verboseFrom(light?.options ?? {}, deps.env);
  try {
    if (kubelogin?.error) throw new UsageError(kubelogin.error, { hint: "see 'oidc-cred get-token --help'" });
    if (light) {
      // A token-handing command whose cache missed: refresh or log in without loading the CLI
      // framework (yargs costs 90–140 ms to import).
      const { answerTokenCommand } = await import('./commands/answer.js');
      let code: number | undefined;
      try {
        code = await answerTokenCommand(light.positionals, light.options, deps);
      } catch (err) {
        if (light.positionals[0] === 'docker') (await import('./commands/docker.js')).failureOnStdout(err, deps);
        throw err;
      }
      if (code !== undefined) return code;
    }
    const { runCli } = await import('./cli.js');
    return await runCli(argv, deps);
  } catch (err) {
    return report(err, deps);
  }
}

export function report(err: unknown, deps: Deps): number {
  const e = deps.signal.aborted && !(err instanceof OidcCredError) ? deps.signal.reason : err;
  deps.log.info(describeError(e));
  if (deps.log.verbose && e instanceof Error && e.stack) deps.log.debug(e.stack);
  if (e instanceof InterruptedError || e instanceof UsageError || e instanceof OidcCredError) return e.exitCode;
  return 1;
}

/** Called by the bin shim with the process's own I/O (and the kubelogin translation the entry point made). */
export function runMain(argv: string[], opts: { stdin?: Promise<string> | undefined; kubelogin?: KubeloginTranslation | undefined }): Promise<number> {
  let kubelogin = opts.kubelogin;
  if (!kubelogin && argv[0] === 'get-token') kubelogin = translateKubeloginArgs(argv);
  if (kubelogin) argv = kubelogin.argv;
  const deps = processDeps({ stdin: opts.stdin, clientSecretFromArgs: kubelogin?.clientSecret });
  return main(argv, deps, kubelogin);
}
