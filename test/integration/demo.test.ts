// `npm run demo` is one of the README's two commands: it must keep working, and its acts check
// what they claim (one login, no request on a cache hit, one refresh for sixteen processes, a
// git clone without a prompt), failing the run otherwise.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ROOT, runCommand } from '../support/cli.ts';

it('npm run demo runs every act to the end', async () => {
  const r = await runCommand(process.execPath, ['--import', 'tsx', 'demo/demo.ts'], { cwd: ROOT, env: { HOME: process.env.HOME }, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /1 distinct token among 16 answers; refresh requests at the provider: 1$/m);
  assert.match(r.stdout, /^Done\./m);
});
