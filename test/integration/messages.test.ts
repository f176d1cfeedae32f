// Messages a person reads, from the real binaries as a user runs them (docs/configuration.md,
// "Exit codes and errors"): exact stderr where the words are the point, and the exit code.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, BROWSER, cleanEnv, ROOT, run, runCommand, sandbox, trackLeaks, waitFor } from '../support/cli.ts';
import type { ChildProcess } from 'node:child_process';

const home = mkdtempSync(join(tmpdir(), 'oidc-cred-messages-'));
let p: TestProvider;
let tls: Server;
let tlsBase = '';
before(async () => {
  p = await startProvider();
  trackLeaks(p);
  // A provider behind a certificate this machine does not trust, as a company CA is.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(home, 'key.pem'), '-out', join(home, 'cert.pem')], { stdio: 'ignore' });
  tls = createHttpsServer({ key: readFileSync(join(home, 'key.pem')), cert: readFileSync(join(home, 'cert.pem')) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ issuer: tlsBase, token_endpoint: `${tlsBase}/token`, response_types_supported: ['code'] }));
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  tlsBase = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
});
after(async () => {
  tls?.close();
  await p?.close();
  rmSync(home, { recursive: true, force: true });
});
const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'cfg'), XDG_CACHE_HOME: join(home, 'cache') };
const own = ['--issuer', 'https://idp.example', '--client-id', 'c'];

