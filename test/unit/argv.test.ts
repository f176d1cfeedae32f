// The hot path's light parser must never read argv differently from the yargs CLI: whenever it
// accepts a command line, yargs must yield the same options.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import yargs from 'yargs';
import { parseArgvLight } from '../../src/config/argv.ts';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS } from '../../src/config/options.ts';
import { rawOptions, toYargs } from '../../src/cli.ts';

const ALL = [...GLOBAL_OPTIONS, ...COMMAND_OPTIONS.token!];

async function viaYargs(argv: string[]): Promise<{ options: Record<string, unknown>; positionals: string[] } | undefined> {
  let y = yargs(argv)
    .parserConfiguration({ 'boolean-negation': false, 'greedy-arrays': false, 'camel-case-expansion': false, 'duplicate-arguments-array': true })
    .strictOptions() // commands are not declared here; options are what is compared
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  for (const o of ALL) y = y.option(o.name, toYargs(o));
  try {
    const a = (await y.parseAsync()) as Record<string, unknown>;
    return { options: rawOptions(a), positionals: (a._ as unknown[]).map(String) };
  } catch {
    return undefined;
  }
}

const word = fc.constantFrom('token', 'git', 'get', 'kube', 'x y', 'https://h/p', '7', '-', '--', '=', 'a=b', 'true', '');
const flag = fc.oneof(
  fc.constantFrom(...ALL.map((o) => `--${o.name}`)),
  fc.constantFrom(...ALL.map((o) => `--${o.name}=`)).chain((f) => word.map((w) => f + w)),
  fc.constantFrom('-v', '--unknown', '-x', '--no-browser=false', '--timeout=abc', '--grant=device', '--grant=nope'),
);

it('whenever the light parser accepts argv, yargs reads the same options and positionals', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(flag, word), { maxLength: 8 }), async (argv) => {
      const light = parseArgvLight(argv);
      if (!light) return; // the full CLI takes it from there
      const full = await viaYargs(argv);
      assert.ok(full, `yargs rejected what the light parser accepted: ${JSON.stringify(argv)}`);
      assert.deepEqual(light.positionals, full.positionals, JSON.stringify(argv));
      assert.deepEqual(light.options, full.options, JSON.stringify(argv));
    }),
    { numRuns: 400 },
  );
});

it('gives up on what it does not know', () => {
  for (const argv of [['--help'], ['--version'], ['token', '--bogus'], ['token', '--timeout'], ['token', '--timeout', 'x'], ['--', 'token']]) {
    assert.equal(parseArgvLight(argv), undefined, JSON.stringify(argv));
  }
  assert.deepEqual(parseArgvLight(['--profile', 'work', 'get', '-v'])?.options, { profile: 'work', verbose: true });
});
