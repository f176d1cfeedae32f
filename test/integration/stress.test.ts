// Issue 6: the one-login rule at 64 concurrent processes — logins, refreshes and a failing login —
// counting what the real provider received. Timings are reported as diagnostics, not asserted.
// The provider runs in a process of its own: in the test's process, 64 children starved it past
// oidc-cred's HTTP timeout on a loaded 2-core machine.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, run, sandbox, trackLeaks, waitFor, type RunResult, type Sandbox } from '../support/cli.ts';
import { startProviderProcess, type ProcessProvider } from '../support/provider-process.ts';
import { onlyApi } from '../support/session-file.ts';

const N = 64;
const WAITING = /waiting for another oidc-cred process/;
let p: ProcessProvider;
before(async () => {
  p = await startProviderProcess();
  trackLeaks(p);
});
after(() => p?.close());

/** Starts N `oidc-cred token`; `waiting.n` counts those that have said on stderr that they wait. */
function all(sb: Sandbox, extra: string[], browserFlags = '', waiting = { n: 0 }): Promise<RunResult[]> {
  return Promise.all(Array.from({ length: N }, () => run(BIN.oidcCred, ['token', ...sb.args(browserFlags), ...extra], {
    env: sb.env,
    timeoutMs: 240_000,
    onSpawn: (c) => {
      let seen = '';
      c.stderr?.on('data', (d: Buffer | string) => {
        if (WAITING.test(seen)) return;
        seen += d.toString();
        if (WAITING.test(seen)) waiting.n += 1;
      });
    },
  })));
}

describe(`${N} concurrent processes`, { timeout: 600_000 }, () => {
  it('no session: one authorization, one code exchange, one browser, one token', async (t) => {
    p.resetCounts();
    const sb = sandbox(p);
    // The login is held open until the other 63 wait for it: all 64 contend, however slowly they start.
    const go = join(sb.dir, 'go');
    const waiting = { n: 0 };
    const t0 = Date.now();
    const running = all(sb, [], `--wait-for ${go}`, waiting);
    await waitFor(() => waiting.n === N - 1, 200_000, `${N - 1} processes to wait for the login`);
    writeFileSync(go, '');
    const rs = await running;
    t.diagnostic(`${N} logins: ${Date.now() - t0} ms wall; ${rs.filter((r) => WAITING.test(r.stderr)).length} waited`);
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    assert.equal(rs.filter((r) => WAITING.test(r.stderr)).length, N - 1, 'every other process waited for the one login');
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
      // The browser holds the login open until the other 63 have said that they wait for it.
      const go = join(sb.dir, 'go');
      const waiting = { n: 0 };
      const t0 = Date.now();
      const running = all(sb, [], `--wait-for ${go}`, waiting);
      await waitFor(() => waiting.n === N - 1, 200_000, `${N - 1} processes to wait for the login`);
      writeFileSync(go, '');
      const rs = await running;
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
