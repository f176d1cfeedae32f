// docker credential helper actions (docs/docker.md, docker/docker-credential-helpers): `get` is a
// token-handing command (plan.ts, shared with the hot path); `store`, `erase` and `list` are here.
// Stdout carries only the protocol: JSON, docker's "not found" sentence, or a failure's one line.
import { entryTools, registryKey } from '../config/match.js';
import type { RawOptions } from '../config/options.js';
import { loadConfigFile, resolveSettings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { ConfigError, describeError, NoMatchingProfile, UsageError } from '../errors.js';
import { parseServerUrl, parseStoreInput } from '../protocols/docker.js';
import { environment, invalidateIfOurs } from '../session/index.js';
import { answerTokenCommand } from './answer.js';
import { cachedToken } from '../session/read.js';

export async function docker(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  try {
    return await dockerAction(p, flags, deps);
  } catch (err) {
    failureOnStdout(err, deps);
    throw err;
  }
}

/**
 * docker, docker-py, skopeo and podman (docker-credential-helpers' client) show a helper's
 * stdout as its error and drop its stderr: a reason on stderr alone reaches the user as a blank
 * message (docs/docker.md "When it fails"). main() still prints it on stderr and picks the exit
 * code. The line is describeError's, so it holds no token or secret.
 */
export function failureOnStdout(err: unknown, deps: Pick<Deps, 'stdout'>): void {
  deps.stdout.write(`${escapeControls(describeError(err))}\n`);
}

/** The client prints our line on a terminal: control and bidi characters go as \u escapes. */
function escapeControls(line: string): string {
  return line.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

async function dockerAction(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const action = p[1];
  switch (action) {
    case 'get':
      return (await answerTokenCommand(p, flags, deps)) ?? 2;
    case 'list':
      deps.stdout.write(`${JSON.stringify(listMatches(flags, deps))}\n`);
      return 0;
    case 'store':
      // `docker login` hands over a username and password; the token cache is the store, so the
      // JSON is checked and dropped (a password typed at `docker login` is not ours to keep).
      parseStoreInput(await deps.readStdin());
      return 0;
    case 'erase':
      return erase(flags, deps);
    default:
      throw new UsageError(`docker credential helpers know get, store, erase and list, not "${action ?? ''}"`);
  }
}

/** `list`: ServerURL → Username for every registry entry of `match` (of --profile, when given). */
export function listMatches(flags: RawOptions, deps: Pick<Deps, 'env' | 'home' | 'cwd'>): Record<string, string> {
  const config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
  // Only the helper's own command line names the profile (docs/configuration.md), never OIDC_CRED_PROFILE.
  const only = typeof flags.profile === 'string' && flags.profile ? flags.profile : undefined;
  if (only && !config.profiles.has(only)) throw new ConfigError(`config file ${config.path}: no profile named "${only}"`);
  const map: Record<string, string> = {};
  for (const [name, profile] of config.profiles) {
    if (only && name !== only) continue;
    const user = typeof profile['docker-username'] === 'string' ? profile['docker-username'] : 'oauth2accesstoken';
    for (const m of profile.match ?? []) {
      // The keys docker would ask `get` for, as setup docker writes them; registries only.
      const key = entryTools(m).includes('docker') ? registryKey(m) : undefined;
      if (key) map[key] = user;
    }
  }
  return map;
}

/**
 * `docker logout` sends only the server URL. The access token we hand out for it is dropped (the
 * next `get` refreshes); the refresh token is kept, as for git's erase (docs/git.md). A server no
 * profile matches has nothing of ours to erase: exit 0, as docker logout expects of an idempotent erase.
 */
async function erase(flags: RawOptions, deps: Deps): Promise<number> {
  const server = parseServerUrl(await deps.readStdin());
  if (!server) throw new UsageError('docker sent no server URL');
  try {
    const s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'docker', url: server });
    const env = environment(deps);
    // min-valid 0: a token about to expire is still ours to erase.
    const current = cachedToken({ ...s, minValid: 0 }, s.tokenType ?? 'access', env, deps.now());
    if (current) {
      const dropped = await invalidateIfOurs(s, env, current.token, deps);
      deps.log.debug(dropped ? `erased the cached token for ${server}` : `nothing cached for ${server}`);
    }
  } catch (err) {
    if (!(err instanceof NoMatchingProfile)) throw err;
  }
  return 0;
}
