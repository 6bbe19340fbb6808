// Web messages (spec/rest.md §3.11–3.12): POST with attachments and localId dedupe, delivery to
// the CLI socket and the SSE stream, the validation errors, and GET paging by seq with the
// fallback of invalid parameters to the defaults.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  createSession,
  emitAck,
  waitEvent,
  openSse,
  rawConnect,
  sleep,
} from './lib.mjs';

let h;
let jwt;
before(async () => {
  h = await startHapid();
  jwt = await jwtFor(h);
});
after(async () => {
  await h?.stop();
});

const get = (path) => request(h, 'GET', path, { token: jwt });
const post = (path, body) => request(h, 'POST', path, { token: jwt, body });

/** The baseline fields (rest.md §1.8); v0.30.7 adds more, which are allowed. */
const baseMsg = (m) => ({ id: m.id, seq: m.seq, localId: m.localId, content: m.content, createdAt: m.createdAt });
// v0.30.7 pages (tests/pipeline/CONTRACT.md §6): a direction, cursors of (position, seq).
const basePage = (p) => ({ limit: p.limit, direction: p.direction, nextBeforeSeq: p.nextBeforeSeq, hasMore: p.hasMore });
const beforeCursor = (p) => `beforeSeq=${p.nextBeforeSeq}&beforeAt=${p.nextBeforeAt}`;

const att = (id, extra = {}) => ({
  id,
  filename: `${id}.png`,
  mimeType: 'image/png',
  size: 10,
  path: `/home/u/.hapi/uploads/${id}.png`,
  ...extra,
});

