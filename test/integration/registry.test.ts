// Issue 11: registries as their users have them. Real clients — the docker CLI (`docker manifest
// inspect`, which needs no daemon), skopeo and docker-py — against registries of our own on
// 127.0.0.1 (test/support/registry.ts: a Basic challenge, a Bearer token service, and https with a
// self-signed certificate), wired by `oidc-cred setup docker --write`, with tokens from the real
// test provider that the registries check at its userinfo endpoint. Also the match rules these
// clients depend on: Docker Hub under all its names, `http://` entries for docker's scheme-less
// names, bare hosts never handing a token to plain http, and per-tool entries.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { linkedBinDir } from '../support/git.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const PYTHON = '/usr/bin/python3';
const NON_INTERACTIVE = "oidc-cred: no valid token is cached and --non-interactive forbids a login (run 'oidc-cred login' first)";

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const DOCKER = has('docker', ['--version']) ? false : 'the docker CLI is not installed';
const SKOPEO = has('skopeo', ['--version']) ? false : 'skopeo is not installed (apt-get install skopeo)';
const DOCKERPY = existsSync(PYTHON) && has(PYTHON, ['-c', 'import dockerpycreds']) ? false : 'python3-dockerpycreds is not installed';

let p: TestProvider;
let sb: Sandbox;
let basic: TestRegistry;
let bearer: TestRegistry;
let tls: TestRegistry;
let configFile: string;
let dockerDir: string;
let env: Record<string, string>;

before(async () => {
  p = await startProvider();
  trackLeaks(p);
  sb = sandbox(p);
  const verify = (t: string): Promise<unknown> => p.userinfo(t);
  [basic, bearer, tls] = await Promise.all([
    startRegistry({ verify, challenge: 'basic' }),
    startRegistry({ verify, challenge: 'bearer' }),
    startRegistry({ verify, challenge: 'basic', tls: true }),
  ]);
  configFile = join(sb.home, '.config', 'oidc-cred', 'config.json');
  mkdirSync(dirname(configFile), { recursive: true });
  writeFileSync(
    configFile,
    JSON.stringify({
      profiles: {
        registry: {
          issuer: p.issuer,
          'client-id': p.publicClientId,
          'browser-command': sb.browserCommand(),
          'cache-dir': sb.cacheDir,
          // Plain-http registries written out, the https one as a bare host, Docker Hub by its
          // short name, and — as in the README's Quick Start — a git server and an API server
          // that setup docker must leave alone.
          match: [`http://${basic.host}`, `http://${bearer.host}`, tls.host, 'docker.io', 'https://git.example.test/', 'https://k8s.example.test:6443'],
        },
      },
    }),
    { mode: 0o600 },
  );
  dockerDir = join(sb.dir, 'docker');
  env = {
    ...sb.env,
    PATH: [linkedBinDir(), dirname(process.execPath), process.env.PATH].join(':'),
    DOCKER_CONFIG: dockerDir,
    OIDC_CRED_TIMEOUT: '30',
  };
});
after(async () => {
  await Promise.all([basic?.close(), bearer?.close(), tls?.close()]);
  await p.close();
  sb.cleanup();
});

const images = (): Array<[string, TestRegistry]> => [
  ['basic', basic],
  ['bearer', bearer],
  ['https', tls],
];

function dockerInspect(reg: TestRegistry, extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return runCommand('docker', ['manifest', 'inspect', '--insecure', `${reg.host}/${reg.image}`], { env: { ...env, ...extraEnv }, timeoutMs: 90_000 });
}
function skopeoInspect(reg: TestRegistry, extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return runCommand('skopeo', ['inspect', '--tls-verify=false', '--authfile', join(dockerDir, 'config.json'), `docker://${reg.host}/${reg.image}`], {
    env: { ...env, ...extraEnv },
    timeoutMs: 90_000,
  });
}
/** The manifest docker printed names the registry's one config blob. */
function assertManifest(r: RunResult, reg: TestRegistry, what: string): void {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  const m = JSON.parse(r.stdout) as { schemaVersion: number; config: { digest: string } };
  assert.equal(m.schemaVersion, 2, what);
  assert.ok(reg.counts.served > 0, `${what}: the registry served it to an authorized request`);
}

describe('setup docker wires the registries only', () => {
  it('writes credHelpers for the three registries and Docker Hub, not the git server or the API server', async () => {
    const r = await run(BIN.oidcCred, ['setup', 'docker', '--write'], { env });
    assert.equal(r.code, 0, r.stderr);
    const expected = { [basic.host]: 'oidc-cred', [bearer.host]: 'oidc-cred', [tls.host]: 'oidc-cred', 'https://index.docker.io/v1/': 'oidc-cred' };
    assert.deepEqual(JSON.parse(readFileSync(join(dockerDir, 'config.json'), 'utf8')), { credHelpers: expected });
    const listed = await run(BIN.docker, ['list'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), Object.fromEntries(Object.keys(expected).map((k) => [k, 'oauth2accesstoken'])));
  });
});

