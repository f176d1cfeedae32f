// The binaries load dist/entry.cjs with V8's code cache (bin/boot.cjs). If the build stops making
// it, or makes one V8 rejects, every cache hit silently pays ~10 M instructions of compiling.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { it } from 'node:test';
import { ROOT } from '../support/cli.ts';

const require = createRequire(import.meta.url);
const boot = require(join(ROOT, 'bin', 'boot.cjs')) as { compile(cachedData?: Buffer): { cachedDataRejected?: boolean }; HOT: string };

it('the build leaves a V8 code cache for the hot bundle, and this Node accepts it', () => {
  const cache = `${boot.HOT}.cache`;
  assert.ok(existsSync(cache), 'dist/entry.cjs.cache exists (npm test builds first)');
  assert.equal(boot.compile(readFileSync(cache)).cachedDataRejected, false);
});

it('a foreign or corrupt cache is rejected by V8, not trusted', () => {
  assert.equal(boot.compile(Buffer.from('not a code cache at all')).cachedDataRejected, true);
});
