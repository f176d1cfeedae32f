// Issue 10, local attackers: the environment, the terminal, the cache files and the config. Each
// test performs the attack with real processes — the project's binaries, real git, a second
// unprivileged account (oidccred-atk2) where the attack needs one — and checks both that the attack
// fails and that the legitimate flow still works.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, BROWSER, lockExists, run, runCommand, sandbox, trackLeaks, waitFor, type RunResult, type Sandbox } from '../support/cli.ts';
import { linkedBinDir } from '../support/git.ts';
import { onlyApi } from '../support/session-file.ts';
import { sessionKey } from '../../src/cache/store.ts';

let p: TestProvider;
const sandboxes: Sandbox[] = [];
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(async () => {
  await p?.close();
  for (const sb of sandboxes) sb.cleanup();
  if (createdAttacker) spawnSync('userdel', ['-r', ATTACKER]);
});

function fresh(): Sandbox {
  p.resetCounts();
  p.mode = 'approve';
  const sb = sandbox(p);
  sandboxes.push(sb);
  mkdirSync(join(sb.home, '.config', 'oidc-cred'), { recursive: true });
  return sb;
}

const configPath = (sb: Sandbox): string => join(sb.home, '.config', 'oidc-cred', 'config.json');
function writeConfig(sb: Sandbox, config: unknown, file = configPath(sb)): string {
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
/** The public client of the test provider, as a profile. */
const publicProfile = (sb: Sandbox, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: p.issuer,
  'client-id': p.publicClientId,
  'cache-dir': sb.cacheDir,
  'browser-command': sb.browserCommand(),
  timeout: 30,
  ...extra,
});

const sessionFiles = (sb: Sandbox): string[] => (existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : []);
function sessionFile(sb: Sandbox): string {
  const files = sessionFiles(sb);
  assert.equal(files.length, 1, `one session file, found ${files.join(', ') || 'none'}`);
  return join(sb.cacheDir, files[0]!);
}
const cachedAccessToken = (sb: Sandbox): string => onlyApi(JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, unknown>).access_token as string;

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const OSC52 = '\u001b]52;c;ZWNobyBwd25lZA==\u0007';
const HIDE = '\u001b[2K\r\u009b1Alogged in as admin\u202e';

