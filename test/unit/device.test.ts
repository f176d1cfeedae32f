// Issue 5: the pure parts of the device grant — which machines `--grant auto` treats as unable to
// open a browser (docs/configuration.md), and when a QR code is drawn.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserCanOpen, qrCode } from '../../src/oauth/device.ts';
import { Logger } from '../../src/infra/log.ts';

describe('browserCanOpen (docs/configuration.md --grant auto)', () => {
  const table: Array<[string, string | undefined, Record<string, string>, NodeJS.Platform, boolean]> = [
    ['Linux desktop', undefined, { DISPLAY: ':0' }, 'linux', true],
    ['Linux Wayland', undefined, { WAYLAND_DISPLAY: 'wayland-0' }, 'linux', true],
    ['Linux without a display', undefined, {}, 'linux', false],
    ['SSH with X forwarding', undefined, { DISPLAY: 'localhost:10.0', SSH_CONNECTION: '192.0.2.1 5 192.0.2.2 22' }, 'linux', false],
    ['SSH with a TTY on macOS', undefined, { SSH_TTY: '/dev/ttys001' }, 'darwin', false],
    ['macOS', undefined, {}, 'darwin', true],
    ['Windows', undefined, {}, 'win32', true],
    ['a browser command over SSH', 'w3m', { SSH_CONNECTION: '192.0.2.1 5 192.0.2.2 22' }, 'linux', true],
  ];
  for (const [name, browserCommand, env, platform, expected] of table) {
    it(name, () => assert.equal(browserCanOpen({ browserCommand }, env, platform), expected));
  }
});

describe('QR code of verification_uri_complete', () => {
  const url = 'https://example.eu.auth0.com/activate?user_code=KQHW-TZRB';
  const deps = (isTTY: boolean, columns: number | undefined, env: Record<string, string> = {}) => ({
    stderr: { isTTY, columns, write: () => true },
    env,
    log: new Logger({ write: () => true }),
  });
  it('drawn on a terminal wide enough', async () => {
    const qr = await qrCode(url, deps(true, 80));
    assert.ok(qr, 'a QR code');
    const lines = qr.split('\n');
    assert.ok(lines.length > 10 && lines.every((l) => [...l].length <= 80));
    assert.match(qr, /[▀▄█]/);
  });
  it('not drawn when stderr is not a terminal, the terminal is too narrow, or TERM=dumb', async () => {
    assert.equal(await qrCode(url, deps(false, 200)), undefined);
    assert.equal(await qrCode(url, deps(true, 20)), undefined);
    assert.equal(await qrCode(url, deps(true, 200, { TERM: 'dumb' })), undefined);
  });
});