describe('setup git wires the git server only', () => {
  it('not the registries, Docker Hub or the API server of the same profile', async () => {
    const r = await run(BIN.oidcCred, ['setup', 'git', '--profile', 'registry'], { env });
    assert.equal(r.code, 0, r.stderr);
    // The plain-http entries may be registries or git servers (docs/docker.md): both setups take them.
    const urls = [...r.stdout.matchAll(/credential\.(\S+)\.helper ''/g)].map((m) => m[1]);
    assert.deepEqual(urls, [`http://${basic.host}`, `http://${bearer.host}`, 'https://git.example.test']);
  });
});

describe('the docker CLI: docker manifest inspect --insecure', { skip: DOCKER }, () => {
  it('six at once share one login; later calls, on every registry, use the cache', async () => {
    p.resetCounts();
    const six = await Promise.all(Array.from({ length: 6 }, () => dockerInspect(basic)));
    six.forEach((r, i) => assertManifest(r, basic, `docker #${i + 1}`));
    assert.equal(sb.browserRuns().length, 1, 'one browser tab');
    assert.equal(p.counts.authorization, 1, 'one authorization request');
    assert.equal(p.counts.token.authorization_code, 1, 'one code exchange');
    assert.ok(basic.counts.users.length > 0 && basic.counts.users.every((u) => u === 'oauth2accesstoken'));

    p.resetCounts();
    for (const [name, reg] of images()) {
      reg.resetCounts();
      assertManifest(await dockerInspect(reg), reg, `docker, ${name} registry`);
    }
    assert.equal(p.counts.authorization + (p.counts.token.authorization_code ?? 0) + (p.counts.token.refresh_token ?? 0), 0, 'answered from the cache');
    assert.equal(sb.browserRuns().length, 1, 'no second login');
  });

  it('docker logout runs erase; the next call refreshes without a login', async () => {
    const out = await runCommand('docker', ['logout', basic.host], { env });
    assert.equal(out.code, 0, out.stderr);
    p.resetCounts();
    assertManifest(await dockerInspect(basic), basic, 'docker after logout');
    assert.equal(p.counts.token.refresh_token, 1, 'one refresh');
    assert.equal(p.counts.authorization, 0, 'no login');
    assert.equal(sb.browserRuns().length, 1);
  });
});

