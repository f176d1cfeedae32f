// The read half of the token lifecycle: which session serves a request, and whether its cached
// token is still good — one file read, no lock, no network, no heavy imports. This is all the
// entry point (src/entry.ts) loads on a cache hit; the rest of the lifecycle (lock, re-read,
// refresh, login, save) is ./lifecycle.ts, loaded only when this says no.
import type { Settings } from '../config/resolve.js';
import { canShowLogin } from '../infra/browser.js';
import { apiKey, cachePaths, canonicalApi, readSession, sessionKey, type ApiRef, type CachePaths, type CachedSession, type GrantKind, type TokenKind } from '../cache/store.js';
import { freshToken } from './lifetime.js';

export interface Environment {
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  /** A function: finding out costs a few milliseconds, and only `auto` with a secret asks. */
  stderrIsTTY: () => boolean;
}

export interface TokenAnswer {
  token: string;
  /** ms since the epoch */
  expiresAt: number;
  session: CachedSession;
  /** The API the token is for (its access token: session.apis[api]). */
  api: string;
}

export function hasSecret(s: Settings): boolean {
  return !!s.clientSecretFile || !!s.clientSecretEnv;
}

/**
 * The identity a request gets: a person's (authcode or device login) or the client's own.
 * `auto` means client credentials when a secret is set and no browser login could be seen
 * (docs/configuration.md, `--grant`).
 */
export function grantKind(s: Settings, e: Environment): GrantKind {
  if (s.grant === 'client-credentials') return 'client-credentials';
  if (s.grant === 'auto' && hasSecret(s) && !canShowLogin(s, e.env, e.platform, e.stderrIsTTY())) return 'client-credentials';
  return 'user';
}

export function sessionPaths(s: Settings, e: Environment): { key: string; paths: CachePaths; grant: GrantKind } {
  const grant = grantKind(s, e);
  const key = sessionKey({ issuer: s.issuer, clientId: s.clientId, params: s.params, grant });
  return { key, paths: cachePaths(s.cacheDir, key), grant };
}

/** The API a profile's access token is for, inside its session (docs/multi-api.md). */
export function apiOf(s: Settings): ApiRef {
  const spec = canonicalApi({ audience: s.audience, resources: s.resources, scopes: s.scopes });
  return { ...spec, key: apiKey(spec) };
}

/** A cache hit: the cached token if it is good for the refresh margin, else undefined. May throw CacheError. */
export function cachedToken(s: Settings, kind: TokenKind, e: Environment, now: number): TokenAnswer | undefined {
  const { key, paths } = sessionPaths(s, e);
  return freshFromFile(paths, key, kind, apiOf(s).key, s.minValid, now);
}

/** The session file's token of that kind, if it is good for the refresh margin. May throw CacheError. */
export function freshFromFile(paths: CachePaths, key: string, kind: TokenKind, api: string, minValid: number, now: number): TokenAnswer | undefined {
  const r = readSession(paths.file, key);
  if (!('session' in r)) return undefined;
  const v = freshToken(r.session, kind, api, now, minValid);
  return v ? { ...v, session: r.session, api } : undefined;
}

/** The claims of a JWT, unverified: for display (who is logged in) and expiry only. */
export function decodeJwt(token: string | undefined): Record<string, unknown> | undefined {
  if (!token) return undefined;
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
