// Talking to the provider, through oauth4webapi (which builds and checks every protocol message:
// discovery, PKCE, state, iss, nonce, ID-token claims) and undici's fetch. Loaded only on the
// slow path. Every failure becomes one ProviderError/LoginError line without secrets.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readCacheFile, writeFileAtomic, type ApiSpec } from '../cache/store.js';
import * as oauth from 'oauth4webapi';
import { refuseForeignFile, type Settings } from '../config/resolve.js';
import { ApiRefusedError, ConfigError, LoginError, OidcCredError, ProviderError, RefreshRejectedError } from '../errors.js';
import { createFetch, type FetchLike } from '../infra/http.js';
import type { Logger } from '../infra/log.js';

export interface Provider {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  hasSecret: boolean;
  /** Options every oauth4webapi request takes: our fetch, loopback http allowance, abort. */
  req: { [oauth.customFetch]: FetchLike; [oauth.allowInsecureRequests]?: boolean; signal: AbortSignal };
  settings: Settings;
  log: Logger;
  /** Where the metadata came from, and whether a failed request suggests that it is out of date. */
  metadata: { fromCache: boolean; suspect(): boolean; drop(): void };
}

export interface ConnectOptions {
  /** Where discovery metadata is cached (the token cache directory); none: always discover. */
  cacheDir?: string | undefined;
  /** Ignore cached metadata. */
  fresh?: boolean;
}

/** How long discovery metadata is reused: providers change it rarely, and any sign of change refetches it. */
export const METADATA_TTL_MS = 3600_000;

export interface ConnectDeps {
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  signal: AbortSignal;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The client secret, from the file or OIDC_CRED_CLIENT_SECRET; never from a flag value. */
export function readClientSecret(s: Settings): string | undefined {
  if (s.clientSecretFile) {
    let fd: number;
    try {
      fd = openSync(s.clientSecretFile, 'r');
    } catch (err) {
      throw new ConfigError(`cannot read the client secret file ${s.clientSecretFile}`, { cause: err });
    }
    let v: string;
    try {
      // ssh-style: one that others can read, or that another user owns, is refused (docs/configuration.md).
      refuseForeignFile(fstatSync(fd), s.clientSecretFile, 'secret');
      v = readFileSync(fd, 'utf8').trim();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`cannot read the client secret file ${s.clientSecretFile}`, { cause: err });
    } finally {
      closeSync(fd);
    }
    if (v) return v;
    throw new ConfigError(`the client secret file ${s.clientSecretFile} is empty`);
  }
  return s.clientSecretEnv;
}

export async function connect(s: Settings, deps: ConnectDeps, opts: ConnectOptions = {}): Promise<Provider> {
  let issuer: URL;
  try {
    issuer = new URL(s.issuer);
  } catch {
    throw new ConfigError(`issuer "${s.issuer}" is not a URL`);
  }
  const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
  if (issuer.protocol !== 'https:' && !insecure) {
    throw new ConfigError(`issuer ${issuer.href} must use https:// (plain http is allowed only on a loopback address)`);
  }
  const plain = await createFetch({ caFile: s.caFile, env: deps.env, log: deps.log, signal: deps.signal });
  // An endpoint that is gone, moved or answers HTML suggests metadata that is out of date.
  let suspect = false;
  const fetch: FetchLike = async (input, init) => {
    try {
      const res = await plain(input, init);
      const type = res.headers.get('content-type') ?? '';
      if (res.status === 404 || res.status === 405 || res.status === 410 || (res.status >= 300 && res.status < 400) || type.startsWith('text/html')) suspect = true;
      return res;
    } catch (err) {
      if (!/timed out/.test(String((err as Error)?.message) + String(((err as Error)?.cause as Error)?.message))) suspect = true;
      throw err;
    }
  };
  const req = { [oauth.customFetch]: fetch, signal: deps.signal, ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}) };
  const cache = metadataCache(opts.cacheDir, issuer.href);
  const cached = opts.fresh ? undefined : cache?.read();
  const as = cached ?? (await discover(issuer, req));
  if (insecure) requireLoopbackEndpoints(as, issuer);
  if (!cached) cache?.write(as);
  suspect = false;
  const secret = readClientSecret(s);
  deps.log.secret(secret);
  const client: oauth.Client = { client_id: s.clientId };
  let auth: oauth.ClientAuth = oauth.None();
  if (secret) {
    const method = s.clientAuth ?? defaultClientAuth(as);
    deps.log.debug(`client authentication: client_secret_${method}${s.clientAuth ? ' (--client-auth)' : " (from the provider's metadata)"}`);
    // The same method serves the token, device authorization and revocation requests.
    auth = method === 'post' ? oauth.ClientSecretPost(secret) : oauth.ClientSecretBasic(secret);
  }
  return {
    as,
    client,
    auth,
    hasSecret: !!secret,
    req,
    settings: s,
    log: deps.log,
    metadata: { fromCache: !!cached, suspect: () => suspect, drop: () => cache?.drop() },
  };
}

