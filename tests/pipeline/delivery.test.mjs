// Delivery state driven by the CLI (CONTRACT.md §4): messages-consumed, messages-indeterminate,
// messages-steer-state, POST …/messages/queued-state, the session-alive replay, the session-end
// sweep, native-queue-message, and what GET /cli/sessions/:id/messages hands the CLI.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let h, w, other, sse;
const send = (sid, body) => w.req('POST', `/api/sessions/${sid}/messages`, body);
const queuedState = (sid, localIds, ww = w) => ww.req('POST', `/api/sessions/${sid}/messages/queued-state`, { localIds });

before(async () => {
  h = await L.startHub();
  w = await L.web(h);
  other = await L.web(h, 'other');
  sse = await w.sse({ all: 'true' });
});
after(async () => {
  sse?.close();
  await h?.stop();
});

async function queuedSession(n, opts) {
  const cli = await L.cliSession(h, opts);
  const ids = [];
  for (let i = 0; i < n; i++) {
    const localId = L.uid(`q${i}`);
    ids.push(localId);
    assert.equal((await send(cli.sid, { text: `m${i}`, localId })).status, 200);
  }
  return { cli, ids };
}

test('messages-consumed sets invokedAt, emits messages-consumed {localIds, invokedAt, steered?}', async () => {
  const { cli, ids } = await queuedSession(2);
  try {
    const from = sse.events.length;
    const t0 = Date.now();
    cli.emit('messages-consumed', { localIds: [ids[0]], steered: true });
    const ev = await sse.next((e) => e.type === 'messages-consumed' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual(
      { ...ev },
      { type: 'messages-consumed', sessionId: cli.sid, localIds: [ids[0]], invokedAt: ev.invokedAt, steered: true, namespace: 'default' },
    );
    assert.ok(ev.invokedAt >= t0 - 5 && ev.invokedAt <= Date.now() + 5, 'invokedAt is the hub time of the report');
    assert.ok(typeof ev._id === 'string', 'carries an id: line');
    const m = await L.findByLocalId(w, cli.sid, ids[0]);
    assert.equal(m.invokedAt, ev.invokedAt);
    assert.equal((await L.findByLocalId(w, cli.sid, ids[1])).invokedAt, null);

    // without steered: the key is absent
    const from2 = sse.events.length;
    cli.emit('messages-consumed', { localIds: [ids[1]] });
    const ev2 = await sse.next((e) => e.type === 'messages-consumed' && e.sessionId === cli.sid, 3000, from2);
    assert.equal('steered' in ev2, false);
    assert.deepEqual(ev2.localIds, [ids[1]]);

    // consuming again does not move invokedAt
    cli.emit('messages-consumed', { localIds: [ids[0]] });
    await cli.ping();
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).invokedAt, m.invokedAt);
  } finally {
    cli.close();
  }
});

test('messages-indeterminate marks deliveryState "indeterminate" and emits messages-indeterminate', async () => {
  const { cli, ids } = await queuedSession(2);
  try {
    const from = sse.events.length;
    cli.emit('messages-indeterminate', { localIds: [ids[0]] });
    const ev = await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual({ ...ev }, { type: 'messages-indeterminate', sessionId: cli.sid, localIds: [ids[0]], namespace: 'default' });
    const m = await L.findByLocalId(w, cli.sid, ids[0]);
    assert.equal(m.deliveryState, 'indeterminate');
    assert.equal(m.invokedAt, null);
    assert.equal('deliveryState' in (await L.findByLocalId(w, cli.sid, ids[1])), false, 'a queued message has no deliveryState key');

    assert.deepEqual(L.answer(await queuedState(cli.sid, [ids[0], ids[1], 'never-sent'])), {
      status: 200,
      body: { queuedLocalIds: [ids[1]], indeterminateLocalIds: [ids[0]], invokedLocalMessages: [] },
    });

    // the CLI's catch-up fetch skips an indeterminate message
    const r = await L.request(h, 'GET', `/cli/sessions/${cli.sid}/messages?afterSeq=0`, { token: L.cliToken() });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.messages.map((x) => x.localId), [ids[1]]);
  } finally {
    cli.close();
  }
});

test('messages-steer-state: ack {ok}, "queued" re-queues with messages-requeued, "dispatching" counts as indeterminate', async () => {
  const { cli, ids } = await queuedSession(2);
  try {
    const from = sse.events.length;
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'dispatching' }), { ok: true });
    assert.deepEqual(L.answer(await queuedState(cli.sid, ids)), {
      status: 200,
      body: { queuedLocalIds: [ids[1]], indeterminateLocalIds: [ids[0]], invokedLocalMessages: [] },
    });
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).deliveryState, 'indeterminate', 'the page shows dispatching as indeterminate');

    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'queued' }), { ok: true });
    const ev = await sse.next((e) => e.type === 'messages-requeued' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual({ ...ev }, { type: 'messages-requeued', sessionId: cli.sid, localIds: [ids[0]], namespace: 'default' });
    assert.equal('deliveryState' in (await L.findByLocalId(w, cli.sid, ids[0])), false);

    // no transition (already queued), an unknown state, no localIds: {ok:false}
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'queued' }), { ok: false });
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'bogus' }), { ok: false });
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [], state: 'queued' }), { ok: false });

    // an indeterminate message can be re-queued by the CLI too
    cli.emit('messages-indeterminate', { localIds: [ids[1]] });
    await cli.ping();
    const from2 = sse.events.length;
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[1]], state: 'queued' }), { ok: true });
    await sse.next((e) => e.type === 'messages-requeued' && e.sessionId === cli.sid && e.localIds[0] === ids[1], 3000, from2);

    // once consumed, steer-state changes nothing
    cli.emit('messages-consumed', { localIds: [ids[0]] });
    await cli.ping();
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'dispatching' }), { ok: false });
  } finally {
    cli.close();
  }
});

