// One login for every API through the real clients (docs/multi-api.md): git (a smart-HTTP
// server that accepts only JWT access tokens for its audience), kubectl (an API server that
// accepts the ID token) and the docker CLI (a registry that accepts only tokens for its
// audience), from a fresh cache, with one config file whose three profiles share one login.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startGitServer, type GitServer } from '../../demo/git-server.ts';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { gitEnv, linkedBinDir, withHelper } from '../support/git.ts';
import { startKubeApi, writeKubeconfig, type KubeApi } from '../support/kube-api.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const GIT = 'https://git.example.test';
const REGISTRY = 'https://registry.example.test';

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const DOCKER = has('docker', ['--version']);

let p: TestProvider;
let git: GitServer;
let kube: KubeApi;
let registry: TestRegistry;
let sb: Sandbox;

before(async () => {
  p = await startProvider({ audiencePolicy: [GIT, REGISTRY] });
  trackLeaks(p);
  // Resource servers as RFC 9068 §4 has them check a JWT access token: signature, issuer, audience.
  const jwks = createRemoteJWKSet(new URL(`${p.issuer}/jwks`));
  const forAudience = (audience: string) => async (t: string): Promise<unknown> => (await jwtVerify(t, jwks, { issuer: p.issuer, audience })).payload;
  [git, kube, registry] = await Promise.all([
    startGitServer({ verify: forAudience(GIT) }),
    startKubeApi({ issuer: p.issuer, clientId: p.publicClientId }),
    startRegistry({ verify: forAudience(REGISTRY), challenge: 'basic' }),
  ]);
  sb = sandbox(p);
});
after(async () => {
  await Promise.all([git?.close(), kube?.close(), registry?.close()]);
  await p?.close();
  sb?.cleanup();
});

describe('git, kubectl and the registry from a fresh cache', () => {
  it('git clone (audience A), then kubectl (ID token), then the registry (audience B): one browser in total', async (t) => {
    const common = { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, 'browser-command': sb.browserCommand() };
    const configDir = join(sb.home, '.config', 'oidc-cred');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({
        profiles: {
          git: { ...common, audience: GIT, match: [new URL(git.url).origin] },
          cluster: { ...common, match: [kube.server] },
          registry: { ...common, audience: REGISTRY, match: [`http://${registry.host}`] },
        },
      }),
      { mode: 0o600 },
    );
    const env = gitEnv(sb);
    const steps: Array<{ what: string; browsers: number; authorizations: number; token: Record<string, number> }> = [];
    const step = (what: string, r: RunResult): void => {
      steps.push({ what, browsers: sb.browserRuns().length, authorizations: p.counts.authorization, token: { ...p.counts.token } });
      t.diagnostic(`${what}: exit ${r.code}, browsers ${sb.browserRuns().length}, authorizations ${p.counts.authorization}, token requests ${JSON.stringify(p.counts.token)}`);
    };

    const clone = await runCommand('git', withHelper('oidc-cred', ['clone', '-q', git.url, join(sb.dir, 'clone')]), { env, cwd: sb.dir, timeoutMs: 90_000 });
    step('git clone', clone);

    const kc = writeKubeconfig(sb.dir, kube, { apiVersion: 'client.authentication.k8s.io/v1', command: BIN.oidcCred, args: ['kube'], provideClusterInfo: true });
    const kubectl = await runCommand('kubectl', ['--kubeconfig', kc, '--request-timeout=60s', 'get', '--raw', '/version'], { env: sb.env, timeoutMs: 90_000 });
    step('kubectl', kubectl);

    let reg: RunResult;
    if (DOCKER) {
      const dockerDir = join(sb.dir, 'docker');
      mkdirSync(dockerDir, { recursive: true });
      writeFileSync(join(dockerDir, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'oidc-cred' } }));
      reg = await runCommand('docker', ['manifest', 'inspect', '--insecure', `${registry.host}/${registry.image}`], {
        env: { ...sb.env, PATH: [linkedBinDir(), dirname(process.execPath), process.env.PATH].join(':'), DOCKER_CONFIG: dockerDir },
        timeoutMs: 90_000,
      });
    } else {
      t.diagnostic('the docker CLI is not installed: the registry step speaks the helper protocol itself');
      reg = await run(BIN.docker, ['get'], { env: sb.env, input: registry.host });
      if (reg.code === 0) {
        const { Username, Secret } = JSON.parse(reg.stdout) as { Username: string; Secret: string };
        const res = await fetch(`${registry.origin}/v2/${registry.image.replace(':', '/manifests/')}`, { headers: { authorization: `Basic ${Buffer.from(`${Username}:${Secret}`).toString('base64')}` } });
        assert.equal(res.status, 200);
      }
    }
    step('registry', reg);

    assert.equal(clone.code, 0, clone.stderr);
    assert.ok(git.counts.authorized >= 1, 'the git server accepted a token for its audience');
    assert.equal(kubectl.code, 0, kubectl.stderr);
    assert.equal(kube.counts.rejected, 0);
    assert.ok(kube.counts.authorized >= 1);
    assert.equal(reg.code, 0, reg.stderr);
    assert.ok(registry.counts.served > 0, 'the registry served the manifest to a token for its audience');
    assert.equal(sb.browserRuns().length, 1, 'one browser in total');
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.equal(p.counts.token.refresh_token, 1, 'the registry token came from the shared refresh token');
    assert.deepEqual(steps.map((s) => s.browsers), [1, 1, 1]);
  });
});
