// npm run demo — the whole flow on a fresh machine with no account anywhere: a local demo
// identity provider (oidc-provider on 127.0.0.1, user "demo-user"), then the real oidc-cred
// binaries as a user runs them. Uses a throw-away HOME, so nothing of yours is touched.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGitServer } from './git-server.ts';
import { startProvider } from './provider.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'oidc-cred.cjs');
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

function say(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** Runs a command, echoing it like a terminal session; its stdout is captured, stderr shown. */
function sh(label: string, cmd: string, args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string }> {
  say(`${bold('$')} ${label}`);
  return new Promise((done, fail) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => process.stdout.write(dim(d)));
    c.stdin.end(input ?? '');
    c.on('error', fail);
    // Not 'close': a real browser started by oidc-cred inherits its stderr and may outlive it.
    let exited: number | null | undefined;
    let ended = false;
    const settle = (): void => {
      if (exited !== undefined && ended) done({ code: exited, stdout });
    };
    c.stdout.on('end', () => ((ended = true), settle()));
    c.on('exit', (code) => ((exited = code), settle()));
  });
}

function claims(jwt: string | undefined): unknown {
  if (!jwt || jwt.split('.').length !== 3) return '(not a JWT: an opaque token)';
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

function short(token: string): string {
  return token.length > 24 ? `${token.slice(0, 12)}…${token.slice(-6)} (${token.length} characters)` : token;
}

async function main(): Promise<void> {
  const provider = await startProvider();
  const home = mkdtempSync(join(tmpdir(), 'oidc-cred-demo-'));
  try {
    const hasDisplay = !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY) || process.platform === 'darwin' || process.platform === 'win32';
    const useRealBrowser = hasDisplay && process.env.OIDC_CRED_DEMO_SCRIPTED !== '1';
    const configDir = join(home, '.config', 'oidc-cred');
    mkdirSync(configDir, { recursive: true });
    const profile: Record<string, unknown> = {
      issuer: provider.issuer,
      'client-id': provider.publicClientId,
      scope: ['openid', 'offline_access', 'profile', 'email'],
      match: ['http://127.0.0.1/'],
    };
    if (!useRealBrowser) profile['browser-command'] = `${process.execPath} --import tsx ${join(ROOT, 'demo', 'browser.ts')}`;
    writeFileSync(join(configDir, 'config.json'), `${JSON.stringify({ 'default-profile': 'demo', profiles: { demo: profile } }, null, 2)}\n`);
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache'), BROWSER: '' };

    say(bold('oidc-cred demo'));
    say(`A local OpenID provider is running at ${provider.issuer} (oidc-provider, user "demo-user", password-less).`);
    say(`Config written to ${join(configDir, 'config.json')}:`);
    say(dim(JSON.stringify({ 'default-profile': 'demo', profiles: { demo: profile } }, null, 2)));
    say(useRealBrowser ? 'Your browser will open for the login: just wait, the demo user logs in by itself.' : 'No display here: a scripted browser (demo/browser.ts) plays the user, following the same redirects a browser would.');
    say();

    say(bold('1. Log in (Authorization Code + PKCE, loopback redirect on a random port)'));
    const login = await sh('oidc-cred login', process.execPath, [BIN, 'login'], env);
    if (login.code !== 0) throw new Error('login failed');
    say();

    say(bold('2. Get a token: served from the cache, no network, no lock'));
    const before = provider.counts.requests;
    const tok = await sh('oidc-cred token', process.execPath, [BIN, 'token'], env);
    say(`  → ${short(tok.stdout.trim())}; the provider received ${provider.counts.requests - before} requests for it`);
    say();

    say(bold('3. What is cached (never prints a token)'));
    const st = await sh('oidc-cred status', process.execPath, [BIN, 'status'], env);
    process.stdout.write(st.stdout);
    say();

    say(bold('4. The tokens, decoded'));
    const json = await sh('oidc-cred token --json', process.execPath, [BIN, 'token', '--json'], env);
    const t = JSON.parse(json.stdout) as { access_token: string; id_token: string; expires_at: string; scope: string };
    say(`  ID token claims: ${JSON.stringify(claims(t.id_token), null, 2).replace(/\n/g, '\n  ')}`);
    say(`  access token: ${short(t.access_token)}, ${typeof claims(t.access_token) === 'string' ? 'opaque' : 'a JWT'}, scope "${t.scope}", expires ${t.expires_at}`);
    const userinfo = await provider.userinfo(t.access_token);
    say(`  the provider's userinfo endpoint accepts it: ${JSON.stringify(userinfo)}`);
    say();

    say(bold('5. Sixteen processes at once with an expired token → one refresh'));
    const { readdirSync, readFileSync } = await import('node:fs');
    const cacheDir = join(home, '.cache', 'oidc-cred');
    for (const f of readdirSync(cacheDir).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))) {
      const s = JSON.parse(readFileSync(join(cacheDir, f), 'utf8')) as { apis?: Record<string, Record<string, unknown>> };
      // Each API's access token has its own expiry inside the session (docs/cache.md).
      for (const api of Object.values(s.apis ?? {})) api.expires_at = new Date(Date.now() - 1000).toISOString();
      writeFileSync(join(cacheDir, f), JSON.stringify(s), { mode: 0o600 });
    }
    provider.resetCounts();
    say(`${bold('$')} for i in $(seq 16); do oidc-cred token & done; wait`);
    const results = await Promise.all(Array.from({ length: 16 }, () => new Promise<string>((done) => {
      const c = spawn(process.execPath, [BIN, 'token'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.on('close', () => done(out));
    })));
    const refreshes = provider.counts.token.refresh_token ?? 0;
    say(`  → ${new Set(results).size} distinct token among 16 answers; refresh requests at the provider: ${refreshes}`);
    // The act claims one refresh: a demo that shows something else is broken, not a demo.
    if (refreshes !== 1 || new Set(results).size !== 1) throw new Error(`expected one refresh and one token, saw ${refreshes} and ${new Set(results).size}`);
    say();
    say(bold('6. git: clone from a server that accepts only this provider\'s tokens, with no password prompt'));
    const server = await startGitServer({ verify: (t) => provider.userinfo(t) });
    try {
      // git finds helpers by name on PATH, as `npm install -g` provides them.
      const binDir = join(home, 'bin');
      mkdirSync(binDir);
      symlinkSync(join(ROOT, 'bin', 'git-credential-oidc-cred.cjs'), join(binDir, 'git-credential-oidc-cred'));
      // The profile serves the git server's URL (docs/configuration.md `match`).
      profile.match = [`${server.origin}/`];
      writeFileSync(join(configDir, 'config.json'), `${JSON.stringify({ 'default-profile': 'demo', profiles: { demo: profile } }, null, 2)}\n`);
      const gitEnv = { ...env, PATH: `${binDir}:${process.env.PATH ?? ''}`, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
      const requestsBefore = provider.counts.requests;
      const clone = await sh(`git -c credential.helper=oidc-cred clone ${server.url}`, 'git', ['-c', 'credential.helper=', '-c', 'credential.helper=oidc-cred', 'clone', '-q', server.url, join(home, 'clone')], gitEnv);
      if (clone.code !== 0) throw new Error('git clone failed');
      say(`  → cloned with GIT_TERMINAL_PROMPT=0 (git could not have asked for a password); the server answered ${server.counts.unauthorized} request(s) with 401, then let ${server.counts.authorized} through with the token; the provider saw ${provider.counts.requests - requestsBefore} request(s): ${provider.counts.userinfo} userinfo check(s) by the git server, no login, the token came from the cache`);
    } finally {
      await server.close();
    }
    say();
    say(`Done. Next: ${bold('npm test')} runs the test suite; README.md shows how to wire git, kubectl and docker.`);
  } finally {
    rmSync(home, { recursive: true, force: true });
    await provider.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