test('POST …/messages/queued-state: invoked messages with their invokedAt; empty list; bad body; guards', async () => {
  const { cli, ids } = await queuedSession(1);
  try {
    cli.emit('messages-consumed', { localIds: [ids[0]] });
    await cli.ping();
    const m = await L.findByLocalId(w, cli.sid, ids[0]);
    assert.deepEqual(L.answer(await queuedState(cli.sid, [ids[0], ids[0]])), {
      status: 200,
      body: { queuedLocalIds: [], indeterminateLocalIds: [], invokedLocalMessages: [{ localId: ids[0], invokedAt: m.invokedAt }] },
    });
    assert.deepEqual(L.answer(await queuedState(cli.sid, [])), {
      status: 200,
      body: { queuedLocalIds: [], indeterminateLocalIds: [], invokedLocalMessages: [] },
    });
    assert.deepEqual(
      L.answer(await w.req('POST', `/api/sessions/${cli.sid}/messages/queued-state`, { ids: [] })),
      L.invalidBody('localIds', 'Invalid input: expected array, received undefined'),
    );
    assert.deepEqual(L.answer(await queuedState('no-such-session', ['x'])), L.NOT_FOUND);
    assert.deepEqual(L.answer(await queuedState(cli.sid, ['x'], other)), L.OTHER_NS);
  } finally {
    cli.close();
  }
});

test('session-alive re-sends every immediately queued message to the CLI (update new-message)', async () => {
  const { cli, ids } = await queuedSession(3);
  try {
    cli.emit('messages-consumed', { localIds: [ids[1]] });
    await cli.ping();
    const n = cli.updates.length;
    cli.alive();
    await cli.ping();
    await L.until(() => cli.updates.length - n >= 2, { ms: 3000, what: 'replayed updates' });
    await L.sleep(200);
    const replay = cli.updates.slice(n).filter((u) => u.body?.t === 'new-message').map((u) => u.body.message.localId);
    assert.deepEqual(replay, [ids[0], ids[2]], 'the unconsumed ones, in seq order');
  } finally {
    cli.close();
  }
});

test('session-end marks the immediately queued messages invoked (messages-consumed) but keeps scheduled ones', async () => {
  const { cli, ids } = await queuedSession(2);
  const sched = L.uid('sched');
  assert.equal((await send(cli.sid, { text: 'later', localId: sched, scheduledAt: Date.now() + 600000 })).status, 200);
  cli.emit('messages-indeterminate', { localIds: [ids[1]] });
  await cli.ping();
  const from = sse.events.length;
  cli.emit('session-end', { time: Date.now() });
  const ev = await sse.next((e) => e.type === 'messages-consumed' && e.sessionId === cli.sid, 3000, from);
  assert.deepEqual(ev.localIds, [ids[0]], 'indeterminate and scheduled messages are not swept');
  assert.equal('steered' in ev, false);
  const ended = await sse.next((e) => e.type === 'session-ended' && e.sessionId === cli.sid, 3000, from);
  assert.equal(ended.namespace, 'default');
  assert.ok(typeof ended._id === 'string', 'session-ended carries an id: line');
  assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).invokedAt, ev.invokedAt);
  assert.equal((await L.findByLocalId(w, cli.sid, sched)).invokedAt, null);
  assert.equal((await L.findByLocalId(w, cli.sid, ids[1])).deliveryState, 'indeterminate');
  cli.close();
});

test('a CLI `message` with a localId is stored with invokedAt null until messages-consumed', async () => {
  const cli = await L.cliSession(h);
  try {
    const localId = L.uid('cli');
    const from = sse.events.length;
    cli.emit('message', { localId, message: { role: 'user', content: { type: 'text', text: 'typed' }, meta: { sentFrom: 'cli' } } });
    const ev = await sse.next((e) => e.type === 'message-received' && e.message?.localId === localId, 3000, from);
    assert.equal(ev.message.invokedAt, null);
    cli.emit('messages-consumed', { localIds: [localId] });
    await sse.next((e) => e.type === 'messages-consumed' && e.sessionId === cli.sid, 3000, from);
    assert.equal(typeof (await L.findByLocalId(w, cli.sid, localId)).invokedAt, 'number');
  } finally {
    cli.close();
  }
});

