// Talking to the provider, through oauth4webapi (which builds and checks every protocol message:
// discovery, PKCE, state, iss, nonce, ID-token claims) and undici's fetch. Loaded only on the
// slow path. Every failure becomes one ProviderError/LoginError line without secrets.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';
import { refuseForeignFile, type Settings } from '../config/resolve.js';
import { ConfigError, LoginError, OidcCredError, ProviderError, RefreshRejectedError } from '../errors.js';
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
}

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

export async function connect(s: Settings, deps: ConnectDeps): Promise<Provider> {
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
  const fetch = await createFetch({ caFile: s.caFile, env: deps.env, log: deps.log, signal: deps.signal });
  const req = { [oauth.customFetch]: fetch, signal: deps.signal, ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}) };
  const as = await discover(issuer, req);
  if (insecure) requireLoopbackEndpoints(as, issuer);
  const secret = readClientSecret(s);
  deps.log.secret(secret);
  const client: oauth.Client = { client_id: s.clientId };
  let auth: oauth.ClientAuth = oauth.None();
  if (secret) {
    // RFC 8414: absent means client_secret_basic.
    const methods = as.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    auth = !methods.includes('client_secret_basic') && methods.includes('client_secret_post') ? oauth.ClientSecretPost(secret) : oauth.ClientSecretBasic(secret);
  }
  return { as, client, auth, hasSecret: !!secret, req, settings: s, log: deps.log };
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

/** OIDC discovery, falling back to RFC 8414 metadata (SPEC §3). */
async function discover(issuer: URL, req: Provider['req']): Promise<oauth.AuthorizationServer> {
  let first: unknown;
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const res = await oauth.discoveryRequest(issuer, { ...req, algorithm });
      if (algorithm === 'oidc' && res.status === 404) {
        await res.body?.cancel();
        continue;
      }
      return await oauth.processDiscoveryResponse(issuer, res);
    } catch (err) {
      first ??= err;
      if (err instanceof OidcCredError) throw err; // network trouble: the fallback would fail the same way
    }
  }
  throw providerError(`could not read the provider's metadata from ${issuer.origin}`, first);
}

export interface TokenResult {
  response: oauth.TokenEndpointResponse;
  idTokenExp: number | undefined;
}

function withAudience(s: Settings): Record<string, string> | undefined {
  return s.audience ? { audience: s.audience } : undefined;
}

function result(response: oauth.TokenEndpointResponse, log: Logger): TokenResult {
  log.secret(response.access_token);
  log.secret(response.id_token as string | undefined);
  log.secret(response.refresh_token);
  const claims = oauth.getValidatedIdTokenClaims(response);
  return { response, idTokenExp: typeof claims?.exp === 'number' ? claims.exp : undefined };
}

export async function exchangeCode(p: Provider, callback: URLSearchParams, expectedState: string, redirectUri: string, verifier: string, nonce: string | undefined): Promise<TokenResult> {
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
      additionalParameters: withAudience(p.settings),
    });
    const response = await oauth.processAuthorizationCodeResponse(p.as, p.client, res, {
      expectedNonce: nonce ?? oauth.expectNoNonce,
      requireIdToken: !!nonce,
    });
    return result(response, p.log);
  } catch (err) {
    throw providerError('could not exchange the authorization code for tokens', err);
  }
}

export async function refresh(p: Provider, refreshToken: string): Promise<TokenResult> {
  try {
    const res = await oauth.refreshTokenGrantRequest(p.as, p.client, p.auth, refreshToken, { ...p.req, additionalParameters: withAudience(p.settings) });
    return result(await oauth.processRefreshTokenResponse(p.as, p.client, res), p.log);
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
      throw new RefreshRejectedError('the provider no longer accepts the refresh token', { cause: err });
    }
    throw providerError('could not refresh the token', err);
  }
}

export async function clientCredentials(p: Provider): Promise<TokenResult> {
  const params: Record<string, string> = {};
  const scopes = p.settings.scopes.filter((sc) => sc !== 'openid' && sc !== 'offline_access');
  if (scopes.length) params.scope = scopes.join(' ');
  if (p.settings.audience) params.audience = p.settings.audience;
  try {
    const res = await oauth.clientCredentialsGrantRequest(p.as, p.client, p.auth, params, p.req);
    return result(await oauth.processClientCredentialsResponse(p.as, p.client, res), p.log);
  } catch (err) {
    throw providerError('could not get a token with the client credentials', err);
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
    throw providerError('could not revoke the refresh token', err);
  }
}

/** Turns whatever oauth4webapi or the network threw into one line that says what the provider did. */
export function providerError(what: string, err: unknown): OidcCredError {
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
      const type = (res.headers.get('content-type') ?? 'no content type').split(';')[0];
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