/** A second, unprivileged account for the attacks that need one; removed in `after`. */
const ATTACKER = 'oidccred-atk2';
let createdAttacker = false;
function attackerIds(): { uid: number; gid: number } | string {
  if (process.getuid?.() !== 0) return 'needs root to add a second local user';
  if (spawnSync('useradd', ['--help']).error) return 'useradd is not installed';
  if (spawnSync('id', ['-u', ATTACKER]).status !== 0) {
    const r = spawnSync('useradd', ['-m', '-s', '/bin/sh', ATTACKER]);
    if (r.status !== 0) return `useradd failed: ${r.stderr.toString().trim()}`;
    createdAttacker = true;
  }
  const uid = Number(execFileSync('id', ['-u', ATTACKER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', ATTACKER]).toString().trim());
  return { uid, gid };
}
/** Runs a shell command as the attacker. */
function asAttacker(ids: { uid: number; gid: number }, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { uid: ids.uid, gid: ids.gid, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, cwd: '/' });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A tiny HTTP server on 127.0.0.1 for answers the real provider cannot give. */
async function listen(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; origin: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, origin, close: () => new Promise((r) => server.close(() => r())) };
}
const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

describe('item 3: OIDC_CRED_CLIENT_SECRET is for one provider only', () => {
  it('an exported secret neither switches another profile to client credentials nor is sent for it; the unnamed profile and a profile naming its variable get it', async () => {
    const sb = fresh();
    writeConfig(sb, {
      'default-profile': 'work',
      profiles: {
        // No browser-command: where nobody can see a login, `--grant auto` with a secret means client credentials.
        work: { ...publicProfile(sb), 'browser-command': undefined },
        ci: { issuer: p.issuer, 'client-id': p.confidentialClientId, 'cache-dir': join(sb.dir, 'ci-cache'), 'client-secret-env': 'MY_CI_SECRET', scope: 'api:read' },
      },
    });
    const login = await run(BIN.oidcCred, ['login', '--browser-command', sb.browserCommand()], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    const userToken = cachedAccessToken(sb);
    p.resetCounts();

    // The attack: a CI secret exported in the shell. No display, no terminal: before the fix
    // `--grant auto` became client credentials for "work" and sent the secret with its client id.
    const attacked = await run(BIN.oidcCred, ['token'], { env: { ...sb.env, OIDC_CRED_CLIENT_SECRET: p.clientSecret } });
    assert.equal(attacked.code, 0, attacked.stderr);
    assert.equal(attacked.stdout, `${userToken}\n`, "the person's own session still answers");
    assert.equal(p.counts.token.client_credentials ?? 0, 0, 'no client-credentials request');
    assert.equal(p.counts.requests, 0, 'nothing was sent to the provider');

    // Legitimate: the unnamed profile of flags and environment…
    const unnamed = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.confidentialClientId, '--cache-dir', sb.cacheDir, '--scope', 'api:read'], {
      env: { ...sb.env, XDG_CONFIG_HOME: join(sb.dir, 'no-config'), OIDC_CRED_CLIENT_SECRET: p.clientSecret },
    });
    assert.equal(unnamed.code, 0, unnamed.stderr);
    // …and a profile that names its own variable.
    const named = await run(BIN.oidcCred, ['token', '--profile', 'ci'], { env: { ...sb.env, MY_CI_SECRET: p.clientSecret } });
    assert.equal(named.code, 0, named.stderr);
    assert.equal(p.counts.token.client_credentials, 2);
    // A cache of its own, so that a request must be made (a cached token would answer).
    const notNamed = await run(BIN.oidcCred, ['token', '--profile', 'ci', '--grant', 'client-credentials', '--cache-dir', join(sb.dir, 'other-cache')], { env: { ...sb.env, OIDC_CRED_CLIENT_SECRET: p.clientSecret } });
    assert.equal(notNamed.code, 1, 'a profile naming another variable does not take OIDC_CRED_CLIENT_SECRET');
    assert.match(notNamed.stderr, /client credentials need a client secret/);
  });
});

describe('item 4: git and docker take provider and profile from their own command line only', () => {
  it('exported OIDC_CRED_PROFILE / OIDC_CRED_ISSUER + OIDC_CRED_CLIENT_ID do not make a globally wired helper answer every host (real git)', async () => {
    const sb = fresh();
    writeConfig(sb, { 'default-profile': 'work', profiles: { work: publicProfile(sb, { match: ['https://git.example.com/', 'registry.example.com', 'https://k8s.example.com:6443'] }) } });
    const login = await run(BIN.oidcCred, ['login'], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    const token = cachedAccessToken(sb);
    const gitEnv = { ...sb.env, PATH: `${linkedBinDir()}:${process.env.PATH}`, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ASKPASS: '/bin/false' };
    const fill = (url: string, env: Record<string, string>): Promise<RunResult> =>
      runCommand('git', ['-c', 'credential.helper=', '-c', 'credential.helper=oidc-cred', 'credential', 'fill'], { env, input: `url=${url}\n\n`, cwd: sb.dir });
    const exports: Array<Record<string, string>> = [{ OIDC_CRED_PROFILE: 'work' }, { OIDC_CRED_ISSUER: p.issuer, OIDC_CRED_CLIENT_ID: p.publicClientId }];
    for (const exported of exports) {
      const attacked = await fill('https://evil.test/r.git', { ...gitEnv, ...exported });
      assert.ok(!attacked.stdout.includes(token), `no token for evil.test with ${Object.keys(exported).join('+')}`);
      assert.doesNotMatch(attacked.stdout, /^password=/m);
      const docker = await run(BIN.docker, ['get'], { env: { ...sb.env, ...exported }, input: 'evil.test\n' });
      assert.equal(docker.stdout, 'credentials not found in native keychain\n');
      assert.equal(docker.code, 1);
      // Legitimate: the matched host still gets its token, from the profile's own provider.
      const ok = await fill('https://git.example.com/r.git', { ...gitEnv, ...exported });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(`^password=${token}$`, 'm'));
      const dockerOk = await run(BIN.docker, ['get'], { env: { ...sb.env, ...exported }, input: 'registry.example.com\n' });
      assert.equal(dockerOk.code, 0, dockerOk.stderr);
      assert.equal((JSON.parse(dockerOk.stdout) as { Secret: string }).Secret, token);
    }
  });

  it('kube with cluster info: a server no profile matches (https or http) gets no default-profile token; a matching one, or the profile in its own args, does', async () => {
    const sb = fresh();
    writeConfig(sb, { 'default-profile': 'work', profiles: { work: publicProfile(sb, { match: ['https://k8s.example.com:6443'] }) } });
    const login = await run(BIN.oidcCred, ['login'], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    const info = (server: string): string => JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false, cluster: { server } } });
    for (const server of ['https://other-cluster.example:6443', 'http://k8s.example.com:6443']) {
      const r = await run(BIN.oidcCred, ['kube'], { env: { ...sb.env, KUBERNETES_EXEC_INFO: info(server) } });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '', `no token for ${server}`);
      assert.match(r.stderr, /no profile matches the cluster .*--profile NAME/);
    }
    const matched = await run(BIN.oidcCred, ['kube'], { env: { ...sb.env, KUBERNETES_EXEC_INFO: info('https://k8s.example.com:6443') } });
    assert.equal(matched.code, 0, matched.stderr);
    assert.match(matched.stdout, /"kind":"ExecCredential"/);
    const named = await run(BIN.oidcCred, ['kube', '--profile', 'work'], { env: { ...sb.env, KUBERNETES_EXEC_INFO: info('https://other-cluster.example:6443') } });
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stdout, matched.stdout);
  });
});

