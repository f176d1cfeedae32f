// One login for every API (docs/multi-api.md), with real processes against the real provider
// (oidc-provider with RFC 8707 resource indicators and JWT access tokens per resource): profiles
// that share issuer, client, grant and params share one login and one refresh token, and each
// profile's audience or resource gets its own access token from it. Every claim counts what the
// provider and the scripted browser saw.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startProvider, type ProviderOptions, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';

const GIT = 'https://git.example.test';
const REGISTRY = 'https://registry.example.test';

const providers: TestProvider[] = [];
after(() => Promise.all(providers.map((p) => p.close())));
async function provider(opts: ProviderOptions): Promise<TestProvider> {
  const p = await startProvider(opts);
  trackLeaks(p);
  providers.push(p);
  return p;
}

/** A config file with these profiles, all on the provider's public client (one session). */
function configure(p: TestProvider, sb: Sandbox, profiles: Record<string, Record<string, unknown>>): void {
  const dir = join(sb.home, '.config', 'oidc-cred');
  mkdirSync(dir, { recursive: true });
  const common = { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, 'browser-command': sb.browserCommand() };
  const all = Object.fromEntries(Object.entries(profiles).map(([n, v]) => [n, { ...common, ...v }]));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ profiles: all }), { mode: 0o600 });
}

const token = (sb: Sandbox, profile: string, extra: string[] = []): Promise<RunResult> =>
  run(BIN.oidcCred, ['token', '--profile', profile, ...extra], { env: sb.env, timeoutMs: 90_000 });

async function ok(r: Promise<RunResult>): Promise<string> {
  const res = await r;
  assert.equal(res.code, 0, res.stderr);
  return res.stdout.trim();
}

function aud(jwt: string): string[] {
  const c = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { aud?: string | string[] };
  return Array.isArray(c.aud) ? c.aud : c.aud ? [c.aud] : [];
}

function sessionFiles(sb: Sandbox): string[] {
  return readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).map((f) => join(sb.cacheDir, f));
}
function session(sb: Sandbox): { refresh_token?: string; apis: Record<string, Record<string, unknown>> } {
  const files = sessionFiles(sb);
  assert.equal(files.length, 1, 'one session file for every API');
  return JSON.parse(readFileSync(files[0]!, 'utf8')) as ReturnType<typeof session>;
}
/** Makes every API's access token of the session expire in 20 s (inside --min-valid 60), as if an hour had passed. */
function expireApis(sb: Sandbox): void {
  const file = sessionFiles(sb)[0]!;
  const s = JSON.parse(readFileSync(file, 'utf8')) as { apis: Record<string, Record<string, unknown>> };
  for (const a of Object.values(s.apis)) {
    a.expires_at = new Date(Date.now() + 20_000).toISOString();
    a.obtained_at = new Date(Date.now() - 3600_000).toISOString();
    delete a.uptime_at;
  }
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
}

describe('profiles sharing a login (Auth0-style audiences with a multi-resource refresh-token policy)', () => {
  it('a logs in once; b then makes one refresh and no authorization; each aud is right; a again makes no request; an ID-token profile shares the login', async () => {
    const p = await provider({ audiencePolicy: [GIT, REGISTRY] });
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY }, k: {} });
    const a = await ok(token(sb, 'a'));
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.deepEqual(aud(a), [GIT]);
    p.resetCounts();
    const b = await ok(token(sb, 'b'));
    assert.deepEqual(aud(b), [REGISTRY]);
    assert.equal(p.counts.authorization, 0, 'no authorization');
    assert.deepEqual(p.counts.token, { refresh_token: 1 }, 'exactly one refresh');
    p.resetCounts();
    assert.equal(await ok(token(sb, 'a')), a);
    assert.equal(await ok(token(sb, 'b')), b);
    const id = await ok(token(sb, 'k', ['--id-token']));
    assert.ok(id.split('.').length === 3);
    assert.equal(p.counts.requests, 0, 'a, b and the ID token again: no request');
    assert.equal(sb.browserRuns().length, 1, 'one browser');
    assert.equal(Object.keys(session(sb).apis).length, 2);
    sb.cleanup();
  });
});

describe('a login started by the profile without an audience (kube)', () => {
  it('the ID-token profile logs in; an audience profile then makes one refresh for a JWT of its audience', async () => {
    const p = await provider({ audiencePolicy: [GIT, REGISTRY] });
    const sb = sandbox(p);
    configure(p, sb, { k: {}, b: { audience: REGISTRY } });
    await ok(token(sb, 'k', ['--id-token']));
    p.resetCounts();
    assert.deepEqual(aud(await ok(token(sb, 'b'))), [REGISTRY]);
    assert.deepEqual(p.counts.token, { refresh_token: 1 });
    assert.equal(p.counts.authorization, 0);
    sb.cleanup();
  });
});

