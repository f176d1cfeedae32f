// kubectl exec credential plugin (SPEC §7): `oidc-cred kube`, alias `get-token`.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import { parseExecInfo } from '../protocols/kube.js';
import { KUBELOGIN_ERROR_ENV } from '../protocols/kubelogin.js';
import { answerTokenCommand } from './answer.js';

export function kube(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  // A kubelogin flag that cannot be honoured (translateKubeloginArgs ran before any parser).
  const kubelogin = deps.env[KUBELOGIN_ERROR_ENV];
  if (kubelogin) throw new UsageError(kubelogin);
  // Validate what kubectl sent before anything else (config, cache): a bad KUBERNETES_EXEC_INFO
  // is exit 1 with one line, and nothing on stdout (SPEC §7, §10).
  parseExecInfo(deps.env.KUBERNETES_EXEC_INFO);
  return answerTokenCommand(['kube'], flags, deps);
}
