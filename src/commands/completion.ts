// oidc-cred completion [bash|zsh|fish]: a completion script built from the command list
// (commands/index.ts) and the option table (config/options.ts), so that it can never offer a flag
// the program does not take. Without an argument the shell is taken from $SHELL.
import { basename } from 'node:path';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS, type OptionSpec } from '../config/options.js';
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import { COMMANDS } from './index.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** Options whose value names a file or a directory, for the shells' own path completion. */
const FILE_OPTIONS = new Set(['config', 'client-secret-file', 'ca-file']);
const DIR_OPTIONS = new Set(['cache-dir']);

export async function completion(p: string[], _flags: RawOptions, deps: Deps): Promise<number> {
  const asked = p[1] ?? basename(deps.env.SHELL ?? '');
  if (!SHELLS.includes(asked as Shell)) {
    throw new UsageError(p[1] ? `completion knows bash, zsh and fish, not "${p[1]}"` : 'completion needs a shell: bash, zsh or fish', {
      hint: "e.g. 'source <(oidc-cred completion bash)'",
    });
  }
  deps.stdout.write(completionScript(asked as Shell));
  return 0;
}

export function completionScript(shell: Shell): string {
  return shell === 'fish' ? fish() : shell === 'zsh' ? zsh() : bash();
}

const takesValue = (o: OptionSpec): boolean => o.type !== 'boolean';
const flagsOf = (list: readonly OptionSpec[]): string[] => list.flatMap((o) => [`--${o.name}`, ...(o.alias ? [`-${o.alias}`] : [])]);
const commandOptions = (name: string): readonly OptionSpec[] => COMMAND_OPTIONS[name] ?? [];
const ALL_OPTIONS = (): OptionSpec[] => [...GLOBAL_OPTIONS, ...Object.values(COMMAND_OPTIONS).flat()];

function bash(): string {
  const valued = [...new Set(ALL_OPTIONS().filter(takesValue).map((o) => `--${o.name}`))];
  const choiceCases = ALL_OPTIONS()
    .filter((o) => o.choices)
    .map((o) => `    --${o.name}) COMPREPLY=($(compgen -W "${o.choices!.join(' ')}" -- "$cur")); return ;;`);
  const uniqueChoices = [...new Set(choiceCases)];
  const commandNames = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const perCommand = COMMANDS.map((c) => {
    const names = [c.name, ...(c.aliases ?? [])].join('|');
    return `    ${names}) flags="$flags ${flagsOf(commandOptions(c.name)).join(' ')}"; args="${c.positional?.choices.join(' ') ?? ''}" ;;`;
  });
  return `# bash completion for oidc-cred. Load it with: source <(oidc-cred completion bash)
# or install it: oidc-cred completion bash > ~/.local/share/bash-completion/completions/oidc-cred
_oidc_cred() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" nargs=0 i w flags args
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  case "$prev" in
${uniqueChoices.join('\n')}
    ${[...FILE_OPTIONS].map((n) => `--${n}`).join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${[...DIR_OPTIONS].map((n) => `--${n}`).join('|')}) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    ${valued.join('|')}) return ;;
  esac
  # The command is the first word that is neither a flag nor a flag's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued.join('|')}) i=$((i + 1)) ;;
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="$w"; else nargs=$((nargs + 1)); fi ;;
    esac
  done
  flags="${flagsOf(GLOBAL_OPTIONS).join(' ')} --help -h"
  args=""
  case "$cmd" in
${perCommand.join('\n')}
    "") args="${commandNames.join(' ')}"; flags="$flags --version" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$nargs" -eq 0 ]; then
    COMPREPLY=($(compgen -W "$args" -- "$cur"))
  fi
}
complete -F _oidc_cred oidc-cred
`;
}

function zsh(): string {
  // zsh runs the bash function through bashcompinit, so both shells complete from one script.
  return `#compdef oidc-cred
# zsh completion for oidc-cred. Load it with: source <(oidc-cred completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash()
  .split('\n')
  .filter((l) => !l.startsWith('# '))
  .join('\n')}`;
}

function fishQuote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fish(): string {
  const lines = ['# fish completion for oidc-cred. Load it with: oidc-cred completion fish | source', 'complete -c oidc-cred -f'];
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  for (const c of COMMANDS) {
    lines.push(`complete -c oidc-cred -n 'not __fish_seen_subcommand_from ${names.join(' ')}' -a ${c.name} -d ${fishQuote(c.describe)}`);
    if (c.positional) {
      const seen = [c.name, ...(c.aliases ?? [])].join(' ');
      lines.push(`complete -c oidc-cred -n '__fish_seen_subcommand_from ${seen}; and not __fish_seen_subcommand_from ${c.positional.choices.join(' ')}' -a ${fishQuote(c.positional.choices.join(' '))}`);
    }
  }
  const option = (o: OptionSpec, condition: string | undefined): string => {
    const parts = ['complete -c oidc-cred'];
    if (condition) parts.push(`-n ${fishQuote(condition)}`);
    parts.push(`-l ${o.name}`);
    if (o.alias) parts.push(`-s ${o.alias}`);
    if (o.choices) parts.push(`-x -a ${fishQuote(o.choices.join(' '))}`);
    else if (FILE_OPTIONS.has(o.name) || DIR_OPTIONS.has(o.name)) parts.push('-r -F');
    else if (takesValue(o)) parts.push('-x');
    parts.push(`-d ${fishQuote(o.describe)}`);
    return parts.join(' ');
  };
  for (const o of GLOBAL_OPTIONS) lines.push(option(o, undefined));
  for (const c of COMMANDS) for (const o of commandOptions(c.name)) lines.push(option(o, `__fish_seen_subcommand_from ${[c.name, ...(c.aliases ?? [])].join(' ')}`));
  return `${lines.join('\n')}\n`;
}