describe('RFC 8707 resources', () => {
  it('the login asks for every resource of the session; the second resource costs one refresh', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    configure(p, sb, { a: { resource: GIT }, b: { resource: [REGISTRY] } });
    const a = await ok(token(sb, 'a'));
    assert.deepEqual(aud(a), [GIT]);
    p.resetCounts();
    const b = await ok(token(sb, 'b'));
    assert.deepEqual(aud(b), [REGISTRY]);
    assert.equal(p.counts.authorization, 0);
    assert.deepEqual(p.counts.token, { refresh_token: 1 });
    p.resetCounts();
    assert.equal(await ok(token(sb, 'a')), a);
    assert.equal(p.counts.requests, 0);
    assert.equal(sb.browserRuns().length, 1);
    sb.cleanup();
  });
});

describe('rotation and concurrency', () => {
  it('rotation with reuse detection: alternating refreshes for A and B never cause invalid_grant or a second login', async () => {
    const p = await provider({ audiencePolicy: [GIT, REGISTRY], rotateRefreshToken: true });
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY } });
    await ok(token(sb, 'a'));
    await ok(token(sb, 'b'));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      expireApis(sb);
      const t = await ok(token(sb, i % 2 ? 'a' : 'b'));
      assert.deepEqual(aud(t), [i % 2 ? GIT : REGISTRY]);
      const rt = session(sb).refresh_token!;
      assert.ok(!seen.has(rt), 'rotated every time');
      seen.add(rt);
    }
    assert.deepEqual(p.counts.tokenErrors, {}, 'no invalid_grant');
    assert.equal(p.counts.authorization, 1, 'one login');
    assert.equal(p.counts.token.refresh_token, 7);
    assert.equal(sb.browserRuns().length, 1);
    sb.cleanup();
  });

  it('8 × A and 8 × B started together from cold: one browser, one code exchange, one token per API', async () => {
    const p = await provider({ audiencePolicy: [GIT, REGISTRY] });
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY } });
    const runs = await Promise.all(Array.from({ length: 16 }, (_, i) => token(sb, i % 2 ? 'b' : 'a')));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const as = new Set(runs.filter((_, i) => i % 2 === 0).map((r) => r.stdout));
    const bs = new Set(runs.filter((_, i) => i % 2 === 1).map((r) => r.stdout));
    assert.equal(as.size, 1, 'one token for A');
    assert.equal(bs.size, 1, 'one token for B');
    assert.deepEqual(aud([...as][0]!.trim()), [GIT]);
    assert.deepEqual(aud([...bs][0]!.trim()), [REGISTRY]);
    assert.equal(sb.browserRuns().length, 1, 'one browser');
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1, 'one code exchange');
    assert.equal(p.counts.token.refresh_token, 1, 'one refresh: the other API');
    sb.cleanup();
  });
});

