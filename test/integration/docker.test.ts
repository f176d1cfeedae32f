// Issue 5: the docker credential helper (docs/docker.md) as tables with exact stdout, then driven by a real
// client of the protocol — Debian's python3-dockerpycreds — and `oidc-cred setup docker`.
// Tokens come from the client credentials grant, so that no test needs a person.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, ROOT, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';

const NOT_FOUND = 'credentials not found in native keychain\n';
const PYTHON = '/usr/bin/python3';

let p: TestProvider;
let sb: Sandbox;
let configFile: string;

before(async () => {
  p = await startProvider();
  trackLeaks(p);
  sb = sandbox(p);
  const secretFile = join(sb.dir, 'client-secret');
  writeFileSync(secretFile, p.clientSecret, { mode: 0o600 });
  configFile = join(sb.home, '.config', 'oidc-cred', 'config.json');
  mkdirSync(dirname(configFile), { recursive: true });
  const common = { issuer: p.issuer, 'client-id': p.confidentialClientId, 'client-secret-file': secretFile, grant: 'client-credentials', 'cache-dir': sb.cacheDir };
  writeFileSync(
    configFile,
    JSON.stringify({
      profiles: {
        // A registry written with https:// and a port would be read as an API server: "for" says it is a registry.
        registry: { ...common, match: ['registry.example.test', { url: 'https://other.example.test:5000', for: ['docker'] }], 'docker-username': 'robot' },
        git: { ...common, match: ['https://git.example.test/'], scope: ['api:read'] },
      },
    }),
  );
});
after(async () => {
  await p.close();
  sb.cleanup();
});

type Bin = 'docker-credential-oidc-cred' | 'oidc-cred docker';
function helper(bin: Bin, action: string, input: string, extra: string[] = []): Promise<RunResult> {
  const [file, args] = bin === 'oidc-cred docker' ? [BIN.oidcCred, ['docker', ...extra, action]] : [BIN.docker, [...extra, action]];
  return run(file, args, { env: sb.env, input }).then((r) => {
    assert.ok(!r.stderr.includes(p.clientSecret) && !r.stdout.includes(p.clientSecret), 'the client secret never leaves its file');
    return r;
  });
}

