// DELETE /api/sessions/:id/messages/:messageId (cancel), POST …/:messageId/steer and
// POST …/:messageId/retry (CONTRACT.md §5): the answers for every state of the message and
// every ack of the CLI, the `update` bodies the CLI gets, and the SSE events.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let h, w, other, sse;
const send = (sid, body) => w.req('POST', `/api/sessions/${sid}/messages`, body);
const cancel = (sid, id, ww = w) => ww.req('DELETE', `/api/sessions/${sid}/messages/${id}`);
const steer = (sid, id, ww = w) => ww.req('POST', `/api/sessions/${sid}/messages/${id}/steer`);
const retry = (sid, id, ww = w) => ww.req('POST', `/api/sessions/${sid}/messages/${id}/retry`);

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

/** A session whose CLI acks cancel-/retry-queued-message with `ack(body)`; n queued messages. */
async function setup(n, { ack, flavor = 'claude', metadata } = {}) {
  const cli = await L.cliSession(h, { metadata: metadata ?? L.defaultMetadata({ flavor }), onUpdate: (b) => (ack ? ack(b) : undefined) });
  const ids = [];
  for (let i = 0; i < n; i++) {
    const localId = L.uid(`c${i}`);
    ids.push(localId);
    assert.equal((await send(cli.sid, { text: `m${i}`, localId })).status, 200);
  }
  return { cli, ids, setAck: (f) => (ack = f) };
}

const ok200 = (body) => ({ status: 200, body });
const cancelUpdates = (cli) => cli.byType('cancel-queued-message');

test('cancel a queued message the CLI removes: update cancel-queued-message, {status:"cancelled"}, SSE message-cancelled', async () => {
  const { cli, ids } = await setup(2, { ack: () => ({ removed: true }) });
  try {
    const from = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'cancelled', localId: ids[0] }));
    const [u] = cancelUpdates(cli);
    assert.deepEqual(u, {
      id: u.id,
      seq: 0,
      createdAt: u.createdAt,
      body: { t: 'cancel-queued-message', sid: cli.sid, messageId: ids[0], localId: ids[0] },
    });
    assert.match(u.id, /^[0-9a-f-]{36}$/);
    const ev = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual({ ...ev }, { type: 'message-cancelled', sessionId: cli.sid, messageId: ids[0], namespace: 'default' });
    assert.ok(typeof ev._id === 'string');
    assert.equal(await L.findByLocalId(w, cli.sid, ids[0]), null, 'the row is deleted');

    // by row id: messageId in the update and the event is the id as given in the URL
    const m = await L.findByLocalId(w, cli.sid, ids[1]);
    const from2 = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, m.id)), ok200({ status: 'cancelled', localId: ids[1] }));
    assert.equal(cancelUpdates(cli)[1].body.messageId, m.id);
    assert.equal(cancelUpdates(cli)[1].body.localId, ids[1]);
    const ev2 = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from2);
    assert.equal(ev2.messageId, m.id);
  } finally {
    cli.close();
  }
});

test('cancel when the CLI does not ack within 500 ms: {status:"busy"}, message turns indeterminate', async () => {
  const { cli, ids } = await setup(1);
  try {
    const from = sse.events.length;
    const t0 = Date.now();
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'busy', localId: ids[0] }));
    assert.ok(Date.now() - t0 >= 450, 'the hub waits for the ack');
    const ev = await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual(ev.localIds, [ids[0]]);
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).deliveryState, 'indeterminate');
  } finally {
    cli.close();
  }
});

