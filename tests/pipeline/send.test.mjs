// POST /api/sessions/:id/messages: validation (CONTRACT.md §2), what is stored, what the CLI
// gets (`update` new-message) and what the web gets (SSE message-received, session-updated).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let h, w, other, cli, sse;
const send = (sid, body) => w.req('POST', `/api/sessions/${sid}/messages`, body);

before(async () => {
  h = await L.startHub();
  w = await L.web(h);
  other = await L.web(h, 'other');
  cli = await L.cliSession(h);
  sse = await w.sse({ all: 'true' });
});
after(async () => {
  sse?.close();
  cli?.close();
  await h?.stop();
});

test('bad scheduledAt / deliveryMode: 400 with the zod issues, nothing stored, nothing sent', { timeout: 30000 }, async () => {
  const now = Date.now();
  const before = (await L.page(w, cli.sid, 'limit=200')).messages.length;
  const updatesBefore = cli.updates.length;
  const cases = [
    [{ text: 'x', localId: L.uid(), scheduledAt: 0 }, L.invalidBody('scheduledAt', 'Too small: expected number to be >0')],
    [{ text: 'x', localId: L.uid(), scheduledAt: -5 }, L.invalidBody('scheduledAt', 'Too small: expected number to be >0')],
    [{ text: 'x', localId: L.uid(), scheduledAt: now + 60000.5 }, L.invalidBody('scheduledAt', 'Invalid input: expected int, received number')],
    [{ text: 'x', localId: L.uid(), scheduledAt: String(now + 60000) }, L.invalidBody('scheduledAt', 'Invalid input: expected number, received string')],
    [{ text: 'x', localId: L.uid(), scheduledAt: now + 8 * 86400000 }, L.invalidBody('scheduledAt', 'scheduledAt must be within 7 days from now')],
    [{ text: 'x', scheduledAt: now + 60000 }, L.invalidBody('localId', 'scheduledAt requires localId')],
    [{ text: 'x', localId: L.uid(), scheduledAt: now + 60000, deliveryMode: 'steer' }, L.invalidBody('deliveryMode', 'scheduled messages cannot use steer delivery')],
    [{ text: 'x', localId: L.uid(), deliveryMode: 'bogus' }, L.invalidBody('deliveryMode', 'Invalid option: expected one of "queue"|"steer"')],
    [
      { text: 'x', localId: L.uid(), scheduledAt: now + 60000, attachments: [{ id: 'a', filename: 'f', mimeType: 'text/plain', size: 1, path: '/tmp/f' }] },
      L.invalidBody('attachments', 'scheduled messages with attachments are not supported'),
    ],
    [{ text: '' }, { status: 400, body: { error: 'Message requires text or attachments' } }],
    [{ localId: L.uid() }, L.invalidBody('text', 'Invalid input: expected string, received undefined')],
    [{ text: 'x', localId: '' }, L.invalidBody('localId', 'Too small: expected string to have >=1 characters')],
    ['not json', { status: 400, body: { error: 'Invalid body', issues: { formErrors: ['Invalid input: expected object, received null'], fieldErrors: {} } } }],
  ];
  for (const [body, expected] of cases) {
    const r = typeof body === 'string'
      ? await w.req('POST', `/api/sessions/${cli.sid}/messages`, undefined, { rawBody: body })
      : await send(cli.sid, body);
    assert.deepEqual(L.answer(r), expected, `body ${JSON.stringify(body)}`);
  }
  await cli.ping();
  await L.sleep(300);
  assert.equal((await L.page(w, cli.sid, 'limit=200')).messages.length, before, 'a refused message is not stored');
  assert.equal(cli.updates.length, updatesBefore, 'a refused message is not sent to the CLI');
});

test('scheduledAt exactly at the 7-day horizon minus a minute is accepted and held', async () => {
  const localId = L.uid();
  const at = Date.now() + 7 * 86400000 - 60000;
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'far', localId, scheduledAt: at })), { status: 200, body: { ok: true } });
  const m = await L.findByLocalId(w, cli.sid, localId);
  assert.equal(m.scheduledAt, at);
  assert.equal(m.invokedAt, null);
  await cli.ping();
  assert.ok(!cli.newMessages().some((u) => u.body.message.localId === localId), 'a future message is not sent to the CLI');
  // tidy: cancel it so later counts are not disturbed
  await w.req('DELETE', `/api/sessions/${cli.sid}/messages/${localId}`);
});

test('a scheduledAt in the past is accepted (200), kept as given, and delivered at once', async () => {
  const localId = L.uid();
  const at = Date.now() - 60000;
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'past', localId, scheduledAt: at })), { status: 200, body: { ok: true } });
  const u = await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === localId, 3000);
  assert.equal(u.body.message.content.content.text, 'past');
  const m = await L.findByLocalId(w, cli.sid, localId);
  assert.equal(m.scheduledAt, at);
  assert.equal(m.invokedAt, null);
});

