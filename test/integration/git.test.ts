// Issue 3 with real git (2.39) against a smart-HTTP server (git http-backend) that accepts only
// access tokens the real test provider vouches for. Every claim counts what the provider, the
// git server and the scripted browser saw.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { startGitServer, type GitServer } from '../../demo/git-server.ts';
import { gitEnv, providerHelper, withHelper } from '../support/git.ts';
import { onlyApi } from '../support/session-file.ts';

let p: TestProvider;
let server: GitServer;
const sandboxes: Sandbox[] = [];

before(async () => {
  p = await startProvider();
  trackLeaks(p);
  server = await startGitServer({ verify: (t) => p.userinfo(t) });
});
after(async () => {
  await server?.close();
  await p?.close();
  for (const sb of sandboxes) sb.cleanup();
});

function fresh(): Sandbox {
  p.resetCounts();
  server.resetCounts();
  const sb = sandbox(p);
  sandboxes.push(sb);
  return sb;
}

let n = 0;
/** helper null: no -c, only the git config files (the isolated HOME's ~/.gitconfig) decide. */
function clone(sb: Sandbox, env: Record<string, string>, helper: string | null = providerHelper(p)): Promise<RunResult> {
  const dest = join(sb.dir, `clone-${++n}`);
  const args = ['clone', '-q', server.url, dest];
  return runCommand('git', helper === null ? args : withHelper(helper, args), { env, cwd: sb.dir, timeoutMs: 60_000 });
}

/** Requests oidc-cred made to the provider (the git server's own userinfo checks left out). */
const ourRequests = (): number => p.counts.requests - p.counts.userinfo;

function session(sb: Sandbox): Record<string, unknown> {
  const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
  assert.equal(files.length, 1, `expected one session file, found ${files.join(', ') || 'none'}`);
  return JSON.parse(readFileSync(join(sb.cacheDir, files[0]!), 'utf8')) as Record<string, unknown>;
}

