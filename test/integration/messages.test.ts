// Messages a person reads, from the real binaries as a user runs them (docs/configuration.md,
// "Exit codes and errors"): exact stderr where the words are the point, and the exit code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, run } from '../support/cli.ts';

const home = mkdtempSync(join(tmpdir(), 'oidc-cred-messages-'));
after(() => rmSync(home, { recursive: true, force: true }));
const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'cfg'), XDG_CACHE_HOME: join(home, 'cache') };
const own = ['--issuer', 'https://idp.example', '--client-id', 'c'];

describe('a bad value from a flag or the environment: exit 2, naming it', () => {
  const cases: Array<[string, string[], Record<string, string>, string]> = [
    ['--port abc', ['token', ...own, '--port', 'abc'], {}, `oidc-cred: --port must be a TCP port number from 1 to 65535, not "abc" (see 'oidc-cred --help')\n`],
    ['--param foo', ['token', ...own, '--param', 'foo'], {}, `oidc-cred: --param must look like KEY=VALUE (login_hint=me@example.com), not "foo" (see 'oidc-cred --help')\n`],
    ['OIDC_CRED_GRANT=password', ['token', ...own], { OIDC_CRED_GRANT: 'password' }, `oidc-cred: OIDC_CRED_GRANT must be one of auto, authcode, device or client-credentials, not "password" (see 'oidc-cred --help')\n`],
    ['--profile with no value', ['token', '--profile'], {}, `oidc-cred: --profile needs a value (see 'oidc-cred --help')\n`],
    ['status --profile with no value', ['status', '--profile'], {}, `oidc-cred: --profile needs a value (see 'oidc-cred --help')\n`],
  ];
  for (const [name, args, extra, stderr] of cases) {
    it(name, async () => {
      const r = await run(BIN.oidcCred, args, { env: { ...env, ...extra } });
      assert.equal(r.stderr, stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    });
  }
});

describe('config errors: the file and the key, exit 1', () => {
  it('two profiles and no default-profile (the shipped examples/git/config.json has two)', async () => {
    const f = join(home, 'two.json');
    writeFileSync(f, JSON.stringify({ profiles: { git: { issuer: 'https://a.example', 'client-id': 'a' }, kube: { issuer: 'https://b.example', 'client-id': 'b' } } }), { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['token', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} has 2 profiles (git, kube) and no "default-profile" (pass --profile git, set OIDC_CRED_PROFILE, or add "default-profile": "git" to the file)\n`);
    assert.equal(r.code, 1);
  });
  it('a JSON syntax error: line and column', async () => {
    const f = join(home, 'bad.json');
    writeFileSync(f, '{\n  "profiles": {\n    "a": { "issuer": "https://a.example", }\n  }\n}\n', { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['token', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} is not valid JSON: line 3, column 43: expected double-quoted property name\n`);
    assert.equal(r.code, 1);
  });
  it('a --config that does not exist: one sentence', async () => {
    const f = join(home, 'nope.json');
    const r = await run(BIN.oidcCred, ['status', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} does not exist (check --config or OIDC_CRED_CONFIG; docs/configuration.md shows a config file)\n`);
    assert.equal(r.code, 1);
  });
});
