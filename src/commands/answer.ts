// The full-program half of a token-handing command: plan it (as the cache-hit path did), get the
// token through the lifecycle (lock, refresh, login), print the protocol's answer.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { GitHostRejected } from '../protocols/git.js';
import { planTokenCommand } from '../protocols/request.js';
import { when } from '../infra/time.js';
import { environment, getToken } from '../session/index.js';
import { sessionPaths } from '../session/read.js';

/** The exit code, or undefined when this is not a token-handing command (the CLI then parses it). */
export async function answerTokenCommand(positionals: string[], flags: RawOptions, deps: Deps): Promise<number | undefined> {
  let plan: Awaited<ReturnType<typeof planTokenCommand>>;
  try {
    plan = await planTokenCommand(positionals, flags, deps);
  } catch (err) {
    // A host git should not have sent: nothing to offer, as for a host no profile matches (git
    // asks its next helper), and one line that says why.
    if (!(err instanceof GitHostRejected)) throw err;
    deps.log.info(`oidc-cred: ${err.message}`);
    return 0;
  }
  if (!plan) return undefined;
  if (plan.type === 'done') {
    deps.stdout.write(plan.stdout);
    return plan.exitCode;
  }
  deps.log.verbose = plan.settings.verbose;
  const s = plan.settings;
  deps.log.debug(() => `profile ${s.profile ?? '(none: flags and environment)'}, cache ${s.cacheDir}`);
  const answer = await getToken({ settings: s, kind: plan.kind }, deps);
  // -v on a cache hit too: which profile, config file and session file answered — what a user
  // needs to tell why this token and not another (docs/cache.md).
  deps.log.debug(() => {
    const from = s.profile ? `profile ${s.profile} of ${s.configFile}` : `flags and environment (no profile; config file ${s.configFile})`;
    return `answered by ${from}, from the session file ${sessionPaths(s, environment(deps)).paths.file}; valid until ${when(answer.expiresAt, deps.now())}`;
  });
  deps.stdout.write(plan.format(answer));
  return 0;
}
