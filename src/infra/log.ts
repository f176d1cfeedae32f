// The one way text reaches stderr. Every line passes through redact(): tokens, codes and
// secrets seen during the run are registered and replaced, and anything shaped like a JWT or a
// `token=...` pair is masked even if nobody registered it (docs/configuration.md, "Exit codes and errors").

export interface Writable {
  write(s: string): unknown;
}

const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
// `name=value` (query strings, git's protocol) and `"name": "value"` (JSON bodies).
const PAIRS =
  /\b(access_token|refresh_token|id_token|device_code|client_secret|code|code_verifier|password|credential|assertion)(=|"\s*:\s*")([^\s&"',;}]+)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

// Terminal control: C0 controls but tab and newline (ESC starts OSC 52 clipboard writes, title
// changes and line erasing; CR overwrites a line), DEL, C1 controls (U+009B is a one-character
// CSI), and the bidi embeddings, overrides and isolates that reorder what is shown (Unicode
// UAX #9; CVE-2021-42574 "Trojan Source").
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Shows every terminal control character of text from outside as a visible `\xNN` / `\uNNNN` escape. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

export class Logger {
  readonly #secrets = new Set<string>();
  #announced = new Set<string>();
  constructor(
    private readonly out: Writable,
    public verbose = false,
  ) {}

  /** Registers a value that must never be shown. Short values are ignored: they would mask words. */
  secret(value: string | undefined | null): void {
    if (value && value.length >= 8) this.#secrets.add(value);
  }

  redact(text: string): string {
    let s = text;
    for (const v of this.#secrets) if (s.includes(v)) s = s.split(v).join('[redacted]');
    return s
      .replace(JWT, '[redacted-jwt]')
      .replace(PAIRS, (_m, k: string, sep: string, v: string) => (v === '[redacted]' || v === '[redacted-jwt]' ? `${k}${sep}${v}` : `${k}${sep}[redacted]`))
      .replace(BEARER, '$1 [redacted]');
  }

  /** A line for the user. */
  info(line: string): void {
    this.out.write(`${escapeControls(this.redact(line))}\n`);
  }

  /**
   * A line holding text the user must be able to use as shown, such as RFC 8628's
   * verification_uri_complete (`…/device?code=<user code>` at Glewlwyd, docs/providers/glewlwyd.md):
   * the `name=value` masking would turn it into a dead link. Values registered with secret() are
   * still masked, so a provider that put the device code or a token into such a URL cannot get
   * it shown; control characters are escaped, so that it cannot drive the terminal either.
   */
  forUser(line: string): void {
    let s = line;
    for (const v of this.#secrets) if (s.includes(v)) s = s.split(v).join('[redacted]');
    // One line, with every control character escaped like the logger's other lines.
    this.out.write(`${escapeControls(s.replace(/[\r\n]/g, (c) => (c === '\n' ? '\\x0a' : '\\x0d')))}\n`);
  }

  /** A line for the user, said once per process whatever the number of calls. */
  once(id: string, line: string): void {
    if (this.#announced.has(id)) return;
    this.#announced.add(id);
    this.info(line);
  }

  debug(line: string | (() => string)): void {
    if (!this.verbose) return;
    this.out.write(`oidc-cred[debug] ${escapeControls(this.redact(typeof line === 'function' ? line() : line))}\n`);
  }

  /** Unredacted on purpose: only for lines already built from redacted parts, e.g. raw URLs the user must open. */
  raw(line: string): void {
    this.out.write(`${escapeControls(line)}\n`);
  }
}