/**
 * Discovery metadata kept beside the sessions, one file per issuer (`provider-<sha256>.json`,
 * 0600), reused for METADATA_TTL_MS: a refresh then costs one round trip instead of two.
 */
function metadataCache(dir: string | undefined, issuer: string): { read(): oauth.AuthorizationServer | undefined; write(as: oauth.AuthorizationServer): void; drop(): void } | undefined {
  if (!dir) return undefined;
  const file = join(dir, `provider-${createHash('sha256').update(issuer).digest('hex')}.json`);
  return {
    read: () => {
      try {
        // The same safe read as a session file: no symlink, no FIFO, ours and private.
        const text = readCacheFile(file, (st) => {
          if ((st.mode & 0o077) !== 0 || (typeof process.getuid === 'function' && st.uid !== process.getuid())) throw new Error('not private');
        });
        if (text === undefined) return undefined;
        const v = JSON.parse(text) as { issuer?: unknown; fetched_at?: unknown; metadata?: oauth.AuthorizationServer };
        const age = Date.now() - (typeof v.fetched_at === 'number' ? v.fetched_at : 0);
        if (v.issuer !== issuer || !v.metadata || age < 0 || age > METADATA_TTL_MS) return undefined;
        return v.metadata;
      } catch {
        return undefined;
      }
    },
    write: (as) => {
      try {
        writeFileAtomic(dir, file, JSON.stringify({ issuer, fetched_at: Date.now(), metadata: as }));
      } catch {
        /* only the next call's round trip is lost */
      }
    },
    drop: () => rmSync(file, { force: true }),
  };
}

/**
 * RFC 8414 §2: an absent token_endpoint_auth_methods_supported means client_secret_basic. Basic
 * wins when both are offered, as RFC 6749 §2.3.1 asks servers to support it; but oauth4webapi
 * form-encodes the id and secret inside it as that section says, which some servers do not decode
 * (Glewlwyd: a `-` fails) — `--client-auth post` is the way out (docs/providers/glewlwyd.md).
 */
export function defaultClientAuth(as: Pick<oauth.AuthorizationServer, 'token_endpoint_auth_methods_supported'>): 'basic' | 'post' {
  const methods = as.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  return !methods.includes('client_secret_basic') && methods.includes('client_secret_post') ? 'post' : 'basic';
}

/**
 * A plain-http issuer is allowed only on loopback, where no one on the network can read the
 * traffic; its metadata must not then send the code, the verifier, the refresh token or the
 * client secret in cleartext to another host (docs/configuration.md). Every endpoint
 * (RFC 8414 §2: the `*_endpoint` members and `jwks_uri`, also under RFC 8705's
 * `mtls_endpoint_aliases`) must be on a loopback address too.
 */
function requireLoopbackEndpoints(as: oauth.AuthorizationServer, issuer: URL): void {
  const check = (key: string, value: unknown): void => {
    if (!(key.endsWith('_endpoint') || key === 'jwks_uri') || typeof value !== 'string') return;
    let host: string;
    try {
      host = new URL(value).hostname;
    } catch {
      host = '';
    }
    if (!isLoopbackHost(host)) {
      throw new ProviderError(`the plain-http issuer ${issuer.origin} names ${key} ${JSON.stringify(value)}, which is not on a loopback address`, {
        hint: 'a plain-http provider must keep every endpoint on 127.0.0.1 or ::1; use https:// for anything else',
      });
    }
  };
  for (const [k, v] of Object.entries(as)) check(k, v);
  const aliases = (as as Record<string, unknown>).mtls_endpoint_aliases;
  if (aliases && typeof aliases === 'object') for (const [k, v] of Object.entries(aliases)) check(k, v);
}

