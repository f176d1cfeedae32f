import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveSettings, verboseFrom, type ResolveInput } from '../../src/config/resolve.ts';
import { ConfigError, NoMatchingProfile } from '../../src/errors.ts';

const home = mkdtempSync(join(tmpdir(), 'oidc-cred-resolve-'));
const configFile = join(home, 'config.json');
writeFileSync(
  configFile,
  JSON.stringify({
    'default-profile': 'work',
    profiles: {
      work: { issuer: 'https://work.example/', 'client-id': 'w', scope: ['openid', 'email'], timeout: 30, match: ['https://git.example.com/'], 'cache-dir': 'rel-cache' },
      k8s: { issuer: 'https://k8s-idp.example/', 'client-id': 'k', match: ['https://k8s.example.com:6443'], 'token-type': 'access' },
      reg: { issuer: 'https://reg-idp.example/', 'client-id': 'r', match: 'registry.example.com', 'docker-username': 'robot' },
    },
  }),
);

function input(over: Partial<ResolveInput> = {}): ResolveInput {
  return { flags: { config: configFile }, env: {}, home, cwd: home, purpose: 'other', ...over };
}

describe('precedence: flag > environment > profile > default', () => {
  it('takes the default profile', () => {
    const s = resolveSettings(input());
    assert.equal(s.profile, 'work');
    assert.equal(s.issuer, 'https://work.example/');
    assert.deepEqual(s.scopes, ['openid', 'email']);
    assert.equal(s.timeout, 30);
    assert.equal(s.minValid, 60, 'built-in default');
    assert.equal(s.cacheDir, join(home, 'rel-cache'), 'paths in the config file are relative to it');
  });
  it('environment beats the profile', () => {
    const s = resolveSettings(input({ env: { OIDC_CRED_TIMEOUT: '12', OIDC_CRED_SCOPE: 'openid profile' } }));
    assert.equal(s.timeout, 12);
    assert.deepEqual(s.scopes, ['openid', 'profile']);
  });
  it('a flag beats the environment', () => {
    const s = resolveSettings(input({ flags: { config: configFile, timeout: 7, scope: ['a b', 'c'] }, env: { OIDC_CRED_TIMEOUT: '12' } }));
    assert.equal(s.timeout, 7);
    assert.deepEqual(s.scopes, ['a', 'b', 'c']);
  });
  it('OIDC_CRED_PROFILE selects a profile; --profile beats it', () => {
    assert.equal(resolveSettings(input({ env: { OIDC_CRED_PROFILE: 'k8s' } })).profile, 'k8s');
    assert.equal(resolveSettings(input({ flags: { config: configFile, profile: 'reg' }, env: { OIDC_CRED_PROFILE: 'k8s' } })).profile, 'reg');
  });
  it('no config file at all: flags and environment make an unnamed profile', () => {
    const s = resolveSettings({ flags: {}, env: { OIDC_CRED_ISSUER: 'https://x.example', OIDC_CRED_CLIENT_ID: 'c' }, home: join(home, 'nowhere'), cwd: home, purpose: 'other' });
    assert.equal(s.profile, undefined);
    assert.deepEqual(s.scopes, ['openid', 'offline_access']);
    assert.equal(s.cacheDir, join(home, 'nowhere', '.cache', 'oidc-cred'));
  });
});

describe('profile by URL (docs/configuration.md)', () => {
  it('git: a matching profile, or nothing to offer', () => {
    assert.equal(resolveSettings(input({ purpose: 'git', url: 'https://git.example.com/org/repo' })).profile, 'work');
    assert.throws(() => resolveSettings(input({ purpose: 'git', url: 'https://github.com/x/y' })), NoMatchingProfile);
  });
  it('docker: bare host entries; per-profile username', () => {
    const s = resolveSettings(input({ purpose: 'docker', url: 'registry.example.com' }));
    assert.equal(s.profile, 'reg');
    assert.equal(s.dockerUsername, 'robot');
  });
  it('kube: the cluster server, else the profile of its own args — never default-profile alone', () => {
    assert.equal(resolveSettings(input({ purpose: 'kube', url: 'https://k8s.example.com:6443' })).profile, 'k8s');
    assert.throws(() => resolveSettings(input({ purpose: 'kube', url: 'https://other:6443' })), /no profile matches the cluster https:\/\/other:6443/);
    assert.throws(() => resolveSettings(input({ purpose: 'kube', url: 'http://k8s.example.com:6443' })), ConfigError, 'an http:// server gets no default');
    assert.equal(resolveSettings(input({ purpose: 'kube', url: 'https://other:6443', flags: { config: configFile, profile: 'work' } })).profile, 'work');
    assert.equal(resolveSettings(input({ purpose: 'kube', url: 'https://other:6443', env: { OIDC_CRED_PROFILE: 'work' } })).profile, 'work', "kubeconfig's exec env is the plugin's own");
    assert.equal(resolveSettings(input({ purpose: 'kube' })).profile, 'work', 'no cluster info: the default profile');
  });
});