test('native-queue-message mirrors a shared-runtime queue only with capabilities.concurrentClients', async () => {
  const plain = await L.cliSession(h);
  try {
    plain.emit('native-queue-message', { localId: 'nq-plain', text: 'ignored' });
    await plain.ping();
    assert.equal(await L.findByLocalId(w, plain.sid, 'nq-plain'), null, 'ignored without the capability');
  } finally {
    plain.close();
  }

  const shared = await L.cliSession(h, { metadata: L.defaultMetadata({ flavor: 'codex', capabilities: { concurrentClients: true } }) });
  try {
    const from = sse.events.length;
    shared.emit('native-queue-message', { localId: 'nq-1', text: 'native text' });
    const ev = await sse.next((e) => e.type === 'message-received' && e.message?.localId === 'nq-1', 3000, from);
    const content = { role: 'user', content: { type: 'text', text: 'native text' }, meta: { sentFrom: 'cli', isNativeQueuedMessage: true } };
    assert.deepEqual(ev.message.content, content);
    assert.equal(ev.message.invokedAt, null);
    const stored = await L.findByLocalId(w, shared.sid, 'nq-1');
    assert.deepEqual(stored.content, content);

    // same localId again edits the text in place (same id)
    const from2 = sse.events.length;
    shared.emit('native-queue-message', { localId: 'nq-1', text: 'edited' });
    const ev2 = await sse.next((e) => e.type === 'message-received' && e.message?.localId === 'nq-1', 3000, from2);
    assert.equal(ev2.message.id, ev.message.id);
    assert.equal(L.textOf(await L.findByLocalId(w, shared.sid, 'nq-1')), 'edited');

    // text null removes it: message-cancelled {messageId: <row id>, localId}
    const from3 = sse.events.length;
    shared.emit('native-queue-message', { localId: 'nq-1', text: null });
    const c = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === shared.sid, 3000, from3);
    assert.deepEqual({ ...c }, { type: 'message-cancelled', sessionId: shared.sid, messageId: ev.message.id, localId: 'nq-1', namespace: 'default' });
    assert.equal(await L.findByLocalId(w, shared.sid, 'nq-1'), null);
  } finally {
    shared.close();
  }
});

test('GET /cli/sessions/:id/messages?afterSeq hands the CLI queued and invoked messages, not future or indeterminate ones', async () => {
  const { cli, ids } = await queuedSession(3);
  try {
    const future = L.uid('future');
    assert.equal((await send(cli.sid, { text: 'later', localId: future, scheduledAt: Date.now() + 600000 })).status, 200);
    cli.emit('messages-consumed', { localIds: [ids[0]] });
    cli.emit('messages-indeterminate', { localIds: [ids[1]] });
    await cli.ping();
    const r = await L.request(h, 'GET', `/cli/sessions/${cli.sid}/messages?afterSeq=0`, { token: L.cliToken() });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.messages.map((m) => m.localId), [ids[0], ids[2]]);
    const m = r.body.messages[1];
    assert.deepEqual(Object.keys(m).sort(), ['content', 'createdAt', 'id', 'invokedAt', 'localId', 'scheduledAt', 'seq']);
  } finally {
    cli.close();
  }
});

test('messages-indeterminate is announced even when nothing changed; events for a foreign sid get a socket error', async () => {
  const cli = await L.cliSession(h);
  try {
    const from = sse.events.length;
    cli.emit('messages-indeterminate', { localIds: ['never-sent'] });
    const ev = await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual(ev.localIds, ['never-sent']);

    const errors = [];
    cli.socket.on('error', (e) => errors.push(e));
    cli.socket.emit('messages-consumed', { sid: 'no-such-session', localIds: ['x'] });
    await cli.ping();
    await L.until(() => errors.length > 0, { ms: 3000, what: 'socket error' });
    assert.deepEqual(errors[0], { message: 'session not found', code: 'not-found', scope: 'session', id: 'no-such-session' });
    assert.deepEqual(await L.emitAck(cli.socket, 'messages-steer-state', { sid: 'no-such-session', localIds: ['x'], state: 'queued' }), { ok: false });
  } finally {
    cli.close();
  }
});

test('session-end with reason "cleared" does not sweep the queue', async () => {
  const { cli, ids } = await queuedSession(1);
  const from = sse.events.length;
  cli.emit('session-end', { time: Date.now(), reason: 'cleared' });
  const ended = await sse.next((e) => e.type === 'session-ended' && e.sessionId === cli.sid, 3000, from);
  assert.equal(ended.reason, 'cleared');
  assert.equal(L.seen(sse, 'messages-consumed', cli.sid).filter((e) => sse.events.indexOf(e) >= from).length, 0);
  assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).invokedAt, null);
  cli.close();
});

test('GET /cli/sessions/:id/messages without afterSeq: 400 {"error":"Invalid query"}', async () => {
  const cli = await L.cliSession(h);
  try {
    const r = await L.request(h, 'GET', `/cli/sessions/${cli.sid}/messages`, { token: L.cliToken() });
    assert.deepEqual(L.answer(r), { status: 400, body: { error: 'Invalid query' } });
  } finally {
    cli.close();
  }
});
