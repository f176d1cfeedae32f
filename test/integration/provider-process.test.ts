// test/support/provider-process.ts: the test provider in a process of its own must keep what the
// in-process one gives tests — exact counts after an awaited run, and the leak check on stderr.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BIN, run, runCommand, sandbox, trackLeaks } from '../support/cli.ts';
import { startProviderProcess, type ProcessProvider } from '../support/provider-process.ts';

let p: ProcessProvider;
before(async () => {
  p = await startProviderProcess();
  trackLeaks(p);
});
after(() => p?.close());

describe('the provider in its own process', () => {
  it('counts are exact once run() resolves, and resetCounts starts them again', async () => {
    p.resetCounts();
    const sb = sandbox(p);
    try {
      const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(p.pid, process.pid);
      assert.equal(p.counts.authorization, 1);
      assert.equal(p.counts.token.authorization_code, 1);
      assert.ok(p.issuedTokens.has(r.stdout.trim()), 'the token handed over is among those issued');
      assert.ok(await p.userinfo(r.stdout.trim()), 'the token works at userinfo');
      assert.equal(p.counts.userinfo, 1);
      p.resetCounts();
      assert.equal(p.counts.requests, 0);
      assert.deepEqual(p.counts.token, {});
    } finally {
      sb.cleanup();
    }
  });

  it('a token it issued on a run\'s stderr fails that run', async () => {
    const sb = sandbox(p);
    try {
      const token = (await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env })).stdout.trim();
      assert.ok(token.length >= 16);
      // As a leaking program would: the token on stderr (passed in the environment, not argv).
      await assert.rejects(runCommand('sh', ['-c', 'printf %s "$T" >&2'], { env: { T: token } }), /a token issued by the test provider appeared/);
    } finally {
      sb.cleanup();
    }
  });

  it("mode 'deny' reaches the provider process", async () => {
    const sb = sandbox(p);
    p.mode = 'deny';
    try {
      const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /access_denied/);
    } finally {
      p.mode = 'approve';
      sb.cleanup();
    }
  });
});
