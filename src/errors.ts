// Error classes with a stable `code`, a `cause`, and the exit code they map to (docs/configuration.md, "Exit codes and errors").
// Messages are single lines that say what was being attempted; `hint` says what to do next.
// Nothing secret is ever put into a message: callers pass descriptions, never token values.

export interface ErrorOptions {
  cause?: unknown;
  hint?: string;
}

export class OidcCredError extends Error {
  readonly code: string = 'OIDC_CRED_ERROR';
  readonly exitCode: number = 1;
  readonly hint: string | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message);
    this.name = new.target.name;
    this.hint = options.hint;
    if (options.cause !== undefined) {
      // Non-enumerable, so that logging or serialising an error cannot drag a response body along.
      Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: true });
    }
  }
}

/** Bad command line: exit 2. */
export class UsageError extends OidcCredError {
  override readonly code = 'USAGE';
  override readonly exitCode = 2;
}

/** The config file or a resolved option is wrong. Names the file, the key and the problem. */
export class ConfigError extends OidcCredError {
  override readonly code = 'CONFIG';
}

export class CacheError extends OidcCredError {
  override readonly code = 'CACHE';
}

export class LockError extends OidcCredError {
  override readonly code = 'LOCK';
}

/** The provider answered something unusable, or nothing at all. */
export class ProviderError extends OidcCredError {
  override readonly code = 'PROVIDER';
}

/** The interactive login did not complete: denied, timed out, browser error, state errors. */
export class LoginError extends OidcCredError {
  override readonly code: string = 'LOGIN';
}

/** A login would be needed, but nobody can see it or the user forbade it (docs/configuration.md). */
export class NotInteractiveError extends LoginError {
  override readonly code = 'NOT_INTERACTIVE';
}

/** A refresh token the provider no longer accepts (invalid_grant). */
export class RefreshRejectedError extends OidcCredError {
  override readonly code = 'REFRESH_REJECTED';
}

/**
 * The provider will not issue a token for the API asked for with this refresh token
 * (RFC 8707 invalid_target, RFC 6749 invalid_scope); the refresh token itself is still good.
 */
export class ApiRefusedError extends OidcCredError {
  override readonly code = 'API_REFUSED';
}

/** The OS credential store that holds (or is to hold) a refresh token cannot be reached (docs/keyring.md). */
export class KeyringError extends OidcCredError {
  override readonly code = 'KEYRING';
}

/** Ctrl-C, SIGTERM or SIGHUP: 128 + signal number. */
export class InterruptedError extends OidcCredError {
  override readonly code = 'INTERRUPTED';
  override readonly exitCode: number;
  readonly signal: string;
  constructor(signal: NodeJS.Signals | string = 'SIGINT', message?: string) {
    // Ctrl-C is a person changing their mind, not an accident.
    super(message ?? (signal === 'SIGINT' ? 'cancelled (Ctrl-C)' : `interrupted by ${signal}`));
    this.signal = signal;
    this.exitCode = signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : 130;
  }
}

/** Git `get` / docker `get` for a URL that no profile matches: not an error for git (exit 0, no output). */
export class NoMatchingProfile extends OidcCredError {
  override readonly code = 'NO_MATCH';
}

/** Builds the one-line message of docs/configuration.md, "Exit codes and errors": `oidc-cred: <what failed>: <why>. <what to do>` */
export function describeError(err: unknown): string {
  if (err instanceof OidcCredError) {
    const why = causeText(err.cause);
    let line = `oidc-cred: ${err.message}`;
    if (why && !err.message.includes(why)) line += `: ${why}`;
    if (err.hint) line += ` (${err.hint})`;
    return oneLine(line);
  }
  if (err instanceof Error) return oneLine(`oidc-cred: unexpected error: ${err.message}`);
  return oneLine(`oidc-cred: unexpected error: ${String(err)}`);
}

function causeText(cause: unknown): string {
  if (cause === undefined || cause === null) return '';
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const msg = cause.message || String(code ?? cause.name);
    return typeof code === 'string' && /^E[A-Z]+$/.test(code) && !msg.includes(code) ? `${msg} (${code})` : msg;
  }
  return String(cause);
}

export function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
}

/** Errors that mean "this directory cannot be written at all" rather than "someone holds it". */
export const UNWRITABLE: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT']);

/** The errno code of an error or of the error it wraps. */
export function errnoOf(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; e && i < 4; i++) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return '';
}
