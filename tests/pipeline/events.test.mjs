// The structured SSE patches (CONTRACT.md §8) and ids / Last-Event-ID replay of the pipeline
// events (§9).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let h, w, sse;
before(async () => {
  h = await L.startHub();
  w = await L.web(h);
  sse = await w.sse({ all: 'true' });
});
after(async () => {
  sse?.close();
  await h?.stop();
});

test('session-updated carries {metadata|agentState|todos: {version, value}, updatedAt} patches', async () => {
  const cli = await L.cliSession(h);
  try {
    const meta = { ...L.defaultMetadata(), summary: { text: 'working', updatedAt: 1 } };
    let from = sse.events.length;
    const ack = await cli.emitAck('update-metadata', { expectedVersion: 1, metadata: meta });
    assert.deepEqual(ack, { result: 'success', version: 2, metadata: meta });
    let ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.metadata, 3000, from);
    assert.deepEqual(Object.keys(ev.data).sort(), ['metadata', 'updatedAt']);
    assert.deepEqual(ev.data.metadata, { version: 2, value: meta });
    assert.equal(typeof ev.data.updatedAt, 'number');
    assert.equal(ev.namespace, 'default');

    from = sse.events.length;
    const state = { controlledByUser: false, requests: {} };
    assert.deepEqual(await cli.emitAck('update-state', { expectedVersion: 1, agentState: state }), { result: 'success', version: 2, agentState: state });
    ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.agentState, 3000, from);
    assert.deepEqual(Object.keys(ev.data).sort(), ['agentState', 'updatedAt']);
    assert.deepEqual(ev.data.agentState, { version: 2, value: state });

    from = sse.events.length;
    const input = { todos: [{ content: 'write tests', status: 'in_progress', activeForm: 'writing tests', id: 't1' }] };
    cli.emit('message', {
      message: { role: 'agent', content: { type: 'output', data: { type: 'assistant', message: { role: 'assistant', content: [{ type: 'tool_use', id: 'tu1', name: 'TodoWrite', input }] } } } },
    });
    ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.todos, 3000, from);
    assert.deepEqual(Object.keys(ev.data).sort(), ['todos', 'updatedAt']);
    assert.equal(typeof ev.data.todos.version, 'number');
    assert.deepEqual(ev.data.todos.value, [{ content: 'write tests', status: 'in_progress', priority: 'medium', id: 't1', activeForm: 'writing tests' }]);
    const mr = await sse.next((e) => e.type === 'message-received' && e.sessionId === cli.sid, 3000, from);
    // a CLI message: the stored message without scheduledAt
    assert.deepEqual(Object.keys(mr.message).sort(), ['content', 'createdAt', 'id', 'invokedAt', 'localId', 'seq']);
    assert.equal(mr.message.invokedAt, mr.message.createdAt);
    assert.equal(mr.message.localId, null);
    assert.ok(typeof mr._id === 'string');
  } finally {
    cli.close();
  }
});

test('machine-updated carries the full machine with health; an unchanged health is not re-broadcast', async () => {
  const health = { collectedAt: Date.now(), cpuCount: 2, load1m: 0.5, cpuPercent: 12, memoryPercent: 40, uptimeSeconds: 100 };
  let from = sse.events.length;
  const m = await L.cliMachine(h, { health });
  try {
    let ev = await sse.next((e) => e.type === 'machine-updated' && e.machineId === m.id && e.data?.active === true, 3000, from);
    const keys = ['active', 'activeAt', 'createdAt', 'health', 'id', 'metadata', 'metadataVersion', 'namespace', 'runnerState', 'runnerStateVersion', 'seq', 'updatedAt'];
    assert.deepEqual(Object.keys(ev.data).sort(), keys);
    assert.deepEqual(ev.data.health, health);
    await L.sleep(200);

    from = sse.events.length;
    const h2 = { ...health, collectedAt: Date.now(), load1m: 0.9 };
    m.alive({ health: h2 });
    ev = await sse.next((e) => e.type === 'machine-updated' && e.machineId === m.id, 3000, from);
    assert.deepEqual(ev.data.health, h2, 'a changed health is broadcast at once');
    assert.ok(typeof ev._id === 'string');

    from = sse.events.length;
    m.alive({ health: { ...h2, collectedAt: Date.now() } });
    await L.emitAck(m.socket, 'ping');
    await L.sleep(500);
    assert.equal(L.seen(sse, 'machine-updated').filter((e) => e.machineId === m.id && sse.events.indexOf(e) >= from).length, 0, 'only collectedAt changed: no broadcast');

    // an invalid health is stored as null
    from = sse.events.length;
    m.alive({ health: { collectedAt: 'x' } });
    ev = await sse.next((e) => e.type === 'machine-updated' && e.machineId === m.id, 3000, from);
    assert.equal(ev.data.health, null);
  } finally {
    m.close();
  }
});

