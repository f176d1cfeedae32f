// Turns a token-handing command (token, git get, kube, docker get) into a plain request — which
// settings, which token, how to print the answer — without knowing whether the answer comes
// from the cache (src/entry.ts) or from a refresh or login (src/commands/answer.ts). Both call
// this one function, so they cannot drift apart. No heavy imports: it is on the cache-hit path.
import { COMMAND_OPTIONS, type RawOptions } from '../config/options.js';
import { resolveSettings, type Purpose, type Settings } from '../config/resolve.js';
import type { TokenKind } from '../cache/store.js';
import { NoMatchingProfile, UsageError } from '../errors.js';
import { formatDockerAnswer, NOT_FOUND, parseServerUrl } from './docker.js';
import { formatGitAnswer, parseGitInput } from './git.js';
import { formatExecCredential, parseExecInfo } from './kube.js';
import type { TokenAnswer } from '../session/read.js';

export interface PlanEnv {
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  cwd: string;
  readStdin(): Promise<string>;
  /** A client secret given on the command line (kubelogin's --oidc-client-secret), for the unnamed profile. */
  clientSecretFromArgs?: string | undefined;
}

export type Plan =
  | { type: 'token'; settings: Settings; kind: TokenKind; format(a: TokenAnswer): string }
  /** Answered without a token: git's silent "not mine", docker's "not found". */
  | { type: 'done'; stdout: string; exitCode: number };

/** undefined: not a token-handing command (or not one this function knows). */
export async function planTokenCommand(positionals: readonly string[], flags: RawOptions, e: PlanEnv): Promise<Plan | undefined> {
  const [cmd, action, extra] = positionals;
  if (extra !== undefined) return undefined;
  // An option of another command (`git get --json`): the CLI refuses it, as it would anyway.
  for (const [name, list] of Object.entries(COMMAND_OPTIONS)) {
    if (name !== cmd && list.some((o) => flags[o.name] !== undefined && !COMMAND_OPTIONS[cmd ?? '']?.some((m) => m.name === o.name))) return undefined;
  }
  const settingsFor = (purpose: Purpose, url?: string): Settings =>
    resolveSettings({ flags, env: e.env, home: e.home, cwd: e.cwd, purpose, url, clientSecretFromArgs: e.clientSecretFromArgs });

  if (cmd === 'token' && action === undefined) {
    const settings = settingsFor('other');
    const kind: TokenKind = flags['id-token'] === true ? 'id' : (settings.tokenType ?? 'access');
    const json = flags.json === true;
    return {
      type: 'token',
      settings,
      kind,
      format: (a) =>
        json
          ? `${JSON.stringify({
              access_token: a.session.apis[a.api]?.access_token ?? null,
              id_token: a.session.id_token ?? null,
              token_type: a.session.apis[a.api]?.token_type ?? null,
              expires_at: new Date(a.expiresAt).toISOString(),
              scope: a.session.apis[a.api]?.scope ?? a.session.scope ?? null,
            })}\n`
          : `${a.token}\n`,
    };
  }

  if (cmd === 'git' && action === 'get') {
    const request = parseGitInput(await e.readStdin());
    if (!request.url) return { type: 'done', stdout: '', exitCode: 0 };
    let settings: Settings;
    try {
      settings = settingsFor('git', request.url);
    } catch (err) {
      // Not ours: print nothing so that git asks its next helper (docs/git.md).
      if (err instanceof NoMatchingProfile) return { type: 'done', stdout: '', exitCode: 0 };
      throw err;
    }
    return {
      type: 'token',
      settings,
      kind: settings.tokenType ?? 'access',
      format: (a) => formatGitAnswer({ request, username: settings.gitUsername, token: a.token, expiresAt: a.expiresAt }),
    };
  }

  if ((cmd === 'kube' || cmd === 'get-token') && action === undefined) {
    const request = parseExecInfo(e.env.KUBERNETES_EXEC_INFO);
    const settings = settingsFor('kube', request.server);
    return {
      type: 'token',
      settings,
      // An API server's OIDC authenticator verifies ID tokens (docs/kubernetes.md).
      kind: settings.tokenType ?? 'id',
      format: (a) => formatExecCredential(request, a.token, a.expiresAt),
    };
  }

  if (cmd === 'docker' && action === 'get') {
    const server = parseServerUrl(await e.readStdin());
    if (!server) throw new UsageError('docker sent no server URL');
    let settings: Settings;
    try {
      settings = settingsFor('docker', server);
    } catch (err) {
      if (err instanceof NoMatchingProfile) return { type: 'done', stdout: `${NOT_FOUND}\n`, exitCode: 1 };
      throw err;
    }
    return {
      type: 'token',
      settings,
      kind: settings.tokenType ?? 'access',
      format: (a) => formatDockerAnswer(server, settings.dockerUsername, a.token),
    };
  }
  return undefined;
}