test('a message with localId is queued: invokedAt null, meta.deliveryMode "queue", update + message-received', async () => {
  const localId = L.uid();
  // Not thinking before the send (an earlier test's message may have left it thinking, and
  // then no thinking patch would follow this one).
  cli.alive({ thinking: false });
  await cli.ping();
  const from = sse.events.length;
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'queued one', localId })), { status: 200, body: { ok: true } });
  const u = await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === localId, 3000);
  const ev = await sse.next((e) => e.type === 'message-received' && e.message?.localId === localId, 3000, from);
  const m = await L.findByLocalId(w, cli.sid, localId);
  const content = { role: 'user', content: { type: 'text', text: 'queued one' }, meta: { sentFrom: 'webapp', deliveryMode: 'queue' } };
  assert.deepEqual(m, { id: m.id, seq: m.seq, localId, content, createdAt: m.createdAt, invokedAt: null, scheduledAt: null });
  // the CLI update: id = message id, seq, createdAt; body.message without invokedAt/scheduledAt
  assert.deepEqual(u, {
    id: m.id,
    seq: m.seq,
    createdAt: m.createdAt,
    body: { t: 'new-message', sid: cli.sid, message: { id: m.id, seq: m.seq, createdAt: m.createdAt, localId, content } },
  });
  // SSE message-received carries the full stored message
  assert.deepEqual(ev.message, m);
  assert.equal(ev.namespace, 'default');
  assert.ok(typeof ev._id === 'string' && ev._id.length > 0, 'message-received has an id: line');
  // the session turns thinking with activeTurnStartedAt (structured patch)
  const p = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.thinking === true, 10000, from);
  assert.deepEqual(Object.keys(p.data).sort(), ['activeTurnStartedAt', 'thinking', 'updatedAt']);
  assert.equal(typeof p.data.activeTurnStartedAt, 'number');
});

test('deliveryMode "queue" and scheduledAt null are accepted like their absence', async () => {
  const a = L.uid();
  const b = L.uid();
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'q', localId: a, deliveryMode: 'queue' })), { status: 200, body: { ok: true } });
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'n', localId: b, scheduledAt: null })), { status: 200, body: { ok: true } });
  for (const localId of [a, b]) {
    const m = await L.findByLocalId(w, cli.sid, localId);
    assert.equal(m.scheduledAt, null);
    assert.equal(m.content.meta.deliveryMode, 'queue');
    await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === localId, 3000);
  }
});

test('a message without localId is stamped invokedAt = createdAt at insert', async () => {
  const text = `plain ${L.uid()}`;
  assert.equal((await send(cli.sid, { text })).status, 200);
  const p = await L.page(w, cli.sid, 'limit=200');
  const m = p.messages.find((x) => L.textOf(x) === text);
  assert.equal(m.localId, null);
  assert.equal(m.invokedAt, m.createdAt);
  assert.equal(m.scheduledAt, null);
  await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.id === m.id, 3000);
});

test('deliveryMode "steer" is normalised to "queue" except for Pi sessions', async () => {
  const localId = L.uid();
  assert.equal((await send(cli.sid, { text: 'steer claude', localId, deliveryMode: 'steer' })).status, 200);
  assert.equal((await L.findByLocalId(w, cli.sid, localId)).content.meta.deliveryMode, 'queue');

  const pi = await L.cliSession(h, { metadata: L.defaultMetadata({ flavor: 'pi' }) });
  try {
    const l2 = L.uid();
    assert.equal((await send(pi.sid, { text: 'steer pi', localId: l2, deliveryMode: 'steer' })).status, 200);
    const m = await L.findByLocalId(w, pi.sid, l2);
    assert.equal(m.content.meta.deliveryMode, 'steer');
    const first = await pi.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === l2, 3000);
    assert.equal(first.body.message.content.meta.deliveryMode, 'steer', 'the immediate update keeps steer');
    // a re-delivery (session-alive replays queued messages) is downgraded to queue
    const n = pi.updates.length;
    pi.alive();
    await pi.ping();
    const again = await L.until(() => pi.updates.slice(n).find((x) => x.body?.t === 'new-message' && x.body.message.localId === l2), { ms: 3000, what: 'replay' });
    assert.equal(again.body.message.content.meta.deliveryMode, 'queue', 'a deferred delivery says queue');
  } finally {
    pi.close();
  }
});

test('re-sending the same localId stores one row, re-sends the update and re-emits message-received', async () => {
  const localId = L.uid();
  assert.equal((await send(cli.sid, { text: 'once', localId })).status, 200);
  await cli.waitUpdate((x) => x.body?.t === 'new-message' && x.body.message.localId === localId, 3000);
  const from = sse.events.length;
  const n = cli.updates.length;
  assert.deepEqual(L.answer(await send(cli.sid, { text: 'twice', localId })), { status: 200, body: { ok: true } });
  const ev = await sse.next((e) => e.type === 'message-received' && e.message?.localId === localId, 3000, from);
  assert.equal(L.textOf(ev.message), 'once', 'the stored row wins');
  await L.until(() => cli.updates.slice(n).some((x) => x.body?.t === 'new-message' && x.body.message.localId === localId), { ms: 3000, what: 're-sent update' });
  const rows = (await L.page(w, cli.sid, 'limit=200')).messages.filter((m) => m.localId === localId);
  assert.equal(rows.length, 1);
});

test('unknown session 404, other namespace (see OTHER_NS), inactive 409 session_inactive', async () => {
  assert.deepEqual(L.answer(await send('no-such-session', { text: 'x', localId: L.uid() })), L.NOT_FOUND);
  assert.deepEqual(L.answer(await other.req('POST', `/api/sessions/${cli.sid}/messages`, { text: 'x', localId: L.uid() })), L.OTHER_NS);
  const gone = await L.cliSession(h);
  gone.emit('session-end', { time: Date.now() });
  await gone.ping();
  await L.sleep(200);
  assert.deepEqual(L.answer(await send(gone.sid, { text: 'x', localId: L.uid(), scheduledAt: Date.now() + 60000 })), L.INACTIVE);
  gone.close();
});