describe('a bad value from a flag or the environment: exit 2, naming it', () => {
  const cases: Array<[string, string[], Record<string, string>, string]> = [
    ['--port abc', ['token', ...own, '--port', 'abc'], {}, `oidc-cred: --port must be a TCP port number from 1 to 65535, not "abc" (see 'oidc-cred --help')\n`],
    ['--param foo', ['token', ...own, '--param', 'foo'], {}, `oidc-cred: --param must look like KEY=VALUE (login_hint=me@example.com), not "foo" (see 'oidc-cred --help')\n`],
    ['OIDC_CRED_GRANT=password', ['token', ...own], { OIDC_CRED_GRANT: 'password' }, `oidc-cred: OIDC_CRED_GRANT must be one of auto, authcode, device or client-credentials, not "password" (see 'oidc-cred --help')\n`],
    ['--profile with no value', ['token', '--profile'], {}, `oidc-cred: --profile needs a value (see 'oidc-cred --help')\n`],
    ['status --profile with no value', ['status', '--profile'], {}, `oidc-cred: --profile needs a value (see 'oidc-cred --help')\n`],
  ];
  for (const [name, args, extra, stderr] of cases) {
    it(name, async () => {
      const r = await run(BIN.oidcCred, args, { env: { ...env, ...extra } });
      assert.equal(r.stderr, stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    });
  }
});

describe('config errors: the file and the key, exit 1', () => {
  it('two profiles and no default-profile (the shipped examples/git/config.json has two)', async () => {
    const f = join(home, 'two.json');
    writeFileSync(f, JSON.stringify({ profiles: { git: { issuer: 'https://a.example', 'client-id': 'a' }, kube: { issuer: 'https://b.example', 'client-id': 'b' } } }), { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['token', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} has 2 profiles (git, kube) and no "default-profile" (pass --profile git, set OIDC_CRED_PROFILE, or add "default-profile": "git" to the file)\n`);
    assert.equal(r.code, 1);
  });
  it('a JSON syntax error: line and column', async () => {
    const f = join(home, 'bad.json');
    writeFileSync(f, '{\n  "profiles": {\n    "a": { "issuer": "https://a.example", }\n  }\n}\n', { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['token', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} is not valid JSON: line 3, column 43: expected double-quoted property name\n`);
    assert.equal(r.code, 1);
  });
  it('a --config that does not exist: one sentence', async () => {
    const f = join(home, 'nope.json');
    const r = await run(BIN.oidcCred, ['status', '--config', f], { env });
    assert.equal(r.stderr, `oidc-cred: config file ${f} does not exist (check --config or OIDC_CRED_CONFIG; docs/configuration.md shows a config file)\n`);
    assert.equal(r.code, 1);
  });
});

describe('provider errors say what the provider did', () => {
  const token = (issuer: string, ...extra: string[]) =>
    run(BIN.oidcCred, ['token', '--issuer', issuer, '--client-id', 'c', '--cache-dir', join(home, 'cache'), '--browser-command', 'true', ...extra], { env });
  const origin = () => new URL(p.issuer).origin;

  it('a wrong issuer path: the exact URLs tried', async () => {
    const r = await token(`${origin()}/realms/engineering`);
    assert.equal(
      r.stderr,
      `oidc-cred: could not read the provider's metadata from ${origin()}/realms/engineering/.well-known/openid-configuration (nor from ${origin()}/.well-known/oauth-authorization-server/realms/engineering): the provider answered HTTP 404 (text/plain); this usually means there is no provider at this issuer URL (check the issuer URL, including its path: a realm or a tenant)\n`,
    );
    assert.equal(r.code, 1);
  });
  it('localhost for 127.0.0.1: the issuer the provider reports', async () => {
    const wrong = origin().replace('127.0.0.1', 'localhost');
    const r = await token(wrong);
    assert.equal(r.stderr, `oidc-cred: the provider's metadata at ${wrong}/.well-known/openid-configuration names its issuer "${p.issuer}", not "${wrong}/" (set the issuer to exactly "${p.issuer}")\n`);
    assert.equal(r.code, 1);
  });
  it('an untrusted certificate: the server answered; name --ca-file', async () => {
    const r = await token(tlsBase);
    assert.equal(r.stderr, `oidc-cred: ${tlsBase} answered, but its TLS certificate is not signed by a CA this machine trusts (DEPTH_ZERO_SELF_SIGNED_CERT) (pass your organisation's CA certificate (PEM) with --ca-file, or add "ca-file" to the profile)\n`);
    assert.equal(r.code, 1);
  });
  it("https:// to a plain http port: no OpenSSL internals", async () => {
    const https = origin().replace('http:', 'https:');
    const r = await token(https);
    assert.equal(r.stderr, `oidc-cred: ${https} does not speak TLS: the port answers plain http, not https (check the port and the scheme of the URL; plain http:// is allowed only on a loopback address)\n`);
    assert.equal(r.code, 1);
  });
  it('a --ca-file that is not PEM is refused; a real one is used', async () => {
    const der = join(home, 'ca.der');
    execFileSync('openssl', ['x509', '-in', join(home, 'cert.pem'), '-outform', 'der', '-out', der]);
    const r = await token(tlsBase, '--ca-file', der);
    assert.equal(r.stderr, `oidc-cred: the CA file ${der} (--ca-file) holds no PEM certificate ("-----BEGIN CERTIFICATE-----") (a DER file converts with: openssl x509 -inform der -in '${der}' -out ca.pem)\n`);
    assert.equal(r.code, 1);
    const ok = await token(tlsBase, '--ca-file', join(home, 'cert.pem'));
    assert.doesNotMatch(ok.stderr, /certificate|CA file/, 'with the right CA the TLS step passes');
  });
});

describe('an explicit login shows its URL where a login on demand would be refused', () => {
  it('login --no-browser with stderr a pipe: prints the URL, waits, and ends with one summary line', async () => {
    const cache = join(home, 'login-cache');
    const child = spawn(process.execPath, [BIN.oidcCred, 'login', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', cache, '--no-browser', '--grant', 'authcode', '--timeout', '60'], {
      cwd: ROOT,
      // --storage file: where no credential store answers, auto says so once (docs/keyring.md), a line of its own.
      env: cleanEnv({ ...env, TZ: 'UTC', OIDC_CRED_STORAGE: 'file' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /in your browser: (http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]+)\n/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited before showing a URL: ${stderr}`)));
    });
    const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    // The person who ran it opens the URL (here: the scripted browser).
    const b = await runCommand(process.execPath, ['--import', 'tsx', BROWSER, url], { env });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(await code, 0, stderr);
    assert.equal(stdout, '');
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.equal(lines[0], `oidc-cred: log in to ${p.issuer} in your browser: ${url}`);
    assert.match(lines[1]!, new RegExp(`^oidc-cred: logged in as demo-user at ${p.issuer.replace(/[.]/g, '\\.')}; valid until \\d\\d:\\d\\d \\(\\+00:00\\), in 59 min$`));
  });
  it('a token on demand in the same place is still refused, naming oidc-cred login', async () => {
    const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', join(home, 'refused-cache'), '--no-browser'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^oidc-cred: a login is needed, but there is no browser, display or terminal to show it \(run 'oidc-cred login'/);
  });
});

describe('a process waiting for another one says which, since when, where, and until when', () => {
  it('names the holder’s pid, its start in local time, the login page it opened, and the time limit', async () => {
    const sb = sandbox(p);
    const tz = { ...sb.env, TZ: 'UTC' };
    // The holder's "browser" never completes the login: it holds the lock, waiting for a callback.
    let holderChild: ChildProcess | undefined;
    let holderErr = '';
    const base = ['--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', 'true'];
    const holder = run(BIN.oidcCred, ['token', ...base], {
      env: tz,
      onSpawn: (c) => {
        holderChild = c;
        c.stderr?.on('data', (d: Buffer | string) => (holderErr += String(d)));
      },
    });
    await waitFor(() => /in your browser: http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]+\n/.test(holderErr), 15_000, 'the holder to show its login page');
    const page = /in your browser: (http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]+)\n/.exec(holderErr)![1]!;
    const w = await run(BIN.oidcCred, ['token', ...base, '--timeout', '2'], { env: tz });
    holderChild!.kill('SIGTERM');
    await holder;
    const t = '\\d\\d:\\d\\d \\(\\+00:00\\)';
    const lines = w.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^oidc-cred: waiting for another oidc-cred process \\(pid ${holderChild!.pid}, since ${t}\\) that is logging in at ${page.replace(/[.?]/g, '\\$&')}; giving up at ${t} \\(--timeout 2 s\\)…$`));
    assert.match(lines[1]!, /^oidc-cred: gave up waiting for another oidc-cred process \(--timeout\)/);
    assert.equal(w.code, 1);
    sb.cleanup();
  });
});

describe('status: a table a person can read', () => {
  it('labels machine sessions, shows local times, lists a session\'s APIs under it, and puts problems below the table', async () => {
    const sb = sandbox(p);
    const e = { ...sb.env, TZ: 'UTC' };
    assert.equal((await run(BIN.oidcCred, ['login', ...sb.args()], { env: e })).code, 0);
    // Another scope set is another API of the same login (docs/multi-api.md), listed under it.
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args(), '--scope', 'openid offline_access email'], { env: e })).code, 0);
    const cc = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.confidentialClientId, '--cache-dir', sb.cacheDir, '--grant', 'client-credentials', '--scope', 'api:read'], {
      env: { ...e, OIDC_CRED_CLIENT_SECRET: p.clientSecret },
    });
    assert.equal(cc.code, 0, cc.stderr);
    writeFileSync(join(sb.cacheDir, `${'e'.repeat(64)}.json`), '{"version": 1, "torn', { mode: 0o600 });
    const st = await run(BIN.oidcCred, ['status', '--cache-dir', sb.cacheDir], { env: e });
    assert.equal(st.code, 0, st.stderr);
    const [table, notes] = st.stdout.split('\n\n');
    const lines = table!.split('\n');
    const header = lines[0]!;
    assert.match(header, /^PROFILE +ISSUER +CLIENT +USER +EXPIRES +REFRESH$/);
    const col = (name: string): number => header.indexOf(name);
    const at = (line: string, name: string): string => line.slice(col(name)).split(/ {2,}/)[0]!;
    const rows = lines.slice(1);
    const apis = rows.filter((r) => /^ +api: /.test(r.slice(col('ISSUER'))));
    assert.deepEqual(apis.map((r) => r.slice(col('ISSUER')).trim().split(/ {2,}/)[0]!).sort(), ['api: scope email offline_access openid', 'api: scope offline_access openid'], 'the two APIs of the one login');
    const machine = rows.find((r) => r.includes(p.confidentialClientId))!;
    assert.equal(at(machine, 'USER'), 'machine (client credentials)');
    for (const r of rows.filter((x) => !x.startsWith('?'))) assert.match(at(r, 'EXPIRES'), /^\d\d:\d\d \(\+00:00\)$|^\d{4}-\d\d-\d\d \d\d:\d\d \(\+00:00\)$/, r);
    const bad = rows.find((r) => r.startsWith('?'))!;
    assert.equal(at(bad, 'ISSUER'), '(unreadable, note 1 below)');
    assert.ok(bad.length <= header.length + 40, 'the problem does not widen the table');
    assert.match(notes!, new RegExp(`^1\\. ${join(sb.cacheDir, 'e'.repeat(64))}\\.json: `));
    sb.cleanup();
  });
});

