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