test('POST with attachments and localId → CLI update, SSE message-received, stored; same localId → deduped', async () => {
  const cli = await activeSession(h);
  const sse = await openSse(h, { token: jwt, sessionId: cli.sid });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    const attachments = [att('a1'), att('a2', { previewUrl: 'blob:x' })];
    let upd = waitEvent(cli.socket, 'update', (u) => u?.body?.t === 'new-message');
    let r = await post(`/api/sessions/${cli.sid}/messages`, { text: 'look at these', localId: 'loc-1', attachments, extra: true });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    const want = {
      role: 'user',
      content: { type: 'text', text: 'look at these', attachments },
      meta: { sentFrom: 'webapp', deliveryMode: 'queue' }, // v0.30.7 (CONTRACT.md §2)
    };
    const u = await upd;
    assert.equal(u.body.sid, cli.sid);
    assert.deepEqual(u.body.message.content, want);
    assert.equal(u.body.message.localId, 'loc-1');
    const ev = await sse.next((e) => e.type === 'message-received');
    assert.equal(ev.sessionId, cli.sid);
    assert.deepEqual(baseMsg(ev.message), baseMsg(u.body.message));
    const page = await get(`/api/sessions/${cli.sid}/messages`);
    assert.equal(page.status, 200);
    assert.equal(page.body.messages.length, 1);
    const m = page.body.messages[0];
    for (const k of ['content', 'createdAt', 'id', 'localId', 'seq']) assert.ok(k in m, k);
    assert.deepEqual(baseMsg(m), baseMsg(u.body.message));
    assert.equal(m.seq, 1);

    // Same localId again (even with other text): no new row, the stored message is re-sent.
    upd = waitEvent(cli.socket, 'update', (u2) => u2?.body?.t === 'new-message');
    const from = sse.events.length;
    r = await post(`/api/sessions/${cli.sid}/messages`, { text: 'different', localId: 'loc-1' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(baseMsg((await upd).body.message), baseMsg(m), 'the CLI gets the existing message');
    const again = await sse.next((e) => e.type === 'message-received', 10000, from);
    assert.deepEqual(baseMsg(again.message), baseMsg(m));
    const page2 = await get(`/api/sessions/${cli.sid}/messages`);
    assert.deepEqual(page2.body.messages.map(baseMsg), [baseMsg(m)], 'no second row');

    // Without localId: a new row, localId null; attachments omitted when not sent.
    r = await post(`/api/sessions/${cli.sid}/messages`, { text: 'plain' });
    assert.equal(r.status, 200);
    // Attachments only (text ""), and an empty attachments array next to text.
    r = await post(`/api/sessions/${cli.sid}/messages`, { text: '', attachments: [att('a3')] });
    assert.equal(r.status, 200, r.text);
    r = await post(`/api/sessions/${cli.sid}/messages`, { text: 'with empty list', attachments: [] });
    assert.equal(r.status, 200, r.text);
    const all = (await get(`/api/sessions/${cli.sid}/messages`)).body.messages;
    assert.deepEqual(all.map((x) => x.seq), [1, 2, 3, 4]);
    assert.equal(all[1].localId, null);
    assert.deepEqual(all[1].content.content, { type: 'text', text: 'plain' });
    assert.deepEqual(all[2].content.content, { type: 'text', text: '', attachments: [att('a3')] });
    assert.deepEqual(all[3].content.content, { type: 'text', text: 'with empty list', attachments: [] });
  } finally {
    sse.close();
    cli.close();
  }
});

test('the same localId in two sessions is two messages', async () => {
  const a = await activeSession(h);
  const b = await activeSession(h);
  try {
    assert.equal((await post(`/api/sessions/${a.sid}/messages`, { text: 'x', localId: 'shared' })).status, 200);
    assert.equal((await post(`/api/sessions/${b.sid}/messages`, { text: 'y', localId: 'shared' })).status, 200);
    const ma = (await get(`/api/sessions/${a.sid}/messages`)).body.messages;
    const mb = (await get(`/api/sessions/${b.sid}/messages`)).body.messages;
    assert.equal(ma.length, 1);
    assert.equal(mb.length, 1);
    assert.notEqual(ma[0].id, mb[0].id);
    assert.equal(mb[0].content.content.text, 'y');
  } finally {
    a.close();
    b.close();
  }
});

test('POST validation: "Message requires text or attachments", "Invalid body", 409 inactive, 404 unknown', async () => {
  const cli = await activeSession(h);
  try {
    const url = `/api/sessions/${cli.sid}/messages`;
    for (const body of [{ text: '' }, { text: '', attachments: [] }, { text: '', localId: 'l' }]) {
      const r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(r.body, { error: 'Message requires text or attachments' });
    }
    for (const body of [
      {},
      { text: 5 },
      { text: 'x', localId: '' },
      { text: 'x', localId: 5 },
      { text: 'x', attachments: 'a' },
      { text: 'x', attachments: [{ id: 'a' }] },
      { text: 'x', attachments: [att('a', { size: '10' })] },
      { text: 'x', attachments: [att('a', { previewUrl: 5 })] },
      [1],
    ]) {
      const r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      // v0.30.7 adds zod's issues (tests/pipeline/CONTRACT.md §2)
      assert.equal(r.body.error, 'Invalid body', JSON.stringify(body));
      assert.ok(r.body.issues, JSON.stringify(body));
    }
    let r = await request(h, 'POST', url, { token: jwt, body: 'not json' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'Invalid body');
    assert.equal((await get(`/api/sessions/${cli.sid}/messages`)).body.messages.length, 0, 'nothing stored');

    const idle = await createSession(h);
    r = await post(`/api/sessions/${idle.id}/messages`, { text: 'hi' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, { error: 'Session is inactive', code: 'session_inactive' });
    r = await post('/api/sessions/no-such-session/messages', { text: 'hi' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Session not found' });
    r = await get('/api/sessions/no-such-session/messages');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Session not found' });
  } finally {
    cli.close();
  }
});

test('GET paging (v0.30.7 cursors, tests/pipeline/CONTRACT.md §6): limit / before, ascending pages, nextBeforeSeq / hasMore', async () => {
  const cli = await activeSession(h);
  try {
    // 7 messages: CLI messages (acked) and web messages interleaved, none of them queued
    // (no localId: invoked at insert, so positions follow seq).
    for (let i = 1; i <= 7; i++) {
      if (i % 2) {
        const a = await emitAck(cli.socket, 'message', { sid: cli.sid, message: { role: 'agent', content: { n: i } } });
        assert.ok(a === undefined || a?.ok !== false, JSON.stringify(a));
      } else {
        assert.equal((await post(`/api/sessions/${cli.sid}/messages`, { text: `web ${i}` })).status, 200);
      }
    }
    const base = `/api/sessions/${cli.sid}/messages`;
    const page = async (q) => {
      const r = await get(`${base}${q}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      return { seqs: r.body.messages.map((m) => m.seq), page: basePage(r.body.page), raw: r.body.page, messages: r.body.messages };
    };
    await until7(page);
    let p = await page('?limit=3');
    assert.deepEqual(p.seqs, [5, 6, 7]);
    assert.deepEqual(p.page, { limit: 3, direction: 'latest', nextBeforeSeq: 5, hasMore: true });
    p = await page(`?limit=3&${beforeCursor(p.raw)}`);
    assert.deepEqual(p.seqs, [2, 3, 4]);
    assert.deepEqual(p.page, { limit: 3, direction: 'before', nextBeforeSeq: 2, hasMore: true });
    p = await page(`?limit=3&${beforeCursor(p.raw)}`);
    assert.deepEqual(p.seqs, [1]);
    assert.deepEqual(p.page, { limit: 3, direction: 'before', nextBeforeSeq: 1, hasMore: false });
    p = await page('?beforeSeq=1&beforeAt=0');
    assert.deepEqual(p.seqs, []);
    assert.deepEqual(p.page, { limit: 50, direction: 'before', nextBeforeSeq: null, hasMore: false });
    p = await page('?limit=7');
    assert.deepEqual(p.page, { limit: 7, direction: 'latest', nextBeforeSeq: 1, hasMore: false });
    p = await page('?limit=200');
    assert.deepEqual(p.seqs, [1, 2, 3, 4, 5, 6, 7]);
    // Content round trip: the CLI's object and the web's envelope.
    assert.deepEqual(p.messages[0].content, { role: 'agent', content: { n: 1 } });
    assert.equal(p.messages[0].localId, null);
    assert.equal(p.messages[1].content.meta.sentFrom, 'webapp');

    // Number() semantics for valid values.
    assert.deepEqual((await page('?limit=%202%20')).seqs, [6, 7]);
    assert.deepEqual((await page('?limit=0x2')).seqs, [6, 7]);
    // First occurrence of a repeated key wins.
    assert.deepEqual((await page('?limit=1&limit=5')).seqs, [7]);

    // v0.30.7: an invalid parameter is a 400 (the v0.29 fallback to the defaults is gone).
    for (const q of ['?limit=0', '?limit=201', '?limit=abc', '?limit=1.5', '?limit=', '?beforeSeq=3', '?beforeSeq=0&beforeAt=0', '?limit=2&beforeSeq=3&beforeAt=-1']) {
      const r = await get(`${base}${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error, 'Invalid query', q);
    }
    // Unknown parameters are ignored.
    p = await page('?limit=2&foo=bar&before=1');
    assert.deepEqual(p.seqs, [6, 7]);
  } finally {
    cli.close();
  }
});

/** Wait until the seven messages are stored (CLI messages are acked after commit anyway). */
async function until7(page) {
  for (let i = 0; i < 100; i++) {
    if ((await page('')).seqs.length === 7) return;
    await sleep(50);
  }
  throw new Error('messages not stored');
}

test('GET on an empty and on an inactive session', async () => {
  const s = await createSession(h);
  const r = await get(`/api/sessions/${s.id}/messages`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.messages, []);
  assert.deepEqual(basePage(r.body.page), { limit: 50, direction: 'latest', nextBeforeSeq: null, hasMore: false });
});

test('more than 200 messages: limit caps at 200 and paging walks back to seq 1', async () => {
  const cli = await activeSession(h);
  try {
    for (let i = 1; i <= 230; i++) {
      cli.socket.emit('message', { sid: cli.sid, message: { role: 'agent', content: { i } } });
    }
    await emitAck(cli.socket, 'ping');
    const base = `/api/sessions/${cli.sid}/messages`;
    let r;
    for (let i = 0; i < 100; i++) {
      r = await get(`${base}?limit=1`);
      if (r.body.messages[0]?.seq === 230) break;
      await sleep(50);
    }
    r = await get(`${base}?limit=200`);
    assert.equal(r.body.messages.length, 200);
    assert.equal(r.body.messages[0].seq, 31);
    assert.deepEqual(basePage(r.body.page), { limit: 200, direction: 'latest', nextBeforeSeq: 31, hasMore: true });
    const seen = [];
    let before = null;
    for (;;) {
      const q = before === null ? '?limit=64' : `?limit=64&${beforeCursor(before)}`;
      r = await get(`${base}${q}`);
      seen.unshift(...r.body.messages.map((m) => m.seq));
      if (!r.body.page.hasMore) break;
      before = r.body.page;
    }
    assert.deepEqual(seen, Array.from({ length: 230 }, (_, i) => i + 1));
  } finally {
    cli.close();
  }
});

test('a message body that arrives in several TCP writes is received (no 408)', { timeout: 60000 }, async () => {
  const cli = await activeSession(h, { keepAlive: true });
  try {
    const body = JSON.stringify({ text: 'y'.repeat(300_000), localId: 'slow-body' });
    const sock = await rawConnect(h);
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => {});
    sock.write(
      `POST /api/sessions/${cli.sid}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${jwt}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    for (let i = 0; i < body.length; i += 100_000) {
      sock.write(body.slice(i, i + 100_000));
      await sleep(200);
    }
    const t0 = Date.now();
    while (!got.includes('\r\n\r\n') && Date.now() - t0 < 40000) await sleep(20);
    sock.destroy();
    assert.match(got, /^HTTP\/1\.1 200 /, got.slice(0, 200));
    const m = (await get(`/api/sessions/${cli.sid}/messages`)).body.messages;
    assert.equal(m.at(-1).localId, 'slow-body');
    assert.equal(m.at(-1).content.content.text.length, 300_000);
  } finally {
    cli.close();
  }
});