describe('logout says what it removed', () => {
  it('one session (and its revocation), then all of them, then nothing left', async () => {
    const sb = sandbox(p);
    assert.equal((await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env })).code, 0);
    // Other extra parameters make another login (docs/multi-api.md).
    assert.equal((await run(BIN.oidcCred, ['login', ...sb.args(), '--param', 'login_hint=demo'], { env: sb.env })).code, 0);
    const one = await run(BIN.oidcCred, ['logout', '--revoke', ...sb.args()], { env: sb.env });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, '');
    const m = new RegExp(`^oidc-cred: logged out \\(${p.issuer.replace(/[.]/g, '\\.')}\\): removed the cached session (\\S+\\.json) and revoked its refresh token at the provider\n$`).exec(one.stderr);
    assert.ok(m, one.stderr);
    assert.ok(!existsSync(m[1]!), 'that file is gone');
    const all = await run(BIN.oidcCred, ['logout', '--all', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(all.stderr, `oidc-cred: removed 1 cached session from ${sb.cacheDir}\n`);
    const none = await run(BIN.oidcCred, ['logout', '--all', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(none.stderr, `oidc-cred: no cached sessions in ${sb.cacheDir}\n`);
    sb.cleanup();
  });
});

describe('-v on a cache hit', () => {
  it('says which profile, config file and session file answered', async () => {
    const sb = sandbox(p);
    const cfg = join(sb.dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ 'default-profile': 'work', profiles: { work: { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, 'browser-command': sb.browserCommand() } } }), { mode: 0o600 });
    assert.equal((await run(BIN.oidcCred, ['login', '--config', cfg], { env: sb.env })).code, 0);
    p.resetCounts();
    const hit = await run(BIN.oidcCred, ['token', '--config', cfg, '-v'], { env: { ...sb.env, TZ: 'UTC' } });
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(p.counts.requests, 0, 'a cache hit');
    const files = (await run(BIN.oidcCred, ['status', '--json', '--cache-dir', sb.cacheDir], { env: sb.env })).stdout;
    const file = (JSON.parse(files) as { sessions: Array<{ file: string }> }).sessions[0]!.file;
    assert.match(hit.stderr, new RegExp(`^oidc-cred\\[debug\\] answered by profile work of ${cfg}, from the session file ${file}; valid until \\d\\d:\\d\\d \\(\\+00:00\\), in \\d+ min$`, 'm'));
    sb.cleanup();
  });
});

