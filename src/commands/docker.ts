// docker credential helper actions (SPEC §8).
import type { RawOptions } from '../config/options.js';
import { loadConfigFile, resolveSettings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { NoMatchingProfile, UsageError } from '../errors.js';
import { parseServerUrl } from '../protocols/docker.js';
import { environment, invalidateIfOurs } from '../slow.js';
import { answerTokenCommand } from './answer.js';
import { cachedToken } from '../session.js';

export async function docker(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const action = p[1];
  if (action === 'get') return answerTokenCommand(p, flags, deps);
  if (action === 'list') {
    const config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
    const map: Record<string, string> = {};
    for (const [, profile] of config.profiles) {
      for (const m of profile.match ?? []) map[m] = typeof profile['docker-username'] === 'string' ? profile['docker-username'] : 'oauth2accesstoken';
    }
    deps.stdout.write(`${JSON.stringify(map)}\n`);
    return 0;
  }
  const input = await deps.readStdin();
  if (action === 'store') {
    // The JSON docker sends is read and dropped: the token cache is the store.
    try {
      JSON.parse(input);
    } catch {
      throw new UsageError('docker sent credentials that are not JSON');
    }
    return 0;
  }
  // erase: docker sends only the server URL (docker logout); drop our access token for it.
  const server = parseServerUrl(input);
  if (!server) throw new UsageError('docker sent no server URL');
  try {
    const s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'docker', url: server });
    const env = environment(deps);
    const current = cachedToken(s, s.tokenType ?? 'access', env, deps.now());
    if (current) await invalidateIfOurs(s, env, current.token, deps);
  } catch (err) {
    if (!(err instanceof NoMatchingProfile)) throw err;
  }
  return 0;
}
