// Issue 6: one end-to-end login with a real browser — Debian's Chromium, headless, as
// --browser-command — landing on oidc-cred's own success (or error) page. Skipped, with the
// reason printed, where Chromium is not installed (.ci/run installs it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, ROOT, run, sandbox, trackLeaks, type Sandbox } from '../support/cli.ts';

function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`]).toString().trim() || undefined;
    } catch {
      /* next */
    }
  }
  return undefined;
}
const chromium = findChromium();
if (!chromium) process.stderr.write('browser.test.ts: skipped: no chromium on PATH (apt-get install chromium)\n');

let p: TestProvider;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(() => p.close());

// The flags a headless Chromium needs on a machine with no network and no desktop bus.
const chrome = (sb: Sandbox, extra: string): string =>
  `${chromium} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir=${sb.dir}/chrome ${extra}`;

describe('a real browser', { skip: chromium ? false : 'no chromium on PATH' }, () => {
  it('Chromium logs in at the provider and lands on the self-contained success page', async () => {
    const sb = sandbox(p);
    p.resetCounts();
    const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', chrome(sb, '--dump-dom'), '--timeout', '60'], { env: sb.env, timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.ok(await p.userinfo(r.stdout.trim()), 'the token works');
    assert.equal(p.counts.authorization, 1);
    // Chromium's --dump-dom printed the final page to its stdout, which is our stderr.
    assert.match(r.stderr, /<h1>Logged in<\/h1>/);
    assert.doesNotMatch(r.stderr, /<(script|img|link|iframe)\b/i, 'no external resources, no script');
    assert.ok(!r.stdout.includes('<'), 'nothing of the browser on stdout');
    sb.cleanup();
  });

  it('a denied login shows the escaped error on the error page, and nothing is cached', async () => {
    const sb = sandbox(p);
    p.mode = 'deny';
    try {
      const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', chrome(sb, '--dump-dom'), '--timeout', '60'], { env: sb.env, timeoutMs: 90_000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /<h1>Login failed<\/h1>/);
      assert.match(r.stderr, /access_denied/);
    } finally {
      p.mode = 'approve';
      sb.cleanup();
    }
  });

  it('takes a screenshot of the success page (test-results/login-success.png)', async () => {
    const sb = sandbox(p);
    const out = join(ROOT, 'test-results');
    mkdirSync(out, { recursive: true });
    const shot = join(out, 'login-success.png');
    const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', chrome(sb, `--window-size=720,480 --hide-scrollbars --screenshot=${shot}`), '--timeout', '60'], { env: sb.env, timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.ok(existsSync(shot), 'screenshot written');
    assert.deepEqual([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    sb.cleanup();
  });
});
