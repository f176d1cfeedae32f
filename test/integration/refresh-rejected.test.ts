// Issue 15, defects 2 and 4, against a mock token endpoint: only a mock can answer a refresh with
// an empty 401, an unknown error code or a 503 on demand (Glewlwyd's real empty 400 for a revoked
// refresh token is in glewlwyd.test.ts). A 400/401 on a refresh drops the refresh token, whatever
// the body; anything else keeps it; an error without an OAuth body still says what usually
// causes it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sessionKey } from '../../src/cache/store.ts';
import { BIN, run } from '../support/cli.ts';

interface Answer {
  status: number;
  type?: string;
  body?: string;
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A provider whose discovery works and whose token endpoint gives `answer`; counts token requests. */
async function mockProvider(answer: Answer): Promise<{ issuer: string; tokenRequests: () => number }> {
  let issuer = '';
  let tokenRequests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if ((req.url ?? '').startsWith('/.well-known/openid-configuration')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, response_types_supported: ['code'] }));
        return;
      }
      tokenRequests++;
      const body = answer.body ?? '';
      res.writeHead(answer.status, { ...(answer.type ? { 'content-type': answer.type } : {}), 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { issuer, tokenRequests: () => tokenRequests };
}

/** A cache holding an expired access token and a refresh token for (issuer, client "x"). */
function seeded(issuer: string): { dir: string; cacheDir: string; file: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-refresh-'));
  const cacheDir = join(dir, 'cache');
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const key = sessionKey({ issuer, clientId: 'x', params: {}, grant: 'user' });
  const now = Date.now();
  const file = join(cacheDir, `${key}.json`);
  writeFileSync(
    file,
    JSON.stringify({ version: 1, key, issuer, client_id: 'x', grant: 'user', access_token: 'old-access-token-0000', refresh_token: 'seeded-refresh-token-0000', expires_at: new Date(now - 1000).toISOString(), obtained_at: new Date(now - 3600_000).toISOString() }),
    { mode: 0o600 },
  );
  return { dir, cacheDir, file, env: { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'home', '.config') } };
}

async function tokenNonInteractive(answer: Answer): Promise<{ stderr: string; code: number | null; kept: unknown; tokenRequests: number }> {
  const m = await mockProvider(answer);
  const sb = seeded(m.issuer);
  try {
    const r = await run(BIN.oidcCred, ['token', '--issuer', m.issuer, '--client-id', 'x', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env, timeoutMs: 40_000 });
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    const kept = (JSON.parse(readFileSync(sb.file, 'utf8')) as Record<string, unknown>).refresh_token;
    return { stderr: r.stderr, code: r.code, kept, tokenRequests: m.tokenRequests() };
  } finally {
    rmSync(sb.dir, { recursive: true, force: true });
  }
}

describe('a refresh the token endpoint refuses (RFC 6749 §5.2) is a dead refresh token, whatever the body', () => {
  const rejected: Array<[string, Answer]> = [
    ['400, empty body (Glewlwyd)', { status: 400 }],
    ['401, empty body', { status: 401 }],
    ['400, invalid_request', { status: 400, type: 'application/json', body: '{"error":"invalid_request"}' }],
    ['400, HTML', { status: 400, type: 'text/html', body: '<html>Bad Request</html>' }],
  ];
  for (const [name, answer] of rejected) {
    it(`${name}: the refresh token is dropped and a non-interactive caller is told to log in`, async () => {
      const r = await tokenNonInteractive(answer);
      assert.equal(r.code, 1);
      assert.equal(r.tokenRequests, 1, 'one refresh attempt');
      assert.match(r.stderr, /^oidc-cred: the session has expired and the provider no longer accepts its refresh token \(run 'oidc-cred login'\)/);
      assert.equal(r.kept, undefined, 'the dead refresh token is gone from the cache');
    });
  }

  for (const status of [500, 503]) {
    it(`${status}, empty body: a provider fault keeps the refresh token, and says what usually causes it`, async () => {
      const r = await tokenNonInteractive({ status });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^oidc-cred: could not refresh the token: the provider answered HTTP ${status} with an empty body; this usually means a fault or an outage at the provider \\(try again later\\)`));
      assert.equal(r.kept, 'seeded-refresh-token-0000');
    });
  }
});
