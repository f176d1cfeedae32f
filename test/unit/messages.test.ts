// Messages a person reads (docs/configuration.md, "Exit codes and errors"): each names what is at
// fault — the file and key, the flag, the variable — and says what to do, in one line.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveSettings, type ResolveInput } from '../../src/config/resolve.ts';
import { ConfigError, describeError, UsageError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-messages-'));
let n = 0;
function file(content: unknown): string {
  const f = join(dir, `config-${n++}.json`);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
  return f;
}
function failure(over: Partial<ResolveInput>): { err: unknown; line: string } {
  try {
    resolveSettings({ flags: {}, env: {}, home: dir, cwd: dir, purpose: 'other', ...over });
  } catch (err) {
    return { err, line: describeError(err) };
  }
  throw new Error('expected an error');
}

describe('config errors name the file and key', () => {
  it('two profiles and no default-profile: says which profiles exist and how to choose', () => {
    const f = file({ profiles: { git: { issuer: 'https://a.example', 'client-id': 'a' }, kube: { issuer: 'https://b.example', 'client-id': 'b' } } });
    const { err, line } = failure({ flags: { config: f } });
    assert.ok(err instanceof ConfigError);
    assert.equal(line, `oidc-cred: config file ${f} has 2 profiles (git, kube) and no "default-profile" (pass --profile git, set OIDC_CRED_PROFILE, or add "default-profile": "git" to the file)`);
  });
  it('a profile without an issuer names the file and the profile', () => {
    const f = file({ profiles: { work: { 'client-id': 'a' } } });
    assert.equal(failure({ flags: { config: f } }).line, `oidc-cred: config file ${f}: profiles.work has no "issuer" (add "issuer" to the profile, or pass --issuer)`);
  });
  it('JSON syntax errors give line and column', () => {
    const f = file('{"profiles": {\n  "a": {"issuer": "x",\n    "client-id": "y",}}}');
    assert.equal(failure({ flags: { config: f } }).line, `oidc-cred: config file ${f} is not valid JSON: line 3, column 22: expected double-quoted property name`);
    const t = file('{"profiles": {"a": {');
    assert.match(failure({ flags: { config: t } }).line, /is not valid JSON: line 1, column 21: /);
  });
  it('a missing --config file is one plain sentence, no errno text', () => {
    const f = join(dir, 'nope.json');
    assert.equal(failure({ flags: { config: f } }).line, `oidc-cred: config file ${f} does not exist (check --config or OIDC_CRED_CONFIG; docs/configuration.md shows a config file)`);
  });
  it('a mistyped key gets a "did you mean"', () => {
    const f = file({ profiles: { a: { issuer: 'https://a.example', 'client-id': 'a', scopes: ['openid'] } } });
    assert.equal(failure({ flags: { config: f } }).line, `oidc-cred: config file ${f}: profiles.a.scopes: unknown key (did you mean "scope"?)`);
    const g = file({ 'default_profile': 'a', profiles: {} });
    assert.match(failure({ flags: { config: g } }).line, /default_profile: unknown key \(did you mean "default-profile"\?\)$/);
  });
  it('a bad value in a profile names the file and key', () => {
    const f = file({ profiles: { a: { issuer: 'https://a.example', 'client-id': 'a', port: 'abc', param: ['foo'] } } });
    const { err, line } = failure({ flags: { config: f } });
    assert.ok(err instanceof ConfigError && !(err instanceof UsageError));
    assert.equal(line, `oidc-cred: config file ${f}: profiles.a.port: must be a TCP port number from 1 to 65535, not "abc"`);
    const g = file({ profiles: { a: { issuer: 'https://a.example', 'client-id': 'a', param: ['foo'] } } });
    assert.equal(failure({ flags: { config: g } }).line, `oidc-cred: config file ${g}: profiles.a.param: must look like KEY=VALUE (login_hint=me@example.com), not "foo"`);
  });
});

describe('issuer and redirect URI are checked first, naming where they came from', () => {
  it('a profile issuer that is not a URL names the file and key', () => {
    const f = file({ profiles: { a: { issuer: 'idp.example.com', 'client-id': 'a' } } });
    const { err, line } = failure({ flags: { config: f } });
    assert.ok(err instanceof ConfigError && !(err instanceof UsageError));
    assert.equal(line, `oidc-cred: config file ${f}: profiles.a.issuer: must be a URL such as https://idp.example.com/, not "idp.example.com"`);
  });
  it('a plain-http --issuer off loopback, a redirect URI off loopback: usage errors', () => {
    const a = failure({ flags: { issuer: 'http://idp.example.com', 'client-id': 'c' } });
    assert.ok(a.err instanceof UsageError);
    assert.equal(a.line, `oidc-cred: --issuer must use https:// (plain http is allowed only on a loopback address), not "http://idp.example.com" (see 'oidc-cred --help')`);
    const b = failure({ flags: { issuer: 'https://idp.example.com', 'client-id': 'c', 'redirect-uri': 'https://app.example.com/cb' } });
    assert.equal(b.line, `oidc-cred: --redirect-uri must be http:// on 127.0.0.1, [::1] or localhost (a loopback redirect), not "https://app.example.com/cb" (see 'oidc-cred --help')`);
  });
  it('loopback values pass', () => {
    const s = resolveSettings({ flags: { issuer: 'http://127.0.0.1:9', 'client-id': 'c', 'redirect-uri': 'http://localhost/callback' }, env: {}, home: dir, cwd: dir, purpose: 'other' });
    assert.equal(s.redirectUri, 'http://localhost/callback');
  });
});

describe('a bad value from a flag or the environment is a usage error (exit 2)', () => {
  const own = { issuer: 'https://x.example', 'client-id': 'c' };
  for (const [name, over, text] of [
    ['--port abc', { flags: { ...own, port: ['abc'] } }, `oidc-cred: --port must be a TCP port number from 1 to 65535, not "abc" (see 'oidc-cred --help')`],
    ['--param foo', { flags: { ...own, param: ['foo'] } }, `oidc-cred: --param must look like KEY=VALUE (login_hint=me@example.com), not "foo" (see 'oidc-cred --help')`],
    ['OIDC_CRED_GRANT=password', { flags: own, env: { OIDC_CRED_GRANT: 'password' } }, `oidc-cred: OIDC_CRED_GRANT must be one of auto, authcode, device or client-credentials, not "password" (see 'oidc-cred --help')`],
    ['OIDC_CRED_PORT=0', { flags: own, env: { OIDC_CRED_PORT: '0' } }, `oidc-cred: OIDC_CRED_PORT must be a TCP port number from 1 to 65535, not "0" (see 'oidc-cred --help')`],
    ['OIDC_CRED_TIMEOUT=soon', { flags: own, env: { OIDC_CRED_TIMEOUT: 'soon' } }, `oidc-cred: OIDC_CRED_TIMEOUT must be a number, not "soon" (see 'oidc-cred --help')`],
    ['OIDC_CRED_TIMEOUT=-1', { flags: own, env: { OIDC_CRED_TIMEOUT: '-1' } }, `oidc-cred: OIDC_CRED_TIMEOUT must be a positive number of seconds, not "-1" (see 'oidc-cred --help')`],
  ] as const) {
    it(name, () => {
      const { err, line } = failure(over as Partial<ResolveInput>);
      assert.ok(err instanceof UsageError, String(err));
      assert.equal(err.exitCode, 2);
      assert.equal(line, text);
    });
  }
});

describe('times a person reads: local zone with offset, no milliseconds', () => {
  it('same day: the time and the offset; another day: the date too; and how far away', async () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Europe/Paris';
    try {
      const { when, localTime } = await import('../../src/infra/time.ts');
      const now = Date.parse('2026-01-15T12:06:00.123Z');
      assert.equal(when(Date.parse('2026-01-15T13:05:30.999Z'), now), '14:05 (+01:00), in 59 min');
      assert.equal(when(Date.parse('2026-07-15T13:05:00Z'), Date.parse('2026-07-15T09:00:00Z')), '15:05 (+02:00), in 4 h 5 min');
      assert.equal(localTime(Date.parse('2026-01-16T23:30:00Z'), now), '2026-01-17 00:30 (+01:00)');
      assert.equal(when(Date.parse('2026-01-15T11:54:00Z'), now), '12:54 (+01:00), 12 min ago');
      process.env.TZ = 'Asia/Kolkata';
      assert.equal(localTime(now, now), '17:36 (+05:30)');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});