/** OIDC discovery, falling back to RFC 8414 metadata (docs/configuration.md). */
async function discover(issuer: URL, req: Provider['req']): Promise<oauth.AuthorizationServer> {
  let first: unknown;
  const tried: string[] = [];
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    tried.push(discoveryUrl(issuer, algorithm));
    try {
      const res = await oauth.discoveryRequest(issuer, { ...req, algorithm });
      if (algorithm === 'oidc' && res.status === 404) {
        await res.body?.cancel();
        continue;
      }
      return await oauth.processDiscoveryResponse(issuer, res);
    } catch (err) {
      // The provider calls itself something else (localhost vs 127.0.0.1, a missing or extra
      // slash, another realm): say what it reports, which is the issuer to configure (OIDC
      // Discovery §4.3 requires them to be identical).
      const c = err instanceof oauth.OperationProcessingError ? (err.cause as { attribute?: unknown; body?: { issuer?: unknown } } | undefined) : undefined;
      if (c?.attribute === 'issuer' && typeof c.body?.issuer === 'string') {
        throw new ProviderError(`the provider's metadata at ${tried[tried.length - 1]} names its issuer ${JSON.stringify(c.body.issuer)}, not ${JSON.stringify(issuer.href)}`, {
          hint: `set the issuer to exactly ${JSON.stringify(c.body.issuer)}`,
        });
      }
      first ??= err;
      if (err instanceof OidcCredError) throw err; // network trouble: the fallback would fail the same way
    }
  }
  throw providerError(`could not read the provider's metadata from ${tried.join(' (nor from ')}${tried.length > 1 ? ')' : ''}`, first, 'discovery');
}

/** The URL oauth4webapi asks: OIDC Discovery §4 appends, RFC 8414 §3.1 inserts the well-known path. */
export function discoveryUrl(issuer: URL, algorithm: 'oidc' | 'oauth2'): string {
  const u = new URL(issuer.href);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  u.pathname = algorithm === 'oidc' ? `${path}/.well-known/openid-configuration` : `/.well-known/oauth-authorization-server${path}`;
  u.search = '';
  u.hash = '';
  return u.href;
}

export interface TokenResult {
  response: oauth.TokenEndpointResponse;
  idTokenExp: number | undefined;
}

/**
 * What a login asks for (docs/multi-api.md): at the authorization endpoint the audience, every
 * resource of the session (RFC 8707 §2.1) and the scopes; at the code exchange, the audience and
 * the resources of the API that started it (RFC 8707 §2.2: one access token, for one API).
 */
export interface LoginRequest extends ApiSpec {
  tokenAudience: string | undefined;
  tokenResources: string[];
}

/** The login a profile's settings alone ask for. */
export function loginRequestOf(s: Settings): LoginRequest {
  return { audience: s.audience, resources: s.resources, scopes: s.scopes, tokenAudience: s.audience, tokenResources: s.resources };
}

/** Auth0's `audience` and RFC 8707 `resource` (repeated), and `scope` when given. */
function apiParameters(a: { audience?: string | undefined; resources: readonly string[]; scopes?: readonly string[] }): URLSearchParams | undefined {
  const q = new URLSearchParams();
  if (a.audience) q.set('audience', a.audience);
  for (const r of a.resources) q.append('resource', r);
  if (a.scopes?.length) q.set('scope', a.scopes.join(' '));
  return [...q.keys()].length ? q : undefined;
}

function result(response: oauth.TokenEndpointResponse, log: Logger): TokenResult {
  log.secret(response.access_token);
  log.secret(response.id_token as string | undefined);
  log.secret(response.refresh_token);
  const claims = oauth.getValidatedIdTokenClaims(response);
  return { response, idTokenExp: typeof claims?.exp === 'number' ? claims.exp : undefined };
}

export async function exchangeCode(p: Provider, callback: URLSearchParams, expectedState: string, redirectUri: string, verifier: string, nonce: string | undefined, req: LoginRequest = loginRequestOf(p.settings)): Promise<TokenResult> {
  let params: URLSearchParams;
  try {
    // Checks state and, where the provider advertises it, the RFC 9207 `iss` parameter.
    params = oauth.validateAuthResponse(p.as, p.client, callback, expectedState);
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      const desc = err.error_description ? `: ${err.error_description}` : '';
      throw new LoginError(`the provider refused the login: ${err.error}${desc}`);
    }
    throw new LoginError('the login response from the browser was not valid', { cause: err });
  }
  p.log.secret(params.get('code'));
  try {
    const res = await oauth.authorizationCodeGrantRequest(p.as, p.client, p.auth, params, redirectUri, verifier, {
      ...p.req,
      additionalParameters: apiParameters({ audience: req.tokenAudience, resources: req.tokenResources }),
    });
    const response = await oauth.processAuthorizationCodeResponse(p.as, p.client, res, {
      expectedNonce: nonce ?? oauth.expectNoNonce,
      requireIdToken: !!nonce,
    });
    return result(response, p.log);
  } catch (err) {
    throw providerError('could not exchange the authorization code for tokens', err, 'code');
  }
}

