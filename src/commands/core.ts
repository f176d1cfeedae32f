// login, token, status, logout (README, "Commands").
import type { RawOptions } from '../config/options.js';
import { defaultCacheDir, resolveSettings, type Settings } from '../config/resolve.js';
import { refreshTokenLocation } from '../cache/keyring.js';
import { cachePaths, listSessions, readSession, removeSession, type CachedSession } from '../cache/store.js';
import type { Deps } from '../deps.js';
import { ConfigError, describeError } from '../errors.js';
import { escapeControls } from '../infra/log.js';
import { localTime, when } from '../infra/time.js';
import { decodeJwt, sessionPaths } from '../session/read.js';
import { environment, getToken } from '../session/index.js';
import { answerTokenCommand } from './answer.js';
import { resolve as resolvePath } from 'node:path';

function settings(flags: RawOptions, deps: Deps): Settings {
  const s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'other' });
  deps.log.verbose = s.verbose; // a profile's "verbose" counts too
  return s;
}

export function who(s: Pick<CachedSession, 'id_token' | 'apis'>): string | undefined {
  const c = decodeJwt(s.id_token) ?? Object.values(s.apis).map((a) => decodeJwt(a.access_token)).find(Boolean);
  if (!c) return undefined;
  const v = c.email ?? c.preferred_username ?? c.name ?? c.sub;
  return typeof v === 'string' ? v : undefined;
}

export async function login(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const s = settings(flags, deps);
  const a = await getToken({ settings: s, kind: s.tokenType ?? 'access', force: true }, deps);
  const user = who(a.session);
  deps.log.info(
    // The one line of docs/configuration.md: who, which profile, until when (local time).
    `oidc-cred: logged in${user ? ` as ${user}` : ''}${s.profile ? ` (profile ${s.profile})` : ''} at ${s.issuer}; valid until ${when(a.expiresAt, deps.now())}`,
  );
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
    // No provider chosen (none configured, or several profiles and no default-profile): the
    // cache directory is still known without one.
    if (!(err instanceof ConfigError) || !/no (issuer|client ID) configured|no "default-profile"/.test(err.message)) throw err;
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
    // A session's APIs (docs/multi-api.md): each its own access token, from the shared login or one of its own.
    const apis = Object.values(s.apis).map((a) => ({
      audience: a.audience ?? null,
      resources: a.resources,
      scopes: a.scopes,
      expires_at: a.expires_at ?? null,
      valid: !!a.access_token && !!a.expires_at && Date.parse(a.expires_at) > now,
      own_login: !!a.fallback,
    }));
    const latest = apis.map((a) => a.expires_at).filter((x): x is string => !!x).sort().pop();
    const exp = latest ? Date.parse(latest) : undefined;
    return {
      file,
      profile: s.profile ?? null,
      issuer: s.issuer,
      client_id: s.client_id,
      grant: s.grant,
      subject: typeof claims?.sub === 'string' ? claims.sub : null,
      email: typeof claims?.email === 'string' ? claims.email : null,
      expires_at: latest ?? null,
      id_token_expires_at: s.id_token_expires_at ?? null,
      valid: exp !== undefined && exp > now,
      refresh_token: !!s.refresh_token || s.refresh_token_in === 'keyring',
      /** Where the refresh token is (docs/keyring.md): "keyring", "file", or null when there is none. */
      refresh_token_in: refreshTokenLocation(s) ?? null,
      apis,
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
  const until = (exp: string | null | undefined, valid: boolean): string => (exp ? `${localTime(Date.parse(exp), now)}${valid ? '' : ' (expired)'}` : '-');
  // A row never carries long advice: a session that cannot be read is marked in the table and
  // explained below it, so that the columns stay aligned.
  const notes: string[] = [];
  for (const r of rows) {
    if ('error' in r) {
      notes.push(`${r.file}: ${r.error}`);
      table.push(['?', `(unreadable, note ${notes.length} below)`, '', '', '', '']);
      continue;
    }
    // A machine login has no person behind it: say so rather than show "-".
    const user = r.grant === 'client-credentials' ? 'machine (client credentials)' : (r.email ?? r.subject ?? '-');
    table.push([r.profile ?? '-', r.issuer, r.client_id, user, until(r.expires_at, r.valid), r.refresh_token_in ?? 'no']);
    if (r.apis.length > 1 || r.apis.some((a) => a.audience || a.resources.length || a.own_login)) {
      for (const a of r.apis) {
        const what = [a.audience ? `audience ${a.audience}` : '', a.resources.length ? `resource ${a.resources.join(' ')}` : ''].filter(Boolean).join(', ') || `scope ${a.scopes.join(' ')}`;
        table.push(['', `  api: ${what}`, '', a.own_login ? '(own login)' : '', until(a.expires_at, a.valid), '']);
      }
    }
  }
  // Claims, issuers and client ids come from outside: their control characters are shown, not obeyed.
  const cells = table.map((row) => row.map(escapeControls));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) deps.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  if (notes.length) deps.stdout.write(`\n${notes.map((n, i) => `${i + 1}. ${escapeControls(n)}`).join('\n')}\n`);
  return 0;
}

