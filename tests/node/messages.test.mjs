// Messages, versioned writes and ping on /cli with the real socket.io-client, read back over
// REST (/cli backfill and the web API).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  createSession,
  connectCli,
  emitAck,
  request,
  webJwt,
  until,
  waitEvent,
  defaultMetadata,
} from './hapid.mjs';

let h;
let jwt;
before(async () => {
  h = await startHapid();
  jwt = await webJwt(h);
});
after(async () => {
  await h?.stop();
});

async function cliMessages(sid, afterSeq = 0) {
  const r = await request(h, 'GET', `/cli/sessions/${sid}/messages?afterSeq=${afterSeq}`, {
    token: h.token,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get('x-hapi-protocol-version'), '1');
  return r.body.messages;
}

const agentMsg = (i) => ({
  role: 'agent',
  content: { type: 'output', data: { type: 'assistant', n: i, text: `reply ${i}` } },
  meta: { sentFrom: 'cli' },
});

test('messages emitted on /cli are stored in order with seq 1..n', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, clientType: 'session-scoped', sessionId: s.id });
  try {
    const N = 20;
    for (let i = 1; i <= N; i++) {
      socket.emit('message', { sid: s.id, message: agentMsg(i), localId: `l-${i}` });
    }
    // `message` carries no ack; a `ping` ack after them proves they were processed (the
    // CLI's own flush does exactly this).
    assert.equal(await emitAck(socket, 'ping'), undefined);

    const msgs = await cliMessages(s.id);
    assert.equal(msgs.length, N);
    msgs.forEach((m, i) => {
      assert.equal(m.seq, i + 1);
      assert.equal(m.localId, `l-${i + 1}`);
      assert.deepEqual(m.content, agentMsg(i + 1));
      assert.match(m.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(typeof m.createdAt, 'number');
    });
    assert.equal(new Set(msgs.map((m) => m.id)).size, N);

    // afterSeq pages from the middle.
    const tail = await cliMessages(s.id, 15);
    assert.deepEqual(
      tail.map((m) => m.seq),
      [16, 17, 18, 19, 20],
    );

    // The web API sees the same messages (ascending by seq).
    const w = await request(h, 'GET', `/api/sessions/${s.id}/messages`, { token: jwt });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    assert.deepEqual(
      w.body.messages.map((m) => [m.seq, m.id, m.localId]),
      msgs.map((m) => [m.seq, m.id, m.localId]),
    );
    assert.deepEqual(w.body.messages[0].content, agentMsg(1));
    assert.equal(w.body.page.hasMore, false);
  } finally {
    socket.close();
  }
});

test('message without localId gets localId null; string content is parsed as JSON', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    socket.emit('message', { sid: s.id, message: { role: 'agent', content: { type: 'event', data: { type: 'ready' } } } });
    socket.emit('message', { sid: s.id, message: JSON.stringify({ role: 'agent', x: 1 }) });
    socket.emit('message', { sid: s.id, message: 'not json {' });
    await emitAck(socket, 'ping');
    const msgs = await cliMessages(s.id);
    assert.deepEqual(
      msgs.map((m) => [m.seq, m.localId, m.content]),
      [
        [1, null, { role: 'agent', content: { type: 'event', data: { type: 'ready' } } }],
        [2, null, { role: 'agent', x: 1 }],
        [3, null, 'not json {'],
      ],
    );
  } finally {
    socket.close();
  }
});

test('a duplicate localId is stored once', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    socket.emit('message', { sid: s.id, message: agentMsg(1), localId: 'dup' });
    socket.emit('message', { sid: s.id, message: agentMsg(2), localId: 'dup' });
    socket.emit('message', { sid: s.id, message: agentMsg(3), localId: 'other' });
    socket.emit('message', { sid: s.id, message: agentMsg(4), localId: 'dup' });
    await emitAck(socket, 'ping');
    const msgs = await cliMessages(s.id);
    assert.deepEqual(
      msgs.map((m) => [m.seq, m.localId, m.content.content.data.n]),
      [
        [1, 'dup', 1],
        [2, 'other', 3],
      ],
    );
  } finally {
    socket.close();
  }
});

test('a second socket in the room receives `update` new-message for CLI messages', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const a = await connectCli(h, { token: h.token, sessionId: s.id });
  const b = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    let echoedToSender = false;
    a.on('update', () => {
      echoedToSender = true;
    });
    const got = waitEvent(b, 'update', (u) => u?.body?.t === 'new-message');
    a.emit('message', { sid: s.id, message: agentMsg(7), localId: 'u-7' });
    const u = await got;
    assert.equal(typeof u.id, 'string');
    assert.equal(u.seq, 1);
    assert.equal(typeof u.createdAt, 'number');
    assert.equal(u.body.sid, s.id);
    assert.equal(u.body.message.seq, 1);
    assert.equal(u.body.message.localId, 'u-7');
    assert.deepEqual(u.body.message.content, agentMsg(7));
    await emitAck(a, 'ping');
    assert.equal(echoedToSender, false, 'the sender must not get its own message back');
  } finally {
    a.close();
    b.close();
  }
});