/** A refresh for one API of the session: its audience, resources and (when given) scopes — docs/multi-api.md. */
export async function refresh(p: Provider, refreshToken: string, api: ApiSpec = { audience: p.settings.audience, resources: p.settings.resources, scopes: [] }): Promise<TokenResult> {
  try {
    const res = await oauth.refreshTokenGrantRequest(p.as, p.client, p.auth, refreshToken, { ...p.req, additionalParameters: apiParameters(api) });
    return result(await oauth.processRefreshTokenResponse(p.as, p.client, res), p.log);
  } catch (err) {
    // RFC 8707 §2 invalid_target, RFC 6749 §5.2 invalid_scope: not for this API, but the
    // refresh token is not in question — the API logs in on its own (docs/multi-api.md).
    if (err instanceof oauth.ResponseBodyError && (err.error === 'invalid_target' || err.error === 'invalid_scope')) {
      throw new ApiRefusedError(`${err.error}${err.error_description ? `: ${err.error_description}` : ''}`);
    }
    // RFC 6749 §5.2: the token endpoint answers 400 (401 for client authentication) when it
    // refuses a grant. Whatever the body says — invalid_grant, another code, or nothing at all
    // (Glewlwyd answers a revoked or expired refresh token with an empty 400) — this refresh
    // token will not work again: the caller drops it and logs in. 5xx, timeouts and network
    // errors say nothing about the token, so it is kept for the next try.
    const status = errorStatus(err);
    if (status === 400 || status === 401) {
      const answer = providerError('the refresh was refused', err, 'refresh');
      p.log.debug(() => describeCause(answer));
      throw new RefreshRejectedError('the provider no longer accepts the refresh token', { cause: answer.cause });
    }
    throw providerError('could not refresh the token', err, 'refresh');
  }
}

export async function clientCredentials(p: Provider, api: ApiSpec = { audience: p.settings.audience, resources: p.settings.resources, scopes: p.settings.scopes }): Promise<TokenResult> {
  const params = new URLSearchParams();
  const scopes = api.scopes.filter((sc) => sc !== 'openid' && sc !== 'offline_access');
  if (scopes.length) params.set('scope', scopes.join(' '));
  if (api.audience) params.set('audience', api.audience);
  for (const r of api.resources) params.append('resource', r);
  try {
    const res = await oauth.clientCredentialsGrantRequest(p.as, p.client, p.auth, params, p.req);
    return result(await oauth.processClientCredentialsResponse(p.as, p.client, res), p.log);
  } catch (err) {
    throw providerError('could not get a token with the client credentials', err, 'client-credentials');
  }
}

/** RFC 7009. Returns false when the provider advertises no revocation endpoint. */
export async function revoke(p: Provider, token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
  if (!p.as.revocation_endpoint) return false;
  try {
    const res = await oauth.revocationRequest(p.as, p.client, p.auth, token, { ...p.req, additionalParameters: { token_type_hint: hint } });
    await oauth.processRevocationResponse(res);
    return true;
  } catch (err) {
    throw providerError('could not revoke the refresh token', err, 'revocation');
  }
}

/** The HTTP status of an error answer, whichever way oauth4webapi reported it. */
export function errorStatus(err: unknown): number | undefined {
  if (err instanceof oauth.ResponseBodyError || err instanceof oauth.WWWAuthenticateChallengeError) return err.status;
  if (err instanceof oauth.OperationProcessingError && err.cause instanceof Response) return err.cause.status;
  return undefined;
}

function describeCause(e: OidcCredError): string {
  const c: unknown = e.cause;
  return `${e.message}: ${c instanceof Error ? c.message : String(c)}`;
}

/** The request a failure belongs to, for saying what usually causes an error with no OAuth body. */
export type Endpoint = 'discovery' | 'code' | 'refresh' | 'client-credentials' | 'revocation' | 'device-authorization' | 'device-token';

interface Usually {
  why: string;
  hint: string;
}

const CLIENT_AUTH_HINT = 'check the client ID and secret, and try --client-auth post or basic';

/**
 * What usually causes an error status at an endpoint when the provider says nothing more (an
 * empty or non-JSON body instead of RFC 6749 §5.2's `error`). Glewlwyd answers this way for a
 * client lacking a scope (403), a failed client authentication (403) and a public client revoking
 * (401) — docs/providers/glewlwyd.md.
 */