describe('a provider that will not give the shared login a token for an API: that API logs in on its own, once', () => {
  for (const mode of ['ignores the audience (Auth0 without a policy for it)', 'answers invalid_target'] as const) {
    it(`the provider ${mode}: one login of its own with a notice, remembered; the shared session goes on`, async () => {
      const p = await provider(mode === 'answers invalid_target' ? { refusedAudiences: [REGISTRY] } : {});
      const sb = sandbox(p);
      configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY } });
      const a = await ok(token(sb, 'a'));
      const sharedBefore = session(sb).refresh_token;
      p.resetCounts();
      const first = await token(sb, 'b');
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(aud(first.stdout.trim()), [REGISTRY], 'a token for B after all');
      assert.equal(p.counts.token.refresh_token, 1, 'the shared refresh token was tried once');
      assert.equal(p.counts.authorization, 1, 'then one login of its own');
      assert.equal(sb.browserRuns().length, 2);
      assert.equal(first.stderr.match(/logging in for it separately/g)?.length, 1, first.stderr);
      assert.match(first.stderr, mode === 'answers invalid_target' ? /invalid_target/ : /is for https:\/\/git\.example\.test, not https:\/\/registry\.example\.test/);
      const s = session(sb);
      if (mode === 'answers invalid_target') assert.equal(s.refresh_token, sharedBefore, 'the shared refresh token is untouched');
      else assert.notEqual(s.refresh_token, sharedBefore, 'the refresh token rotated by the wrong-audience answer is saved');

      // Remembered: B uses its own login from now on, without a word; A the shared one.
      p.resetCounts();
      assert.equal((await token(sb, 'b')).stdout.trim(), first.stdout.trim());
      assert.equal(await ok(token(sb, 'a')), a);
      assert.equal(p.counts.requests, 0);
      expireApis(sb);
      const b2 = await token(sb, 'b');
      assert.equal(b2.code, 0, b2.stderr);
      assert.doesNotMatch(b2.stderr, /separately/);
      assert.deepEqual(aud(b2.stdout.trim()), [REGISTRY]);
      assert.deepEqual(aud(await ok(token(sb, 'a'))), [GIT]);
      assert.deepEqual(p.counts.token, { refresh_token: 2 }, 'one refresh each, each with its own refresh token');
      assert.deepEqual(p.counts.tokenErrors, {}, 'no invalid_grant: the shared session is intact');
      assert.equal(p.counts.authorization, 0);
      assert.equal(sb.browserRuns().length, 2, 'no third browser');

      // --non-interactive with a fresh cache: the API's own login is needed and may not start.
      const st = await run(BIN.oidcCred, ['status', '--json', '--cache-dir', sb.cacheDir], { env: sb.env });
      const apis = (JSON.parse(st.stdout) as { sessions: Array<{ apis: Array<{ audience: string; own_login: boolean }> }> }).sessions[0]!.apis;
      assert.deepEqual(apis.map((x) => [x.audience, x.own_login]).sort(), [[GIT, false], [REGISTRY, true]]);
      sb.cleanup();
    });
  }

  it('--non-interactive: an API that needs a login of its own fails with the usual advice', async () => {
    const p = await provider({ refusedAudiences: [REGISTRY] });
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY } });
    await ok(token(sb, 'a'));
    const r = await token(sb, 'b', ['--non-interactive']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs a login of its own, and --non-interactive forbids it.*oidc-cred login --profile b/);
    assert.equal(sb.browserRuns().length, 1);
    sb.cleanup();
  });
});

describe('status and logout', () => {
  it('status lists the session\'s APIs under it; logout --revoke revokes the shared refresh token once and removes them all', async () => {
    const p = await provider({ audiencePolicy: [GIT, REGISTRY] });
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT }, b: { audience: REGISTRY } });
    await ok(token(sb, 'a'));
    await ok(token(sb, 'b'));
    const st = await run(BIN.oidcCred, ['status', '--json', '--cache-dir', sb.cacheDir], { env: sb.env });
    const parsed = JSON.parse(st.stdout) as { sessions: Array<{ apis: Array<{ audience: string; valid: boolean }> }> };
    assert.equal(parsed.sessions.length, 1);
    assert.deepEqual(parsed.sessions[0]!.apis.map((x) => x.audience).sort(), [GIT, REGISTRY]);
    assert.ok(parsed.sessions[0]!.apis.every((x) => x.valid));
    const table = await run(BIN.oidcCred, ['status', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.match(table.stdout, /api: audience https:\/\/git\.example\.test/);
    assert.match(table.stdout, /api: audience https:\/\/registry\.example\.test/);
    p.resetCounts();
    const out = await run(BIN.oidcCred, ['logout', '--profile', 'b', '--revoke'], { env: sb.env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(p.counts.revocation, 1, 'the shared refresh token, once');
    assert.deepEqual(sessionFiles(sb), []);
    sb.cleanup();
  });
});

describe('upgrading from format 1', () => {
  it('a format-1 file (one per audience and scopes) is carried over on first use: its token handed over, no request, the old file gone', async () => {
    const { legacySessionKey } = await import('../../src/cache/store.ts');
    const p = await provider({});
    const sb = sandbox(p);
    configure(p, sb, { a: { audience: GIT } });
    const key = legacySessionKey({ issuer: p.issuer, clientId: p.publicClientId, audience: GIT, scopes: ['openid', 'offline_access'], params: {}, grant: 'user' });
    mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    const old = join(sb.cacheDir, `${key}.json`);
    writeFileSync(
      old,
      JSON.stringify({ version: 1, key, issuer: p.issuer, client_id: p.publicClientId, grant: 'user', access_token: 'format-one-access-token', refresh_token: 'format-one-refresh-token', token_type: 'Bearer', expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString() }),
      { mode: 0o600 },
    );
    assert.equal(await ok(token(sb, 'a')), 'format-one-access-token');
    assert.equal(p.counts.requests, 0, 'no request: not even a refresh');
    assert.equal(sb.browserRuns().length, 0);
    const s = session(sb);
    assert.ok(!sessionFiles(sb).includes(old), 'the format-1 file is gone');
    assert.equal(s.refresh_token, 'format-one-refresh-token');
    assert.equal(await ok(token(sb, 'a')), 'format-one-access-token', 'and the next call reads the new file');
    sb.cleanup();
  });
});
