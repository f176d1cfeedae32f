// The full-program half of a token-handing command: plan it (as the hot path did), get the token
// through the lock/refresh/login path, print the protocol's answer.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { planTokenCommand } from '../plan.js';
import { getToken } from '../slow.js';

export async function answerTokenCommand(positionals: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const plan = await planTokenCommand(positionals, flags, deps);
  if (!plan) throw new Error(`not a token command: ${positionals.join(' ')}`);
  if (plan.type === 'done') {
    deps.stdout.write(plan.stdout);
    return plan.exitCode;
  }
  const answer = await getToken({ settings: plan.settings, kind: plan.kind }, deps);
  deps.stdout.write(plan.format(answer));
  return 0;
}
