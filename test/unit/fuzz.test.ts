// Issue 6: property-based tests over the parsers that take outside input — docker's stdin, the
// config file, the loopback callback's query, and token endpoint responses. Whatever comes in:
// no crash, only our own error classes, one-line messages, and nothing echoed that could be a
// token. (git attributes: test/unit/git.test.ts; KUBERNETES_EXEC_INFO: test/unit/kube.test.ts;
// argv: test/unit/argv.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as oauth from 'oauth4webapi';
import { resolveSettings } from '../../src/config/resolve.ts';
import { describeError, OidcCredError } from '../../src/errors.ts';
import { providerError } from '../../src/oauth/client.ts';
import { startLoopback } from '../../src/oauth/loopback.ts';
import { planTokenCommand } from '../../src/protocols/request.ts';
import { NOT_FOUND } from '../../src/protocols/docker.ts';

export const RUNS = { docker: 500, config: 500, callback: 300, tokenResponse: 500 };

const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-fuzz-'));
const configFile = join(dir, 'config.json');
writeFileSync(configFile, JSON.stringify({ profiles: { reg: { issuer: 'https://idp.example', 'client-id': 'c', match: ['registry.example.com'] } } }));

const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('', '\n', '\0', '==', 'registry.example.com', 'registry.example.com\n\n', 'https://registry.example.com:5000/v2/', '\u202e', 'a'.repeat(70_000)),
  fc.array(fc.constantFrom('registry.example.com', '\r\n', '\0', ' ', 'x=y', 'https://', ':5000'), { maxLength: 10 }).map((a) => a.join('')),
);

describe('fuzz', () => {
  it(`docker stdin (${RUNS.docker} inputs): a plan, "not found", or a usage error — never anything else`, async () => {
    await fc.assert(
      fc.asyncProperty(nasty, async (stdin) => {
        try {
          const plan = await planTokenCommand(['docker', 'get'], { config: configFile }, { env: {}, home: dir, cwd: dir, readStdin: async () => stdin });
          assert.ok(plan);
          if (plan.type === 'done') assert.equal(plan.stdout, `${NOT_FOUND}\n`);
          else assert.equal(plan.settings.profile, 'reg');
        } catch (err) {
          assert.ok(err instanceof OidcCredError, String(err));
          assert.doesNotMatch(describeError(err), /\n/);
        }
      }),
      { numRuns: RUNS.docker },
    );
  });

  it(`config files (${RUNS.config} documents): settings or a ConfigError naming the file`, () => {
    const value: fc.Arbitrary<unknown> = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }));
    const key = fc.constantFrom('issuer', 'client-id', 'scope', 'timeout', 'min-valid', 'grant', 'port', 'param', 'match', 'token-type', 'no-browser', 'cache-dir', 'verbose', 'git-username', 'bogus', '');
    const profile = fc.dictionary(key, value, { maxKeys: 6 });
    const doc = fc.oneof(
      fc.record({ 'default-profile': fc.option(fc.constantFrom('a', 'b', 'zzz'), { nil: undefined }), profiles: fc.dictionary(fc.constantFrom('a', 'b'), profile, { maxKeys: 2 }) }, { requiredKeys: [] }),
      value,
      fc.string({ maxLength: 50 }),
    );
    let i = 0;
    fc.assert(
      fc.property(doc, fc.boolean(), (d, raw) => {
        const f = join(dir, `c${i++}.json`);
        writeFileSync(f, raw && typeof d === 'string' ? d : JSON.stringify(d) ?? 'undefined');
        try {
          const s = resolveSettings({ flags: { config: f }, env: {}, home: dir, cwd: dir, purpose: 'other' });
          assert.equal(typeof s.issuer, 'string');
          assert.ok(Number.isFinite(s.timeout) && Number.isFinite(s.minValid));
        } catch (err) {
          assert.ok(err instanceof OidcCredError, String(err));
          assert.ok(err.message.includes(f) || /no (issuer|client ID)|port|param|grant|token-type|timeout|min-valid/.test(err.message), err.message);
          assert.doesNotMatch(describeError(err), /\n/);
        }
      }),
      { numRuns: RUNS.config },
    );
  });

  it(`callback queries (${RUNS.callback} requests): never a 5xx, never the end of the real login`, async () => {
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'the-real-state', log: { debug: () => undefined } });
    const base = new URL(lb.redirectUri);
    const get = (path: string): Promise<number> =>
      new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port: base.port, path, method: 'GET' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(-1)); // an unparsable request line is refused by node itself
        req.end();
      });
    const query = fc.array(fc.tuple(fc.constantFrom('state', 'code', 'error', 'iss', 'error_description', 'x', 'state[]', ''), fc.string({ maxLength: 40 })), { maxLength: 6 });
    try {
      await fc.assert(
        fc.asyncProperty(query, fc.constantFrom('/callback', '/callback/', '/', '/CALLBACK', '//callback', '/callback%00'), async (q, path) => {
          if (q.some(([k, v]) => k === 'state' && v === 'the-real-state')) return;
          const qs = new URLSearchParams(q).toString();
          let status: number;
          try {
            status = await get(`${path}?${qs}`);
          } catch {
            return;
          }
          assert.ok(status < 500, `status ${status} for ${path}?${qs}`);
        }),
        { numRuns: RUNS.callback },
      );
      // The real callback still completes the login after all of that.
      const waiting = lb.waitForCallback(new AbortController().signal, 5000);
      const done = get('/callback?state=the-real-state&code=ok');
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'ok');
      await cb.finish(true, 'ok');
      assert.equal(await done, 200);
    } finally {
      await lb.close();
    }
  });

  it(`token endpoint responses (${RUNS.tokenResponse} bodies): parsed, or one ProviderError line without the body's secrets`, async () => {
    const as: oauth.AuthorizationServer = { issuer: 'https://idp.example', token_endpoint: 'https://idp.example/token' };
    const client: oauth.Client = { client_id: 'c' };
    const body = fc.oneof(
      fc.json({ maxDepth: 2 }),
      fc.string({ maxLength: 100 }),
      fc.record({ access_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'DPoP', 'mac'), fc.string()), expires_in: fc.oneof(fc.integer(), fc.string(), fc.double()), id_token: fc.oneof(fc.string(), fc.constant('a.b.c')), refresh_token: fc.string(), error: fc.string() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    const status = fc.constantFrom(200, 200, 400, 401, 403, 429, 500, 502);
    const type = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/html', 'text/plain', '');
    await fc.assert(
      fc.asyncProperty(body, status, type, async (b, st, ct) => {
        const res = new Response(b, { status: st, headers: ct ? { 'content-type': ct } : {} });
        try {
          const t = await oauth.processRefreshTokenResponse(as, client, res);
          assert.equal(typeof t.access_token, 'string');
        } catch (err) {
          const e = providerError('could not refresh the token', err);
          assert.ok(e instanceof OidcCredError);
          const line = describeError(e);
          assert.doesNotMatch(line, /\n/);
          assert.match(line, /^oidc-cred: could not refresh the token/);
        }
      }),
      { numRuns: RUNS.tokenResponse },
    );
  });
});
