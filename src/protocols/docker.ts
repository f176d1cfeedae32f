// docker credential helper protocol (docs/docker.md, docker/docker-credential-helpers): the server URL
// on stdin for get/erase, JSON on stdout; "credentials not found in native keychain" for an
// unknown server, as docker expects from every helper (it compares the text exactly).
import { UsageError } from '../errors.js';

export const NOT_FOUND = 'credentials not found in native keychain';

export function parseServerUrl(stdin: string): string {
  return stdin.replace(/\0/g, '').trim().split('\n')[0]!.trim();
}

export function formatDockerAnswer(serverUrl: string, username: string, secret: string): string {
  return `${JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret })}\n`;
}

/** `store` input: {"ServerURL","Username","Secret"}. Checked, never echoed (it holds a password). */
export function parseStoreInput(stdin: string): { ServerURL: string; Username: string } {
  let v: unknown;
  try {
    v = JSON.parse(stdin);
  } catch {
    throw new UsageError('docker sent credentials that are not JSON');
  }
  if (typeof v !== 'object' || v === null || typeof (v as { ServerURL?: unknown }).ServerURL !== 'string') {
    throw new UsageError('docker sent credentials without a ServerURL');
  }
  const o = v as { ServerURL: string; Username?: unknown };
  return { ServerURL: o.ServerURL, Username: typeof o.Username === 'string' ? o.Username : '' };
}
