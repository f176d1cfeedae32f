// Authorization Code + PKCE through the browser (docs/architecture.md, "The login"; RFC 7636 S256, RFC 8252 loopback).
import * as oauth from 'oauth4webapi';
import type { Settings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { OidcCredError, describeError } from '../errors.js';
import { openBrowser } from '../infra/browser.js';
import { exchangeCode, loginRequestOf, type LoginRequest, type Provider, type TokenResult } from './client.js';
import { startLoopback } from './loopback.js';

/** Parameters oidc-cred owns; --param may not override them (that would break PKCE or state). */
const RESERVED = new Set(['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'resource']);

export async function authorizationCodeLogin(p: Provider, s: Settings, deps: Deps, req: LoginRequest = loginRequestOf(s), onUrl?: (url: string) => void): Promise<TokenResult> {
  // oauth4webapi: 32 random bytes each, base64url (43 characters).
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const nonce = req.scopes.includes('openid') ? oauth.generateRandomNonce() : undefined;
  deps.log.secret(verifier);

  const lb = await startLoopback({ ports: s.ports, redirectUri: s.redirectUri, expectedState: state, log: deps.log });
  try {
    if (!p.as.authorization_endpoint) throw new OidcCredError(`the provider ${s.issuer} advertises no authorization endpoint`);
    const url = new URL(p.as.authorization_endpoint);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', s.clientId);
    q.set('redirect_uri', lb.redirectUri);
    q.set('scope', req.scopes.join(' '));
    q.set('state', state);
    if (nonce) q.set('nonce', nonce);
    q.set('code_challenge', challenge);
    q.set('code_challenge_method', 'S256');
    if (req.audience) q.set('audience', req.audience);
    // RFC 8707 §2.1: every API of the session, so that one grant covers them all.
    for (const r of req.resources) q.append('resource', r);
    for (const [k, v] of Object.entries(s.params)) if (!RESERVED.has(k)) q.set(k, v);
    lb.setAuthorizationUrl(url.href);

    // For the waiting message of any process that waits for this login (docs/cache.md).
    onUrl?.(lb.startUrl);
    // Always printed, in case the browser does not open (docs/architecture.md, "The login").
    deps.log.info(`oidc-cred: log in to ${s.issuer}${s.profile ? ` (profile ${s.profile})` : ''} in your browser: ${lb.startUrl}`);
    deps.log.debug(() => `authorization URL: ${url.origin}${url.pathname}, redirect ${lb.redirectUri}`);
    if (!s.noBrowser) await openBrowser(lb.startUrl, { command: s.browserCommand, fromBrowserEnv: s.browserFromEnv, log: deps.log, env: deps.env, secretEnv: s.clientSecretEnvName });

    const cb = await lb.waitForCallback(deps.signal, s.timeout * 1000);
    try {
      const r = await exchangeCode(p, cb.params, state, lb.redirectUri, verifier, nonce, req);
      await cb.finish(true, 'You are logged in. You can close this tab and return to your terminal.');
      return r;
    } catch (err) {
      await cb.finish(false, describeError(err).replace(/^oidc-cred: /, ''));
      throw err;
    }
  } finally {
    await lb.close();
  }
}
