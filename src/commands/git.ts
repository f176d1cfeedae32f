// git credential helper actions (docs/git.md).
import type { RawOptions } from '../config/options.js';
import { resolveSettings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { NoMatchingProfile } from '../errors.js';
import { erasedSecret, parseGitInput } from '../protocols/git.js';
import { environment, invalidateIfOurs } from '../session/index.js';
import { answerTokenCommand } from './answer.js';

export async function git(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const action = p[1];
  if (action === 'get') return (await answerTokenCommand(p, flags, deps)) ?? 2;
  const request = parseGitInput(await deps.readStdin());
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