test('cancel acks: consumed → {status:"invoked", message}; inFlight/indeterminate → busy; nothing removed → busy + indeterminate', async () => {
  let mode;
  const { cli, ids } = await setup(4, { ack: () => mode });
  try {
    mode = { removed: false, consumed: true };
    const from = sse.events.length;
    const r = await cancel(cli.sid, ids[0]);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'invoked');
    const m = r.body.message;
    // the store row: sessionId included, no deliveryState
    assert.deepEqual(Object.keys(m).sort(), ['content', 'createdAt', 'id', 'invokedAt', 'localId', 'scheduledAt', 'seq', 'sessionId']);
    assert.equal(m.localId, ids[0]);
    assert.equal(m.sessionId, cli.sid);
    assert.equal(typeof m.invokedAt, 'number');
    const ev = await sse.next((e) => e.type === 'messages-consumed' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual(ev.localIds, [ids[0]]);
    assert.equal(ev.invokedAt, m.invokedAt);

    mode = { removed: false, inFlight: true };
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[1])), ok200({ status: 'busy', localId: ids[1] }));
    assert.equal('deliveryState' in (await L.findByLocalId(w, cli.sid, ids[1])), false, 'in flight: stays queued');

    mode = { removed: false, indeterminate: true };
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[2])), ok200({ status: 'busy', localId: ids[2] }));
    assert.equal('deliveryState' in (await L.findByLocalId(w, cli.sid, ids[2])), false, 'CLI-indeterminate: stays queued');

    mode = { removed: false };
    const from2 = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[3])), ok200({ status: 'busy', localId: ids[3] }));
    await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid && e.localIds[0] === ids[3], 3000, from2);
    assert.equal((await L.findByLocalId(w, cli.sid, ids[3])).deliveryState, 'indeterminate');

    // an indeterminate message the CLI now removes: cancelled, message-cancelled with localId
    mode = { removed: true };
    const from3 = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[3])), ok200({ status: 'cancelled', localId: ids[3] }));
    const c = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from3);
    assert.deepEqual({ ...c }, { type: 'message-cancelled', sessionId: cli.sid, messageId: ids[3], localId: ids[3], namespace: 'default' });
  } finally {
    cli.close();
  }
});

test('cancel a delivered message → {status:"invoked", message}; unknown id → {status:"cancelled", localId:null}; guards', async () => {
  const { cli, ids } = await setup(1, { ack: () => ({ removed: true }) });
  try {
    cli.emit('messages-consumed', { localIds: [ids[0]] });
    await cli.ping();
    const n = cancelUpdates(cli).length;
    const r = await cancel(cli.sid, ids[0]);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'invoked');
    assert.equal(r.body.message.localId, ids[0]);
    assert.deepEqual(L.answer(await cancel(cli.sid, 'no-such-message')), ok200({ status: 'cancelled', localId: null }));
    assert.equal(cancelUpdates(cli).length, n, 'neither asks the CLI');
    assert.deepEqual(L.answer(await cancel('no-such-session', ids[0])), L.NOT_FOUND);
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[0], other)), L.OTHER_NS);
  } finally {
    cli.close();
  }
});

test('cancel without a CLI in the room, and a future scheduled message: deleted at once, no update', async () => {
  const { cli, ids } = await setup(1, { ack: () => ({ removed: true }) });
  const future = L.uid('future');
  assert.equal((await send(cli.sid, { text: 'later', localId: future, scheduledAt: Date.now() + 600000 })).status, 200);
  let from = sse.events.length;
  assert.deepEqual(L.answer(await cancel(cli.sid, future)), ok200({ status: 'cancelled', localId: future }));
  let ev = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from);
  assert.deepEqual({ ...ev }, { type: 'message-cancelled', sessionId: cli.sid, messageId: future, localId: future, namespace: 'default' });
  assert.equal(cancelUpdates(cli).length, 0, 'a future message is not the CLI\'s business');

  cli.close();
  await L.sleep(300);
  from = sse.events.length;
  assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'cancelled', localId: ids[0] }));
  ev = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from);
  assert.deepEqual({ ...ev }, { type: 'message-cancelled', sessionId: cli.sid, messageId: ids[0], localId: ids[0], namespace: 'default' });
  assert.equal(await L.findByLocalId(w, cli.sid, ids[0]), null);
});