describe('git and docker take provider and profile from their own command line only (issue 10 item 4)', () => {
  for (const purpose of ['git', 'docker'] as const) {
    const url = purpose === 'git' ? 'https://evil.test/x' : 'evil.test';
    it(`${purpose}: OIDC_CRED_PROFILE, OIDC_CRED_ISSUER and OIDC_CRED_CLIENT_ID are ignored`, () => {
      assert.throws(() => resolveSettings(input({ purpose, url, env: { OIDC_CRED_PROFILE: 'work' } })), NoMatchingProfile);
      assert.throws(() => resolveSettings(input({ purpose, url, env: { OIDC_CRED_ISSUER: 'https://x.example', OIDC_CRED_CLIENT_ID: 'c' } })), NoMatchingProfile);
      const matched = resolveSettings(input({ purpose, url: purpose === 'git' ? 'https://git.example.com/r' : 'registry.example.com', env: { OIDC_CRED_ISSUER: 'https://x.example', OIDC_CRED_CLIENT_ID: 'c' } }));
      assert.notEqual(matched.issuer, 'https://x.example', 'the matched profile keeps its own provider');
      assert.notEqual(matched.clientId, 'c');
    });
    it(`${purpose}: the helper's own --profile or --issuer/--client-id still serve`, () => {
      assert.equal(resolveSettings(input({ purpose, url, flags: { config: configFile, profile: 'work' } })).profile, 'work');
      const s = resolveSettings(input({ purpose, url, flags: { config: configFile, issuer: 'https://x.example', 'client-id': 'c' } }));
      assert.equal(s.issuer, 'https://x.example');
    });
  }
  it('other commands still read them', () => {
    assert.equal(resolveSettings(input({ env: { OIDC_CRED_PROFILE: 'k8s' } })).profile, 'k8s');
  });
});

describe('OIDC_CRED_CLIENT_SECRET is for one provider only (issue 10 item 3)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-secretenv-'));
  const f = join(dir, 'config.json');
  writeFileSync(
    f,
    JSON.stringify({
      'default-profile': 'plain',
      profiles: {
        plain: { issuer: 'https://a.example/', 'client-id': 'a' },
        ci: { issuer: 'https://b.example/', 'client-id': 'b', 'client-secret-env': 'OIDC_CRED_CLIENT_SECRET' },
        own: { issuer: 'https://c.example/', 'client-id': 'c', 'client-secret-env': 'MY_CI_SECRET' },
      },
    }),
  );
  const env = { OIDC_CRED_CLIENT_SECRET: 'shh-secret-value', MY_CI_SECRET: 'other-secret' };
  const at = (over: Partial<ResolveInput>) => resolveSettings({ flags: { config: f }, env, home: dir, cwd: dir, purpose: 'other', ...over });
  it('a profile that does not name it does not get it', () => {
    const s = at({});
    assert.equal(s.profile, 'plain');
    assert.equal(s.clientSecretEnv, undefined);
  });
  it('a profile that names it gets it; a profile may name any variable', () => {
    assert.equal(at({ flags: { config: f, profile: 'ci' } }).clientSecretEnv, 'shh-secret-value');
    const own = at({ flags: { config: f, profile: 'own' } });
    assert.equal(own.clientSecretEnv, 'other-secret');
    assert.equal(own.clientSecretEnvName, 'MY_CI_SECRET');
  });
  it('the unnamed profile of flags and environment gets it', () => {
    const s = resolveSettings({ flags: { issuer: 'https://x.example', 'client-id': 'x' }, env, home: join(dir, 'none'), cwd: dir, purpose: 'other' });
    assert.equal(s.clientSecretEnv, 'shh-secret-value');
  });
  it('a bad variable name is a config error', () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ profiles: { x: { 'client-secret-env': 'A B' } } }));
    assert.throws(() => resolveSettings({ flags: { config: join(dir, 'bad.json') }, env, home: dir, cwd: dir, purpose: 'other' }), /client-secret-env: must be the name of an environment variable/);
  });
});

describe('a config file others could write is refused (issue 10 item 10)', { skip: process.platform === 'win32' }, () => {
  it('group- or world-writable: refused with the chmod that fixes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-cfgmode-'));
    const f = join(dir, 'config.json');
    writeFileSync(f, JSON.stringify({ profiles: { a: { issuer: 'https://a.example/', 'client-id': 'a' } } }));
    for (const mode of [0o666, 0o620, 0o602]) {
      chmodSync(f, mode);
      assert.throws(() => resolveSettings({ flags: { config: f }, env: {}, home: dir, cwd: dir, purpose: 'other' }), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /can be changed by other users/);
        assert.match(String(err.hint), /chmod go-w/);
        return true;
      });
    }
    chmodSync(f, 0o644);
    assert.equal(resolveSettings({ flags: { config: f }, env: {}, home: dir, cwd: dir, purpose: 'other' }).profile, 'a', 'readable by others is fine');
  });
});

