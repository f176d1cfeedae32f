// Issue 4 against real peers: kubectl 1.32 runs `oidc-cred kube` as an exec credential plugin and
// talks to a small HTTPS API endpoint that verifies the bearer ID token with the test provider's
// JWKS. Every claim counts what the provider, the API endpoint and the scripted browser saw.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { startKubeApi, writeKubeconfig, type KubeApi, type KubeconfigUser } from '../support/kube-api.ts';

const V1 = 'client.authentication.k8s.io/v1' as const;
const V1BETA1 = 'client.authentication.k8s.io/v1beta1' as const;

let p: TestProvider;
let other: TestProvider;
let api: KubeApi;
before(async () => {
  [p, other] = await Promise.all([startProvider(), startProvider()]);
  trackLeaks(p);
  trackLeaks(other);
  api = await startKubeApi({ issuer: p.issuer, clientId: p.publicClientId });
});
after(async () => {
  await Promise.all([p?.close(), other?.close(), api?.close()]);
});

function fresh(): Sandbox {
  p.resetCounts();
  other.resetCounts();
  api.resetCounts();
  p.mode = 'approve';
  const sb = sandbox(p);
  mkdirSync(sb.home, { recursive: true });
  return sb;
}

/** bin/oidc-cred.cjs is executable with a node shebang: kubectl runs it as is. */
function user(apiVersion: KubeconfigUser['apiVersion'], args: string[], extra: Partial<KubeconfigUser> = {}): KubeconfigUser {
  return { apiVersion, command: BIN.oidcCred, args, ...extra };
}

function kubectl(sb: Sandbox, kubeconfig: string): Promise<RunResult> {
  return runCommand('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=60s', 'get', '--raw', '/version'], { env: sb.env, timeoutMs: 90_000 });
}

function plugin(sb: Sandbox, args: string[], execInfo: string | undefined, env: Record<string, string> = {}): Promise<RunResult> {
  return run(BIN.oidcCred, args, { env: { ...sb.env, ...env, KUBERNETES_EXEC_INFO: execInfo }, timeoutMs: 60_000 });
}

const execInfo = (apiVersion: string, server?: string): string =>
  JSON.stringify({ kind: 'ExecCredential', apiVersion, spec: { interactive: false, ...(server ? { cluster: { server } } : {}) } });

function assertVersionOk(r: RunResult): void {
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { gitVersion: string }).gitVersion, 'v1.32.0-oidc-cred-test');
}

/**
 * The API endpoint accepted every request, at least one per kubectl run, all with one token.
 * (This kubectl build is a version-skew dispatcher: it asks /version itself first, with the same
 * exec credentials, so a kubectl run is one or two requests.)
 */
