// Plain HTTP framing with a raw TCP client: requests that arrive in several TCP segments
// (as undici, curl and browsers send them when headers and body are written separately).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startHapid } from './hapid.mjs';

let h;
before(async () => {
  h = await startHapid();
});
after(async () => {
  await h?.stop();
});

const pause = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Send `parts` with a pause between them; resolve with the whole response text. */
function rawRequest(parts, gapMs = 150, timeoutMs = 5000) {
  return new Promise((ok, fail) => {
    const sock = connect(h.port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => {
      sock.destroy();
      fail(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(data)}`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      data += d;
      const i = data.indexOf('\r\n\r\n');
      const m = /content-length:\s*(\d+)/i.exec(data);
      if (i >= 0 && m && data.length >= i + 4 + Number(m[1])) {
        clearTimeout(t);
        sock.destroy();
        ok(data);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      fail(e);
    });
    sock.on('connect', async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await pause(gapMs);
        sock.write(p);
      }
    });
  });
}

function authRequest() {
  const body = JSON.stringify({ accessToken: h.token });
  const head =
    'POST /api/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  return { head, body };
}

test('request in one segment is answered', async () => {
  const { head, body } = authRequest();
  const r = await rawRequest([head + body]);
  assert.match(r, /^HTTP\/1\.1 200 /);
  assert.match(r, /"token":"/);
});

test('headers and body in separate segments are answered', async () => {
  const { head, body } = authRequest();
  const r = await rawRequest([head, body]);
  assert.match(r, /^HTTP\/1\.1 200 /);
  assert.match(r, /"token":"/);
});

test('a body split across segments is answered', async () => {
  const { head, body } = authRequest();
  const r = await rawRequest([head + body.slice(0, 10), body.slice(10, 20), body.slice(20)]);
  assert.match(r, /^HTTP\/1\.1 200 /);
});

test('headers split across segments are answered', async () => {
  const { head, body } = authRequest();
  const r = await rawRequest([head.slice(0, 20), head.slice(20) + body]);
  assert.match(r, /^HTTP\/1\.1 200 /);
});

test('the server still answers others after a slow, partial request', async () => {
  const { head } = authRequest();
  const slow = connect(h.port, '127.0.0.1');
  await new Promise((ok) => slow.on('connect', ok));
  slow.write(head); // body never sent
  await pause(200);
  try {
    const res = await fetch(`${h.base}/api/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accessToken: h.token }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 200);
  } finally {
    slow.destroy();
  }
});
