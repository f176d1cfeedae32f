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
  it('black modules in black on white whatever the theme, with a quiet zone of four modules', async () => {
    const { encode } = await import('uqr');
    const qr = (await qrCode(url, deps(true, 80)))!;
    const lines = qr.split('\n');
    for (const l of lines) {
      assert.ok(l.startsWith('\u001b[30;107m') && l.endsWith('\u001b[0m'), 'explicit colours: a dark theme cannot invert it');
    }
    // Read the picture back, two modules per cell, and compare with the symbol itself.
    const cells = lines.map((l) => [...l.slice('\u001b[30;107m'.length, -'\u001b[0m'.length)]);
    const { data, size } = encode(url, { border: 4 });
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const c = cells[y >> 1]![x]!;
        const dark = y % 2 === 0 ? c === '\u2588' || c === '\u2580' : c === '\u2588' || c === '\u2584';
        assert.equal(dark, data[y]![x], `module ${x},${y}`);
      }
    }
    assert.ok(cells.slice(0, 2).every((row) => row.every((c) => c === ' ')), 'four light rows on top');
    assert.ok(cells.every((row) => row.slice(0, 4).every((c) => c === ' ') && row.slice(-4).every((c) => c === ' ')), 'four light columns each side');
  });
  it('not drawn when stderr is not a terminal, the terminal is too narrow, or TERM=dumb', async () => {
    assert.equal(await qrCode(url, deps(false, 200)), undefined);
    assert.equal(await qrCode(url, deps(true, 20)), undefined);
    assert.equal(await qrCode(url, deps(true, 200, { TERM: 'dumb' })), undefined);
  });
});
