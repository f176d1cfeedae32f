import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Logger } from '../../src/infra/log.ts';
import { describeError, LoginError, ProviderError } from '../../src/errors.ts';

function capture(): { log: Logger; text: () => string } {
  let out = '';
  const log = new Logger({ write: (s: string) => (out += s) }, true);
  return { log, text: () => out };
}

it('registered secrets, JWTs, token pairs and Authorization values never reach the output', () => {
  const { log, text } = capture();
  log.secret('s3cr3t-refresh-token-value');
  log.info('refreshing with s3cr3t-refresh-token-value now');
  log.debug('got eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
  log.debug('POST body grant_type=refresh_token&refresh_token=abcdefgh12345&client_id=x');
  log.debug('{"access_token": "opaque-access-1234", "token_type":"Bearer"}');
  log.debug('Authorization: Bearer abc.def.ghi');
  log.debug('callback ?code=authcode-123456&state=xyz');
  const out = text();
  for (const leak of ['s3cr3t-refresh-token-value', 'eyJhbGci', 'abcdefgh12345', 'opaque-access-1234', 'abc.def.ghi', 'authcode-123456']) {
    assert.ok(!out.includes(leak), `${leak} leaked: ${out}`);
  }
  assert.match(out, /grant_type=refresh_token/);
  assert.match(out, /state=xyz/);
});

it('debug lines appear only when verbose', () => {
  let out = '';
  const log = new Logger({ write: (s: string) => (out += s) }, false);
  log.debug('hidden');
  log.info('shown');
  assert.equal(out, 'shown\n');
});

it('errors become one line: what failed, why, what to do', () => {
  const e = new ProviderError('could not refresh the token', { cause: new Error('the provider answered HTTP 502\n(text/html)') });
  assert.equal(describeError(e), 'oidc-cred: could not refresh the token: the provider answered HTTP 502 (text/html)');
  assert.equal(describeError(new LoginError('denied', { hint: "run 'oidc-cred login'" })), "oidc-cred: denied (run 'oidc-cred login')");
  assert.equal(new LoginError('x').exitCode, 1);
});

it("a URL meant for the user keeps its code= (RFC 8628 verification_uri_complete), other lines still mask it", () => {
  const { log, text } = capture();
  log.secret('device-code-0123456789');
  log.forUser('oidc-cred: or open http://127.0.0.1:4593/api/oidc/device?code=7PNY-T67J');
  log.forUser('oidc-cred: or open http://idp.test/device?code=device-code-0123456789');
  log.forUser('oidc-cred: or open http://idp.test/device?code=ABCD\u001b]8;;http://evil.test\u0007\r\n');
  log.info('callback ?code=authcode-123456&state=xyz');
  const out = text().split('\n');
  assert.equal(out[0], 'oidc-cred: or open http://127.0.0.1:4593/api/oidc/device?code=7PNY-T67J');
  assert.equal(out[1], 'oidc-cred: or open http://idp.test/device?code=[redacted]', 'a registered secret is masked even in a user URL');
  assert.equal(out[2], 'oidc-cred: or open http://idp.test/device?code=ABCD\\x1b]8;;http://evil.test\\x07\\x0d\\x0a', 'no control character reaches the terminal: each is escaped, on one line');
  assert.equal(out[3], 'callback ?code=[redacted]&state=xyz');
});

it('terminal controls from outside are shown as escapes, never obeyed: C0, DEL, C1, bidi overrides (issue 10 item 6)', () => {
  const { log, text } = capture();
  const osc52 = '\u001b]52;c;ZXZpbA==\u0007';
  log.info(`oidc-cred: the provider refused the login: access_denied: ${osc52}\u001b[2K\rlogged in as admin\u009b31m\u202egnp.exe\u2066x\u2069`);
  log.debug(`claim \u001b]0;title\u0007`);
  log.raw(`qr\n\u001b[1mline\u007f\ttab`);
  const out = text();
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, 'no control character left');
  assert.ok(out.includes('\\x1b]52;c;ZXZpbA==\\x07'), out);
  assert.ok(out.includes('\\x1b[2K\\x0dlogged in as admin\\x9b31m\\u202egnp.exe\\u2066x\\u2069'), out);
  assert.ok(out.includes('qr\n\\x1b[1mline\\x7f\ttab\n'), 'newline and tab stay as they are');
  assert.equal(out.split('\n').length, 5, 'one line per call, plus the QR picture’s own newline');
});