test('steer: RPC steer-queued-message {localId} on Codex; answers steered / failed; refusals', async () => {
  const { cli, ids } = await setup(3, { flavor: 'codex' });
  try {
    // no handler registered yet
    let r = await steer(cli.sid, ids[0]);
    assert.deepEqual(L.answer(r), ok200({ status: 'failed', error: `RPC handler not registered: ${cli.sid}:steer-queued-message`, localId: ids[0] }));

    await cli.handleRpc('steer-queued-message', (p) => (p.localId === ids[1] ? { steered: false, error: 'agent busy' } : { steered: true }));
    r = await steer(cli.sid, ids[0]);
    assert.deepEqual(L.answer(r), ok200({ status: 'steered', localId: ids[0] }));
    assert.deepEqual(cli.rpcCalls.at(-1), { method: `${cli.sid}:steer-queued-message`, name: 'steer-queued-message', params: { localId: ids[0] } });
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).invokedAt, null, 'steering itself does not mark the message invoked');

    // by row id, the RPC still gets the localId
    const m1 = await L.findByLocalId(w, cli.sid, ids[1]);
    r = await steer(cli.sid, m1.id);
    assert.deepEqual(L.answer(r), ok200({ status: 'failed', error: 'agent busy', localId: ids[1] }));
    assert.deepEqual(cli.rpcCalls.at(-1).params, { localId: ids[1] });

    assert.deepEqual(L.answer(await steer(cli.sid, 'no-such-message')), ok200({ status: 'failed', error: 'Message not found', localId: null }));

    cli.emit('messages-consumed', { localIds: [ids[2]] });
    await cli.ping();
    r = await steer(cli.sid, ids[2]);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'invoked');
    // the steer answer's message has no sessionId (unlike cancel's)
    assert.deepEqual(Object.keys(r.body.message).sort(), ['content', 'createdAt', 'id', 'invokedAt', 'localId', 'scheduledAt', 'seq']);

    const future = L.uid('future');
    assert.equal((await send(cli.sid, { text: 'later', localId: future, scheduledAt: Date.now() + 600000 })).status, 200);
    assert.deepEqual(L.answer(await steer(cli.sid, future)), ok200({ status: 'failed', error: 'Scheduled messages cannot be steered', localId: future }));

    assert.deepEqual(L.answer(await steer('no-such-session', ids[0])), L.NOT_FOUND);
    assert.deepEqual(L.answer(await steer(cli.sid, ids[0], other)), L.OTHER_NS);
  } finally {
    cli.close();
  }
});

test('steer refused for flavors without steering, for local (controlledByUser) sessions, and for inactive sessions', async () => {
  const claude = await setup(1);
  try {
    assert.deepEqual(
      L.answer(await steer(claude.cli.sid, claude.ids[0])),
      ok200({ status: 'failed', error: 'Steering is only supported for Pi, Codex, and Cursor ACP sessions', localId: null }),
    );
  } finally {
    claude.cli.close();
  }
  const local = await setup(1, { flavor: 'codex' });
  try {
    assert.deepEqual(await local.cli.emitAck('update-state', { expectedVersion: 1, agentState: { controlledByUser: true } }), {
      result: 'success',
      version: 2,
      agentState: { controlledByUser: true },
    });
    assert.deepEqual(
      L.answer(await steer(local.cli.sid, local.ids[0])),
      ok200({ status: 'failed', error: 'Steering is only available for remote sessions', localId: null }),
    );
    local.cli.emit('session-end', { time: Date.now() });
    await local.cli.ping();
    await L.sleep(200);
    assert.deepEqual(L.answer(await steer(local.cli.sid, local.ids[0])), L.INACTIVE);
  } finally {
    local.cli.close();
  }
});

test('retry: not-found / already-queued / invoked; an indeterminate message is cancelled then re-sent (retry-queued-message)', async () => {
  let mode = () => undefined;
  const { cli, ids } = await setup(2, { ack: (b) => mode(b) });
  try {
    assert.deepEqual(L.answer(await retry(cli.sid, 'no-such-message')), ok200({ status: 'not-found' }));
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'already-queued', localId: ids[0] }));
    cli.emit('messages-consumed', { localIds: [ids[1]] });
    await cli.ping();
    const r = await retry(cli.sid, ids[1]);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'invoked');
    assert.equal(r.body.message.localId, ids[1]);
    assert.equal('sessionId' in r.body.message, false);
    assert.deepEqual(L.answer(await retry('no-such-session', ids[0])), L.NOT_FOUND);
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0], other)), L.OTHER_NS);

    // indeterminate + CLI removes it + CLI accepts the retry → retried, messages-requeued
    cli.emit('messages-indeterminate', { localIds: [ids[0]] });
    await cli.ping();
    mode = (b) => (b.t === 'cancel-queued-message' ? { removed: true } : { removed: false, accepted: true });
    const m = await L.findByLocalId(w, cli.sid, ids[0]);
    const nCancel = cancelUpdates(cli).length;
    const from = sse.events.length;
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retried', localId: ids[0] }));
    assert.equal(cancelUpdates(cli).length, nCancel + 1, 'first a cancel-queued-message');
    const ru = cli.byType('retry-queued-message').at(-1);
    assert.deepEqual(ru, {
      id: m.id,
      seq: m.seq,
      createdAt: m.createdAt,
      body: {
        t: 'retry-queued-message',
        sid: cli.sid,
        messageId: m.id,
        localId: ids[0],
        message: { id: m.id, seq: m.seq, createdAt: m.createdAt, localId: ids[0], content: m.content },
      },
    });
    const ev = await sse.next((e) => e.type === 'messages-requeued' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual(ev.localIds, [ids[0]]);
    assert.equal('deliveryState' in (await L.findByLocalId(w, cli.sid, ids[0])), false, 'queued again');

    // the CLI refuses the retry: retry-unavailable, indeterminate again
    cli.emit('messages-indeterminate', { localIds: [ids[0]] });
    await cli.ping();
    mode = (b) => (b.t === 'cancel-queued-message' ? { removed: true } : { removed: false, accepted: false });
    const from2 = sse.events.length;
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retry-unavailable', localId: ids[0] }));
    await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from2);
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).deliveryState, 'indeterminate');

    // no ack to the cancel: retry-unavailable, no retry-queued-message
    mode = () => undefined;
    const nRetry = cli.byType('retry-queued-message').length;
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retry-unavailable', localId: ids[0] }));
    assert.equal(cli.byType('retry-queued-message').length, nRetry);
  } finally {
    cli.close();
  }
  // no CLI in the room: retry-unavailable without asking anyone
  await L.sleep(300);
  assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retry-unavailable', localId: ids[0] }));
});