describe('BROWSER follows its conventions', () => {
  it('":" separates alternatives (a missing one is skipped) and %s is replaced by the URL', async () => {
    const sb = sandbox(p);
    const script = join(sb.dir, 'open.sh');
    const argsLog = join(sb.dir, 'args.log');
    // A browser that records its arguments, then logs in like a user (the scripted browser).
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsLog}'\nexec ${sb.browserCommand()} "$1"\n`, { mode: 0o700 });
    const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--timeout', '60'], {
      env: { ...sb.env, BROWSER: `oidc-cred-no-such-browser:${script} %s --new-tab` },
    });
    assert.equal(r.code, 0, r.stderr);
    const page = /in your browser: (http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]+)\n/.exec(r.stderr)![1]!;
    assert.equal(readFileSync(argsLog, 'utf8'), `${page}\n--new-tab\n`, 'the URL in place of %s, as one argument, nothing appended');
    assert.doesNotMatch(r.stderr, /could not open a browser/, 'the missing first alternative is skipped quietly');
    sb.cleanup();
  });
});

describe('setup says what it did and what to do next', () => {
  const kubectlHere = spawnSyncOk('kubectl');
  it('setup git without --write changes nothing and says how to apply it', async () => {
    const sb = sandbox(p);
    const cfg = join(sb.dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ profiles: { work: { issuer: p.issuer, 'client-id': 'c', match: ['https://git.example.com/'] } } }), { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['setup', 'git', '--config', cfg, '--profile', 'work'], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^git config --global /m);
    assert.equal(r.stderr, "oidc-cred: nothing was changed; run these commands, or 'oidc-cred setup git --profile work --write' to apply them\n");
    sb.cleanup();
  });
  it('setup kube: a --cluster the kubeconfig lacks is refused; --write prints no "merge" advice and names the use-context to run', { skip: kubectlHere ? false : 'no kubectl on PATH' }, async () => {
    const sb = sandbox(p);
    const kc = join(sb.dir, 'kubeconfig');
    writeFileSync(kc, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'prod', cluster: { server: 'https://127.0.0.1:6443' } }], users: [], contexts: [] }), { mode: 0o600 });
    const e = { ...sb.env, KUBECONFIG: kc };
    const nope = await run(BIN.oidcCred, ['setup', 'kube', '--cluster', 'prd'], { env: e });
    assert.equal(nope.stderr, `oidc-cred: --cluster "prd" is not a cluster of your kubeconfig (clusters: prod)\n`);
    assert.equal(nope.code, 2);
    assert.equal(nope.stdout, '');
    const w = await run(BIN.oidcCred, ['setup', 'kube', '--cluster', 'prod', '--write'], { env: e });
    assert.equal(w.code, 0, w.stderr);
    assert.doesNotMatch(w.stdout, /merge into your kubeconfig/);
    assert.match(w.stdout, /^# kubeconfig entry, written by these commands:\nkubectl config set-credentials /);
    assert.ok(w.stderr.endsWith(`oidc-cred: wrote user "oidc-cred" and context "prod" to ${kc}\noidc-cred: to use it, run: kubectl config use-context prod\n`), w.stderr);
    sb.cleanup();
  });
});

