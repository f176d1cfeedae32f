// Issue 6: the one-login rule at 64 concurrent processes — logins, refreshes and a failing login —
// counting what the real provider received. Timings are reported as diagnostics, not asserted.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { onlyApi } from '../support/session-file.ts';

const N = 64;
let p: TestProvider;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(() => p.close());

function all(sb: Sandbox, extra: string[], browserFlags = ''): Promise<RunResult[]> {
  return Promise.all(Array.from({ length: N }, () => run(BIN.oidcCred, ['token', ...sb.args(browserFlags), ...extra], { env: sb.env, timeoutMs: 240_000 })));
}

describe(`${N} concurrent processes`, { timeout: 600_000 }, () => {
  it('no session: one authorization, one code exchange, one browser, one token', async (t) => {
    p.resetCounts();
    const sb = sandbox(p);
    const t0 = Date.now();
    const rs = await all(sb, []);
    t.diagnostic(`${N} logins: ${Date.now() - t0} ms wall; ${rs.filter((r) => /waiting for another/.test(r.stderr)).length} waited`);
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(rs.map((r) => r.stdout)).size, 1);
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.equal(sb.browserRuns().length, 1);

    // Refresh: every process finds the token about to expire.
    const file = join(sb.cacheDir, readdirSync(sb.cacheDir).find((f) => /^[0-9a-f]{64}\.json$/.test(f))!);
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    onlyApi(s).expires_at = new Date(Date.now() + 10_000).toISOString();
    onlyApi(s).obtained_at = new Date(Date.now() - 3600_000).toISOString(); // an hour-long token near its end, not a short one
    writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
    p.resetCounts();
    const t1 = Date.now();
    const rr = await all(sb, ['--non-interactive']);
    t.diagnostic(`${N} refreshes: ${Date.now() - t1} ms wall`);
    for (const r of rr) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(rr.map((r) => r.stdout)).size, 1);
    assert.notEqual(rr[0]!.stdout.trim(), onlyApi(s).access_token);
    assert.equal(p.counts.token.refresh_token, 1, 'exactly one refresh');
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0, 'a rotated refresh token was never reused');
    assert.equal(p.counts.authorization, 0);
    sb.cleanup();
  });

  it('a login that is denied: one authorization, one browser, and every waiting process fails with the same reason', async (t) => {
    p.resetCounts();
    p.mode = 'deny';
    const sb = sandbox(p);
    try {
      // The browser takes its time, so that all 64 have started and are waiting when it fails.
      const t0 = Date.now();
      const rs = await all(sb, [], '--delay 20000');
      t.diagnostic(`${N} failures: ${Date.now() - t0} ms wall`);
      for (const r of rs) {
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /access_denied/);
      }
      assert.equal(rs.filter((r) => /login in another oidc-cred process failed/.test(r.stderr)).length, N - 1);
      assert.equal(p.counts.authorization, 1);
      assert.equal(sb.browserRuns().length, 1);
    } finally {
      p.mode = 'approve';
      sb.cleanup();
    }
  });
});
