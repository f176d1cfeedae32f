// Help, usage errors in our own words, and shell completion that real bash (and fish and zsh,
// where .ci/run could install them) actually uses — the real binary, on a PATH like a user's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS } from '../../src/config/options.ts';
import { BIN, run } from '../support/cli.ts';

let binDir: string;
before(() => {
  // `oidc-cred` on PATH, as npm's bin link puts it there.
  binDir = mkdtempSync(join(tmpdir(), 'oidc-cred-help-'));
  const shim = join(binDir, 'oidc-cred');
  writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${BIN.oidcCred}' "$@"\n`);
  chmodSync(shim, 0o755);
});
after(() => rmSync(binDir, { recursive: true, force: true }));

const has = (shell: string): boolean => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
function shell(cmd: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, ['-c', script], { env: { PATH: `${binDir}:${process.env.PATH}`, HOME: binDir }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('usage errors: our words, exit 2', () => {
  const cases: Array<[string[], string]> = [
    [[], "oidc-cred: no command given (one of: login, token, status, logout, git, kube, docker, setup, doctor, completion) (see 'oidc-cred --help')\n"],
    [['git'], "oidc-cred: 'oidc-cred git' needs an action: get, store or erase (see 'oidc-cred git --help')\n"],
    [['setup'], "oidc-cred: 'oidc-cred setup' needs a tool: git, kube or docker (see 'oidc-cred setup --help')\n"],
    [['docker', 'nope'], "oidc-cred: 'oidc-cred docker' takes get, store, erase or list, not \"nope\" (see 'oidc-cred docker --help')\n"],
    [['token', '--issue', 'x'], "oidc-cred: unknown option --issue for 'oidc-cred token' (did you mean --issuer? see 'oidc-cred token --help')\n"],
    [['logn'], "oidc-cred: unknown command \"logn\" (did you mean 'login'? see 'oidc-cred --help')\n"],
    [['token', 'extra'], "oidc-cred: 'oidc-cred token' takes no argument \"extra\" (see 'oidc-cred token --help')\n"],
    [['status', '--jsn'], "oidc-cred: unknown option --jsn for 'oidc-cred status' (did you mean --json? see 'oidc-cred status --help')\n"],
    [['token', '--timeout', 'abc'], "oidc-cred: --timeout must be a number, not \"abc\" (see 'oidc-cred --help')\n"],
    [['token', '--grant', 'password'], "oidc-cred: --grant must be one of auto, authcode, device or client-credentials, not \"password\" (see 'oidc-cred --help')\n"],
    [['completion', 'tcsh'], "oidc-cred: 'oidc-cred completion' takes bash, zsh or fish, not \"tcsh\" (see 'oidc-cred completion --help')\n"],
  ];
  for (const [args, stderr] of cases) {
    it(`oidc-cred ${args.join(' ')}`, async () => {
      const r = await run(BIN.oidcCred, args, { env: { HOME: binDir } });
      assert.equal(r.stderr, stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    });
  }
  it('no yargs text reaches the user', async () => {
    for (const args of [['git'], ['setup'], [], ['token', 'extra', 'words'], ['kube', '--nope']]) {
      const r = await run(BIN.oidcCred, args, { env: { HOME: binDir } });
      assert.doesNotMatch(r.stderr, /non-option arguments|Invalid values|Unknown argument|Choices:/, r.stderr);
    }
  });
});

describe('help', () => {
  it('-h works on every command and lists its own flags first, with env names, types and an example', async () => {
    for (const cmd of ['login', 'token', 'status', 'logout', 'git', 'kube', 'docker', 'setup', 'doctor', 'completion']) {
      const r = await run(BIN.oidcCred, [cmd, '-h'], { env: { HOME: binDir } });
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      const out = r.stdout;
      const own = COMMAND_OPTIONS[cmd] ?? [];
      const ownAt = out.indexOf(`Options of 'oidc-cred ${cmd}':`);
      const globalAt = out.indexOf('Options for every command:');
      assert.ok(globalAt > 0, `${cmd}: no global options`);
      if (own.length) {
        assert.ok(ownAt > 0 && ownAt < globalAt, `${cmd}: its own options come first`);
        for (const o of own) assert.ok(out.slice(ownAt, globalAt).includes(`--${o.name}`), `${cmd}: --${o.name}`);
      }
      assert.match(out, /\nExamples:\n {2}(?=.*oidc-cred)\S/, `${cmd}: an example`);
    }
  });

  it('numbers show as numbers and every environment variable is named', async () => {
    const r = await run(BIN.oidcCred, ['--help'], { env: { HOME: binDir, COLUMNS: '200' } });
    const flat = r.stdout.replace(/\s+/g, ' ');
    for (const o of GLOBAL_OPTIONS) {
      if (o.env) assert.ok(flat.includes(`[env ${o.env}]`), o.name);
    }
    assert.match(flat, /--timeout seconds an interactive login may take \(default 300\) \[number\] \[env OIDC_CRED_TIMEOUT\]/);
    assert.match(flat, /--grant how to log in \[auto\|authcode\|device\|client-credentials\] \[env OIDC_CRED_GRANT\]/);
    assert.doesNotMatch(r.stdout, /\[string\]/);
    assert.match(r.stdout, /^ {2}-h, --help /m);
    assert.match(r.stdout, /Stuck\? Run 'oidc-cred doctor'\./);
  });
});

describe('completion', () => {
  it('bash completes commands, actions, flags and flag values from the real script', (t) => {
    if (!has('bash')) return t.skip('bash is not installed');
    const complete = (words: string[]): string => {
      const arr = words.map((w) => `'${w}'`).join(' ');
      const r = shell('bash', `source <(oidc-cred completion bash) && COMP_WORDS=(${arr}) && COMP_CWORD=${words.length - 1} && _oidc_cred && echo "\${COMPREPLY[*]}"`);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(complete(['oidc-cred', 'lo']), 'login logout');
    assert.equal(complete(['oidc-cred', 'do']), 'docker doctor');
    assert.equal(complete(['oidc-cred', 'git', '']), 'get store erase');
    assert.equal(complete(['oidc-cred', '--profile', 'work', 'setup', 'k']), 'kube');
    assert.equal(complete(['oidc-cred', 'token', '--j']), '--json');
    assert.equal(complete(['oidc-cred', 'token', '--grant', 'c']), 'client-credentials');
    assert.equal(complete(['oidc-cred', '--iss']), '--issuer');
    assert.equal(complete(['oidc-cred', 'logout', '--a']), '--audience --all');
    assert.equal(complete(['oidc-cred', 'git', 'get', '']), '');
    assert.equal(complete(['oidc-cred', '--profile', '']), '', 'a value of our own is not completed with commands');
  });

  it('fish completes from its script; zsh parses it', (t) => {
    if (has('fish')) {
      const r = shell('fish', 'oidc-cred completion fish | source; complete -C "oidc-cred lo"; complete -C "oidc-cred setup "; complete -C "oidc-cred --grant "');
      assert.equal(r.status, 0, r.stderr);
      const words = r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
      assert.deepEqual(words, ['login', 'logout', 'docker', 'git', 'kube', 'authcode', 'auto', 'client-credentials', 'device']);
    } else t.diagnostic('fish is not installed: skipped');
    if (has('zsh')) {
      const r = shell('zsh', 'oidc-cred completion zsh > "$HOME/c.zsh" && zsh -n "$HOME/c.zsh" && autoload -U compinit && compinit -u && source "$HOME/c.zsh" && whence -w _oidc_cred');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /_oidc_cred: function/);
    } else t.diagnostic('zsh is not installed: skipped');
  });

  it('without an argument the shell comes from $SHELL', async () => {
    const r = await run(BIN.oidcCred, ['completion'], { env: { HOME: binDir, SHELL: '/usr/bin/fish' } });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^# fish completion for oidc-cred/);
    const none = await run(BIN.oidcCred, ['completion'], { env: { HOME: binDir } });
    assert.equal(none.code, 2);
    assert.equal(none.stderr, "oidc-cred: completion needs a shell: bash, zsh or fish (e.g. 'source <(oidc-cred completion bash)')\n");
  });
});
