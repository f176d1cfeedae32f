// Helpers shared by the git tests: a PATH on which git finds `git-credential-oidc-cred` (as npm's
// bin links would provide it: git looks for the name without `.cjs`), and an isolated git env.
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProvider } from '../../demo/provider.ts';
import { BIN, type Sandbox } from './cli.ts';

let binDir: string | undefined;
/** A directory with `git-credential-oidc-cred` and `oidc-cred` links to this repo's bins. */
export function linkedBinDir(): string {
  if (binDir) return binDir;
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-bin-'));
  symlinkSync(BIN.git, join(dir, 'git-credential-oidc-cred'));
  symlinkSync(BIN.oidcCred, join(dir, 'oidc-cred'));
  symlinkSync(BIN.docker, join(dir, 'docker-credential-oidc-cred'));
  binDir = dir;
  return dir;
}

/**
 * Environment for real git runs: isolated HOME (no user or system config), never a terminal
 * prompt. The provider comes from the helper's own command line (`providerHelper`) or a config
 * file, never from the environment: git's helper ignores OIDC_CRED_ISSUER and friends
 * (docs/configuration.md).
 */
export function gitEnv(sb: Sandbox, opts: { browserFlags?: string } = {}): Record<string, string> {
  mkdirSync(sb.home, { recursive: true });
  return {
    ...sb.env,
    PATH: `${linkedBinDir()}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_ASKPASS: '/bin/false',
    OIDC_CRED_CACHE_DIR: sb.cacheDir,
    BROWSER: sb.browserCommand(opts.browserFlags),
    // A bound on every login: a broken test fails in seconds instead of hanging git for 300 s.
    OIDC_CRED_TIMEOUT: '30',
  };
}

/** `credential.helper = "oidc-cred --issuer … --client-id …"`: the provider on the helper's own command line. */
export function providerHelper(p: TestProvider): string {
  return `oidc-cred --issuer ${p.issuer} --client-id ${p.publicClientId}`;
}

/** `git -c credential.helper= -c credential.helper=<helper> <args>`: only our helper is asked. */
export function withHelper(helper: string, args: string[]): string[] {
  return ['-c', 'credential.helper=', '-c', `credential.helper=${helper}`, ...args];
}
