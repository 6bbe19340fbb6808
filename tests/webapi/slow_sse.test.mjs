// A slow SSE client (spec/sse.md §5, DESIGN.md "bounded everything"): a raw TCP client opens
// GET /api/events?sessionId=…, reads the response head, then stops reading. The CLI sends many
// ~64 KB messages to that session, far more than the kernel buffers plus the hub's 4 MiB
// per-stream cap. The hub must drop the slow stream (the socket ends once we read again) while a
// second, reading SSE client receives every event; hapid's RSS stays bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHapid, jwtFor, request, activeSession, emitAck, openSse, rawConnect, sleep } from './lib.mjs';

let h;
let jwt;
before(async () => {
  h = await startHapid();
  jwt = await jwtFor(h);
});
after(async () => {
  await h?.stop();
});

const MB = 1024 * 1024;
const MESSAGES = 480; // × ~64 KB ≈ 30 MiB of events for each stream
const PAYLOAD = 'x'.repeat(64 * 1024);

test('a stream that stops reading is dropped; a reading stream gets everything; RSS stays bounded', { timeout: 180000 }, async (t) => {
  const cli = await activeSession(h, { keepAlive: true });
  const fast = await openSse(h, { token: jwt, sessionId: cli.sid });
  try {
    await fast.next((e) => e.type === 'connection-changed');

    // The slow client: read the head, then stop reading.
    const slow = await rawConnect(h);
    let head = '';
    let afterHead = 0;
    let ended = null;
    const closed = new Promise((ok) => {
      slow.on('end', () => (ended ??= 'end'));
      slow.on('error', (e) => (ended ??= `error ${e.code}`));
      slow.on('close', () => ok());
    });
    const gotHead = new Promise((ok) => {
      const onData = (d) => {
        if (!head.includes('\r\n\r\n')) {
          head += d.toString('latin1');
          if (head.includes('\r\n\r\n')) {
            afterHead += head.length - head.indexOf('\r\n\r\n') - 4;
            slow.pause(); // stop reading: the kernel buffers fill, then the hub's
            ok();
          }
        } else {
          afterHead += d.length;
        }
      };
      slow.on('data', onData);
    });
    slow.write(`GET /api/events?token=${jwt}&sessionId=${cli.sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await gotHead;
    assert.match(head, /^HTTP\/1\.1 200 /);

    await sleep(300);
    const rssBefore = h.rssKiB();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      if (h.alive()) rssPeak = Math.max(rssPeak, h.rssKiB());
    }, 50);

    // ~30 MiB of message-received events for the session, in batches.
    for (let i = 0; i < MESSAGES; i++) {
      cli.socket.emit('message', { sid: cli.sid, message: { role: 'agent', content: { type: 'output', i, data: PAYLOAD } } });
      if (i % 40 === 39) await emitAck(cli.socket, 'ping', undefined, 30000);
    }
    await emitAck(cli.socket, 'ping', undefined, 30000);

    // The reading client receives every event, in order.
    await fast.next((e) => e.type === 'message-received' && e.message.content.content?.i === MESSAGES - 1, 60000);
    const got = fast.events.filter((e) => e.type === 'message-received').map((e) => e.message.content.content.i);
    assert.deepEqual(got, Array.from({ length: MESSAGES }, (_, i) => i), 'the reading stream got every event in order');
    assert.ok(fast.events.filter((e) => e.type === 'message-received').every((e) => e.message.content.content.data.length === PAYLOAD.length));
    clearInterval(sampler);
    const rssAfter = h.rssKiB();

    // Read again: what the kernel held arrives, then the stream ends (the hub closed it).
    slow.resume();
    const t0 = Date.now();
    let timer;
    await Promise.race([closed, new Promise((ok) => (timer = setTimeout(ok, 15000)))]);
    clearTimeout(timer);
    const slowBytes = afterHead;
    assert.ok(ended !== null, `the slow stream is still open after ${Date.now() - t0} ms (${slowBytes} bytes read)`);
    const total = MESSAGES * PAYLOAD.length;
    assert.ok(slowBytes < total, `the slow stream was cut short: ${slowBytes} of ≥ ${total} bytes`);

    // The hub still serves, the session is intact, and new events flow to the reading stream.
    const r = await request(h, 'GET', `/api/sessions/${cli.sid}/messages?limit=1`, { token: jwt });
    assert.equal(r.status, 200);
    assert.equal(r.body.messages[0].seq, MESSAGES);
    cli.socket.emit('message', { sid: cli.sid, message: { role: 'agent', content: { i: 'after' } } });
    await fast.next((e) => e.type === 'message-received' && e.message.content.content?.i === 'after');

    // Twice the traffic again (reading client only): memory does not grow with traffic.
    const sampler2 = setInterval(() => {
      if (h.alive()) rssPeak2 = Math.max(rssPeak2, h.rssKiB());
    }, 50);
    let rssPeak2 = h.rssKiB();
    for (let i = 0; i < 2 * MESSAGES; i++) {
      cli.socket.emit('message', { sid: cli.sid, message: { role: 'agent', content: { type: 'output', j: i, data: PAYLOAD } } });
      if (i % 40 === 39) await emitAck(cli.socket, 'ping', undefined, 30000);
    }
    await fast.next((e) => e.type === 'message-received' && e.message.content.content?.j === 2 * MESSAGES - 1, 60000);
    clearInterval(sampler2);

    const report =
      `RSS before ${(rssBefore / 1024).toFixed(1)} MiB, peak ${(rssPeak / 1024).toFixed(1)} MiB, ` +
      `after ${(rssAfter / 1024).toFixed(1)} MiB; events sent ${(total / MB).toFixed(1)} MiB per stream; ` +
      `then ${((2 * total) / MB).toFixed(1)} MiB more to the reading stream: peak ${(rssPeak2 / 1024).toFixed(1)} MiB; ` +
      `slow stream read ${(slowBytes / MB).toFixed(2)} MiB then ended (${ended})`;
    t.diagnostic(report);
    console.log(`# slow SSE: ${report}`);
    // Bounded: far below what buffering the slow stream's backlog would take (30 MiB), with
    // room for SQLite's cache and the 8 MiB replay log.
    assert.ok(rssPeak - rssBefore < 40 * 1024, `RSS grew by ${((rssPeak - rssBefore) / 1024).toFixed(1)} MiB`);
    assert.ok(rssPeak2 - rssBefore < 48 * 1024, `RSS grew by ${((rssPeak2 - rssBefore) / 1024).toFixed(1)} MiB after 90 MiB of events`);
    slow.destroy();
  } finally {
    fast.close();
    cli.close();
  }
});
