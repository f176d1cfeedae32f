// URL matching of SPEC §4: `match` entries are URL prefixes; a bare host matches any scheme and
// path on that host; the longest matching entry wins. Matching stops at URL boundaries so that
// `https://git.example.com` never matches `https://git.example.com.evil.test/`.

/** Lower-cases scheme and host, adds a default `/` path, accepts docker's scheme-less host names. */
export function normalizeUrl(raw: string): string | undefined {
  let s = raw.trim();
  if (!s) return undefined;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `https://${s}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  const path = u.pathname || '/';
  return `${u.protocol}//${u.host}${path}${u.search}`;
}

function isBareHost(entry: string): boolean {
  return !entry.includes('://');
}

/** How specific `entry` is for `url` (its length), or -1 when it does not match. */
export function matchScore(entry: string, url: string): number {
  const target = normalizeUrl(url);
  if (!target) return -1;
  if (isBareHost(entry)) {
    const t = new URL(target);
    const e = entry.trim().toLowerCase().replace(/\/+$/, '');
    if (!e) return -1;
    // "host" matches host on any port only when the entry names no port itself.
    const ok = e.includes(':') ? t.host === e : t.hostname === e;
    return ok ? e.length : -1;
  }
  const prefix = normalizeUrl(entry);
  if (!prefix) return -1;
  // An entry without a path means "the whole host": compare without the default "/".
  const p = entry.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*$/i, '') === '' ? prefix.slice(0, -1) : prefix;
  if (!target.startsWith(p)) return -1;
  const next = target.charAt(p.length);
  if (next === '' || p.endsWith('/') || next === '/' || next === '?' || next === '#') return p.length;
  return -1;
}

export function bestMatch<T extends { match: readonly string[] }>(
  candidates: ReadonlyArray<[string, T]>,
  url: string,
): [string, T] | undefined {
  let best: [string, T] | undefined;
  let bestScore = -1;
  for (const c of candidates) {
    for (const entry of c[1].match) {
      const score = matchScore(entry, url);
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
  }
  return best;
}
