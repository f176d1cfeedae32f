// The README's quick start, run as written: its shell blocks, in order, by bash, against
// demo/playground.ts, with the real binaries on PATH (as `npm install -g` puts them), real git
// and real kubectl, in a throw-away HOME. Only the login gets the scripted browser, since this
// machine has no display (the README says to add exactly that flag then).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { ROOT, runCommand, waitFor } from '../support/cli.ts';

const PORTS = [9400, 9401, 9402];
let playground: ChildProcess | undefined;
let stderr = '';
let busy: number | undefined;
const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-quickstart-'));

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

before(async () => {
  for (const p of PORTS) if (!(await free(p))) busy ??= p;
  if (busy) return;
  playground = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'demo', 'playground.ts')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  playground.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor(() => stderr.includes('Ctrl-C stops them.'), 30_000, 'the playground');
});
after(() => {
  playground?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** The README's quick start as one bash script: its ```sh blocks, the playground's own left out. */
function quickStartScript(readme: string, clone: string): string {
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('### With your own provider'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^ {3}/gm, ''));
  assert.ok(blocks.length >= 4, 'the quick start has its shell blocks');
  return [
    'set -e',
    ...blocks
      .filter((b) => !b.includes('playground.ts'))
      .map((b) => b.replace('oidc-cred login', `oidc-cred login --browser-command "node --import tsx demo/browser.ts"`).replace(' /tmp/repo ', ` ${clone} `)),
  ].join('\n');
}

it('the README quick start reaches git clone and kubectl get', { timeout: 120_000 }, async (t) => {
  if (busy) return t.skip(`port ${busy} is taken (is a playground already running?)`);
  const home = join(dir, 'home');
  const bin = join(dir, 'bin');
  mkdirSync(home, { recursive: true });
  mkdirSync(bin);
  for (const b of ['oidc-cred', 'git-credential-oidc-cred', 'docker-credential-oidc-cred']) symlinkSync(join(ROOT, 'bin', `${b}.cjs`), join(bin, b));
  const clone = join(dir, 'repo');
  const script = join(dir, 'quickstart.sh');
  writeFileSync(script, quickStartScript(readFileSync(join(ROOT, 'README.md'), 'utf8'), clone));

  const r = await runCommand('bash', [script], { cwd: ROOT, env: { HOME: home, PATH: `${bin}:${process.env.PATH}` }, timeoutMs: 110_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  // doctor: all ok but the notes about wiring and the session.
  assert.doesNotMatch(r.stdout, /^problem /m);
  assert.match(r.stdout, /^ok {6}discovery: http:\/\/127\.0\.0\.1:9400\/\.well-known\/openid-configuration$/m);
  assert.match(r.stderr, /oidc-cred: logged in as demo@example\.com \(profile demo\)/);
  assert.ok(existsSync(join(clone, '.git')), 'git clone made the repository');
  assert.match(r.stdout, /"gitVersion":"v1\.32\.0-oidc-cred-test"/, 'kubectl get --raw /version answered through the API stand-in');
});