test('cancel an indeterminate message: "nothing removed" still deletes it; inFlight or no ack → busy', async () => {
  let mode;
  const { cli, ids } = await setup(2, { ack: () => mode });
  try {
    cli.emit('messages-indeterminate', { localIds: ids });
    await cli.ping();
    mode = { removed: false };
    const from = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'cancelled', localId: ids[0] }));
    const ev = await sse.next((e) => e.type === 'message-cancelled' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual({ ...ev }, { type: 'message-cancelled', sessionId: cli.sid, messageId: ids[0], localId: ids[0], namespace: 'default' });
    mode = { removed: false, inFlight: true };
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[1])), ok200({ status: 'busy', localId: ids[1] }));
    mode = undefined;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[1])), ok200({ status: 'busy', localId: ids[1] }));
    assert.equal((await L.findByLocalId(w, cli.sid, ids[1])).deliveryState, 'indeterminate');
  } finally {
    cli.close();
  }
});

test('cancel a dispatching message (steer-state): busy + indeterminate even when the CLI says removed', async () => {
  const { cli, ids } = await setup(1, { ack: () => ({ removed: true }) });
  try {
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: [ids[0]], state: 'dispatching' }), { ok: true });
    const from = sse.events.length;
    assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'busy', localId: ids[0] }));
    await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from);
    assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).deliveryState, 'indeterminate');
  } finally {
    cli.close();
  }
});

test('cancel in a shared (concurrentClients) session without a CLI: busy + indeterminate, not deleted', async () => {
  const { cli, ids } = await setup(1, { metadata: L.defaultMetadata({ flavor: 'codex', capabilities: { concurrentClients: true } }) });
  cli.close();
  await L.sleep(300);
  const from = sse.events.length;
  assert.deepEqual(L.answer(await cancel(cli.sid, ids[0])), ok200({ status: 'busy', localId: ids[0] }));
  await sse.next((e) => e.type === 'messages-indeterminate' && e.sessionId === cli.sid, 3000, from);
  assert.equal((await L.findByLocalId(w, cli.sid, ids[0])).deliveryState, 'indeterminate');
});

test('retry: two CLI sockets in the room → retry-unavailable; a cancel ack "nothing removed" still lets the retry through', async () => {
  let mode = () => undefined;
  const { cli, ids } = await setup(1, { ack: (b) => mode(b) });
  try {
    cli.emit('messages-indeterminate', { localIds: [ids[0]] });
    await cli.ping();
    const second = await L.connectCli(h, { clientType: 'session-scoped', sessionId: cli.sid });
    const n = cancelUpdates(cli).length;
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retry-unavailable', localId: ids[0] }));
    assert.equal(cancelUpdates(cli).length, n, 'the CLI is not asked');
    second.close();
    await L.sleep(300);
    mode = (b) => (b.t === 'cancel-queued-message' ? { removed: false } : { removed: false, accepted: true });
    assert.deepEqual(L.answer(await retry(cli.sid, ids[0])), ok200({ status: 'retried', localId: ids[0] }));
  } finally {
    cli.close();
  }
});
