// git credential helper actions (docs/git.md).
import type { RawOptions } from '../config/options.js';
import { resolveSettings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { NoMatchingProfile } from '../errors.js';
import { erasedSecret, GitHostRejected, parseGitInput, type GitRequest } from '../protocols/git.js';
import { environment, invalidateIfOurs } from '../session/index.js';
import { answerTokenCommand } from './answer.js';

export async function git(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const action = p[1];
  let request: GitRequest;
  try {
    request = parseGitInput(await deps.readStdin());
  } catch (err) {
    // Nothing to offer, as for a host no profile matches (git asks its next helper), and one
    // line that says why. The hot path hands such a request over to here.
    if (!(err instanceof GitHostRejected)) throw err;
    deps.log.info(`oidc-cred: ${err.message}`);
    return 0;
  }
  if (action === 'get') return (await answerTokenCommand(p, flags, deps)) ?? 2;
  // store: the cache is the store; nothing to do.
  if (action !== 'erase' || !request.url) return 0;
  const secret = erasedSecret(request);
  if (!secret) return 0;
  try {
    const s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'git', url: request.url });
    // Only a credential we handed out is dropped; the refresh token stays (docs/git.md).
    if (await invalidateIfOurs(s, environment(deps), secret, deps)) deps.log.debug('erased the cached access token at git’s request');
  } catch (err) {
    if (!(err instanceof NoMatchingProfile)) throw err;
  }
  return 0;
}