function usually(at: Endpoint | undefined, status: number): Usually | undefined {
  // No metadata at the well-known URLs: the issuer itself is wrong, most often its path.
  if (status === 404 && at === 'discovery') return { why: 'there is no provider at this issuer URL', hint: 'check the issuer URL, including its path: a realm or a tenant' };
  if (status === 404) return { why: "the endpoint from the provider's metadata does not exist", hint: 'check --issuer' };
  if (status === 429) return { why: 'the provider is rate limiting this client', hint: 'wait a moment and try again' };
  if (status >= 500) return { why: 'a fault or an outage at the provider', hint: 'try again later' };
  if (status < 400) return undefined;
  const auth = status === 401 || status === 403;
  switch (at) {
    case 'client-credentials':
      return auth
        ? { why: 'the client authentication failed, or the client may not request these scopes', hint: `${CLIENT_AUTH_HINT}; check which scopes the provider allows this client` }
        : { why: 'the client may not use the client credentials grant or request these scopes', hint: "check the client's grant types and allowed scopes at the provider" };
    case 'revocation':
      return auth
        ? { why: 'the provider may not allow this client to revoke tokens (a public client often may not), or the client authentication failed', hint: 'the cached session was removed anyway; revoke it at the provider, or use a confidential client' }
        : { why: 'the provider did not accept the revocation request', hint: 'the cached session was removed anyway; revoke it at the provider' };
    case 'code':
      return auth
        ? { why: 'the client authentication failed, or the client may not use the authorization code grant', hint: CLIENT_AUTH_HINT }
        : { why: 'the code was already used or expired, or the redirect URI or PKCE verifier did not match', hint: "run 'oidc-cred login' again" };
    case 'refresh':
      return { why: 'the client may not use refresh tokens, or its authentication failed', hint: "run 'oidc-cred login'" };
    case 'device-authorization':
    case 'device-token':
      return auth
        ? { why: 'the client authentication failed, or the client may not use the device grant', hint: `${CLIENT_AUTH_HINT}; check that the device grant is enabled for this client` }
        : { why: 'the client may not use the device grant or request these scopes', hint: 'check that the device grant is enabled for this client, or use --grant authcode' };
    default:
      return auth ? { why: 'the provider refused the client', hint: CLIENT_AUTH_HINT } : undefined;
  }
}

/** Turns whatever oauth4webapi or the network threw into one line that says what the provider did. */
export function providerError(what: string, err: unknown, at?: Endpoint): OidcCredError {
  if (err instanceof OidcCredError) {
    if (err instanceof ProviderError && !err.message.startsWith(what)) return new ProviderError(what, { cause: new Error(err.message), hint: err.hint });
    return err;
  }
  if (err instanceof oauth.ResponseBodyError) {
    const desc = err.error_description ? ` (${err.error_description})` : '';
    return new ProviderError(what, { cause: new Error(`the provider answered ${err.error}${desc}, HTTP ${err.status}`) });
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    const c = err.cause[0];
    const code = c?.parameters?.error ? `: ${c.parameters.error}${c.parameters.error_description ? ` (${c.parameters.error_description})` : ''}` : '';
    return new ProviderError(what, { cause: new Error(`the provider answered HTTP ${err.status} with a ${c?.scheme ?? 'WWW-Authenticate'} challenge${code}`) });
  }
  if (err instanceof oauth.OperationProcessingError) {
    const res = err.cause instanceof Response ? err.cause : undefined;
    if (res && (err.code === oauth.RESPONSE_IS_NOT_JSON || err.code === oauth.RESPONSE_IS_NOT_CONFORM)) {
      const ctype = res.headers.get('content-type')?.split(';')[0];
      const type = ctype ?? 'no content type';
      if (res.status >= 400) {
        const body = !ctype && (res.headers.get('content-length') ?? '0') === '0' ? ' with an empty body' : ` (${type})`;
        const u = usually(at, res.status);
        return new ProviderError(what, { cause: new Error(`the provider answered HTTP ${res.status}${body}${u ? `; this usually means ${u.why}` : ''}`), hint: u?.hint });
      }
      const why = res.status >= 300 && res.status < 400 ? `a redirect (HTTP ${res.status}) to ${res.headers.get('location') ?? 'nowhere'}` : res.ok ? `HTTP ${res.status} with ${type} instead of JSON` : `HTTP ${res.status} (${type})`;
      return new ProviderError(what, { cause: new Error(`the provider answered ${why}`) });
    }
    return new ProviderError(what, { cause: new Error(err.message) });
  }
  if (err instanceof TypeError || err instanceof SyntaxError) {
    return new ProviderError(what, { cause: new Error(`the provider's answer was malformed: ${err.message}`) });
  }
  return new ProviderError(what, { cause: err });
}