describe('git clone through credential.helper=oidc-cred', () => {
  it('logs in once through the browser; a second clone makes no request to the provider', async () => {
    const sb = fresh();
    const env = gitEnv(sb);
    const first = await clone(sb, env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(sb.browserRuns().length, 1, 'one browser run');
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.equal(server.counts.users.get('oauth2') !== undefined, true, 'git sent the default username oauth2');
    assert.ok(server.counts.unauthorized >= 1, 'git first met the 401 and only then asked the helper');

    const before = ourRequests();
    const second = await clone(sb, env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(ourRequests(), before, 'the cached token needs no request to the provider');
    assert.equal(sb.browserRuns().length, 1, 'no second browser run');
  });

  it('8 parallel clones with no session: all succeed, one authorization, one browser run', async () => {
    const sb = fresh();
    const env = gitEnv(sb);
    const results = await Promise.all(Array.from({ length: 8 }, () => clone(sb, env)));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.authorization, 1, 'one authorization request');
    assert.equal(p.counts.token.authorization_code, 1, 'one code exchange');
    assert.equal(p.counts.token.refresh_token ?? 0, 0, 'no refresh');
    assert.equal(sb.browserRuns().length, 1, 'one browser run');
    assert.ok(server.counts.authorized >= 8);
  });

  it('the server rejects our token → git erases it → the next clone recovers through a refresh, without a new login', async () => {
    const sb = fresh();
    const env = gitEnv(sb);
    const login = await clone(sb, env);
    assert.equal(login.code, 0, login.stderr);
    const token = onlyApi(session(sb)).access_token;
    assert.equal(typeof token, 'string');
    p.resetCounts();

    server.rejectNextValid(1);
    const rejected = await clone(sb, env);
    assert.notEqual(rejected.code, 0, 'git 2.39 does not retry a rejected credential within one command');
    assert.equal(server.counts.forcedRejections, 1);
    const erased = session(sb);
    assert.equal(onlyApi(erased).access_token, undefined, 'git called erase with our token, and we dropped it');
    assert.equal(typeof erased.refresh_token, 'string', 'erase keeps the refresh token');
    assert.equal(p.counts.token.refresh_token ?? 0, 0);

    const recovered = await clone(sb, env);
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.equal(p.counts.token.refresh_token, 1, 'one refresh');
    assert.equal(p.counts.authorization, 0, 'no new login');
    assert.equal(sb.browserRuns().length, 1, 'the browser ran only for the first login');
    assert.notEqual(onlyApi(session(sb)).access_token, token, 'a new access token');
  });
});

describe('profiles with match, and options before the action', () => {
  function writeConfig(sb: Sandbox, profiles: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
    const file = join(sb.home, '.config', 'oidc-cred', 'config.json');
    mkdirSync(join(sb.home, '.config', 'oidc-cred'), { recursive: true });
    writeFileSync(file, JSON.stringify({ ...extra, profiles }));
    return file;
  }
  const profile = (sb: Sandbox, match: string[]): Record<string, unknown> => ({
    issuer: p.issuer,
    'client-id': p.publicClientId,
    'browser-command': sb.browserCommand(),
    timeout: 30,
    'cache-dir': sb.cacheDir,
    match,
    'git-username': 'work-user',
  });

  it('credential.helper="oidc-cred --profile work" serves the profile even where its match does not reach', async () => {
    const sb = fresh();
    writeConfig(sb, { work: profile(sb, ['https://git.example.com/']) });
    const env = gitEnv(sb);
    delete env.OIDC_CRED_CACHE_DIR;
    delete env.BROWSER;

    // Without the explicit profile the request is not ours: git gets nothing and fails.
    const unmatched = await clone(sb, env, 'oidc-cred');
    assert.notEqual(unmatched.code, 0);
    assert.equal(sb.browserRuns().length, 0);
    assert.equal(p.counts.authorization, 0);

    const explicit = await clone(sb, env, 'oidc-cred --profile work');
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal(sb.browserRuns().length, 1);
    assert.equal(server.counts.users.get('work-user') !== undefined, true, 'the profile\'s git-username reached the server');
    assert.equal(session(sb).profile, 'work');
  });

  it('oidc-cred setup git --write wires the global git config so that a plain clone works', async () => {
    const sb = fresh();
    writeConfig(sb, { work: profile(sb, [`${server.url}/`]), other: profile(sb, ['https://elsewhere.example/']) }, { 'default-profile': 'other' });
    const env = gitEnv(sb);
    delete env.OIDC_CRED_CACHE_DIR;
    delete env.BROWSER;

    // A global helper that answers first with a wrong password, as a stale `store` would: the
    // reset line that setup writes after it must silence it for this URL.
    const foreign = await runCommand('git', ['config', '--global', '--add', 'credential.helper', '!f() { echo username=x; echo password=wrong; }; f'], { env, cwd: sb.dir });
    assert.equal(foreign.code, 0, foreign.stderr);

    const setup = await run(BIN.oidcCred, ['setup', 'git', '--profile', 'work', '--write'], { env, cwd: sb.dir });
    assert.equal(setup.code, 0, setup.stderr);
    const key = `credential.${server.url}`;
    assert.equal(
      setup.stdout,
      [
        `git config --global --replace-all ${key}.helper ''`,
        `git config --global --add ${key}.helper 'oidc-cred --profile work'`,
        `git config --global ${key}.useHttpPath true`,
        '',
      ].join('\n'),
    );
    const rerun = await run(BIN.oidcCred, ['setup', 'git', '--profile', 'work', '--write'], { env, cwd: sb.dir });
    assert.equal(rerun.code, 0, rerun.stderr);
    const helpers = await runCommand('git', ['config', '--global', '--get-all', `${key}.helper`], { env, cwd: sb.dir });
    assert.equal(helpers.stdout, '\noidc-cred --profile work\n', 'idempotent: one reset and one helper');

    const cloned = await clone(sb, env, null);
    assert.equal(cloned.code, 0, cloned.stderr);
    assert.equal(sb.browserRuns().length, 1);
    assert.equal(session(sb).profile, 'work');
  });
});