function spawnSyncOk(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('setup kube after a login shows what the API server will see', () => {
  it('the claims, the username the example flags derive, and a ClusterRoleBinding for it', async () => {
    const sb = sandbox(p);
    const cfg = join(sb.dir, 'config.json');
    const profile = { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, 'browser-command': sb.browserCommand() };
    // bare is a login of its own (other extra parameters): sharing work's, it would get its email scope too (docs/multi-api.md).
    writeFileSync(cfg, JSON.stringify({ profiles: { work: { ...profile, scope: ['openid', 'offline_access', 'email'] }, bare: { ...profile, param: ['login_hint=demo'] } } }), { mode: 0o600 });
    const before = await run(BIN.oidcCred, ['setup', 'kube', '--config', cfg, '--profile', 'work'], { env: sb.env });
    assert.doesNotMatch(before.stdout, /API server will see/, 'nothing to show before a login');
    assert.equal((await run(BIN.oidcCred, ['login', '--config', cfg, '--profile', 'work'], { env: sb.env })).code, 0);
    const r = await run(BIN.oidcCred, ['setup', 'kube', '--config', cfg, '--profile', 'work'], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    const shown = r.stdout.slice(r.stdout.indexOf('# What the API server will see'));
    assert.equal(
      shown,
      [
        '# What the API server will see in your ID token (profile work):',
        `#   iss: ${p.issuer}`,
        `#   aud: ${p.publicClientId}`,
        '#   sub: demo-user',
        '#   email: demo@example.com',
        ...(/email_verified/.test(shown) ? [/^#   email_verified: .*$/m.exec(shown)![0]] : []),
        '# With --oidc-username-claim=email --oidc-username-prefix=oidc: the username is oidc:demo@example.com; `kubectl auth whoami` shows it.',
        '# A binding that lets that user read the cluster (kubectl apply -f -):',
        'apiVersion: rbac.authorization.k8s.io/v1',
        'kind: ClusterRoleBinding',
        'metadata:',
        '  name: oidc-demo-example.com-view',
        'roleRef:',
        '  apiGroup: rbac.authorization.k8s.io',
        '  kind: ClusterRole',
        '  name: view',
        'subjects:',
        '- apiGroup: rbac.authorization.k8s.io',
        '  kind: User',
        '  name: "oidc:demo@example.com"',
        '',
      ].join('\n'),
    );
    // Without the email scope: say that the example's username claim is missing, and what sub gives.
    assert.equal((await run(BIN.oidcCred, ['login', '--config', cfg, '--profile', 'bare'], { env: sb.env })).code, 0);
    const bare = await run(BIN.oidcCred, ['setup', 'kube', '--config', cfg, '--profile', 'bare'], { env: sb.env });
    assert.match(bare.stdout, /^# The token has no "email" claim, which the example flags take the username from: add the "email" scope/m);
    assert.match(bare.stdout, /^# or use --oidc-username-claim=sub, which makes the username oidc:demo-user\.$/m);
    sb.cleanup();
  });
});

describe('setup git --remove undoes exactly what --write added', () => {
  it('--write says what it replaced; --remove takes out its own lines and leaves the rest of the global git config', async () => {
    const sb = sandbox(p);
    const cfg = join(sb.dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ profiles: { work: { issuer: p.issuer, 'client-id': 'c', match: ['https://git.example.com/team'] } } }), { mode: 0o600 });
    mkdirSync(sb.home, { recursive: true });
    const e = { ...sb.env, GIT_CONFIG_NOSYSTEM: '1' };
    const git = (...a: string[]) => runCommand('git', a, { env: e, cwd: sb.dir });
    const key = 'credential.https://git.example.com/team.helper';
    assert.equal((await git('config', '--global', '--add', key, 'store')).code, 0);
    assert.equal((await git('config', '--global', 'user.name', 'Jane')).code, 0);
    const before = (await git('config', '--global', '--list')).stdout;

    const w = await run(BIN.oidcCred, ['setup', 'git', '--config', cfg, '--profile', 'work', '--write'], { env: e });
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stderr.split('\n')[0], `oidc-cred: replaced ${key} = "store" (note it down: setup git --remove cannot restore it)`);
    assert.equal((await git('config', '--global', '--get-all', key)).stdout, `\noidc-cred --config ${cfg} --profile work\n`);

    const r = await run(BIN.oidcCred, ['setup', 'git', '--config', cfg, '--profile', 'work', '--remove'], { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `oidc-cred: removed ${key} = "oidc-cred --config ${cfg} --profile work"\n`);
    const after = (await git('config', '--global', '--list')).stdout;
    assert.equal(after, before.split('\n').filter((l) => !l.startsWith(key)).join('\n'), 'everything else as it was (the replaced "store" is gone, as --write said)');
    assert.match(after, /^user\.name=Jane$/m);

    const again = await run(BIN.oidcCred, ['setup', 'git', '--config', cfg, '--profile', 'work', '--remove'], { env: e });
    assert.equal(again.stderr, 'oidc-cred: nothing to remove: no git server of profile "work" runs oidc-cred in your global git config\n');
    sb.cleanup();
  });
  it('setup kube --remove takes out the user and the context --write added; setup docker --remove its credHelpers entries', { skip: spawnSyncOk('kubectl') ? false : 'no kubectl on PATH' }, async () => {
    const sb = sandbox(p);
    mkdirSync(sb.home, { recursive: true });
    const kc = join(sb.dir, 'kubeconfig');
    const cluster = { name: 'prod', cluster: { server: 'https://127.0.0.1:6443' } };
    const other = { name: 'jane', user: { token: 'not-ours' } };
    writeFileSync(kc, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [cluster], users: [other], contexts: [] }), { mode: 0o600 });
    const e = { ...sb.env, KUBECONFIG: kc };
    const view = async () => JSON.parse((await runCommand('kubectl', ['config', 'view', '--raw', '-o', 'json'], { env: e })).stdout) as { clusters: unknown[]; users: Array<{ name: string }>; contexts: unknown[] | null };
    assert.equal((await run(BIN.oidcCred, ['setup', 'kube', '--cluster', 'prod', '--write'], { env: e })).code, 0);
    assert.deepEqual((await view()).users.map((u) => u.name).sort(), ['jane', 'oidc-cred']);
    const r = await run(BIN.oidcCred, ['setup', 'kube', '--cluster', 'prod', '--remove'], { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(`oidc-cred: removed context "prod" from ${kc}\n`) && r.stderr.includes(`oidc-cred: removed user "oidc-cred" from ${kc}\n`), r.stderr);
    const after = await view();
    assert.deepEqual(after.users.map((u) => u.name), ['jane'], 'the other user stays');
    assert.equal(after.clusters.length, 1, 'the cluster stays');
    assert.deepEqual(after.contexts ?? [], []);

    const cfg = join(sb.dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ profiles: { reg: { issuer: p.issuer, 'client-id': 'c', match: ['registry.example.com'] } } }), { mode: 0o600 });
    const dockerCfg = join(sb.home, '.docker', 'config.json');
    mkdirSync(join(sb.home, '.docker'), { recursive: true });
    writeFileSync(dockerCfg, JSON.stringify({ auths: { 'other.example': {} }, credHelpers: { 'gcr.io': 'gcloud' } }), { mode: 0o600 });
    const before = JSON.parse(readFileSync(dockerCfg, 'utf8')) as unknown;
    assert.equal((await run(BIN.oidcCred, ['setup', 'docker', '--config', cfg, '--profile', 'reg', '--write'], { env: sb.env })).code, 0);
    const d = await run(BIN.oidcCred, ['setup', 'docker', '--config', cfg, '--profile', 'reg', '--remove'], { env: sb.env });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stderr, `oidc-cred: removed credHelpers "registry.example.com": "oidc-cred" from ${dockerCfg}\n`);
    assert.deepEqual(JSON.parse(readFileSync(dockerCfg, 'utf8')), before, 'the docker config as it was before --write');
    sb.cleanup();
  });
});
