'use strict';
// Loads dist/entry.cjs the way require() would, but with V8's code cache (dist/entry.cjs.cache,
// written by the build after a warm-up run). V8 compiles each function on its first call; on a
// cache hit that compiling was most of oidc-cred's own start-up cost (docs/performance.md). A cache
// from another Node or V8 version is rejected by V8 and everything is compiled as usual.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');

const DIST = join(__dirname, '..', 'dist');
const HOT = join(DIST, 'entry.cjs');

/** The compiled bundle: the same wrapper source at build time and at run time, or the cache misses. */
function compile(cachedData) {
  const source = readFileSync(HOT, 'utf8');
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: HOT, cachedData });
}

function load(script) {
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, HOT, DIST);
  return mod.exports;
}

/** What the bundle cannot do itself: import() inside vm code needs an experimental flag on Node 20. */
const io = {
  loadMain: () => import(require('node:url').pathToFileURL(join(DIST, 'main.mjs')).href),
  homedir: () => require('node:os').homedir(),
};

function boot(argv) {
  let cachedData;
  try {
    cachedData = readFileSync(`${HOT}.cache`);
  } catch {
    /* no cache (a development tree before the first build): compile as usual */
  }
  return load(compile(cachedData)).run(argv, io);
}

module.exports = { boot, compile, load, io, HOT };
