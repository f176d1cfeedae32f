'use strict';
// Build step: run dist/entry.cjs through the cache hits it exists for (token, kube, git get) on a
// throw-away config and session, then save V8's code cache of everything that ran to
// dist/entry.cjs.cache for bin/boot.cjs. Run by scripts/build.mjs with the git request on stdin.
const { mkdtempSync, mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { compile, load, HOT } = require('../bin/boot.cjs');

const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-warm-'));
const issuer = 'https://warm-up.invalid';
const cacheDir = join(dir, 'cache');
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({ 'default-profile': 'w', profiles: { w: { issuer, 'client-id': 'warm', 'cache-dir': cacheDir, match: ['https://git.warm-up.invalid/'] } } }));

async function main() {
  const script = compile(undefined);
  const hot = load(script);
  // The session key is computed by the bundle itself, so that the file name is right.
  const { sessionKeyFor, apiKeyFor } = hot;
  const now = Date.now();
  const header = Buffer.from('{"alg":"none"}').toString('base64url');
  const idToken = `${header}.${Buffer.from(JSON.stringify({ sub: 'w', exp: Math.floor(now / 1000) + 3600 })).toString('base64url')}.`;
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const key = sessionKeyFor(issuer, 'warm');
  writeFileSync(
    join(cacheDir, `${key}.json`),
    JSON.stringify({
      version: 2, key, issuer, client_id: 'warm', grant: 'user', id_token: idToken, id_token_expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString(),
      apis: { [apiKeyFor()]: { resources: [], scopes: ['offline_access', 'openid'], access_token: 'warm-access-token', token_type: 'Bearer', expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString() } },
    }),
    { mode: 0o600 },
  );
  process.env.HOME = dir;
  let missed = false;
  const io = { loadMain: () => ((missed = true), Promise.reject(new Error('the warm-up missed the cache'))), homedir: () => dir };
  const realExit = process.exit;
  process.exit = () => undefined; // the hot path exits after answering; here it must go on
  try {
    process.env.KUBERNETES_EXEC_INFO = JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false } });
    await hot.run(['kube', '--config', config], io);
    await hot.run(['token', '--config', config], io);
    await hot.run(['git', '--config', config, 'get'], io); // the request comes on stdin
  } finally {
    process.exit = realExit;
  }
  if (missed || process.exitCode) throw new Error('the warm-up did not answer from the cache');
  writeFileSync(`${HOT}.cache`, script.createCachedData());
  if (compile(require('node:fs').readFileSync(`${HOT}.cache`)).cachedDataRejected) throw new Error('V8 rejected the cache it just made');
}

main()
  .then(() => rmSync(dir, { recursive: true, force: true }))
  .catch((err) => {
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`warm-cache: ${err.message}\n`);
    process.exit(1);
  });
