// A small argv parser for the hot path. It understands exactly the options of options.ts and
// gives up (returns undefined) on anything else — an unknown flag, --help, --version, a bad
// number — so that the full yargs CLI parses it and reports the problem. It must never accept
// something yargs would reject, nor read a value differently.
import { COMMAND_OPTIONS, GLOBAL_OPTIONS, type OptionSpec, type RawOptions } from './options.js';

export interface ParsedArgv {
  positionals: string[];
  options: RawOptions;
}

const BY_NAME = new Map<string, OptionSpec>();
for (const o of GLOBAL_OPTIONS) BY_NAME.set(o.name, o);
const BY_ALIAS = new Map<string, OptionSpec>();
for (const o of GLOBAL_OPTIONS) if (o.alias) BY_ALIAS.set(o.alias, o);

export function parseArgvLight(argv: readonly string[]): ParsedArgv | undefined {
  const positionals: string[] = [];
  const options: RawOptions = {};
  const known = new Map(BY_NAME);
  // Command options are accepted for any command here; the hot path only acts on the commands
  // that own them, and yargs (strict) rejects them elsewhere.
  for (const list of Object.values(COMMAND_OPTIONS)) for (const o of list) known.set(o.name, o);

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || arg === '-') return undefined;
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      spec = known.get(name);
      if (!spec) return undefined;
    } else if (arg.startsWith('-') && arg.length === 2) {
      spec = BY_ALIAS.get(arg.slice(1));
      if (!spec) return undefined;
    } else {
      positionals.push(arg);
      continue;
    }
    if (spec.type === 'boolean') {
      // yargs lets a boolean flag take a following "true"/"false" as its value.
      const next = inline ?? (argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i] : undefined);
      if (next === undefined) options[spec.name] = true;
      else if (next === 'true' || next === 'false') options[spec.name] = next === 'true';
      else return undefined;
      continue;
    }
    if (inline === '') return undefined; // `--scope=`: leave the odd cases to yargs
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) return undefined;
      value = argv[++i]!;
      if (value.startsWith('-')) return undefined;
    }
    // `--profile ""`: yargs refuses an empty value (cli.ts); leave it to yargs to say so.
    if (value === '' && spec.type === 'string') return undefined;
    if (spec.type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) return undefined;
      options[spec.name] = n;
    } else if (spec.type === 'array') {
      const prev = options[spec.name];
      options[spec.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      if (spec.choices && !spec.choices.includes(value)) return undefined;
      options[spec.name] = value;
    }
  }
  return { positionals, options };
}