describe('item 5: no child gets the client secret', () => {
  it('the system opener (xdg-open → x-www-browser) runs without OIDC_CRED_CLIENT_SECRET, and the login through it works', async () => {
    const sb = fresh();
    const bin = join(sb.dir, 'fake-bin');
    mkdirSync(bin);
    // Whichever opener `open` picks — its own xdg-open or the system one — ends in one of these.
    for (const name of ['xdg-open', 'x-www-browser', 'www-browser']) {
      const script = join(bin, name);
      writeFileSync(
        script,
        `#!/bin/sh\nenv > '${join(sb.dir, `${name}.env`)}'\nexec '${process.execPath}' --import '${import.meta.resolve('tsx')}' '${BROWSER}' --log '${sb.browserLog}' "$@"\n`,
      );
      chmodSync(script, 0o755);
    }
    // xdg-open asks xdg-mime for the desktop's http handler first; on a machine with a browser
    // installed (CI installs chromium) that would be the real one. No handler: the fake browsers.
    writeFileSync(join(bin, 'xdg-mime'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'xdg-mime'), 0o755);
    // No browser-command: the system opener is used. DISPLAY says a browser can be seen.
    writeConfig(sb, { 'default-profile': 'work', profiles: { work: { ...publicProfile(sb), 'browser-command': undefined } } });
    const env = { ...sb.env, PATH: `${bin}:${process.env.PATH}`, DISPLAY: ':99', OIDC_CRED_CLIENT_SECRET: p.clientSecret, CANARY_VARIABLE: 'present' };
    const r = await run(BIN.oidcCred, ['login'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sb.browserRuns().length, 1, 'the opener started the (scripted) browser');
    const dumps = readdirSync(sb.dir).filter((f) => f.endsWith('.env'));
    assert.ok(dumps.length >= 1, 'an opener dumped its environment');
    for (const d of dumps) {
      const text = readFileSync(join(sb.dir, d), 'utf8');
      assert.match(text, /^CANARY_VARIABLE=present$/m, `${d} is a real dump of the inherited environment`);
      assert.doesNotMatch(text, /OIDC_CRED_CLIENT_SECRET/, `${d} got no secret variable`);
      assert.ok(!text.includes(p.clientSecret), `${d} got no secret value`);
    }
  });

  it("a --browser-command child gets neither OIDC_CRED_CLIENT_SECRET nor the profile's client-secret-env variable", async () => {
    const sb = fresh();
    const dump = join(sb.dir, 'browser.env');
    const cmd = `sh -c 'env > ${dump}; exec "$@"' sh ${sb.browserCommand()}`;
    writeConfig(sb, { 'default-profile': 'work', profiles: { work: { ...publicProfile(sb), 'browser-command': cmd } } });
    // The unnamed profile would take OIDC_CRED_CLIENT_SECRET; this one names none, and MY_CI_SECRET is stripped anyway.
    const r = await run(BIN.oidcCred, ['login'], { env: { ...sb.env, OIDC_CRED_CLIENT_SECRET: p.clientSecret, CANARY_VARIABLE: 'present' } });
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(dump, 'utf8');
    assert.match(text, /^CANARY_VARIABLE=present$/m);
    assert.ok(!text.includes(p.clientSecret));
  });
});

/** A "browser" that answers the login with an error of its choosing, after `go` exists (if given). */
function evilBrowser(sb: Sandbox, description: string, go?: string): string {
  const script = join(sb.dir, 'evil-browser.mjs');
  writeFileSync(
    script,
    `import { existsSync } from 'node:fs';
const start = process.argv[2];
const go = ${JSON.stringify(go ?? null)};
while (go && !existsSync(go)) await new Promise((r) => setTimeout(r, 50));
const res = await fetch(start, { redirect: 'manual' });
const auth = new URL(res.headers.get('location'));
const cb = new URL(auth.searchParams.get('redirect_uri'));
cb.searchParams.set('state', auth.searchParams.get('state'));
cb.searchParams.set('iss', auth.origin);
cb.searchParams.set('error', 'access_denied');
cb.searchParams.set('error_description', ${JSON.stringify(description)});
await fetch(cb);
`,
  );
  return `${process.execPath} ${script}`;
}

describe('item 6: terminal controls from outside are escaped, not obeyed', () => {
  it("a callback's error_description, and the failure reason passed to a waiting process", async () => {
    const sb = fresh();
    const go = join(sb.dir, 'go');
    const args = ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', evilBrowser(sb, `${OSC52}${HIDE}`, go)];
    const holder = run(BIN.oidcCred, args, { env: sb.env });
    await waitFor(() => lockExists(sb), 20_000, 'the first process to take the lock');
    let waiterErr = '';
    const waiter = run(BIN.oidcCred, args, { env: sb.env, onSpawn: (c) => c.stderr!.on('data', (d: Buffer | string) => (waiterErr += String(d))) });
    await waitFor(() => waiterErr.includes('waiting for another oidc-cred process'), 20_000, 'the second process to wait');
    writeFileSync(go, '');
    const [a, b] = await Promise.all([holder, waiter]);
    for (const r of [a, b]) {
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, RAW_CONTROL, 'no raw control character reaches the terminal');
      assert.ok(r.stderr.includes('\\x1b]52;c;ZWNobyBwd25lZA==\\x07'), r.stderr);
      // (an error message is one line: its CR became a space before the escaping)
      assert.match(r.stderr, /\\x1b\[2K(\\x0d| )\\x9b1Alogged in as admin\\u202e/);
    }
    assert.match(b.stderr, /the login in another oidc-cred process failed: .*access_denied/);
  });

  it("a token endpoint's error and a device grant's verification_uri and user_code", async () => {
    const sb = fresh();
    const op = await listen((req, _body, res) => {
      const url = new URL(req.url!, op.origin);
      if (url.pathname === '/.well-known/openid-configuration') {
        return json(res, 200, { issuer: op.origin, authorization_endpoint: `${op.origin}/auth`, token_endpoint: `${op.origin}/token`, device_authorization_endpoint: `${op.origin}/device`, jwks_uri: `${op.origin}/jwks` });
      }
      if (url.pathname === '/device') {
        return json(res, 200, { device_code: 'dc-0123456789abcdef', user_code: `ABCD${OSC52}`, verification_uri: `${op.origin}/activate${HIDE}`, expires_in: 60, interval: 1 });
      }
      if (url.pathname === '/token') return json(res, 400, { error: 'access_denied', error_description: `denied${OSC52}${HIDE}` });
      json(res, 404, {});
    });
    try {
      const secret = join(sb.dir, 'secret');
      writeFileSync(secret, 'a-client-secret-value', { mode: 0o600 });
      for (const grant of [['--grant', 'client-credentials', '--client-secret-file', secret], ['--grant', 'device']]) {
        const r = await run(BIN.oidcCred, ['token', '--issuer', op.origin, '--client-id', 'c', '--cache-dir', sb.cacheDir, ...grant], { env: sb.env, timeoutMs: 30_000 });
        assert.equal(r.code, 1, r.stderr);
        assert.doesNotMatch(r.stderr, RAW_CONTROL, `${grant[1]}: no raw control character reaches the terminal`);
        assert.ok(r.stderr.includes('\\x1b]52;c;ZWNobyBwd25lZA==\\x07'), r.stderr);
        if (grant[1] === 'device') assert.match(r.stderr, /enter the code\n {2}ABCD\\x1b\]52/);
      }
    } finally {
      await op.close();
    }
  });

  it('ID-token claims shown by status', async () => {
    const sb = fresh();
    const login = await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    // A provider that lets users pick their own email (many do) hands out such a claim.
    const file = sessionFile(sb);
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    s.id_token = `${b64({ alg: 'none' })}.${b64({ sub: 'x', email: `mallory@example.com${HIDE}${OSC52}` })}.`;
    writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
    const st = await run(BIN.oidcCred, ['status', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(st.code, 0, st.stderr);
    assert.doesNotMatch(st.stdout, RAW_CONTROL);
    assert.match(st.stdout, /mallory@example\.com\\x1b\[2K\\x0d\\x9b1Alogged in as admin\\u202e\\x1b\]52/);
  });
});

describe('item 7: tokens read from the cache are redacted like fresh ones', () => {
  it('a provider error that echoes the cached refresh token does not print it', async () => {
    const sb = fresh();
    const refreshToken = 'cached-refresh-token-9f8e7d6c5b4a';
    const op = await listen((req, body, res) => {
      const url = new URL(req.url!, op.origin);
      if (url.pathname === '/.well-known/openid-configuration') return json(res, 200, { issuer: op.origin, authorization_endpoint: `${op.origin}/auth`, token_endpoint: `${op.origin}/token` });
      // A broken provider that quotes what it was sent (seen in the wild in error descriptions).
      const sent = new URLSearchParams(body).get('refresh_token') ?? '';
      return json(res, 403, { error: 'access_denied', error_description: `cannot refresh ${sent} right now` });
    });
    try {
      // A session as an earlier run saved it: the access token has expired, the refresh token is cached.
      const key = sessionKey({ issuer: op.origin, clientId: 'c', params: {}, grant: 'user' });
      mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
      const now = Date.now();
      writeFileSync(join(sb.cacheDir, `${key}.json`), JSON.stringify({ version: 1, key, issuer: op.origin, client_id: 'c', grant: 'user', access_token: 'expired-access-token-0000', refresh_token: refreshToken, expires_at: new Date(now - 1000).toISOString(), obtained_at: new Date(now - 3600_000).toISOString() }), { mode: 0o600 });
      const r = await run(BIN.oidcCred, ['token', '--issuer', op.origin, '--client-id', 'c', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /could not refresh the token: .*cannot refresh \[redacted\] right now/);
      assert.ok(!r.stderr.includes(refreshToken), r.stderr);
      const v = await run(BIN.oidcCred, ['token', '-v', '--issuer', op.origin, '--client-id', 'c', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env });
      assert.ok(!v.stderr.includes(refreshToken), 'not in -v output either');
    } finally {
      await op.close();
    }
  });
});

describe('item 8: planted cache files cannot hang or steer a call', () => {
  it('a FIFO as <key>.json is refused at once (no hang); the legitimate session works again once it is removed', async () => {
    const sb = fresh();
    const first = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(first.code, 0, first.stderr);
    const file = sessionFile(sb);
    const saved = readFileSync(file);
    unlinkSync(file);
    execFileSync('mkfifo', ['-m', '600', file]);
    for (const args of [['token', ...sb.args()], ['status', '--cache-dir', sb.cacheDir]]) {
      // Before the fix this blocked in open(2) forever; the bound is generous, the answer instant.
      const r = await run(BIN.oidcCred, args, { env: sb.env, timeoutMs: 20_000 });
      assert.equal(r.signal, null, `${args[0]} did not hang`);
      assert.match(r.stderr + r.stdout, /not a regular file/);
    }
    unlinkSync(file);
    writeFileSync(file, saved, { mode: 0o600 });
    const again = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, first.stdout);
  });

  it('a FIFO as <key>.outcome.json does not hang a process waiting for a login', async () => {
    const sb = fresh();
    const go = join(sb.dir, 'go');
    const slow = `sh -c 'while [ ! -e ${go} ]; do sleep 0.05; done; exec "$@"' sh ${sb.browserCommand()}`;
    const args = ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', slow];
    const holder = run(BIN.oidcCred, args, { env: sb.env });
    await waitFor(() => lockExists(sb), 20_000, 'the login to take the lock');
    const lock = readdirSync(sb.cacheDir).find((f) => f.endsWith('.lock'))!;
    execFileSync('mkfifo', ['-m', '600', join(sb.cacheDir, lock.replace(/\.lock$/, '.outcome.json'))]);
    let waiterErr = '';
    const waiter = run(BIN.oidcCred, args, { env: sb.env, timeoutMs: 30_000, onSpawn: (c) => c.stderr!.on('data', (d: Buffer | string) => (waiterErr += String(d))) });
    await waitFor(() => waiterErr.includes('waiting for another oidc-cred process'), 20_000, 'the second process to wait (it reads the outcome file first)');
    writeFileSync(go, '');
    const [a, b] = await Promise.all([holder, waiter]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout, 'the waiter got the login’s token');
    assert.equal(p.counts.authorization, 1);
  });

  it("a cache directory handed to another user is refused on the hot path too", async (t) => {
    const ids = attackerIds();
    if (typeof ids === 'string') return t.skip(ids);
    const sb = fresh();
    const first = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(first.code, 0, first.stderr);
    chownSync(sb.cacheDir, ids.uid, ids.gid);
    try {
      const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '', 'no token from a directory another user controls');
      assert.match(r.stderr, /cache directory .* belongs to another user/);
    } finally {
      chownSync(sb.cacheDir, 0, 0);
    }
    const again = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(again.stdout, first.stdout);
  });
});

describe('item 9: a plain-http loopback issuer keeps every endpoint on loopback', () => {
  it('metadata pointing the token endpoint elsewhere is refused before the secret is sent; loopback endpoints work', async () => {
    const sb = fresh();
    // Whatever is sent to a non-loopback host goes through this "network" (HTTP_PROXY), so the
    // test sees exactly what would have left the machine in cleartext.
    const offHost: string[] = [];
    const network = await listen((req, body, res) => {
      offHost.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''} ${body}`);
      json(res, 200, { access_token: 'stolen-access-token', token_type: 'Bearer', expires_in: 600 });
    });
    // undici tunnels even http:// through the proxy with CONNECT: open the tunnel onto the same
    // server, so the request inside it (Authorization header and all) is recorded too.
    network.server.on('connect', (req: IncomingMessage, socket: import('node:net').Socket, head: Buffer) => {
      offHost.push(`CONNECT ${req.url}`);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) socket.unshift(head);
      network.server.emit('connection', socket);
    });
    let tokenEndpoint = 'http://idp.evil.test/token';
    const real = await (await fetch(`${p.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    const op = await listen((req, _body, res) => {
      if (req.url === '/.well-known/openid-configuration') return json(res, 200, { ...real, issuer: op.origin, token_endpoint: tokenEndpoint });
      json(res, 404, {});
    });
    try {
      const secret = join(sb.dir, 'secret');
      writeFileSync(secret, p.clientSecret, { mode: 0o600 });
      const args = ['token', '--issuer', op.origin, '--client-id', p.confidentialClientId, '--client-secret-file', secret, '--grant', 'client-credentials', '--cache-dir', sb.cacheDir];
      const env = { ...sb.env, HTTP_PROXY: network.origin, http_proxy: network.origin, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
      const r = await run(BIN.oidcCred, args, { env });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /names token_endpoint "http:\/\/idp\.evil\.test\/token", which is not on a loopback address/);
      assert.deepEqual(offHost, [], 'nothing left the machine');

      tokenEndpoint = String(real.token_endpoint); // the real provider, on 127.0.0.1
      const ok = await run(BIN.oidcCred, args, { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^\S{16,}\n$/);
      assert.deepEqual(offHost, []);
    } finally {
      await op.close();
      await network.close();
    }
  });
});

describe('item 10: config and secret files other users could change or read', () => {
  let ids: { uid: number; gid: number } | string = 'not set up';
  before(() => {
    ids = attackerIds();
  });

  it('a group/world-writable config file: the other user really plants a browser-command, and it is refused with the chmod; after the chmod it works', async (t) => {
    if (typeof ids === 'string') return t.skip(ids);
    const sb = fresh();
    const shared = mkdtempSync(join(tmpdir(), 'oidc-cred-shared-'));
    chmodSync(shared, 0o755);
    sandboxes.push({ ...sb, cleanup: () => rmSync(shared, { recursive: true, force: true }) });
    const file = join(shared, 'config.json');
    writeConfig(sb, { 'default-profile': 'work', profiles: { work: publicProfile(sb) } }, file);
    chmodSync(file, 0o666);
    const marker = join(shared, 'ran-as-victim');
    const evil = JSON.stringify({ 'default-profile': 'work', profiles: { work: { ...publicProfile(sb), 'browser-command': `touch ${marker}` } } });
    const wrote = asAttacker(ids, `printf '%s' '${evil}' > ${file}`);
    assert.equal(wrote.status, 0, `the other user could write the file: ${wrote.stderr}`);
    const r = await run(BIN.oidcCred, ['login', '--config', file], { env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /config file .* can be changed by other users \(mode 666\).*chmod go-w/);
    assert.equal(existsSync(marker), false, "the other user's command never ran");
    const hot = await run(BIN.oidcCred, ['token', '--config', file], { env: sb.env });
    assert.equal(hot.code, 1, 'the hot path refuses it too');

    writeConfig(sb, { 'default-profile': 'work', profiles: { work: publicProfile(sb) } }, file);
    chmodSync(file, 0o644);
    const ok = await run(BIN.oidcCred, ['login', '--config', file], { env: sb.env });
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("a config file the other user owns (even mode 644) is refused", async (t) => {
    if (typeof ids === 'string') return t.skip(ids);
    const sb = fresh();
    const shared = mkdtempSync(join(tmpdir(), 'oidc-cred-shared-'));
    chmodSync(shared, 0o777);
    sandboxes.push({ ...sb, cleanup: () => rmSync(shared, { recursive: true, force: true }) });
    const file = join(shared, 'config.json');
    const content = JSON.stringify({ profiles: { work: publicProfile(sb) } });
    const made = asAttacker(ids, `umask 022; printf '%s' '${content}' > ${file}`);
    assert.equal(made.status, 0, made.stderr);
    const r = await run(BIN.oidcCred, ['token', '--config', file], { env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`config file .* belongs to another user \\(uid ${ids.uid}\\)`));
  });

  it('a world-readable client secret file: the other user really reads it, and it is refused; after chmod 600 it works', async (t) => {
    if (typeof ids === 'string') return t.skip(ids);
    const sb = fresh();
    const shared = mkdtempSync(join(tmpdir(), 'oidc-cred-shared-'));
    chmodSync(shared, 0o755);
    sandboxes.push({ ...sb, cleanup: () => rmSync(shared, { recursive: true, force: true }) });
    const secret = join(shared, 'client-secret');
    writeFileSync(secret, p.clientSecret);
    chmodSync(secret, 0o644);
    const read = asAttacker(ids, `cat ${secret}`);
    assert.equal(read.stdout, p.clientSecret, 'the other user could read it');
    const args = ['token', '--issuer', p.issuer, '--client-id', p.confidentialClientId, '--client-secret-file', secret, '--grant', 'client-credentials', '--cache-dir', sb.cacheDir];
    const r = await run(BIN.oidcCred, args, { env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /client secret file .* is open to other users \(mode 644\).*chmod 600/);
    assert.equal(p.counts.token.client_credentials ?? 0, 0, 'the secret was not used');

    chownSync(secret, ids.uid, ids.gid);
    chmodSync(secret, 0o600);
    const owned = await run(BIN.oidcCred, args, { env: sb.env });
    assert.match(owned.stderr, /belongs to another user/, 'one the other user owns is refused too');

    chownSync(secret, 0, 0);
    const ok = await run(BIN.oidcCred, args, { env: sb.env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(p.counts.token.client_credentials, 1);
  });
});

describe('item 12: git host= is validated strictly (real git)', () => {
  it('look-alike, user-info and encoded hosts get nothing and a note; the real host gets its token', async () => {
    const sb = fresh();
    writeConfig(sb, { profiles: { work: publicProfile(sb, { match: ['https://git.example.com/'] }) } });
    const login = await run(BIN.oidcCred, ['login', '--profile', 'work'], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    const token = cachedAccessToken(sb);
    const env = { ...sb.env, PATH: `${linkedBinDir()}:${process.env.PATH}`, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_ASKPASS: '/bin/false' };
    const fill = (input: string): Promise<RunResult> =>
      runCommand('git', ['-c', 'credential.helper=', '-c', 'credential.helper=oidc-cred', 'credential', 'fill'], { env, input, cwd: sb.dir });
    // git passes these attributes to the helper as they are.
    for (const host of ['ｇit.example.com', 'evil.test@git.example.com', 'git%2eexample.com', 'git.example.com\\@evil.test']) {
      const r = await fill(`protocol=https\nhost=${host}\n\n`);
      assert.ok(!r.stdout.includes(token), `no token for host=${host}`);
      assert.match(r.stderr, /oidc-cred: ignoring git's request for host .*not a host name or IP address/, r.stderr);
      const direct = await run(BIN.git, ['get'], { env: sb.env, input: `protocol=https\nhost=${host}\n\n` });
      assert.equal(direct.code, 0);
      assert.equal(direct.stdout, '', 'nothing on stdout, like an unmatched request');
    }
    const ok = await fill('protocol=https\nhost=git.example.com\n\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^password=${token}$`, 'm'));
  });
});
