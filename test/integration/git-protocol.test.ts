// docs/git.md at the protocol level, with exact stdout and stderr: bin/git-credential-oidc-cred.cjs is
// run as git runs it (options, then the action; the request on stdin). git 2.39 here knows none
// of password_expiry_utc / capability[] / authtype, so those are proven here, not through git.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';

let p: TestProvider;
let sb: Sandbox;

before(async () => {
  p = await startProvider();
  trackLeaks(p);
  sb = sandbox(p);
  mkdirSync(join(sb.home, '.config', 'oidc-cred'), { recursive: true });
  const common = { issuer: p.issuer, 'client-id': p.publicClientId, 'browser-command': sb.browserCommand(), 'cache-dir': sb.cacheDir, timeout: 30 };
  writeFileSync(
    join(sb.home, '.config', 'oidc-cred', 'config.json'),
    JSON.stringify({
      profiles: {
        work: { ...common, match: ['https://git.example.com/'], 'git-username': 'work-user' },
        // Same provider and client: the same session (docs/architecture.md key), reached only by path.
        team: { ...common, match: ['https://other.example.com/team/'] },
      },
    }),
  );
  const login = await run(BIN.oidcCred, ['login', '--profile', 'work'], { env: sb.env, cwd: sb.dir });
  assert.equal(login.code, 0, login.stderr);
});
after(async () => {
  await p?.close();
  sb?.cleanup();
});

function session(): { access_token?: string; refresh_token?: string; expires_at?: string } {
  const files = readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f));
  assert.equal(files.length, 1, 'one session');
  const s = JSON.parse(readFileSync(join(sb.cacheDir, files[0]!), 'utf8')) as Record<string, unknown>;
  // The one API's token, beside the shared refresh token (docs/cache.md).
  const api = Object.values(s.apis as Record<string, Record<string, string>>)[0];
  return { access_token: api?.access_token, expires_at: api?.expires_at, refresh_token: s.refresh_token as string | undefined };
}
const token = (): string => session().access_token!;
const expiry = (): number => Math.floor(Date.parse(session().expires_at!) / 1000);

function helper(args: string[], input: string): Promise<RunResult> {
  return run(BIN.git, args, { env: sb.env, cwd: sb.dir, input, timeoutMs: 40_000 });
}

interface Row {
  name: string;
  args: string[];
  input: string;
  stdout: () => string;
  stderr?: string;
  code?: number;
}

const answer = (user: string): string => `username=${user}\npassword=${token()}\npassword_expiry_utc=${expiry()}\n`;
const nothing = (): string => '';