test('update-metadata: success, then version-mismatch returns the stored version and value', async () => {
  const meta = defaultMetadata();
  const s = await createSession(h, { metadata: meta });
  assert.equal(s.metadataVersion, 1);
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    const m2 = { ...meta, name: 'renamed', hapiMcpUrl: 'http://127.0.0.1:1234/', extra: { deep: [1, 2] } };
    const ok = await emitAck(socket, 'update-metadata', { sid: s.id, expectedVersion: 1, metadata: m2 });
    assert.deepEqual(ok, { result: 'success', version: 2, metadata: m2 });

    const stale = await emitAck(socket, 'update-metadata', {
      sid: s.id,
      expectedVersion: 1,
      metadata: { ...meta, name: 'lost' },
    });
    assert.deepEqual(stale, { result: 'version-mismatch', version: 2, metadata: m2 });

    // Unknown keys survive verbatim (the CLI rebuilds later writes from what it gets back).
    const r = await request(h, 'GET', `/cli/sessions/${s.id}`, { token: h.token });
    assert.equal(r.status, 200);
    assert.equal(r.body.session.metadataVersion, 2);
    assert.deepEqual(r.body.session.metadata, m2);

    const bad = await emitAck(socket, 'update-metadata', { sid: s.id, metadata: {} });
    assert.deepEqual(bad, { result: 'error' });
    const missing = await emitAck(socket, 'update-metadata', {
      sid: 'no-such-session',
      expectedVersion: 1,
      metadata: {},
    });
    assert.deepEqual(missing, { result: 'error', reason: 'not-found' });
  } finally {
    socket.close();
  }
});

test('update-state: success, version-mismatch, null state', async () => {
  const s = await createSession(h, { metadata: defaultMetadata(), agentState: {} });
  assert.equal(s.agentStateVersion, 1);
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    const st = {
      controlledByUser: false,
      startingMode: 'remote',
      requests: { toolu_1: { tool: 'Bash', arguments: { command: 'ls' }, createdAt: 1 } },
    };
    const ok = await emitAck(socket, 'update-state', { sid: s.id, expectedVersion: 1, agentState: st });
    assert.deepEqual(ok, { result: 'success', version: 2, agentState: st });

    const stale = await emitAck(socket, 'update-state', {
      sid: s.id,
      expectedVersion: 0,
      agentState: { controlledByUser: true },
    });
    assert.deepEqual(stale, { result: 'version-mismatch', version: 2, agentState: st });

    const cleared = await emitAck(socket, 'update-state', { sid: s.id, expectedVersion: 2, agentState: null });
    assert.deepEqual(cleared, { result: 'success', version: 3, agentState: null });

    const missing = await emitAck(socket, 'update-state', {
      sid: 'no-such-session',
      expectedVersion: 1,
      agentState: null,
    });
    assert.deepEqual(missing, { result: 'error', reason: 'not-found' });
  } finally {
    socket.close();
  }
});

test('another socket in the room receives update-session after a versioned write', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const a = await connectCli(h, { token: h.token, sessionId: s.id });
  const b = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    const got = waitEvent(b, 'update', (u) => u?.body?.t === 'update-session');
    const st = { controlledByUser: false };
    await emitAck(a, 'update-state', { sid: s.id, expectedVersion: 1, agentState: st });
    const u = await got;
    assert.deepEqual(u.body, {
      t: 'update-session',
      sid: s.id,
      metadata: null,
      agentState: { version: 2, value: st },
    });
  } finally {
    a.close();
    b.close();
  }
});

test('ping with an ack gets an empty ack', async () => {
  const socket = await connectCli(h, { token: h.token });
  try {
    // Raw ack arguments: the callback must be called with no arguments at all.
    const args = await new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error('no ack for ping')), 5000);
      socket.emit('ping', (...a) => {
        clearTimeout(t);
        ok(a);
      });
    });
    assert.deepEqual(args, []);
  } finally {
    socket.close();
  }
});

test('unknown and optional v0.30.7 events are ignored and the socket stays usable', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    socket.emit('messages-consumed', { sid: s.id, localIds: ['x'] });
    socket.emit('session-ready', { sid: s.id, time: Date.now() });
    socket.emit('usage-report', { anything: true });
    socket.emit('no-such-event', 1, 2, 3);
    socket.emit('message', { sid: s.id }); // no `message` key: dropped
    const steer = await emitAck(socket, 'messages-steer-state', {
      sid: s.id,
      localIds: [],
      state: 'queued',
    }, 2000).catch(() => 'no-ack');
    // An ack is optional here; the socket must survive either way.
    assert.ok(steer === 'no-ack' || typeof steer === 'object');
    assert.equal(await emitAck(socket, 'ping'), undefined);
    assert.deepEqual(await cliMessages(s.id), []);
  } finally {
    socket.close();
  }
});

test('session-alive makes the session active (seen on the web API)', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  assert.equal(s.active, false);
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: true, mode: 'remote' });
    const sess = await until(
      async () => {
        const r = await request(h, 'GET', `/api/sessions/${s.id}`, { token: jwt });
        return r.body?.session?.active ? r.body.session : null;
      },
      { what: 'session active' },
    );
    assert.equal(sess.thinking, true);
    socket.emit('session-end', { sid: s.id, time: Date.now() });
    await until(
      async () => {
        const r = await request(h, 'GET', `/api/sessions/${s.id}`, { token: jwt });
        return r.body?.session?.active === false;
      },
      { what: 'session inactive' },
    );
  } finally {
    socket.close();
  }
});