function assertApiSaw(kubectlRuns: number): void {
  assert.equal(api.counts.rejected, 0, 'no request was refused');
  assert.ok(api.counts.authorized >= kubectlRuns, `${api.counts.authorized} authorized requests for ${kubectlRuns} kubectl runs`);
  assert.equal(new Set(api.tokens).size, 1, 'all requests carried the same token');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('kubectl runs oidc-cred kube (docs/kubernetes.md)', () => {
  for (const apiVersion of [V1, V1BETA1] as const) {
    it(`exec ${apiVersion}, no session: one login, and the API server verifies the ID token it gets`, async () => {
      const sb = fresh();
      const kc = writeKubeconfig(sb.dir, api, user(apiVersion, ['kube', ...sb.args()]));
      const r = await kubectl(sb, kc);
      assertVersionOk(r);
      assert.equal(p.counts.authorization, 1, 'one login');
      assert.equal(sb.browserRuns().length, 1);
      assertApiSaw(1);
      assert.equal(api.subjects[0], 'demo-user');

      // The same plugin answers in kind, from the cache, with what docs/kubernetes.md prescribes.
      const direct = await plugin(sb, ['kube', ...sb.args()], execInfo(apiVersion));
      assert.equal(direct.code, 0, direct.stderr);
      const cred = JSON.parse(direct.stdout) as { kind: string; apiVersion: string; status: { token: string; expirationTimestamp: string } };
      assert.deepEqual(Object.keys(cred), ['kind', 'apiVersion', 'status']);
      assert.equal(cred.kind, 'ExecCredential');
      assert.equal(cred.apiVersion, apiVersion);
      assert.equal(cred.status.token, api.tokens[0], 'the ID token kubectl handed to the API server');
      assert.match(cred.status.expirationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.ok(Date.parse(cred.status.expirationTimestamp) > Date.now());
      assert.equal(p.counts.authorization, 1, 'still one login');
      sb.cleanup();
    });
  }

  it('8 parallel kubectl processes with no session: all succeed, one authorization, one browser', async () => {
    const sb = fresh();
    const kc = writeKubeconfig(sb.dir, api, user(V1, ['kube', ...sb.args()]));
    const results = await Promise.all(Array.from({ length: 8 }, () => kubectl(sb, kc)));
    for (const r of results) assertVersionOk(r);
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.equal(sb.browserRuns().length, 1);
    assertApiSaw(8);
    sb.cleanup();
  });

  it('spec.cluster.server picks the profile (provideClusterInfo: true) while the default profile points elsewhere', async () => {
    const sb = fresh();
    const configDir = join(sb.home, '.config', 'oidc-cred');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({
        'default-profile': 'elsewhere',
        profiles: {
          elsewhere: { issuer: other.issuer, 'client-id': other.publicClientId },
          cluster: { issuer: p.issuer, 'client-id': p.publicClientId, match: [api.server] },
        },
      }),
    );
    const args = ['kube', '--cache-dir', sb.cacheDir, '--browser-command', sb.browserCommand()];
    const kc = writeKubeconfig(sb.dir, api, user(V1, args, { provideClusterInfo: true }));
    const r = await kubectl(sb, kc);
    assertVersionOk(r);
    assert.equal(p.counts.authorization, 1, 'logged in at the profile that matches the server');
    assert.equal(other.counts.authorization, 0, 'not at the default profile');

    // Without the cluster info, the default profile serves the request (docs/configuration.md).
    const d = await plugin(sb, [...args, '--non-interactive'], execInfo(V1));
    assert.equal(d.code, 1, 'the default profile has no session');
    assert.equal(d.stdout, '');
    const m = await plugin(sb, [...args, '--non-interactive'], execInfo(V1, `${api.server}/`));
    assert.equal(m.code, 0, m.stderr);
    assert.equal((JSON.parse(m.stdout) as { status: { token: string } }).status.token, api.tokens[0]);
    assert.equal(other.counts.authorization, 0);
    sb.cleanup();
  });

  it('--non-interactive with no session: exit 1 at once, nothing on stdout, no browser', async () => {
    const sb = fresh();
    const r = await plugin(sb, ['kube', ...sb.args(), '--non-interactive'], execInfo(V1, api.server));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /oidc-cred login/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(sb.browserRuns().length, 0);
    assert.equal(p.counts.authorization, 0);

    // Through kubectl too: it fails, and no browser opened.
    const kc = writeKubeconfig(sb.dir, api, user(V1, ['kube', ...sb.args(), '--non-interactive']));
    const k = await kubectl(sb, kc);
    assert.notEqual(k.code, 0);
    assert.equal(k.stdout, '');
    assert.equal(sb.browserRuns().length, 0);
    assert.equal(api.counts.authorized, 0);
    sb.cleanup();
  });

  it('garbage or unknown-version KUBERNETES_EXEC_INFO: exit 1, one line on stderr, nothing on stdout', async () => {
    const sb = fresh();
    // With a cached token too: the hot path must not answer a request it cannot parse.
    assert.equal((await plugin(sb, ['kube', ...sb.args()], execInfo(V1))).code, 0);
    const bad = [
      'garbage',
      '{"apiVersion":',
      '[]',
      '"client.authentication.k8s.io/v1"',
      JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1alpha1', spec: {} }),
      JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v2', spec: { interactive: false } }),
      JSON.stringify({ kind: 'ExecCredential', apiVersion: 42 }),
      JSON.stringify({ kind: 'Pod', apiVersion: V1 }),
    ];
    const results = await Promise.all(bad.map((b) => plugin(sb, ['kube', ...sb.args()], b)));
    results.forEach((r, i) => {
      assert.equal(r.code, 1, `${bad[i]}: ${r.stderr}`);
      assert.equal(r.stdout, '', bad[i]);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^oidc-cred: KUBERNETES_EXEC_INFO /);
    });
    assert.match(results[4]!.stderr, /v1alpha1/);
    sb.cleanup();
  });
});

