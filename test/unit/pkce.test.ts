import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as oauth from 'oauth4webapi';

// RFC 7636 Appendix B: the S256 example.
it('PKCE S256 matches RFC 7636 Appendix B', async () => {
  assert.equal(await oauth.calculatePKCECodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

it('verifier, state and nonce are 32 random bytes as 43 base64url characters', () => {
  const seen = new Set<string>();
  for (const f of [oauth.generateRandomCodeVerifier, oauth.generateRandomState, oauth.generateRandomNonce]) {
    const v = f();
    assert.match(v, /^[A-Za-z0-9_-]{43}$/);
    seen.add(v);
  }
  assert.equal(seen.size, 3);
});
