// Issue 15, defects 3 and 4 in-process: which client authentication method is used, and what an
// error without an OAuth body says. The real peer for both is Glewlwyd (glewlwyd.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import { resolveSettings } from '../../src/config/resolve.ts';
import { describeError, UsageError } from '../../src/errors.ts';
import { defaultClientAuth, errorStatus, providerError, type Endpoint } from '../../src/oauth/client.ts';

const home = mkdtempSync(join(tmpdir(), 'oidc-cred-client-auth-'));
const resolve = (flags: Record<string, string>, env: Record<string, string> = {}) =>
  resolveSettings({ flags: { issuer: 'https://idp.example/', 'client-id': 'c', ...flags }, env: { XDG_CONFIG_HOME: home, ...env }, home, cwd: home, purpose: 'other' });

describe('--client-auth', () => {
  it('is unset by default, and taken from the flag or OIDC_CRED_CLIENT_AUTH', () => {
    assert.equal(resolve({}).clientAuth, undefined);
    assert.equal(resolve({ 'client-auth': 'post' }).clientAuth, 'post');
    assert.equal(resolve({}, { OIDC_CRED_CLIENT_AUTH: 'basic' }).clientAuth, 'basic');
  });
  it('refuses anything but basic or post', () => {
    assert.throws(() => resolve({ 'client-auth': 'private_key_jwt' }), (e: unknown) => e instanceof UsageError && /--client-auth must be one of basic or post, not "private_key_jwt"/.test(e.message));
  });
  it("defaults from the provider's token_endpoint_auth_methods_supported (RFC 8414 §2)", () => {
    assert.equal(defaultClientAuth({}), 'basic', 'absent means client_secret_basic');
    assert.equal(defaultClientAuth({ token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'] }), 'basic');
    assert.equal(defaultClientAuth({ token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'] }), 'post');
  });
});

/** The error oauth4webapi itself throws for an answer with this status and no body. */
async function emptyAnswer(status: number, process: (r: Response) => Promise<unknown>): Promise<unknown> {
  try {
    await process(new Response(null, { status, headers: { 'content-length': '0' } }));
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('an error status without an OAuth body says what usually causes it (defect 4)', () => {
  const revoke = (r: Response) => oauth.processRevocationResponse(r);
  const cases: Array<[Endpoint, number, RegExp]> = [
    ['revocation', 401, /HTTP 401 with an empty body; this usually means the provider may not allow this client to revoke tokens \(a public client often may not\)/],
    ['client-credentials', 403, /HTTP 403 with an empty body; this usually means the client authentication failed, or the client may not request these scopes \(check the client ID and secret, and try --client-auth post or basic/],
    ['client-credentials', 400, /HTTP 400 with an empty body; this usually means the client may not use the client credentials grant or request these scopes/],
    ['code', 400, /the code was already used or expired, or the redirect URI or PKCE verifier did not match \(run 'oidc-cred login' again\)/],
    ['device-authorization', 403, /the client may not use the device grant/],
    ['refresh', 503, /HTTP 503 with an empty body; this usually means a fault or an outage at the provider \(try again later\)/],
    ['revocation', 404, /the endpoint from the provider's metadata does not exist \(check --issuer\)/],
  ];
  for (const [at, status, expected] of cases) {
    it(`${at}, HTTP ${status}`, async () => {
      const err = await emptyAnswer(status, revoke);
      assert.equal(errorStatus(err), status);
      const line = describeError(providerError('could not do it', err, at));
      assert.match(line, /^oidc-cred: could not do it: the provider answered /);
      assert.match(line, expected);
    });
  }
  it('an OAuth error body is reported as the provider gave it, without guessing', async () => {
    const r = new Response(JSON.stringify({ error: 'invalid_client' }), { status: 401, headers: { 'content-type': 'application/json' } });
    let err: unknown;
    try {
      await oauth.processRevocationResponse(r);
    } catch (e) {
      err = e;
    }
    assert.equal(errorStatus(err), 401);
    assert.equal(describeError(providerError('could not revoke the refresh token', err, 'revocation')), 'oidc-cred: could not revoke the refresh token: the provider answered invalid_client, HTTP 401');
  });
});
