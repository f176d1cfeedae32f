// kubectl exec credential plugin (docs/kubernetes.md, client-go's ExecCredential): KUBERNETES_EXEC_INFO in,
// one ExecCredential JSON object out, in the apiVersion the caller spoke.
import { OidcCredError } from '../errors.js';

export const KUBE_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type KubeVersion = (typeof KUBE_VERSIONS)[number];
/** client-go sends no KUBERNETES_EXEC_INFO for v1alpha1-era kubeconfigs; docs/kubernetes.md: absent → v1beta1. */
export const DEFAULT_KUBE_VERSION: KubeVersion = 'client.authentication.k8s.io/v1beta1';

/**
 * KUBERNETES_EXEC_INFO is unusable. Not a UsageError (exit 2): the command line was fine, what
 * kubectl handed over was not — docs/configuration.md, "Exit codes and errors" exit 1, one line (issue 4).
 */
export class ExecInfoError extends OidcCredError {
  override readonly code = 'KUBE_EXEC_INFO';
}

export interface KubeRequest {
  apiVersion: KubeVersion;
  /** spec.interactive; undefined when KUBERNETES_EXEC_INFO is absent or does not say. */
  interactive: boolean | undefined;
  /** spec.cluster.server, sent only with provideClusterInfo: true. */
  server: string | undefined;
}

/** Shown in messages: short, and never more than a few printable characters of what we were sent. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseExecInfo(raw: string | undefined): KubeRequest {
  if (raw === undefined || raw.trim() === '') return { apiVersion: DEFAULT_KUBE_VERSION, interactive: undefined, server: undefined };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ExecInfoError('KUBERNETES_EXEC_INFO is not valid JSON', { hint: 'it is set by kubectl; unset it to run oidc-cred kube by hand' });
  }
  if (!isObject(json)) throw new ExecInfoError('KUBERNETES_EXEC_INFO is not a JSON object');
  const apiVersion = json.apiVersion === undefined ? DEFAULT_KUBE_VERSION : json.apiVersion;
  if (typeof apiVersion !== 'string' || !(KUBE_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new ExecInfoError(`KUBERNETES_EXEC_INFO has apiVersion ${show(apiVersion)}, which oidc-cred does not speak`, {
      hint: `use ${KUBE_VERSIONS.join(' or ')} in the kubeconfig exec entry`,
    });
  }
  if (json.kind !== undefined && json.kind !== 'ExecCredential') throw new ExecInfoError(`KUBERNETES_EXEC_INFO has kind ${show(json.kind)}, not ExecCredential`);
  if (json.spec !== undefined && json.spec !== null && !isObject(json.spec)) throw new ExecInfoError('KUBERNETES_EXEC_INFO has a spec that is not an object');
  const spec = isObject(json.spec) ? json.spec : {};
  if (spec.interactive !== undefined && typeof spec.interactive !== 'boolean') throw new ExecInfoError('KUBERNETES_EXEC_INFO has a spec.interactive that is not true or false');
  const cluster = isObject(spec.cluster) ? spec.cluster : {};
  return {
    apiVersion: apiVersion as KubeVersion,
    interactive: typeof spec.interactive === 'boolean' ? spec.interactive : undefined,
    server: typeof cluster.server === 'string' && cluster.server.trim() ? cluster.server.trim() : undefined,
  };
}

/** RFC 3339 in UTC without fractional seconds, as client-go prints metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Exactly docs/kubernetes.md's shape, one line. The expiry lets client-go re-run the plugin in time instead
 * of waiting for a 401; without a finite expiry it is left out (client-go then caches until 401).
 */
export function formatExecCredential(req: Pick<KubeRequest, 'apiVersion'>, token: string, expiresAt: number): string {
  const status: { token: string; expirationTimestamp?: string } = { token };
  if (Number.isFinite(expiresAt) && Math.abs(expiresAt) <= 8.64e15) status.expirationTimestamp = rfc3339(expiresAt);
  return `${JSON.stringify({ kind: 'ExecCredential', apiVersion: req.apiVersion, status })}\n`;
}
