// Scheduled messages (CONTRACT.md §3): held by the hub, released when due (update new-message
// + SSE scheduled-matured), counted in GET /api/sessions, and kept across a hub restart.
// The official hub checks for due messages on a 5 s tick, so every wait here allows one tick
// plus slack; the suite takes ~45 s for this file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const TICK = 5000;
const SLACK = 3000;
let h, w, sse, cli, consumedLocalId;
const send = (sid, body) => w.req('POST', `/api/sessions/${sid}/messages`, body);
const releases = (c, localId) => c.newMessages().filter((u) => u.body.message.localId === localId);

before(async () => {
  h = await L.startHub();
  w = await L.web(h);
  sse = await w.sse({ all: 'true' });
  cli = await L.cliSession(h);
});
after(async () => {
  sse?.close();
  cli?.close();
  await h?.stop();
});

test('a future message is held, counted, released when due with scheduled-matured, re-sent until consumed', { timeout: 60000 }, async () => {
  const localId = L.uid('later');
  const other = L.uid('other');
  const due = Date.now() + 2500;
  const due2 = Date.now() + 600000;
  const from = sse.events.length;
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'later', localId, scheduledAt: due })), { status: 200, body: { ok: true } });
  assert.equal((await send(cli.sid, { text: 'much later', localId: other, scheduledAt: due2 })).status, 200);

  // stored and announced to the web with its scheduledAt, not sent to the CLI
  const ev = await sse.next((e) => e.type === 'message-received' && e.message?.localId === localId, 3000, from);
  assert.equal(ev.message.scheduledAt, due);
  assert.equal(ev.message.invokedAt, null);
  await cli.ping();
  assert.equal(releases(cli, localId).length, 0, 'held');
  const fetch = await L.request(h, 'GET', `/cli/sessions/${cli.sid}/messages?afterSeq=0`, { token: L.cliToken() });
  assert.ok(!fetch.body.messages.some((m) => m.localId === localId), 'not in the CLI catch-up fetch before it is due');

  // the list counts future messages; the single-session view has no such fields
  let s = await L.summaryOf(w, cli.sid);
  assert.equal(s.futureScheduledMessageCount, 2);
  assert.equal(s.nextScheduledAt, due);
  const one = (await w.req('GET', `/api/sessions/${cli.sid}`)).body.session;
  assert.equal('futureScheduledMessageCount' in one, false);

  // released when due (within one tick)
  const u = await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === localId, due - Date.now() + TICK + SLACK);
  const releasedAt = Date.now();
  assert.ok(releasedAt >= due, 'not before it is due');
  assert.equal(u.body.message.content.content.text, 'later');
  assert.equal(u.body.message.content.meta.deliveryMode, 'queue');
  const matured = await sse.next((e) => e.type === 'scheduled-matured' && e.sessionId === cli.sid, 3000, from);
  assert.deepEqual({ ...matured }, { type: 'scheduled-matured', sessionId: cli.sid, namespace: 'default' });
  assert.ok(typeof matured._id === 'string');

  // matured: no longer counted, still not invoked
  s = await L.summaryOf(w, cli.sid);
  assert.equal(s.futureScheduledMessageCount, 1);
  assert.equal(s.nextScheduledAt, due2);
  const m = await L.findByLocalId(w, cli.sid, localId);
  assert.equal(m.invokedAt, null);
  assert.equal(m.scheduledAt, due);

  // until the CLI reports it consumed, every tick sends it again; scheduled-matured only once
  await L.until(() => releases(cli, localId).length >= 2, { ms: TICK + SLACK, what: 'a second release' });
  assert.equal(L.seen(sse, 'scheduled-matured', cli.sid).length, 1, 'scheduled-matured once per message');

  cli.emit('messages-consumed', { localIds: [localId] });
  await cli.ping();
  const n = releases(cli, localId).length;
  await L.sleep(TICK + 1000);
  assert.equal(releases(cli, localId).length, n, 'not sent again once consumed');
  assert.equal(typeof (await L.findByLocalId(w, cli.sid, localId)).invokedAt, 'number');
  consumedLocalId = localId;
  await w.req('DELETE', `/api/sessions/${cli.sid}/messages/${other}`);
});

test('across a restart: a message that fell due while the hub was down is released at start-up, a held one stays held, none is lost or doubled', { timeout: 90000 }, async () => {
  const sid = cli.sid;
  const early = L.uid('early');
  const late = L.uid('late');
  const dueEarly = Date.now() + 2000;
  const dueLate = Date.now() + 15000;
  assert.equal((await send(sid, { text: 'early', localId: early, scheduledAt: dueEarly })).status, 200);
  assert.equal((await send(sid, { text: 'late', localId: late, scheduledAt: dueLate })).status, 200);
  sse.close();
  cli.close();
  await h.stop({ keepHome: true });
  await L.sleep(Math.max(0, dueEarly - Date.now()) + 1000);

  h = await L.startHub({ home: h.home, port: h.port });
  const startedAt = Date.now();
  w = await L.web(h);
  sse = await w.sse({ all: 'true' });
  const sock = await L.connectCli(h, { clientType: 'session-scoped', sessionId: sid });
  const got = [];
  sock.on('update', (u) => got.push({ at: Date.now(), u }));
  cli = { close: () => sock.close() };

  // held one is still counted after the restart
  const s = await L.summaryOf(w, sid);
  assert.equal(s.futureScheduledMessageCount, 1);
  assert.equal(s.nextScheduledAt, dueLate);

  // the overdue one is released within one tick of start-up, with scheduled-matured
  await L.until(() => got.some((g) => g.u.body?.t === 'new-message' && g.u.body.message.localId === early), { ms: TICK + SLACK, what: 'overdue release after restart' });
  const firstEarly = got.find((g) => g.u.body.message?.localId === early);
  assert.ok(firstEarly.at - startedAt <= TICK + SLACK);
  await sse.next((e) => e.type === 'scheduled-matured' && e.sessionId === sid, 3000);
  assert.ok(!got.some((g) => g.u.body.message?.localId === late), 'the late one is still held');
  assert.ok(!got.some((g) => g.u.body.message?.localId === consumedLocalId), 'a message consumed before the restart is not sent again');
  sock.emit('messages-consumed', { sid, localIds: [early] });

  // the held one is released when due, not before
  await L.until(() => got.some((g) => g.u.body?.t === 'new-message' && g.u.body.message.localId === late), { ms: dueLate - Date.now() + TICK + SLACK, what: 'late release' });
  const firstLate = got.find((g) => g.u.body.message?.localId === late);
  assert.ok(firstLate.at >= dueLate);
  sock.emit('messages-consumed', { sid, localIds: [late] });
  await L.emitAck(sock, 'ping');

  // one row each, both invoked
  const p = await L.page(w, sid, 'limit=200');
  for (const localId of [early, late]) {
    const rows = p.messages.filter((m) => m.localId === localId);
    assert.equal(rows.length, 1, `${localId} stored once`);
    assert.equal(typeof rows[0].invokedAt, 'number');
  }
  const after = await L.summaryOf(w, sid);
  assert.equal(after.futureScheduledMessageCount, 0);
  assert.equal(after.nextScheduledAt, null);
});
