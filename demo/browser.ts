// A scripted "browser" for tests and the demo: oidc-cred runs `<browser command…> <URL>`,
// and this follows the URL the way a user who always clicks "yes" would.
//
//   node --import tsx demo/browser.ts [flags] <URL>
//
//   --log FILE          append one line per run: `<pid> <url>[ forged=<status>][ replay=<status|ERR>]`
//                       [ error=<reason>]. The line is written as soon as all of its fields are
//                       known: at start without --forge-state/--replay (so counting runs has no
//                       race with oidc-cred finishing), just before the real callback with
//                       --forge-state, after the replay with --replay.
//   --forge-state       first GET the callback with a bogus `state` (records forged=<status>)
//   --replay            after the real callback, GET it again (records replay=<status|ERR>)
//   --delay MS          sleep before doing anything
//   --wait-for FILE     write the log line, then wait until FILE exists before following the URL
//                       (a login the test holds open until its waiters are observably waiting)
//   --stop-at-provider  GET the provider's authorization request, then exit 0 (abandoned login)
//   --exit-code N       log, then exit N without opening anything (a browser that fails)
//   --callback-path P   path of the loopback callback (default /callback)
//
// It never writes to stdout: oidc-cred's stdout may belong to git or kubectl, and whatever a
// launched browser prints lands there unless the launcher redirects it (STYLE.md habit 1).
import { appendFileSync, existsSync } from 'node:fs';

import { autoSubmitForm, CookieJar, decodeEntities, httpRequest, isRedirect, type HttpResponse } from './http-client.js';

interface Flags {
  log: string | undefined;
  forgeState: boolean;
  replay: boolean;
  delayMs: number;
  waitFor: string | undefined;
  stopAtProvider: boolean;
  exitCode: number | undefined;
  callbackPath: string;
  url: string;
}

class UsageError extends Error {}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = {
    log: undefined,
    forgeState: false,
    replay: false,
    delayMs: 0,
    waitFor: undefined,
    stopAtProvider: false,
    exitCode: undefined,
    callbackPath: '/callback',
    url: '',
  };
  const value = (i: number, name: string): string => {
    const v = argv[i];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    return v;
  };
  const int = (s: string, name: string): number => {
    if (!/^\d+$/.test(s)) throw new UsageError(`${name} needs a non-negative integer, got ${s}`);
    return Number(s);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] ?? '';
    switch (a) {
      case '--log': flags.log = value(++i, a); break;
      case '--forge-state': flags.forgeState = true; break;
      case '--replay': flags.replay = true; break;
      case '--delay': flags.delayMs = int(value(++i, a), a); break;
      case '--wait-for': flags.waitFor = value(++i, a); break;
      case '--stop-at-provider': flags.stopAtProvider = true; break;
      case '--exit-code': flags.exitCode = int(value(++i, a), a); break;
      case '--callback-path': flags.callbackPath = value(++i, a); break;
      default:
        if (a.startsWith('--')) throw new UsageError(`unknown flag ${a}`);
        // The URL is the last word oidc-cred appends; anything after it is a mistake.
        if (flags.url) throw new UsageError(`unexpected argument ${a}`);
        flags.url = a;
    }
  }
  if (!flags.url) throw new UsageError('no URL given');
  return flags;
}

/** The one log line of this run, written once (see the header comment). */
class RunLog {
  readonly #fields: string[];
  #written = false;

  constructor(readonly file: string | undefined, url: string) {
    this.#fields = [String(process.pid), url];
  }

  add(field: string): void {
    this.#fields.push(field);
  }

  write(): void {
    if (this.#written || !this.file) return;
    this.#written = true;
    // One short appendFileSync = one O_APPEND write: lines from concurrent browsers do not
    // interleave.
    appendFileSync(this.file, `${this.#fields.join(' ')}\n`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls for `file`; gives up (false) when oidc-cred, our parent, has gone away meanwhile. */
async function waitForFile(file: string): Promise<boolean> {
  const parent = process.ppid;
  while (!existsSync(file)) {
    if (process.ppid !== parent) return false;
    await sleep(20);
  }
  return true;
}

function isCallback(url: URL, flags: Flags): boolean {
  return url.pathname === flags.callbackPath;
}

/** An authorization request (RFC 6749 §4.1.1): where the user would see the login page. */
function isAuthorizationRequest(url: URL): boolean {
  return url.searchParams.has('client_id') && url.searchParams.has('response_type');
}

function describe(res: HttpResponse): string {
  const text = decodeEntities(res.body.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, 300);
  return `HTTP ${res.status} from ${res.url.origin}${res.url.pathname}${text ? `: ${text}` : ''}`;
}

async function run(flags: Flags, log: RunLog): Promise<number> {
  const jar = new CookieJar();
  let next: { url: URL; method: 'GET' | 'POST'; form: URLSearchParams | undefined } = {
    url: new URL(flags.url), method: 'GET', form: undefined,
  };

  for (let hop = 0; hop < 30; hop += 1) {
    const { url } = next;

    if (isCallback(url, flags) && next.method === 'GET') {
      if (flags.forgeState) {
        const forged = new URL(url);
        forged.searchParams.set('state', 'forged-state-from-demo-browser');
        const status = await httpRequest(forged, { jar }).then((r) => String(r.status), () => 'ERR');
        log.add(`forged=${status}`);
        if (!flags.replay) log.write();
      }
      const res = await httpRequest(url, { jar });
      if (flags.replay) {
        const status = await httpRequest(url, { jar, timeoutMs: 3000 }).then((r) => String(r.status), () => 'ERR');
        log.add(`replay=${status}`);
      }
      if (res.status >= 200 && res.status < 300) return 0;
      log.add(`error=callback-${res.status}`);
      process.stderr.write(`demo browser: the callback answered ${describe(res)}\n`);
      return 1;
    }

    const res = await httpRequest(url, { method: next.method, form: next.form, jar });

    if (flags.stopAtProvider && isAuthorizationRequest(url)) {
      // The login page is on screen; the user walks away.
      return 0;
    }

    const location = res.headers.location;
    if (isRedirect(res.status) && location) {
      // 307/308 would repeat a POST; oidc-provider and loopback servers only use 302/303
      // for these flows, so every redirect becomes a GET.
      next = { url: new URL(location, url), method: 'GET', form: undefined };
      continue;
    }

    // oidc-provider's own pages (form_post, device confirm) submit themselves.
    const form = autoSubmitForm(res);
    if (form) {
      next = form;
      continue;
    }

    log.add(`error=stuck-${res.status}`);
    process.stderr.write(`demo browser: stopped before reaching ${flags.callbackPath}: ${describe(res)}\n`);
    return 1;
  }
  log.add('error=too-many-hops');
  process.stderr.write('demo browser: too many redirects\n');
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`demo browser: ${err.message}\n`);
    return 2;
  }
  if (flags.delayMs) await sleep(flags.delayMs);
  const log = new RunLog(flags.log, flags.url);
  if (flags.exitCode !== undefined) {
    log.write();
    return flags.exitCode;
  }
  if (!flags.forgeState && !flags.replay) log.write();
  if (flags.waitFor && !(await waitForFile(flags.waitFor))) return 1;
  try {
    return await run(flags, log);
  } catch (err) {
    log.add('error=exception');
    process.stderr.write(`demo browser: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    log.write();
  }
}

// Set exitCode and let the loop drain instead of process.exit(): stderr is flushed first.
process.exitCode = await main(process.argv.slice(2));
