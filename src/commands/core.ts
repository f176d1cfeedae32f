// login, token, status, logout (README, "Commands").
import type { RawOptions } from '../config/options.js';
import { defaultCacheDir, resolveSettings, type Settings } from '../config/resolve.js';
import { cachePaths, listSessions, readSession, removeSession, type CachedSession } from '../cache/store.js';
import type { Deps } from '../deps.js';
import { ConfigError, describeError } from '../errors.js';
import { escapeControls } from '../infra/log.js';
import { when } from '../infra/time.js';
import { decodeJwt, sessionPaths } from '../session/read.js';
import { environment, getToken } from '../session/index.js';
import { answerTokenCommand } from './answer.js';
import { resolve as resolvePath } from 'node:path';

function settings(flags: RawOptions, deps: Deps): Settings {
  const s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'other' });
  deps.log.verbose = s.verbose; // a profile's "verbose" counts too
  return s;
}

export function who(s: Pick<CachedSession, 'id_token' | 'access_token'>): string | undefined {
  const c = decodeJwt(s.id_token) ?? decodeJwt(s.access_token);
  if (!c) return undefined;
  const v = c.email ?? c.preferred_username ?? c.name ?? c.sub;
  return typeof v === 'string' ? v : undefined;
}

export async function login(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const s = settings(flags, deps);
  const a = await getToken({ settings: s, kind: s.tokenType ?? 'access', force: true }, deps);
  const user = who(a.session);
  // The one line of docs/configuration.md: who, which profile, until when (local time).
  deps.log.info(`oidc-cred: logged in${user ? ` as ${user}` : ''}${s.profile ? ` (profile ${s.profile})` : ''} at ${s.issuer}; valid until ${when(a.expiresAt, deps.now())}`);
  return 0;
}

export async function token(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  return (await answerTokenCommand(p, flags, deps)) ?? 2;
}

/** The cache directory without requiring an issuer: status and logout --all work with no profile. */
function cacheDirOf(flags: RawOptions, deps: Deps): string {
  try {
    return settings(flags, deps).cacheDir;
  } catch (err) {
    if (!(err instanceof ConfigError) || !/no (issuer|client ID) configured/.test(err.message)) throw err;
    const dir = (flags['cache-dir'] as string | undefined) ?? deps.env.OIDC_CRED_CACHE_DIR;
    return dir ? resolvePath(deps.cwd, dir) : defaultCacheDir(deps.env, deps.home);
  }
}

export async function status(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const dir = cacheDirOf(flags, deps);
  const now = deps.now();
  const rows = listSessions(dir).map(({ file, result }) => {
    if ('error' in result) return { file, error: describeError(result.error).replace(/^oidc-cred: /, '') };
    if ('miss' in result) return { file, error: result.miss };
    const s = result.session;
    const claims = decodeJwt(s.id_token);
    const exp = s.expires_at ? Date.parse(s.expires_at) : undefined;
    return {
      file,
      profile: s.profile ?? null,
      issuer: s.issuer,
      client_id: s.client_id,
      grant: s.grant,
      subject: typeof claims?.sub === 'string' ? claims.sub : null,
      email: typeof claims?.email === 'string' ? claims.email : null,
      expires_at: s.expires_at ?? null,
      id_token_expires_at: s.id_token_expires_at ?? null,
      valid: exp !== undefined && exp > now,
      refresh_token: !!s.refresh_token,
    };
  });
  if (flags.json === true) {
    deps.stdout.write(`${JSON.stringify({ cache_dir: dir, sessions: rows }, null, 2)}\n`);
    return 0;
  }
  if (!rows.length) {
    deps.stdout.write(`no cached sessions in ${dir}\n`);
    return 0;
  }
  const table: string[][] = [['PROFILE', 'ISSUER', 'CLIENT', 'USER', 'EXPIRES', 'REFRESH']];
  for (const r of rows) {
    if ('error' in r) {
      table.push(['?', `(${r.error})`, '', '', '', '']);
      continue;
    }
    const exp = r.expires_at ? `${r.expires_at.replace(/\.\d+Z$/, 'Z')}${r.valid ? '' : ' (expired)'}` : '-';
    table.push([r.profile ?? '-', r.issuer, r.client_id, r.email ?? r.subject ?? '-', exp, r.refresh_token ? 'yes' : 'no']);
  }
  // Claims, issuers and client ids come from outside: their control characters are shown, not obeyed.
  const cells = table.map((row) => row.map(escapeControls));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) deps.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  return 0;
}

export async function logout(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const revoke = flags.revoke === true;
  if (flags.all === true) {
    const dir = cacheDirOf(flags, deps);
    let failed = 0;
    for (const { file, result } of listSessions(dir)) {
      const key = file.replace(/^.*\//, '').replace(/\.json$/, '');
      if (revoke && 'session' in result && result.session.refresh_token) {
        failed += (await revokeSession(result.session, flags, deps)) ? 0 : 1;
      }
      removeSession(cachePaths(dir, key));
    }
    return failed ? 1 : 0;
  }
  const s = settings(flags, deps);
  const { paths } = sessionPaths(s, environment(deps));
  let ok = true;
  if (revoke) {
    const r = readSession(paths.file);
    if ('session' in r && r.session.refresh_token) ok = await revokeSession(r.session, flags, deps);
  }
  const removed = removeSession(paths);
  if (!removed) deps.log.info(`oidc-cred: no cached session for ${s.profile ? `profile ${s.profile}` : s.issuer}`);
  return ok ? 0 : 1;
}

/** Revokes a session's refresh token at its own issuer (RFC 7009). False when that failed. */
async function revokeSession(session: CachedSession, flags: RawOptions, deps: Deps): Promise<boolean> {
  const { connect, revoke } = await import('../oauth/client.js');
  let s: Settings;
  try {
    s = settings({ ...flags, issuer: session.issuer, 'client-id': session.client_id }, deps);
  } catch {
    s = settings({ issuer: session.issuer, 'client-id': session.client_id }, deps);
  }
  try {
    const p = await connect(s, { env: deps.env, log: deps.log, signal: deps.signal });
    const done = await revoke(p, session.refresh_token!, 'refresh_token');
    if (!done) deps.log.info(`oidc-cred: ${session.issuer} advertises no revocation endpoint; the session was only removed locally`);
    return true;
  } catch (err) {
    deps.log.info(describeError(err));
    return false;
  }
}