async function registryToken(): Promise<string> {
  const r = await run(BIN.oidcCred, ['token', '--profile', 'registry'], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('docker credential helper protocol (exact stdout)', () => {
  for (const bin of ['docker-credential-oidc-cred', 'oidc-cred docker'] as const) {
    it(`${bin}: get, store, erase, list and an unknown registry`, async () => {
      const token = await registryToken();
      const table: Array<{ action: string; input: string; stdout: string; code: number; stderr?: string | RegExp }> = [
        { action: 'get', input: 'registry.example.test\n', code: 0, stderr: '', stdout: `{"ServerURL":"registry.example.test","Username":"robot","Secret":"${token}"}\n` },
        { action: 'get', input: 'https://other.example.test:5000', code: 0, stderr: '', stdout: `{"ServerURL":"https://other.example.test:5000","Username":"robot","Secret":"${token}"}\n` },
        { action: 'get', input: 'unknown.example.test\n', code: 1, stderr: '', stdout: NOT_FOUND },
        { action: 'get', input: 'registry.example.test.evil.test\n', code: 1, stderr: '', stdout: NOT_FOUND },
        // A failure's one line goes to stdout too: docker's clients show a helper's stdout as its error.
        { action: 'get', input: '', code: 2, stdout: 'oidc-cred: docker sent no server URL\n', stderr: /^oidc-cred: docker sent no server URL\n$/ },
        { action: 'store', input: '{"ServerURL":"registry.example.test","Username":"robot","Secret":"typed-at-docker-login"}', code: 0, stderr: '', stdout: '' },
        { action: 'store', input: 'not json typed-at-docker-login', code: 2, stdout: 'oidc-cred: docker sent credentials that are not JSON\n', stderr: /^oidc-cred: docker sent credentials that are not JSON\n$/ },
        {
          action: 'list',
          input: '',
          code: 0,
          stderr: '',
          // Registries only (the git profile's server is not one), under the keys docker asks for.
          stdout: '{"registry.example.test":"robot","other.example.test:5000":"robot"}\n',
        },
        { action: 'erase', input: 'unknown.example.test\n', code: 0, stderr: '', stdout: '' },
      ];
      for (const row of table) {
        const r = await helper(bin, row.action, row.input);
        const what = `${bin} ${row.action} <<< ${JSON.stringify(row.input)}`;
        assert.equal(r.stdout, row.stdout, what);
        assert.equal(r.code, row.code, `${what}: ${r.stderr}`);
        if (typeof row.stderr === 'string') assert.equal(r.stderr, row.stderr, what);
        else if (row.stderr) assert.match(r.stderr, row.stderr, what);
        assert.ok(!r.stderr.includes('typed-at-docker-login') && !r.stdout.includes('typed-at-docker-login'), 'a stored password is never echoed');
      }
      // list with --profile: only that profile's registries (the git profile has none).
      const listed = await helper(bin, 'list', '', ['--profile', 'git']);
      assert.equal(listed.stdout, '{}\n');
      const listedRegistry = await helper(bin, 'list', '', ['--profile', 'registry']);
      assert.equal(listedRegistry.stdout, '{"registry.example.test":"robot","other.example.test:5000":"robot"}\n');

      // erase: the handed-out token is dropped; the next get obtains a new one with one grant.
      p.resetCounts();
      const erased = await helper(bin, 'erase', 'registry.example.test\n');
      assert.equal(erased.code, 0, erased.stderr);
      assert.equal(erased.stdout, '');
      assert.equal(p.counts.requests, 0, 'erase talks to nobody');
      const again = await helper(bin, 'get', 'registry.example.test\n');
      assert.equal(again.code, 0, again.stderr);
      const secret = (JSON.parse(again.stdout) as { Secret: string }).Secret;
      assert.notEqual(secret, token);
      assert.equal(p.counts.token.client_credentials, 1);
    });
  }

  it('get from the cache makes no request (hot path)', async () => {
    await registryToken();
    p.resetCounts();
    const r = await helper('docker-credential-oidc-cred', 'get', 'registry.example.test');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.requests, 0);
  });
});

function dockerpycredsInstalled(): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import dockerpycreds'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const PY_CLIENT = `
import json, sys, warnings
warnings.simplefilter('ignore')
import dockerpycreds
env = json.loads(sys.argv[1])
s = dockerpycreds.Store('oidc-cred', environment=env)
out = {'exe': s.exe}
out['get'] = s.get('registry.example.test')
try:
    s.get('unknown.example.test')
    out['unknown'] = 'found'
except dockerpycreds.CredentialsNotFound:
    out['unknown'] = 'CredentialsNotFound'
# dockerpycreds 0.3 has no list(); its own _execute is what later versions' list() calls.
out['list'] = json.loads(s._execute('list', b'').decode('utf-8'))
s.store('registry.example.test', 'robot', 'typed-at-docker-login')
s.erase('registry.example.test')
out['after_erase'] = s.get('registry.example.test')
print(json.dumps(out))
`;

describe('a real client of the protocol: python3-dockerpycreds', { skip: dockerpycredsInstalled() ? false : 'python3-dockerpycreds is not installed (apt-get install python3-dockerpycreds)' }, () => {
  it('drives get, list, store and erase through docker-credential-oidc-cred on PATH', async () => {
    // docker and dockerpycreds look the helper up by its exact name, without an extension.
    const binDir = join(sb.dir, 'bin');
    mkdirSync(binDir, { recursive: true });
    if (!existsSync(join(binDir, 'docker-credential-oidc-cred'))) symlinkSync(BIN.docker, join(binDir, 'docker-credential-oidc-cred'));
    const PATH = [binDir, dirname(process.execPath), process.env.PATH].join(':');
    const env = { ...sb.env, PATH };
    const token = await registryToken();
    p.resetCounts();
    const r = await runCommand(PYTHON, ['-c', PY_CLIENT, JSON.stringify(env)], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.exe, join(binDir, 'docker-credential-oidc-cred'));
    assert.deepEqual(out.get, { ServerURL: 'registry.example.test', Username: 'robot', Secret: token });
    assert.equal(out.unknown, 'CredentialsNotFound');
    assert.deepEqual(out.list, { 'registry.example.test': 'robot', 'other.example.test:5000': 'robot' });
    const after = out.after_erase as { Secret: string; Username: string };
    assert.equal(after.Username, 'robot');
    assert.notEqual(after.Secret, token, 'erase dropped the token; the next get obtained a new one');
    assert.equal(p.counts.token.client_credentials, 1);
  });
});

describe('oidc-cred setup docker', () => {
  const setup = (args: string[], env: Record<string, string> = {}): Promise<RunResult> => run(BIN.oidcCred, ['setup', 'docker', ...args], { env: { ...sb.env, ...env } });

  it('prints the credHelpers of a profile and writes nothing', async () => {
    const dockerDir = join(sb.dir, 'docker-print');
    const r = await setup(['--profile', 'registry'], { DOCKER_CONFIG: dockerDir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${JSON.stringify({ credHelpers: { 'registry.example.test': 'oidc-cred', 'other.example.test:5000': 'oidc-cred' } }, null, 2)}\n`);
    assert.ok(!existsSync(dockerDir));
  });

  it('--write merges into an existing config.json: other keys, helpers and its mode are kept', async () => {
    const dockerDir = join(sb.dir, 'docker-existing');
    mkdirSync(dockerDir);
    const file = join(dockerDir, 'config.json');
    const before = { auths: { 'ghcr.io': { auth: 'dXNlcjpwYXNz' } }, credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud', 'registry.example.test': 'old-helper' }, proxies: { default: { httpProxy: 'http://proxy:3128' } } };
    writeFileSync(file, JSON.stringify(before, null, '\t'), { mode: 0o644 });
    const r = await setup(['--profile', 'registry', '--write'], { DOCKER_CONFIG: dockerDir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /registry\.example\.test used the credential helper "old-helper"/);
    const afterText = readFileSync(file, 'utf8');
    const after = JSON.parse(afterText) as typeof before;
    assert.deepEqual(after, {
      ...before,
      credHelpers: { 'gcr.io': 'gcloud', 'registry.example.test': 'oidc-cred', 'other.example.test:5000': 'oidc-cred' },
    });
    assert.deepEqual(Object.keys(after), Object.keys(before), 'key order kept');
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(dockerDir), ['config.json'], 'no temp file left behind');
    // Idempotent.
    const again = await setup(['--profile', 'registry', '--write'], { DOCKER_CONFIG: dockerDir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(file, 'utf8'), afterText);
  });

  it('--write creates ~/.docker/config.json with mode 0600 when absent (every profile without --profile; registries only)', async () => {
    const r = await setup(['--write']);
    assert.equal(r.code, 0, r.stderr);
    const file = join(sb.home, '.docker', 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
      credHelpers: { 'registry.example.test': 'oidc-cred', 'other.example.test:5000': 'oidc-cred' },
    });
  });

  it('examples/docker: the example profile gives exactly the example config.json', async () => {
    const example = join(ROOT, 'examples', 'docker');
    const cfg = join(sb.dir, 'example-config.json');
    writeFileSync(cfg, readFileSync(join(example, 'oidc-cred-config.json')), { mode: 0o600 });
    const r = await setup(['--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    const wanted = JSON.parse(readFileSync(join(example, 'config.json'), 'utf8')) as { credHelpers: Record<string, string> };
    assert.deepEqual(JSON.parse(r.stdout), { credHelpers: wanted.credHelpers });
  });

  it('a profile without a registry entry is refused, naming the way to add one', async () => {
    const r = await setup(['--profile', 'git']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^oidc-cred: no registry to set up: profile "git" has no "match" entry for docker \(add the registry host names/);
  });

  it('--write leaves a config.json that is not JSON untouched and says so', async () => {
    const dockerDir = join(sb.dir, 'docker-broken');
    mkdirSync(dockerDir);
    const file = join(dockerDir, 'config.json');
    writeFileSync(file, '{ "auths": ');
    const r = await setup(['--profile', 'registry', '--write'], { DOCKER_CONFIG: dockerDir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not valid JSON; it was left untouched/);
    assert.equal(readFileSync(file, 'utf8'), '{ "auths": ');
  });
});