test('pipeline events carry id: lines and replay through Last-Event-ID (resume "ok")', async () => {
  const cli = await L.cliSession(h, { onUpdate: () => ({ removed: true }) });
  try {
    // s0 stays open throughout: the reference order. s1 is the stream that goes away.
    const s0 = await w.sse({ sessionId: cli.sid });
    const s1 = await w.sse({ sessionId: cli.sid });
    const send = (body) => w.req('POST', `/api/sessions/${cli.sid}/messages`, body);
    assert.equal((await send({ text: 'one', localId: 'ev-1' })).status, 200);
    await s1.next((e) => e.type === 'message-received' && e.message?.localId === 'ev-1', 3000);
    await s0.next((e) => e.type === 'message-received' && e.message?.localId === 'ev-1', 3000);
    await L.sleep(300); // both streams settle on the same last event
    const nonBeat = (x) => x.events.filter((e) => e.type !== 'heartbeat').length;
    assert.equal(nonBeat(s1), nonBeat(s0));
    const lastId = s1.events.filter((e) => e._id).at(-1)._id;
    assert.ok(typeof lastId === 'string' && lastId.length > 0, 'ids are opaque non-empty strings');
    s1.close();
    const mark = s0.events.length;

    // while away: queued, consumed, indeterminate, requeued, cancelled
    assert.equal((await send({ text: 'two', localId: 'ev-2' })).status, 200);
    assert.equal((await send({ text: 'three', localId: 'ev-3' })).status, 200);
    cli.emit('messages-consumed', { localIds: ['ev-1'] });
    cli.emit('messages-indeterminate', { localIds: ['ev-2'] });
    await cli.ping();
    assert.deepEqual(await cli.emitAck('messages-steer-state', { localIds: ['ev-2'], state: 'queued' }), { ok: true });
    assert.equal((await w.req('DELETE', `/api/sessions/${cli.sid}/messages/ev-3`)).body.status, 'cancelled');
    await s0.next((e) => e.type === 'message-cancelled', 3000, mark);
    await L.sleep(300);

    const s2 = await w.sse({ sessionId: cli.sid }, { headers: { 'last-event-id': lastId } });
    try {
      const cc = await s2.next((e) => e.type === 'connection-changed', 3000);
      assert.equal(cc.data.resume, 'ok');
      const want = ['message-received', 'messages-consumed', 'messages-indeterminate', 'messages-requeued', 'message-cancelled'];
      for (const type of want) {
        const e = await s2.next((x) => x.type === type, 3000);
        assert.ok(typeof e._id === 'string' && e._id.length > 0, `${type} replayed with an id`);
      }
      await L.sleep(300);
      // exactly what a stream that stayed open saw after that point, in the same order
      const key = (e) => JSON.stringify({ ...e });
      const missed = s0.events.slice(mark).filter((e) => e.type !== 'heartbeat').map(key);
      const replayed = s2.events.filter((e) => e.type !== 'heartbeat' && e.type !== 'connection-changed').map(key);
      assert.deepEqual(replayed, missed);
      // and the ids a stream that stayed open saw for them
      assert.deepEqual(
        s2.events.filter((e) => e._id).map((e) => e._id),
        s0.events.slice(mark).filter((e) => e._id).map((e) => e._id),
      );
    } finally {
      s2.close();
      s0.close();
    }
  } finally {
    cli.close();
  }
});