const TABLE: Row[] = [
  { name: 'unmatched host: nothing, exit 0', args: ['get'], input: 'protocol=https\nhost=unknown.example\n\n', stdout: nothing },
  { name: 'unmatched scheme on a matched host', args: ['get'], input: 'protocol=http\nhost=git.example.com\n\n', stdout: nothing },
  { name: 'no host at all', args: ['get'], input: 'protocol=https\n\n', stdout: nothing },
  { name: 'matched host', args: ['get'], input: 'protocol=https\nhost=git.example.com\n\n', stdout: () => answer('work-user') },
  { name: 'matched host, EOF without a blank line, CRLF', args: ['get'], input: 'protocol=https\r\nhost=git.example.com\r\n', stdout: () => answer('work-user') },
  { name: 'input after the blank line is not read', args: ['get'], input: 'protocol=https\nhost=unknown.example\n\nhost=git.example.com\n', stdout: nothing },
  { name: 'url= expands into its parts', args: ['get'], input: 'url=https://git.example.com/group/repo.git\n\n', stdout: () => answer('work-user') },
  { name: 'a later url= replaces the earlier parts', args: ['get'], input: 'protocol=https\nhost=git.example.com\nurl=https://unknown.example/\n\n', stdout: nothing },
  { name: 'unknown keys and junk lines are ignored', args: ['get'], input: 'wwwauth[]=Basic realm="git"\n==\nnoequals\nprotocol=https\nfuture=1\nhost=git.example.com\n\n', stdout: () => answer('work-user') },
  { name: 'explicit profile before the action serves an unmatched host', args: ['--profile', 'work', 'get'], input: 'protocol=https\nhost=unknown.example\n\n', stdout: () => answer('work-user') },
  { name: 'request username kept', args: ['get'], input: 'protocol=https\nhost=git.example.com\nusername=alice\n\n', stdout: () => answer('alice') },
  { name: 'username from url= kept', args: ['get'], input: 'url=https://bob@git.example.com/\n\n', stdout: () => answer('bob') },
  { name: 'a match with a path needs the path (useHttpPath)', args: ['get'], input: 'protocol=https\nhost=other.example.com\n\n', stdout: nothing },
  { name: 'a match with a path, default username', args: ['get'], input: 'protocol=https\nhost=other.example.com\npath=team/repo.git\n\n', stdout: () => answer('oauth2') },
  {
    name: 'capability[]=authtype: a Bearer credential instead of a password',
    args: ['get'],
    input: 'capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.example.com\n\n',
    stdout: () => `capability[]=authtype\nauthtype=Bearer\ncredential=${token()}\npassword_expiry_utc=${expiry()}\n`,
  },
  { name: 'an emptied capability[] list is not advertised', args: ['get'], input: 'capability[]=authtype\ncapability[]=\nprotocol=https\nhost=git.example.com\n\n', stdout: () => answer('work-user') },
  { name: 'store is a no-op', args: ['store'], input: 'protocol=https\nhost=git.example.com\nusername=work-user\npassword=something\n\n', stdout: nothing },
  { name: 'store for an unmatched host', args: ['store'], input: 'protocol=https\nhost=unknown.example\nusername=u\npassword=p\n\n', stdout: nothing },
  {
    name: 'unknown action: usage error',
    args: ['frobnicate'],
    input: '',
    stdout: nothing,
    code: 2,
    stderr: `oidc-cred: 'oidc-cred git' takes get, store or erase, not "frobnicate" (see 'oidc-cred git --help')\n`,
  },
  {
    name: 'a NUL byte: exit 1, one line, no stack',
    args: ['get'],
    input: 'protocol=https\nhost=git.example.com\0\n\n',
    stdout: nothing,
    code: 1,
    stderr: 'oidc-cred: git sent a line with a NUL byte; refusing the request\n',
  },
  {
    name: 'a line over 64 KiB: exit 1, one line, no stack',
    args: ['get'],
    input: `protocol=https\nhost=git.example.com\npath=${'a'.repeat(64 * 1024)}\n\n`,
    stdout: nothing,
    code: 1,
    stderr: 'oidc-cred: git sent a line longer than 65536 bytes; refusing the request\n',
  },
  {
    name: 'a newline smuggled into url= never becomes an answer line',
    args: ['get'],
    input: 'url=https://x%0apassword=evil@git.example.com/\n\n',
    stdout: nothing,
    code: 1,
    stderr: 'oidc-cred: git sent a url whose username contains a newline or NUL; refusing the request\n',
  },
  {
    name: 'erase of a foreign password for an unmatched host',
    args: ['erase'],
    input: 'protocol=https\nhost=unknown.example\nusername=u\npassword=p\n\n',
    stdout: nothing,
  },
];

describe('git-credential-oidc-cred: protocol table (exact stdout and stderr)', () => {
  for (const row of TABLE) {
    it(row.name, async () => {
      const requests = p.counts.requests;
      const r = await helper(row.args, row.input);
      assert.equal(r.stdout, row.stdout(), 'stdout');
      assert.equal(r.stderr, row.stderr ?? '', 'stderr');
      assert.equal(r.code, row.code ?? 0, 'exit code');
      assert.equal(p.counts.requests, requests, 'answered from the cache or not at all: no provider request');
    });
  }
});

