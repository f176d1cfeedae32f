'use strict';
// The untimed step before each timed refresh in scripts/bench.ts:
//   node scripts/bench-erase.cjs <config file>
// makes the cached access token unusable through the CLI itself — git `erase` of the token that
// `oidc-cred token` hands over drops that access token and keeps the refresh token (README, git
// section) — so that the next `oidc-cred token` must refresh. It knows nothing of the cache
// file's format. The token travels on stdin, never in argv (README, Security).
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const config = process.argv[2];
const bin = (name) => join(__dirname, '..', 'bin', name);
const got = spawnSync(process.execPath, [bin('oidc-cred.cjs'), 'token', '--config', config, '--non-interactive'], { env: process.env });
const token = got.stdout.toString().trim();
if (got.status !== 0 || !token) {
  process.stderr.write(`bench-erase: oidc-cred token failed: ${got.stderr.toString().slice(0, 300)}\n`);
  process.exit(1);
}
const input = `protocol=https\nhost=git.example.test\npath=org/repo.git\nusername=oauth2\npassword=${token}\n\n`;
const erased = spawnSync(process.execPath, [bin('git-credential-oidc-cred.cjs'), '--config', config, 'erase'], { env: process.env, input });
if (erased.status !== 0) {
  process.stderr.write(`bench-erase: git erase failed: ${erased.stderr.toString().slice(0, 300)}\n`);
  process.exit(1);
}