export async function logout(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const revoke = flags.revoke === true;
  if (flags.all === true) {
    const dir = cacheDirOf(flags, deps);
    let failed = 0;
    let removed = 0;
    for (const { file, result } of listSessions(dir)) {
      const key = file.replace(/^.*\//, '').replace(/\.json$/, '');
      const session = 'session' in result ? await withRefreshToken(result.session, revoke) : undefined;
      if (revoke && session?.refresh_token) {
        failed += (await revokeSession(session, flags, deps)) ? 0 : 1;
      }
      if (revoke && session) for (const rt of ownLoginTokens(session)) failed += (await revokeSession({ ...session, refresh_token: rt }, flags, deps)) ? 0 : 1;
      if (removeSession(cachePaths(dir, key))) removed++;
      if (session) failed += (await removeKeyringItem(session, deps)) ? 0 : 1;
    }
    // Says what was done, so that "nothing happened" and "all gone" look different.
    const n = (k: number): string => `${k} cached session${k === 1 ? '' : 's'}`;
    deps.log.info(removed ? `oidc-cred: removed ${n(removed)} from ${dir}${revoke ? '; their refresh tokens were revoked at the provider' : ''}` : `oidc-cred: no cached sessions in ${dir}`);
    return failed ? 1 : 0;
  }
  const s = settings(flags, deps);
  const { paths } = sessionPaths(s, environment(deps));
  let ok = true;
  let r: ReturnType<typeof readSession>;
  try {
    r = readSession(paths.file);
  } catch (err) {
    // Without --revoke the file goes whatever state it is in (a mode another user could read, say).
    if (revoke) throw err;
    r = { miss: 'unreadable' };
  }
  const session = 'session' in r ? await withRefreshToken(r.session, revoke) : undefined;
  if (revoke && session?.refresh_token) ok = await revokeSession(session, flags, deps);
  if (revoke && session) for (const rt of ownLoginTokens(session)) ok = (await revokeSession({ ...session, refresh_token: rt }, flags, deps)) && ok;
  const removed = removeSession(paths);
  const which = `${s.profile ? `profile ${s.profile}, ` : ''}${s.issuer}`;
  const revoked = revoke && ok && !!session?.refresh_token;
  if (session && !(await removeKeyringItem(session, deps))) ok = false; // its one line says the file is removed
  else if (!removed) deps.log.info(`oidc-cred: no cached session for ${which}`);
  else deps.log.info(`oidc-cred: logged out (${which}): removed the cached session ${paths.file}${revoked ? ' and revoked its refresh token at the provider' : ''}`);
  return ok ? 0 : 1;
}

/** The refresh tokens of the logins some APIs have of their own (docs/multi-api.md); the shared one is revoked once, apart. */
function ownLoginTokens(s: CachedSession): string[] {
  return [...new Set(Object.values(s.apis).map((a) => a.fallback?.refresh_token).filter((x): x is string => !!x && x !== s.refresh_token))];
}

/** For --revoke, a refresh token kept in the OS credential store is fetched from there (docs/keyring.md). */
async function withRefreshToken(session: CachedSession, revoke: boolean): Promise<CachedSession> {
  const own = Object.values(session.apis).some((a) => a.fallback?.refresh_token_in === 'keyring');
  if (!revoke || (session.refresh_token_in !== 'keyring' && !own)) return session;
  const { refreshTokenFromKeyring, ownLoginAccount } = await import('../cache/keyring.js');
  const apis = Object.fromEntries(
    Object.entries(session.apis).map(([id, a]) =>
      a.fallback?.refresh_token_in === 'keyring' ? [id, { ...a, fallback: { ...a.fallback, refresh_token: refreshTokenFromKeyring(ownLoginAccount(session.key, id)) } }] : [id, a],
    ),
  );
  return { ...session, apis, refresh_token: session.refresh_token_in === 'keyring' ? refreshTokenFromKeyring(session.key) : session.refresh_token };
}

/**
 * logout removes the session's item from the OS credential store too. A store that cannot be
 * reached costs only that item: the file is gone anyway, and the line names what to remove.
 */
async function removeKeyringItem(session: CachedSession, deps: Deps): Promise<boolean> {
  const own = Object.values(session.apis).some((a) => a.fallback?.refresh_token_in === 'keyring');
  if (session.refresh_token_in !== 'keyring' && !own) return true;
  const { removeFromKeyring, ownLoginAccounts } = await import('../cache/keyring.js');
  // The APIs' own logins (docs/multi-api.md) have items of their own.
  for (const account of ownLoginAccounts(session)) removeFromKeyring(account);
  if (session.refresh_token_in !== 'keyring') return true;
  const r = removeFromKeyring(session.key);
  if (r.ok) return true;
  const how = deps.platform === 'linux' ? `remove it where the store is reachable: secret-tool clear service oidc-cred username ${session.key}` : 'remove it with the system\'s credential manager';
  deps.log.info(`oidc-cred: could not remove the refresh token from the OS credential store (${r.item}): ${r.why} (the cache file is removed; ${how})`);
  return false;
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