describe('skopeo inspect --authfile with credHelpers', { skip: SKOPEO }, () => {
  it('reads each registry with the cached token', async () => {
    await run(BIN.oidcCred, ['token', '--profile', 'registry'], { env }); // a session, when the docker tests were skipped
    p.resetCounts();
    for (const [name, reg] of images()) {
      reg.resetCounts();
      const r = await skopeoInspect(reg);
      assert.equal(r.code, 0, `skopeo, ${name} registry: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as { Digest: string }).Digest, reg.digest, name);
      assert.ok(reg.counts.users.includes('oauth2accesstoken'), `${name}: the token reached the registry`);
    }
    assert.equal(p.counts.authorization, 0);
  });
});

describe('a failure reaches the user through each client', () => {
  // A fresh cache: no session, and --non-interactive forbids the login (as in CI).
  const failing = (): Record<string, string> => ({ OIDC_CRED_CACHE_DIR: join(sb.dir, 'empty-cache'), OIDC_CRED_NON_INTERACTIVE: '1' });
  before(() => {
    // The profile's cache-dir would win over the environment: point a copy of the config at nowhere.
    const cfg = JSON.parse(readFileSync(configFile, 'utf8')) as { profiles: { registry: Record<string, unknown> } };
    delete cfg.profiles.registry['cache-dir'];
    writeFileSync(join(sb.dir, 'failing.json'), JSON.stringify(cfg), { mode: 0o600 });
    rmSync(join(sb.dir, 'empty-cache'), { recursive: true, force: true });
  });
  const fenv = (): Record<string, string> => ({ ...failing(), OIDC_CRED_CONFIG: join(sb.dir, 'failing.json') });

  it('the helper itself: the one line on stdout and on stderr, exit 1', async () => {
    const r = await run(BIN.docker, ['get'], { env: { ...env, ...fenv() }, input: `${basic.host}\n` });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${NON_INTERACTIVE}\n`);
    assert.equal(r.stderr, `${NON_INTERACTIVE}\n`);
    // No match is still docker's own sentence, and nothing on stderr.
    const none = await run(BIN.docker, ['get'], { env: { ...env, ...fenv() }, input: 'unknown.example.test\n' });
    assert.deepEqual([none.code, none.stdout, none.stderr], [1, 'credentials not found in native keychain\n', '']);
  });

  it('control characters in the reason reach the client escaped (an OSC 52 clipboard write here)', async () => {
    const r = await run(BIN.docker, ['--profile', 'x\u001b]52;c;aGk=\u0007', 'get'], { env, input: `${basic.host}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^oidc-cred: config file .*: no profile named "x\\u001b]52;c;aGk=\\u0007" .*\n$/);
    assert.ok(!/[\u0000-\u0009\u000b-\u001f]/.test(r.stdout), JSON.stringify(r.stdout));
  });

  it('skopeo shows the reason in its own error', { skip: SKOPEO }, async () => {
    const r = await skopeoInspect(basic, fenv());
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`error getting credentials - err: exit status 1, out: \`${NON_INTERACTIVE}\``), r.stderr);
  });

  it('docker shows the reason', { skip: DOCKER }, async () => {
    const r = await dockerInspect(basic, fenv());
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(NON_INTERACTIVE), r.stderr);
    assert.match(r.stderr, /no basic auth credentials/);
  });

  it('docker-py raises StoreError with the reason', { skip: DOCKERPY }, async () => {
    const script = `
import json, sys, warnings
warnings.simplefilter('ignore')
import dockerpycreds
s = dockerpycreds.Store('oidc-cred', environment=json.loads(sys.argv[1]))
try:
    s.get(sys.argv[2])
    print('no error')
except dockerpycreds.StoreError as e:
    print(str(e))
`;
    const e = { ...env, ...fenv() };
    const r = await runCommand(PYTHON, ['-c', script, JSON.stringify(e), basic.host], { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Credentials store docker-credential-oidc-cred exited with "${NON_INTERACTIVE}".\n`);
  });
});

describe('match rules through the protocols', () => {
  it('Docker Hub under all its names, with docker\'s exact key', async () => {
    const token = (await run(BIN.oidcCred, ['token', '--profile', 'registry'], { env })).stdout.trim();
    assert.ok(token);
    for (const name of ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io']) {
      const r = await run(BIN.docker, ['get'], { env, input: `${name}\n` });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), { ServerURL: name, Username: 'oauth2accesstoken', Secret: token }, name);
    }
    for (const name of ['evil-docker.io', 'docker.io.evil.test', 'http://index.docker.io/v1/']) {
      const r = await run(BIN.docker, ['get'], { env, input: `${name}\n` });
      assert.deepEqual([r.code, r.stdout], [1, 'credentials not found in native keychain\n'], name);
    }
  });

  it('a bare-host entry never hands a git token to http://, only to https:// (real git)', async () => {
    // tls.host is a bare entry of the profile; git asks for the same host over http and https.
    const gitFill = (url: string): Promise<RunResult> =>
      runCommand('git', ['-c', 'credential.helper=', '-c', 'credential.helper=oidc-cred', 'credential', 'fill'], {
        env: { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ASKPASS: '/bin/false' },
        input: `url=${url}\n\n`,
      });
    const token = (await run(BIN.oidcCred, ['token', '--profile', 'registry'], { env })).stdout.trim();
    const plain = await gitFill(`http://${tls.host}/team/repo.git`);
    assert.notEqual(plain.code, 0, 'git found no password for http');
    assert.ok(!plain.stdout.includes(token), 'no token for http');
    const secure = await gitFill(`https://${tls.host}/team/repo.git`);
    assert.equal(secure.code, 0, secure.stderr);
    assert.ok(secure.stdout.includes(`password=${token}\n`), 'the token for https');
  });

  it('an entry for docker only does not serve git', async () => {
    const cfg = join(sb.dir, 'per-tool.json');
    writeFileSync(
      cfg,
      JSON.stringify({ profiles: { r: { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, match: [{ url: tls.host, for: ['docker'] }] } } }),
      { mode: 0o600 },
    );
    const e = { ...env, OIDC_CRED_CONFIG: cfg };
    const git = await run(BIN.git, ['get'], { env: e, input: `protocol=https\nhost=${tls.host}\n\n` });
    assert.deepEqual([git.code, git.stdout], [0, ''], 'nothing for git');
    const docker = await run(BIN.docker, ['get'], { env: e, input: `${tls.host}\n` });
    assert.equal(docker.code, 0, docker.stderr);
    assert.equal((JSON.parse(docker.stdout) as { ServerURL: string }).ServerURL, tls.host);
    const setupGit = await run(BIN.oidcCred, ['setup', 'git', '--profile', 'r'], { env: e });
    assert.equal(setupGit.code, 1);
    assert.match(setupGit.stderr, /has no git server/);
  });
});
