// URL matching of `match` entries (README "Config file", docs/docker.md): entries are URL
// prefixes and the longest matching entry wins. Matching stops at URL boundaries so that
// `https://git.example.com` never matches `https://git.example.com.evil.test/`.
//
// - A bare host (`registry.example.com`, `host:5000`) covers https on any port (or on its own
//   port) and any path of that host, and docker's scheme-less server names for it. It never
//   covers `http://`: a token in cleartext must be asked for by writing `http://host:5000` out.
// - docker sends server names without a scheme (`localhost:5000`); such a name is compared with
//   an `http://` or `https://` entry by host, port and path, whatever the entry's scheme: the
//   entry is what the user wired (docker decides itself whether it may speak plain http).
// - Docker Hub is one registry under all its names: docker.io, index.docker.io,
//   registry-1.docker.io and docker's key https://index.docker.io/v1/.
// - An entry may be an object `{"url": …, "for": ["git", "docker", "kube"]}`: it then serves only
//   requests from those tools, and setup git/docker use `for` to decide what to wire.

export const TOOLS = ['git', 'docker', 'kube'] as const;
export type Tool = (typeof TOOLS)[number];

export interface MatchEntry {
  url: string;
  /** The tools this entry is for; undefined: every tool (the plain list). */
  for?: readonly Tool[] | undefined;
}

export type MatchInput = string | MatchEntry;

const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
/** Docker Hub's credentials are keyed by this URL, whatever name the user gave the registry. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export function entryOf(m: MatchInput): MatchEntry {
  return typeof m === 'string' ? { url: m } : m;
}

interface Parsed {
  scheme: string; // 'https:', 'http:', …
  host: string; // host[:port], lower case, default port dropped, Docker Hub canonical
  hostname: string;
  path: string;
  search: string;
}

// The same few strings are parsed for every entry of every profile: once is enough (hot path).
const parsed = new Map<string, Parsed | undefined>();
function parse(raw: string, defaultScheme = 'https'): Parsed | undefined {
  const key = `${defaultScheme} ${raw}`;
  if (parsed.has(key)) return parsed.get(key);
  const p = parseUncached(raw, defaultScheme);
  parsed.set(key, p);
  return p;
}

function parseUncached(raw: string, defaultScheme: string): Parsed | undefined {
  const s = raw.trim();
  if (!s) return undefined;
  let u: URL;
  try {
    u = new URL(SCHEME.test(s) ? s : `${defaultScheme}://${s}`);
  } catch {
    return undefined;
  }
  if (!u.hostname) return undefined;
  let host = u.host;
  let hostname = u.hostname;
  let path = u.pathname || '/';
  if (HUB_HOSTS.has(u.hostname) && u.port === '') {
    // One registry, one name; docker's own key carries the v1 path, which names no repository.
    host = hostname = 'docker.io';
    if (path === '/v1' || path === '/v1/') path = '/';
  }
  return { scheme: u.protocol, host, hostname, path, search: u.search };
}

function isBareHost(url: string): boolean {
  return !SCHEME.test(url.trim());
}

/** Lower-cases scheme and host, adds a default `/` path, accepts docker's scheme-less host names. */
export function normalizeUrl(raw: string): string | undefined {
  const p = parse(raw);
  return p && `${p.scheme}//${p.host}${p.path}${p.search}`;
}

/** Why a `match` entry's URL cannot be used, or undefined when it can (config validation). */
export function entryProblem(url: string): string | undefined {
  const p = parse(url);
  if (!p) return `"${url}" is not a host name or URL`;
  if (isBareHost(url) && (p.path !== '/' || p.search || url.includes('@'))) {
    return `"${url}" is a bare host with more than host[:port] (write the URL out, e.g. "https://${p.host}${p.path}")`;
  }
  return undefined;
}

/** How specific `entry` is for `url` (its length), or -1 when it does not match. */
export function matchScore(entry: MatchInput, url: string, tool?: Tool): number {
  const e = entryOf(entry);
  if (tool && e.for && !e.for.includes(tool)) return -1;
  const schemeless = isBareHost(url);
  // A registry name has no user part: `evil.test@registry.example.com` is not that registry's.
  if (schemeless && url.includes('@')) return -1;
  if (isBareHost(e.url)) {
    const t = parse(url);
    const b = parse(e.url);
    if (!t || !b || b.path !== '/') return -1;
    // https only, or docker's scheme-less name: never a cleartext http request.
    if (!schemeless && t.scheme !== 'https:') return -1;
    // "host" matches host on any port only when the entry names no port itself.
    const ok = b.host !== b.hostname || /:\d+$/.test(e.url.trim()) ? t.host === b.host : t.hostname === b.hostname;
    return ok ? e.url.trim().replace(/\/+$/, '').length : -1;
  }
  const prefix = parse(e.url);
  if (!prefix) return -1;
  // A scheme-less docker name is read with the entry's own scheme (http or https).
  const viaScheme = schemeless && (prefix.scheme === 'http:' || prefix.scheme === 'https:') ? prefix.scheme.slice(0, -1) : 'https';
  const t = parse(url, viaScheme);
  if (!t) return -1;
  const target = `${t.scheme}//${t.host}${t.path}${t.search}`;
  const full = `${prefix.scheme}//${prefix.host}${prefix.path}${prefix.search}`;
  // An entry without a path means "the whole host": compare without the default "/".
  const p = prefix.path === '/' && !prefix.search ? full.slice(0, -1) : full;
  if (!target.startsWith(p)) return -1;
  const next = target.charAt(p.length);
  if (next === '' || p.endsWith('/') || next === '/' || next === '?' || next === '#') return p.length;
  return -1;
}

export function bestMatch<T extends { match: readonly MatchInput[] }>(
  candidates: ReadonlyArray<[string, T]>,
  url: string,
  tool?: Tool,
): [string, T] | undefined {
  let best: [string, T] | undefined;
  let bestScore = -1;
  for (const c of candidates) {
    for (const entry of c[1].match) {
      const score = matchScore(entry, url, tool);
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
  }
  return best;
}

/**
 * Which tools `setup` wires an entry for (docs/docker.md "Which entries setup wires"): its
 * `for`, or else what it looks like — a registry is written without a scheme (host or
 * host:port) or as a Docker Hub name; an API server is `https://host:port` with a port and no
 * path, as kubeconfig's `server:` is; every other http(s) URL is a git server, and
 * `http://host:port` without a path may be a git server or a plain-http registry: both.
 */
export function entryTools(entry: MatchInput): readonly Tool[] {
  const e = entryOf(entry);
  if (e.for) return e.for;
  const p = parse(e.url);
  if (!p) return [];
  const wholeHost = p.path === '/' && !p.search;
  if (isBareHost(e.url) || p.hostname === 'docker.io') return ['docker'];
  // A plain-http registry must be written out, and so must a plain-http git server: `for` tells them apart.
  if (p.scheme === 'http:' && wholeHost) return ['git', 'docker'];
  if (p.scheme === 'https:' && wholeHost && p.host !== p.hostname) return ['kube'];
  if (p.scheme === 'https:' || p.scheme === 'http:') return ['git'];
  return [];
}

/** The key docker looks up in credHelpers for a registry entry: host[:port] (Docker Hub: its URL). */
export function registryKey(entry: MatchInput): string | undefined {
  const p = parse(entryOf(entry).url);
  if (!p) return undefined;
  return p.hostname === 'docker.io' && p.host === 'docker.io' ? DOCKER_HUB_KEY : p.host;
}
