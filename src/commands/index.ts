// Command handlers of the full program. Each takes (positionals, flags, deps) and returns an exit
// code; errors propagate to main(), which reports them.
export { login, token, status, logout } from './core.js';
export { git } from './git.js';
export { kube } from './kube.js';
export { docker } from './docker.js';
export { setup } from './setup.js';
export { doctor } from './doctor.js';
export { completion } from './completion.js';

/**
 * The command list: the yargs tree (cli.ts) and the shell completions (completion.ts) are built
 * from it, with each command's own flags from COMMAND_OPTIONS (config/options.ts).
 */
export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly describe: string;
  /** The one positional argument, and the values it takes. */
  readonly positional?: { readonly name: string; readonly describe: string; readonly choices: readonly string[] };
  /** One example line, shown by `oidc-cred <command> --help`. */
  readonly example: string;
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'login', describe: 'log in now and cache the tokens', example: 'oidc-cred login --profile work' },
  { name: 'token', describe: 'print a valid access token (or ID token), logging in or refreshing on demand', example: 'curl -H "Authorization: Bearer $(oidc-cred token)" https://api.example.com/' },
  { name: 'status', describe: 'list cached sessions (never prints a token)', example: 'oidc-cred status --json' },
  { name: 'logout', describe: 'remove the cached session(s)', example: 'oidc-cred logout --all --revoke' },
  {
    name: 'git',
    describe: 'git credential helper (get, store, erase)',
    positional: { name: 'action', describe: 'what git asks for', choices: ['get', 'store', 'erase'] },
    example: 'printf "protocol=https\\nhost=git.example.com\\n\\n" | oidc-cred git get',
  },
  { name: 'kube', aliases: ['get-token'], describe: 'kubectl exec credential plugin (prints an ExecCredential)', example: 'oidc-cred setup kube --profile work --cluster prod --write' },
  {
    name: 'docker',
    describe: 'docker credential helper (get, store, erase, list)',
    positional: { name: 'action', describe: 'what docker asks for', choices: ['get', 'store', 'erase', 'list'] },
    example: 'echo registry.example.com | oidc-cred docker get',
  },
  {
    name: 'setup',
    describe: 'print (or with --write apply) the configuration that wires a tool to oidc-cred',
    positional: { name: 'tool', describe: 'which tool', choices: ['git', 'kube', 'docker'] },
    example: 'oidc-cred setup git --profile work --write',
  },
  { name: 'doctor', describe: 'check the config, the provider, the cached session and the wiring; never logs in', example: 'oidc-cred doctor --profile work' },
  {
    name: 'completion',
    describe: 'print a shell completion script',
    positional: { name: 'shell', describe: 'which shell', choices: ['bash', 'zsh', 'fish'] },
    example: 'source <(oidc-cred completion bash)',
  },
];
