// A smart-HTTP git server on 127.0.0.1 for the git tests and the demo (issue 3): node's http server in front of
// `git http-backend` (CGI), answering 401 `WWW-Authenticate: Basic realm="git"` unless the Basic
// password is an access token the test provider accepts (asked at its userinfo endpoint, the way
// a resource server that takes opaque tokens would). Nothing is written to stdout.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

export interface GitServerOptions {
  /** Says whether an access token is valid: e.g. `(t) => provider.userinfo(t)`; null/false = no. */
  verify(token: string): Promise<unknown>;
  /** How long a positive answer of `verify` is reused (ms). Default 5000. */
  cacheMs?: number;
  /** Repository name (under the project root). Default 'repo.git'. */
  repo?: string;
}

export interface GitServerCounts {
  /** every HTTP request */
  requests: number;
  /** requests answered 401 */
  unauthorized: number;
  /** requests let through to git http-backend */
  authorized: number;
  /** calls of `verify` (the cache spares the rest) */
  verifications: number;
  /** Basic user names of authorized requests */
  users: Map<string, number>;
  /** tokens turned away by rejectNextValid */
  forcedRejections: number;
}

export interface GitServer {
  /** http://127.0.0.1:<port>/<repo> — what a test clones */
  readonly url: string;
  readonly origin: string;
  readonly counts: GitServerCounts;
  /** The next N requests carrying a *valid* token get 401 anyway, and that token stays refused
   * for good (a resource server that revoked it): git must erase it and come back with another. */
  rejectNextValid(n: number): void;
  resetCounts(): void;
  close(): Promise<void>;
}

function emptyCounts(): GitServerCounts {
  return { requests: 0, unauthorized: 0, authorized: 0, verifications: 0, users: new Map(), forcedRejections: 0 };
}

/** Creates a bare repository with one commit, served at `/<repo>`. */
export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), 'oidc-cred-git-'));
  const repo = opts.repo ?? 'repo.git';
  const env = { ...gitEnv(root), GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.com' };
  const work = join(root, 'work');
  execFileSync('git', ['init', '-q', '-b', 'main', work], { env });
  execFileSync('git', ['-C', work, 'commit', '-q', '--allow-empty', '-m', 'first'], { env });
  execFileSync('git', ['clone', '-q', '--bare', work, join(root, repo)], { env });
  rmSync(work, { recursive: true, force: true });

  const counts = emptyCounts();
  const cacheMs = opts.cacheMs ?? 5000;
  const valid = new Map<string, number>(); // token → valid until (ms)
  const refused = new Set<string>();
  let rejectBudget = 0;

  async function authorized(req: IncomingMessage): Promise<string | undefined> {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const token = decoded.slice(colon + 1);
    if (!token || refused.has(token)) return undefined;
    if ((valid.get(token) ?? 0) < Date.now()) {
      counts.verifications += 1;
      const ok = await opts.verify(token).catch(() => null);
      if (!ok) return undefined;
      valid.set(token, Date.now() + cacheMs);
    }
    if (rejectBudget > 0) {
      rejectBudget -= 1;
      counts.forcedRejections += 1;
      refused.add(token);
      valid.delete(token);
      return undefined;
    }
    return user || '(empty)';
  }

  const server = createServer((req, res) => {
    counts.requests += 1;
    authorized(req)
      .then((user) => {
        if (!user) {
          counts.unauthorized += 1;
          req.resume();
          res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
          res.end('authentication required\n');
          return;
        }
        counts.authorized += 1;
        counts.users.set(user, (counts.users.get(user) ?? 0) + 1);
        cgi(req, res, root, user);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/${repo}`,
    origin,
    counts,
    rejectNextValid(n: number): void {
      rejectBudget = n;
    },
    resetCounts(): void {
      Object.assign(counts, emptyCounts());
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(root, { recursive: true, force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

function gitEnv(root: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' };
}

/** Runs git http-backend as a CGI (RFC 3875) and relays its answer. */
function cgi(req: IncomingMessage, res: ServerResponse, root: string, user: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const child = spawn(HTTP_BACKEND, [], {
    env: {
      ...gitEnv(root),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] ? { HTTP_GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      REMOTE_USER: user,
      REMOTE_ADDR: '127.0.0.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  let head = Buffer.alloc(0);
  let headerDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headerDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    let sep = head.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (sep < 0) {
      sep = head.indexOf('\n\n');
      sepLen = 2;
    }
    if (sep < 0) return;
    headerDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, sep).toString('latin1').split(/\r?\n/)) {
      const c = line.indexOf(':');
      if (c < 0) continue;
      const k = line.slice(0, c).trim();
      const v = line.slice(c + 1).trim();
      if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10) || 200;
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(sep + sepLen));
  });
  child.stdout.on('end', () => {
    if (!headerDone) res.writeHead(502);
    res.end();
  });
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}
