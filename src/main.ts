// main(argv, deps) → exit code. The only place where errors become exit codes and lines on
// stderr (SPEC §10, STYLE habit 2). No stack trace unless --verbose.
import { describeError, InterruptedError, OidcCredError, UsageError } from './errors.js';
import { processDeps, type Deps } from './deps.js';
import { translateKubeloginArgs } from './protocols/kubelogin.js';

export async function main(argv: string[], deps: Deps): Promise<number> {
  deps.log.verbose = argv.includes('-v') || argv.includes('--verbose') || isTrue(deps.env.OIDC_CRED_DEBUG);
  try {
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

function isTrue(v: string | undefined): boolean {
  return !!v && !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

/** Called by the bin shim with the process's own I/O. */
export function runMain(argv: string[], opts: { stdin?: Promise<string> | undefined }): Promise<number> {
  argv = translateKubeloginArgs(argv);
  return main(argv, processDeps(opts));
}
