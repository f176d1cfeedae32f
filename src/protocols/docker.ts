// docker credential helper protocol (SPEC §8, docker/docker-credential-helpers): the server URL
// on stdin for get/erase, JSON on stdout; "credentials not found in native keychain" for an
// unknown server, as docker expects from every helper.

export const NOT_FOUND = 'credentials not found in native keychain';

export function parseServerUrl(stdin: string): string {
  return stdin.replace(/\0/g, '').trim().split('\n')[0]!.trim();
}

export function formatDockerAnswer(serverUrl: string, username: string, secret: string): string {
  return `${JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret })}\n`;
}
