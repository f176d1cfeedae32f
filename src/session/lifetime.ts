// How long a cached token is good for (docs/architecture.md, "Lifetimes"). Pure and import-light:
// the hot path decides with it.
//
// The refresh margin is min(--min-valid, lifetime / 2), where lifetime = expires_at − obtained_at:
// a provider that issues 60 s tokens gets them refreshed at 30 s left, not on every call, and a
// token the provider has just issued is always good (it has its whole lifetime left).
import { bootClock, tokenOf, type BootClock, type CachedSession, type TokenKind } from '../cache/store.js';

/** Lifetime assumed for an access token whose response gave no expires_in and that is not a JWT. */
export const DEFAULT_LIFETIME_S = 3600;
/** Longest lifetime believed: `expires_in: 1e300` would otherwise make an invalid date. */
export const MAX_LIFETIME_S = 366 * 24 * 3600;
/** Margin for the ID token's receipt time against its `iat` (network and provider clock skew), capped at half its lifetime. */
export const ID_TOKEN_SKEW_S = 30;

/** A lifetime in seconds as the provider stated it, or undefined when it is not a usable number. */
export function saneLifetime(seconds: unknown): number | undefined {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return undefined;
  return Math.min(seconds, MAX_LIFETIME_S);
}

/** The margin (ms) below which a token is refreshed first. */
export function refreshMarginMs(minValidSec: number, lifetimeMs: number): number {
  return Math.min(minValidSec * 1000, Math.max(0, lifetimeMs) / 2);
}

/** When the token of that kind was received: the API's own receipt, or the ID token's (which may be older than the session's last refresh). */
function receipt(s: CachedSession, kind: TokenKind, api: string): { obtainedAt: number; uptimeAt: number | undefined; bootId: string | undefined } {
  if (kind === 'access') {
    const a = s.apis[api];
    return { obtainedAt: Date.parse(a?.obtained_at ?? ''), uptimeAt: a?.uptime_at, bootId: a?.boot_id };
  }
  const at = s.id_token_obtained_at ?? s.obtained_at;
  const up = s.id_token_obtained_at ? s.id_token_uptime_at : s.uptime_at;
  return { obtainedAt: Date.parse(at), uptimeAt: up, bootId: s.boot_id };
}

/** The token's lifetime (ms) as received, or undefined when the record does not say. */
export function lifetimeMs(s: CachedSession, kind: TokenKind, api: string): number | undefined {
  const t = tokenOf(s, kind, api);
  const { obtainedAt } = receipt(s, kind, api);
  return t && Number.isFinite(obtainedAt) ? t.expiresAt - obtainedAt : undefined;
}

/**
 * The token of that kind (for an access token: the API's, by API key) if it is still good for
 * the refresh margin. The wall clock can jump;
 * within one boot the time since receipt is also measured on the boot clock, and the stricter
 * answer wins: a clock set back cannot make an expired token look valid, and one set forward
 * only costs a refresh (after which both clocks agree again).
 */
export function freshToken(
  s: CachedSession,
  kind: TokenKind,
  api: string,
  now: number,
  minValidSec: number,
  boot: BootClock | undefined = bootClock(),
): { token: string; expiresAt: number } | undefined {
  const t = tokenOf(s, kind, api);
  if (!t) return undefined;
  const { obtainedAt, uptimeAt, bootId } = receipt(s, kind, api);
  // Obtained "in the future": the clock jumped back since; do not trust the wall clock.
  if (Number.isFinite(obtainedAt) && obtainedAt > now + 5 * 60_000) return undefined;
  let remaining = t.expiresAt - now;
  const lifetime = Number.isFinite(obtainedAt) ? t.expiresAt - obtainedAt : Infinity;
  if (boot && bootId === boot.id && typeof uptimeAt === 'number' && Number.isFinite(lifetime)) {
    const elapsed = (boot.uptime - uptimeAt) * 1000;
    remaining = Math.min(remaining, lifetime - Math.max(0, elapsed));
  }
  return remaining > 0 && remaining >= refreshMarginMs(minValidSec, lifetime) ? t : undefined;
}