describe('config errors name the file, the key and the problem', () => {
  const bad = (content: unknown): string => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-bad-'));
    mkdirSync(dir, { recursive: true });
    const f = join(dir, 'config.json');
    writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
    try {
      resolveSettings({ flags: { config: f }, env: {}, home: dir, cwd: dir, purpose: 'other' });
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.includes(f), err.message);
      return err.message;
    }
    throw new Error('expected a ConfigError');
  };
  it('unknown key', () => assert.match(bad({ profiles: { a: { issuer: 'x', 'client-id': 'y', clientId: 'z' } } }), /profiles\.a\.clientId: unknown key/));
  it('wrong type', () => assert.match(bad({ profiles: { a: { issuer: 'x', 'client-id': 'y', timeout: '30' } } }), /profiles\.a\.timeout: must be a number/));
  it('bad choice', () => assert.match(bad({ profiles: { a: { grant: 'password' } } }), /profiles\.a\.grant: must be one of/));
  it('not JSON', () => assert.match(bad('{ "profiles": '), /not valid JSON/));
  it('default-profile names nothing', () => assert.match(bad({ 'default-profile': 'nope', profiles: {} }), /default-profile: names "nope"/));
  it('flags that may not be in a file', () => assert.match(bad({ profiles: { a: { profile: 'x' } } }), /profiles\.a\.profile: is not allowed/));
});

describe('--resource and the profiles that share a login (docs/multi-api.md)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-resolve-multi-'));
  const file = join(dir, 'config.json');
  const idp = { issuer: 'https://idp.example/', 'client-id': 'c' };
  writeFileSync(
    file,
    JSON.stringify({
      profiles: {
        git: { ...idp, resource: 'https://git.example', scope: 'openid email' },
        registry: { ...idp, resource: ['https://registry.example', 'https://registry2.example'], scope: ['openid', 'registry:pull'] },
        cluster: { ...idp },
        other: { ...idp, param: { organization: 'org_2' }, resource: 'https://elsewhere.example' },
        machine: { ...idp, grant: 'client-credentials', resource: 'https://machine.example' },
        otheridp: { issuer: 'https://other.example/', 'client-id': 'c', resource: 'https://x.example' },
      },
    }),
  );
  const at = (profile: string, over: Partial<ResolveInput> = {}) => resolveSettings({ flags: { config: file, profile }, env: {}, home: dir, cwd: dir, purpose: 'other', ...over });

  it('takes a string or an array in the config file, repeated flags, or OIDC_CRED_RESOURCE', () => {
    assert.deepEqual(at('git').resources, ['https://git.example']);
    assert.deepEqual(at('registry').resources, ['https://registry.example', 'https://registry2.example']);
    assert.deepEqual(at('cluster', { flags: { config: file, profile: 'cluster', resource: ['https://a', 'https://b'] } }).resources, ['https://a', 'https://b']);
    assert.deepEqual(at('cluster', { env: { OIDC_CRED_RESOURCE: 'https://a https://b' } }).resources, ['https://a', 'https://b']);
  });

  it('a login asks for every resource and scope of the profiles with the same issuer, client, grant and params — no others', () => {
    const s = at('cluster');
    assert.deepEqual(s.resources, []);
    assert.deepEqual(s.sessionResources, ['https://git.example', 'https://registry.example', 'https://registry2.example']);
    assert.deepEqual(s.sessionScopes, ['email', 'offline_access', 'openid', 'registry:pull']);
    assert.deepEqual(at('other').sessionResources, ['https://elsewhere.example'], 'other params: a login of its own');
    assert.deepEqual(at('machine').sessionResources, ['https://machine.example'], 'client credentials: its own');
  });
});

describe('verbosity: one reading of flag, environment and profile', () => {
  it('--verbose false is off, OIDC_CRED_DEBUG=0 is off, a profile\'s "verbose": true is on', () => {
    assert.equal(verboseFrom({ verbose: false }, { OIDC_CRED_DEBUG: '1' }), false, 'the flag wins');
    assert.equal(verboseFrom({}, { OIDC_CRED_DEBUG: '0' }), false);
    assert.equal(verboseFrom({}, { OIDC_CRED_DEBUG: 'off' }), false);
    assert.equal(verboseFrom({}, { OIDC_CRED_DEBUG: '1' }), true);
    assert.equal(verboseFrom({ verbose: true }, {}), true);
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-verbose-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ 'default-profile': 'v', profiles: { v: { issuer: 'https://v.example/', 'client-id': 'v', verbose: true } } }), { mode: 0o600 });
    const at = (flags: Record<string, unknown>, env: Record<string, string> = {}): boolean =>
      resolveSettings({ flags: { config: file, ...flags } as ResolveInput['flags'], env, home: dir, cwd: dir, purpose: 'other' }).verbose;
    assert.equal(at({}), true, 'the profile turns it on');
    assert.equal(at({}, { OIDC_CRED_DEBUG: '0' }), false, 'the environment beats the profile');
    assert.equal(at({ verbose: false }), false, 'the flag beats the profile');
  });
});
