// Reading and editing a session file as tests do (format 2, docs/cache.md): one login per file,
// each API's access token in `apis`.

/**
 * The API record of a session file that holds exactly one API (a test with one profile): its
 * access token, token type, expires_at, obtained_at, uptime_at. Edits to it are edits of the session.
 */
export function onlyApi(s: Record<string, unknown>): Record<string, unknown> {
  const apis = Object.values((s.apis ?? {}) as Record<string, Record<string, unknown>>);
  if (apis.length !== 1) throw new Error(`expected a session with one API, found ${apis.length}`);
  return apis[0]!;
}
