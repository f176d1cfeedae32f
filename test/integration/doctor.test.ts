// oidc-cred doctor against the real test provider, real git and a real TLS server: one line per
// check, the problem and its fix, exit 1 only for what would make a token request fail.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, type Sandbox } from '../support/cli.ts';

let p: TestProvider;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(() => p.close());

/** The line of one check, e.g. "ok      discovery: …". */
function line(stdout: string, check: string): string {
  const l = stdout.split('\n').find((x) => x.slice(8).startsWith(`${check}: `));
  assert.ok(l, `no "${check}" line in:\n${stdout}`);
  return l;
}

function doctor(sb: Sandbox, args: string[], env: Record<string, string> = {}): ReturnType<typeof run> {
  return run(BIN.oidcCred, ['doctor', '--cache-dir', sb.cacheDir, ...args], { env: { ...sb.env, ...env } });
}

describe('doctor', () => {
  it('all well: every provider check ok, no session yet is a note, exit 0; after a login the session line says until when and where', async () => {
    const sb = sandbox(p);
    const r = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.publicClientId]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(line(r.stdout, 'discovery'), `ok      discovery: ${p.issuer}/.well-known/openid-configuration`);
    assert.match(line(r.stdout, 'clock'), /^ok {6}clock: within \d+ s of the provider's$/);
    assert.match(line(r.stdout, 'grant'), /^ok {6}grant: auto .*authorization_code.*refresh_token/);
    assert.match(
      line(r.stdout, 'authorization'),
      new RegExp(`^ok {6}authorization: the provider accepts client ${p.publicClientId} with redirect URI http://127\\.0\\.0\\.1:\\d+/callback `),
    );
    assert.match(line(r.stdout, 'session'), /^note {4}session: no session yet \(.*\.json\) \(a login happens on demand, or run 'oidc-cred login'\)$/);
    assert.equal(p.counts.token.authorization_code ?? 0, 0, 'doctor never logs in');

    const login = await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    const after = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.publicClientId]);
    assert.equal(after.code, 0);
    assert.match(
      line(after.stdout, 'session'),
      /^ok {6}session: demo-user, access token valid until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+ min\), refresh token held, stored in file .*\/[0-9a-f]{64}\.json$/,
    );
    const session = JSON.parse(readFileSync(line(after.stdout, 'session').replace(/^.* stored in file /, ''), 'utf8')) as Record<string, string>;
    for (const t of [session.access_token, session.refresh_token, session.id_token]) assert.ok(!after.stdout.includes(t!), 'doctor prints no token');
    sb.cleanup();
  });

  it('a wrong issuer path: the exact URLs tried, exit 1', async () => {
    const sb = sandbox(p);
    const r = await doctor(sb, ['--issuer', `${p.issuer}/realms/engineering`, '--client-id', p.publicClientId]);
    assert.equal(r.code, 1);
    assert.equal(
      line(r.stdout, 'discovery'),
      `problem discovery: no provider metadata at ${p.issuer}/realms/engineering/.well-known/openid-configuration nor ${p.issuer}/.well-known/oauth-authorization-server/realms/engineering (HTTP 404) (check the issuer URL: for Keycloak it is https://HOST/realms/REALM)`,
    );
    assert.match(r.stdout, /\n1 problem found: a token request would fail until it is fixed\n$/);
    sb.cleanup();
  });

  it('localhost for 127.0.0.1: shows the issuer the provider reports', async () => {
    const sb = sandbox(p);
    const wrong = p.issuer.replace('127.0.0.1', 'localhost');
    const r = await doctor(sb, ['--issuer', wrong, '--client-id', p.publicClientId]);
    assert.equal(r.code, 1);
    assert.equal(
      line(r.stdout, 'discovery'),
      `problem discovery: ${wrong}/.well-known/openid-configuration describes the issuer "${p.issuer}", not "${wrong}"; tokens would be refused (set issuer to exactly ${p.issuer})`,
    );
    sb.cleanup();
  });

  it('an unregistered redirect URI and an unknown client: the error page the provider shows instead of a login page', async () => {
    const sb = sandbox(p);
    const redirect = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.publicClientId, '--redirect-uri', 'http://localhost/unregistered', '--port', '18123']);
    assert.equal(redirect.code, 1);
    assert.equal(
      line(redirect.stdout, 'authorization'),
      `problem authorization: the provider answered HTTP 400 instead of a login page for client ${p.publicClientId} with redirect URI http://localhost:18123/unregistered: invalid_redirect_uri: redirect_uri did not match any of the client's registered redirect_uris (register http://localhost/unregistered (any port) as a redirect URI of client ${p.publicClientId} at the provider, or set --redirect-uri to one it has)`,
    );
    const client = await doctor(sb, ['--issuer', p.issuer, '--client-id', 'no-such-client']);
    assert.equal(client.code, 1);
    assert.match(line(client.stdout, 'authorization'), /^problem authorization: the provider answered HTTP 400 .*: invalid_client: client is invalid \(check client-id: the provider does not know no-such-client\)$/);
    sb.cleanup();
  });

  it('untrusted TLS names --ca-file; with the CA the certificate is trusted', async (t) => {
    const sb = sandbox(p);
    const key = join(sb.dir, 'key.pem');
    const cert = join(sb.dir, 'cert.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    // A company provider behind a private CA: it answers, but nothing vouches for its certificate.
    const server: Server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await doctor(sb, ['--issuer', issuer, '--client-id', 'c']);
      assert.equal(r.code, 1);
      assert.equal(
        line(r.stdout, 'tls'),
        `problem tls: GET ${issuer}/.well-known/openid-configuration: ${issuer.slice(8)} answered, but its TLS certificate is not signed by a CA this machine trusts (DEPTH_ZERO_SELF_SIGNED_CERT) (pass your organisation's CA certificate (PEM) with --ca-file, or add "ca-file" to the profile)`,
      );
      const withCa = await doctor(sb, ['--issuer', issuer, '--client-id', 'c', '--ca-file', cert]);
      assert.equal(line(withCa.stdout, 'tls'), `ok      tls: ${issuer.slice(8)}'s certificate is trusted (with ${cert})`);
      assert.match(line(withCa.stdout, 'discovery'), /^problem discovery: no provider metadata at /);
    } finally {
      server.close();
      sb.cleanup();
    }
  });

  it('a config file: several profiles and no default-profile; a group-writable file; unwired git is a note until setup git --write', async () => {
    const sb = sandbox(p);
    const dir = join(sb.home, '.config', 'oidc-cred');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'config.json');
    const profile = { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, match: ['https://git.example.test/', 'registry.example.test'] };
    writeFileSync(file, JSON.stringify({ profiles: { work: profile, home: profile } }), { mode: 0o600 });

    const none = await doctor(sb, []);
    assert.equal(none.code, 1);
    assert.equal(
      line(none.stdout, 'profile'),
      `problem profile: ${file} has 2 profiles (work, home) and no default-profile, so a command without --profile has no provider (pass --profile NAME, or add "default-profile": "work")`,
    );

    chmodSync(file, 0o664);
    const writable = await doctor(sb, ['--profile', 'work']);
    assert.equal(writable.code, 1);
    assert.ok(writable.stdout.includes(`problem config: config file ${file} can be changed by other users (mode 664) (run: chmod go-w '${file}')`), writable.stdout);
    chmodSync(file, 0o600);

    const unwired = await doctor(sb, ['--profile', 'work']);
    assert.equal(unwired.code, 0, unwired.stdout);
    assert.equal(line(unwired.stdout, 'git'), 'note    git: no oidc-cred credential helper for https://git.example.test (if git should use it: oidc-cred setup git --profile work --write)');

    assert.match(line(unwired.stdout, 'kubectl'), /^note {4}kubectl: no kubeconfig user runs oidc-cred kube for profile "work" \(if kubectl should use it: oidc-cred setup kube --profile work --cluster NAME --write\)$/);
    assert.equal(line(unwired.stdout, 'docker'), `note    docker: no credHelpers entry in ${join(sb.home, '.docker', 'config.json')} sends registry.example.test to oidc-cred (if docker should use it: oidc-cred setup docker --profile work --write)`);

    for (const tool of ['git', 'kube', 'docker']) {
      const setup = await run(BIN.oidcCred, ['setup', tool, '--profile', 'work', ...(tool === 'kube' ? ['--cluster', 'prod'] : []), '--write'], { env: sb.env });
      assert.equal(setup.code, 0, setup.stderr);
    }
    const wired = await doctor(sb, ['--profile', 'work']);
    assert.equal(wired.code, 0);
    assert.equal(line(wired.stdout, 'git'), 'ok      git: credential.<url>.helper runs oidc-cred for https://git.example.test');
    assert.equal(line(wired.stdout, 'kubectl'), 'ok      kubectl: kubeconfig user oidc-cred-work runs oidc-cred kube');
    assert.equal(line(wired.stdout, 'docker'), `ok      docker: credHelpers in ${join(sb.home, '.docker', 'config.json')} send registry.example.test to oidc-cred`);
    sb.cleanup();
  });

  it('grants: client-credentials without a secret, and a clock the provider disagrees with', async () => {
    const sb = sandbox(p);
    const cc = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.confidentialClientId, '--grant', 'client-credentials']);
    assert.equal(cc.code, 1);
    assert.equal(line(cc.stdout, 'grant'), 'problem grant: client-credentials needs a client secret, and none is configured (add "client-secret-file" to the profile, or set OIDC_CRED_CLIENT_SECRET)');
    const ok = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.confidentialClientId, '--grant', 'client-credentials'], { OIDC_CRED_CLIENT_SECRET: p.clientSecret });
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(line(ok.stdout, 'grant'), /^ok {6}grant: client-credentials; the provider advertises .*client_credentials/);
    assert.ok(!ok.stdout.includes('authorization:'), 'no authorization request for a machine login');

    // A provider whose Date header is 10 minutes behind ours: only a stand-in can answer that.
    const { createServer } = await import('node:http');
    const skewed = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(skewed.address() as AddressInfo).port}`;
      if (req.url !== '/.well-known/openid-configuration') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', date: new Date(Date.now() - 600_000).toUTCString() });
      res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, response_types_supported: ['code'] }));
    });
    await new Promise<void>((r) => skewed.listen(0, '127.0.0.1', r));
    try {
      const r = await doctor(sb, ['--issuer', `http://127.0.0.1:${(skewed.address() as AddressInfo).port}`, '--client-id', 'c', '--grant', 'device']);
      assert.equal(r.code, 1);
      assert.match(line(r.stdout, 'clock'), /^problem clock: this machine's clock is (599|600|601) s ahead of the provider's; ID tokens would look expired \(set the clock right, e\.g\. timedatectl set-ntp true\)$/);
      assert.equal(line(r.stdout, 'grant'), 'problem grant: device is configured, but the provider advertises only authorization_code, implicit (enable the grant for the client at the provider, or change --grant)');
    } finally {
      skewed.close();
      sb.cleanup();
    }
  });

  it('a hostile error page cannot write control or bidi characters to the terminal', async () => {
    const sb = sandbox(p);
    const { createServer } = await import('node:http');
    const evil = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, response_types_supported: ['code'] }));
      }
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end('<pre>invalid_client error_description : \x1b]0;owned\x07\x1b[2J\u202egnp.exe\x9b31m</pre>');
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const r = await doctor(sb, ['--issuer', `http://127.0.0.1:${(evil.address() as AddressInfo).port}`, '--client-id', 'c']);
      assert.equal(r.code, 1);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      assert.ok(line(r.stdout, 'authorization').includes('invalid_client: \\u001b]0;owned\\u0007\\u001b[2J\\u202egnp.exe\\u009b31m'), r.stdout);
    } finally {
      evil.close();
      sb.cleanup();
    }
  });

  it('--json: {ok, profile, config_file, checks: [{check, status, message, fix?}]} and the same exit code', async () => {
    const sb = sandbox(p);
    const good = await doctor(sb, ['--issuer', p.issuer, '--client-id', p.publicClientId, '--json']);
    assert.equal(good.code, 0);
    const j = JSON.parse(good.stdout) as { ok: boolean; profile: unknown; config_file: string; checks: Array<Record<string, string>> };
    assert.equal(j.ok, true);
    assert.equal(j.profile, null);
    assert.equal(typeof j.config_file, 'string');
    assert.deepEqual(
      j.checks.map((c) => c.check),
      ['config', 'profile', 'discovery', 'clock', 'grant', 'authorization', 'session', 'wiring', 'kubectl'],
    );
    for (const c of j.checks) {
      assert.ok(['ok', 'problem', 'note'].includes(c.status!), JSON.stringify(c));
      assert.equal(typeof c.message, 'string');
      assert.deepEqual(Object.keys(c).filter((k) => !['check', 'status', 'message', 'fix'].includes(k)), []);
    }
    const bad = await doctor(sb, ['--issuer', `${p.issuer}/nope`, '--client-id', p.publicClientId, '--json']);
    assert.equal(bad.code, 1);
    const jb = JSON.parse(bad.stdout) as { ok: boolean; checks: Array<Record<string, string>> };
    assert.equal(jb.ok, false);
    assert.equal(jb.checks.find((c) => c.check === 'discovery')!.status, 'problem');
    sb.cleanup();
  });
});