describe('git-credential-oidc-cred: oversized input', () => {
  // The hot path reads stdin once and hands the full program the text or the failure: the full
  // program must not re-read an already-drained stdin and exit 0 silently.
  it('standard input over 1 MiB: exit 1, one line on stderr, nothing on stdout', async () => {
    const r = await helper(['get'], `protocol=https\nhost=git.example.com\npath=${'a'.repeat(2 * 1024 * 1024)}\n\n`);
    assert.equal(r.stdout, '');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^oidc-cred: [^\n]+\n$/);
  });
});

describe('git-credential-oidc-cred erase', () => {
  it('erase with a foreign password: our token survives, the next get needs no provider request', async () => {
    const ours = token();
    const r = await helper(['erase'], 'protocol=https\nhost=git.example.com\nusername=work-user\npassword=not-our-token-at-all\n\n');
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    assert.equal(token(), ours);
    const requests = p.counts.requests;
    const get = await helper(['get'], 'protocol=https\nhost=git.example.com\n\n');
    assert.equal(get.stdout, `username=work-user\npassword=${ours}\npassword_expiry_utc=${expiry()}\n`);
    assert.equal(p.counts.requests, requests);
  });

  it('erase with our token on an unmatched host leaves it alone (another helper’s request)', async () => {
    const ours = token();
    const r = await helper(['erase'], `protocol=https\nhost=unknown.example\nusername=u\npassword=${ours}\n\n`);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    assert.equal(token(), ours);
  });

  it('erase with our token: dropped, refresh token kept; the next get refreshes once, no new login', async () => {
    const ours = token();
    const refreshToken = session().refresh_token;
    assert.equal(typeof refreshToken, 'string');
    p.resetCounts();
    const r = await helper(['erase'], `protocol=https\nhost=git.example.com\nusername=work-user\npassword=${ours}\n\n`);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    assert.equal(session().access_token, undefined, 'the access token is gone');
    assert.equal(session().refresh_token, refreshToken, 'the refresh token stays');
    assert.equal(p.counts.requests, 0, 'erase itself makes no request');

    const get = await helper(['get'], 'protocol=https\nhost=git.example.com\n\n');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stderr, '');
    const fresh = token();
    assert.notEqual(fresh, ours);
    assert.equal(get.stdout, `username=work-user\npassword=${fresh}\npassword_expiry_utc=${expiry()}\n`);
    assert.equal(p.counts.token.refresh_token, 1, 'one refresh');
    assert.equal(p.counts.authorization, 0, 'no new login');
    assert.equal(sb.browserRuns().length, 1, 'the browser ran only for the first login');
  });

  it('erase of an authtype credential (credential=) that is ours drops it too', async () => {
    const ours = token();
    const r = await helper(['erase'], `capability[]=authtype\nprotocol=https\nhost=git.example.com\nauthtype=Bearer\ncredential=${ours}\n\n`);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', '']);
    assert.equal(session().access_token, undefined);
  });
});

describe('git-credential-oidc-cred get with a login', () => {
  it('a browser launcher that prints on stdout cannot reach git: stdout is the answer alone', async () => {
    const fresh = sandbox(p);
    try {
      const noisy = `sh -c 'echo browser-noise-on-stdout; echo browser-noise-on-stderr >&2; exec "$@"' sh ${fresh.browserCommand()}`;
      const env = { ...fresh.env, OIDC_CRED_CACHE_DIR: fresh.cacheDir, BROWSER: noisy, OIDC_CRED_TIMEOUT: '30' };
      const r = await run(BIN.git, ['--issuer', p.issuer, '--client-id', p.publicClientId, 'get'], { env, cwd: fresh.dir, input: 'protocol=https\nhost=anything.example\n\n', timeoutMs: 40_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fresh.browserRuns().length, 1, 'the browser ran');
      assert.match(r.stdout, /^username=oauth2\npassword=[^\n]{16,}\npassword_expiry_utc=\d+\n$/);
      assert.doesNotMatch(r.stdout, /noise/);
    } finally {
      fresh.cleanup();
    }
  });
});