describe('kubelogin migration', () => {
  it('kubelogin-style get-token arguments produce the same ExecCredential as native ones', async () => {
    const sb = fresh();
    const port = await freePort();
    // kubelogin first (a real login through the translated flags), then native from the cache.
    const kubelogin = [
      'get-token',
      `--oidc-issuer-url=${p.issuer}`,
      '--oidc-client-id',
      p.publicClientId,
      '--oidc-extra-scope',
      'email,profile',
      '--token-cache-dir',
      sb.cacheDir,
      '--browser-command',
      sb.browserCommand(),
      '--listen-address',
      `127.0.0.1:${port}`,
      '--oidc-redirect-url',
      `http://127.0.0.1:${port}/callback`,
      '--authentication-timeout-sec=120',
      '--oidc-use-pkce',
    ];
    const native = ['kube', ...sb.args(), '--scope', 'openid offline_access email profile'];
    const kc1 = writeKubeconfig(sb.dir, api, user(V1, kubelogin), 'kubeconfig-kubelogin');
    const k1 = await kubectl(sb, kc1);
    assertVersionOk(k1);
    assert.equal(p.counts.authorization, 1);
    const kc2 = writeKubeconfig(sb.dir, api, user(V1, native), 'kubeconfig-native');
    const k2 = await kubectl(sb, kc2);
    assertVersionOk(k2);
    assert.equal(p.counts.authorization, 1, 'the native arguments found the session the kubelogin ones made');
    assertApiSaw(2);

    const [a, b] = await Promise.all([plugin(sb, kubelogin, execInfo(V1)), plugin(sb, native, execInfo(V1))]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stderr, '', 'no warning for flags that map');

    // --oidc-use-access-token hands over the access token, like --token-type access.
    const [c, d] = await Promise.all([plugin(sb, [...kubelogin, '--oidc-use-access-token'], execInfo(V1)), plugin(sb, [...native, '--token-type', 'access'], execInfo(V1))]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, d.stdout);
    assert.notEqual(c.stdout, a.stdout);
    sb.cleanup();
  });

  it('the kubelogin client secret is taken from the flag but never stays in our argv, with a warning', async () => {
    const sb = fresh();
    const r = await plugin(sb, ['get-token', '--oidc-issuer-url', p.issuer, '--oidc-client-id', p.publicClientId, '--oidc-client-secret', 'hunter2-secret-value', '--token-cache-dir', sb.cacheDir, '--non-interactive', '-v'], execInfo(V1));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.match(/process list/g)?.length, 1, r.stderr);
    assert.ok(!r.stderr.includes('hunter2-secret-value'), 'the secret never reaches stderr');
    sb.cleanup();
  });

  it('kubelogin grants oidc-cred does not implement: exit 2 with one clear line', async () => {
    const sb = fresh();
    for (const g of ['authcode-keyboard', 'password']) {
      const r = await plugin(sb, ['get-token', '--oidc-issuer-url', p.issuer, '--oidc-client-id', p.publicClientId, '--grant-type', g], execInfo(V1));
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`grant-type ${g} is not supported`));
    }
    sb.cleanup();
  });
});

describe('oidc-cred setup kube', () => {
  it('--write adds the user (and context) through kubectl and leaves the rest of the kubeconfig alone', async () => {
    const sb = fresh();
    const configDir = join(sb.home, '.config', 'oidc-cred');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ profiles: { work: { issuer: p.issuer, 'client-id': p.publicClientId } } }));
    const kc = writeKubeconfig(sb.dir, api, { apiVersion: V1, command: 'something-else', args: ['keep'] });
    const beforeCfg = JSON.parse(readFileSync(kc, 'utf8')) as { clusters: unknown[] };
    const r = await run(BIN.oidcCred, ['setup', 'kube', '--profile', 'work', '--cluster', 'test', '--write'], { env: { ...sb.env, KUBECONFIG: `${kc}:${join(sb.dir, 'second')}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^users:\n- name: oidc-cred-work\n/m);
    assert.match(r.stdout, /interactiveMode: IfAvailable/);
    assert.match(r.stdout, /provideClusterInfo: true/);
    assert.match(r.stdout, /^kubectl config set-credentials oidc-cred-work .*--exec-arg=kube --exec-arg=--profile --exec-arg=work/m);

    const view = await runCommand('kubectl', ['--kubeconfig', kc, 'config', 'view', '--raw', '-o', 'json'], { env: sb.env });
    assert.equal(view.code, 0, view.stderr);
    const cfg = JSON.parse(view.stdout) as {
      clusters: unknown[];
      users: { name: string; user: { exec: Record<string, unknown> } }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
    };
    assert.deepEqual(cfg.clusters, beforeCfg.clusters, 'clusters untouched');
    const old = cfg.users.find((u) => u.name === 'oidc');
    assert.equal(old?.user.exec.command, 'something-else', 'the other user is untouched');
    const mine = cfg.users.find((u) => u.name === 'oidc-cred-work');
    assert.deepEqual(
      { ...mine?.user.exec, env: undefined },
      { apiVersion: V1, command: 'oidc-cred', args: ['kube', '--profile', 'work'], interactiveMode: 'IfAvailable', provideClusterInfo: true, env: undefined },
    );
    assert.deepEqual(cfg.contexts.find((c) => c.name === 'test')?.context, { cluster: 'test', user: 'oidc-cred-work' });
    sb.cleanup();
  });
});
