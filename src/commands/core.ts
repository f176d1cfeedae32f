// login, token, status, logout (README, "Commands").
import type { RawOptions } from '../config/options.js';
import { defaultCacheDir, resolveSettings, type Settings } from '../config/resolve.js';
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

/** One row of `status`: what `--json` prints; the table shows a selection (STATUS_COLUMNS). */
interface StatusRow {
  file: string;
  error?: string;
  profile?: string | null;
  issuer?: string;
  client_id?: string;
  grant?: string;
  subject?: string | null;
  email?: string | null;
  /** The access token's `aud` (a JWT access token), for sessions that differ only in their API. */
  audience?: string | null;
  scope?: string | null;
  expires_at?: string | null;
  id_token_expires_at?: string | null;
  valid?: boolean;
  refresh_token?: boolean;
}

/**
 * The table's columns, in order. A column is a title and a cell; `when` leaves it out unless
 * the rows need it to be told apart. Add a column here and to StatusRow, nothing else.
 */
const STATUS_COLUMNS: ReadonlyArray<{ title: string; cell(r: StatusRow, now: number): string; when?(rows: StatusRow[]): boolean }> = [
  { title: 'PROFILE', cell: (r) => r.profile ?? '-' },
  { title: 'ISSUER', cell: (r) => r.issuer ?? '' },
  { title: 'CLIENT', cell: (r) => r.client_id ?? '' },
  // A machine login has no person behind it: say so rather than show "-" (docs/configuration.md).
  { title: 'USER', cell: (r) => (r.grant === 'client-credentials' ? 'machine (client credentials)' : (r.email ?? r.subject ?? '-')) },
  { title: 'AUDIENCE', cell: (r) => r.audience ?? '-', when: (rows) => differ(rows, (r) => r.audience ?? '') },
  { title: 'SCOPE', cell: (r) => r.scope ?? '-', when: (rows) => differ(rows, (r) => r.scope ?? '') },
  { title: 'EXPIRES', cell: (r, now) => (r.expires_at ? `${localTime(Date.parse(r.expires_at), now)}${r.valid ? '' : ' (expired)'}` : '-') },
  { title: 'REFRESH', cell: (r) => (r.refresh_token ? 'yes' : 'no') },
];

/** Two sessions of one provider and client that this value alone tells apart. */
function differ(rows: StatusRow[], v: (r: StatusRow) => string): boolean {
  const seen = new Map<string, Set<string>>();
  for (const r of rows) {
    if (r.error) continue;
    const id = `${r.issuer} ${r.client_id} ${r.grant}`;
    const set = seen.get(id) ?? new Set<string>();
    set.add(v(r));
    seen.set(id, set);
  }
  return [...seen.values()].some((set) => set.size > 1);
}

export async function status(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const dir = cacheDirOf(flags, deps);
  const now = deps.now();
  const rows = listSessions(dir).map(({ file, result }): StatusRow => {
    if ('error' in result) return { file, error: describeError(result.error).replace(/^oidc-cred: /, '') };
    if ('miss' in result) return { file, error: result.miss };
    const s = result.session;
    const claims = decodeJwt(s.id_token);
    const aud = decodeJwt(s.access_token)?.aud;
    const exp = s.expires_at ? Date.parse(s.expires_at) : undefined;
    return {
      file,
      profile: s.profile ?? null,
      issuer: s.issuer,
      client_id: s.client_id,
      grant: s.grant,
      subject: typeof claims?.sub === 'string' ? claims.sub : null,
      email: typeof claims?.email === 'string' ? claims.email : null,
      audience: typeof aud === 'string' ? aud : Array.isArray(aud) ? aud.filter((a) => typeof a === 'string').join(' ') : null,
      scope: s.scope ?? null,
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
  const columns = STATUS_COLUMNS.filter((c) => !c.when || c.when(rows));
  const table: string[][] = [columns.map((c) => c.title)];
  // A row never carries long advice: a session that cannot be read is marked in the table and
  // explained below it, so that the columns stay aligned.
  const notes: string[] = [];
  for (const r of rows) {
    if (r.error) {
      notes.push(`${r.file}: ${r.error}`);
      table.push(columns.map((c, i) => (i === 0 ? '?' : c.title === 'ISSUER' ? `(unreadable, note ${notes.length} below)` : '')));
      continue;
    }
    table.push(columns.map((c) => c.cell(r, now)));
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
    let revoked = 0;
    for (const { file, result } of listSessions(dir)) {
      const key = file.replace(/^.*\//, '').replace(/\.json$/, '');
      if (revoke && 'session' in result && result.session.refresh_token) {
        const r = await revokeSession(result.session, flags, deps);
        if (r === true) revoked++;
        else if (!r) failed++;
      }
      if (removeSession(cachePaths(dir, key))) removed++;
    }
    // Says what was done, so that "nothing happened" and "all gone" look different.
    const n = (k: number): string => `${k} cached session${k === 1 ? '' : 's'}`;
    deps.log.info(removed ? `oidc-cred: removed ${n(removed)} from ${dir}${revoke ? `; revoked ${revoked} refresh token${revoked === 1 ? '' : 's'} at the provider` : ''}` : `oidc-cred: no cached sessions in ${dir}`);
    return failed ? 1 : 0;
  }
  const s = settings(flags, deps);
  const { paths } = sessionPaths(s, environment(deps));
  let ok = true;
  let revoked = false;
  if (revoke) {
    const r = readSession(paths.file);
    if ('session' in r && r.session.refresh_token) {
      const done = await revokeSession(r.session, flags, deps);
      ok = done !== false;
      revoked = done === true;
    }
  }
  const removed = removeSession(paths);
  const which = `${s.profile ? `profile ${s.profile}, ` : ''}${s.issuer}`;
  if (!removed) deps.log.info(`oidc-cred: no cached session for ${which}`);
  else deps.log.info(`oidc-cred: logged out (${which}): removed the cached session ${paths.file}${revoked ? ' and revoked its refresh token at the provider' : ''}`);
  return ok ? 0 : 1;
}

/** Revokes a session's refresh token at its own issuer (RFC 7009). False when that failed; 'local' when the provider cannot revoke. */
async function revokeSession(session: CachedSession, flags: RawOptions, deps: Deps): Promise<boolean | 'local'> {
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
    return done ? true : 'local';
  } catch (err) {
    deps.log.info(describeError(err));
    return false;
  }
}
