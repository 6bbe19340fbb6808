// /cli namespace handshake with the real socket.io-client 4.8.3 (engine.io-client 6.6.3,
// the versions inside the official hapi CLI v0.30.7).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io, Manager } from 'socket.io-client';
import {
  startHapid,
  createSession,
  connectCli,
  connectCliExpectError,
  emitAck,
  defaultMetadata,
} from './hapid.mjs';

let h;
before(async () => {
  h = await startHapid();
});
after(async () => {
  await h?.stop();
});

test('connect to /cli over websocket only', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, {
    token: h.token,
    clientType: 'session-scoped',
    sessionId: s.id,
  });
  try {
    assert.equal(socket.connected, true);
    assert.equal(typeof socket.id, 'string');
    assert.ok(socket.id.length > 0);
    assert.equal(socket.io.engine.transport.name, 'websocket');
    // The engine's handshake: a direct websocket connection advertises no upgrades.
    const hs = socket.handshake;
    assert.deepEqual(hs.upgrades, []);
    assert.equal(typeof hs.sid, 'string');
    assert.equal(hs.pingInterval, 25000);
    assert.equal(hs.pingTimeout, 20000);
    assert.ok(hs.maxPayload >= 1_000_000, `maxPayload ${hs.maxPayload}`);
    // A round trip on the namespace proves the connection is usable.
    const ack = await emitAck(socket, 'ping', undefined);
    assert.equal(ack, undefined);
  } finally {
    socket.close();
  }
});

test('connect to /cli over polling, then upgrade to websocket', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(
    h,
    { token: h.token, clientType: 'session-scoped', sessionId: s.id },
    { transports: ['polling', 'websocket'] },
  );
  try {
    const engine = socket.io.engine;
    assert.deepEqual(socket.handshake.upgrades, ['websocket']);
    if (engine.transport.name !== 'websocket') {
      await new Promise((ok, fail) => {
        const t = setTimeout(() => fail(new Error(`no upgrade; transport ${engine.transport.name}`)), 10000);
        engine.once('upgrade', () => {
          clearTimeout(t);
          ok();
        });
      });
    }
    assert.equal(engine.transport.name, 'websocket');
    // Traffic after the upgrade still flows, on the same Engine.IO session.
    const ack = await emitAck(socket, 'ping', undefined);
    assert.equal(ack, undefined);
    const ack2 = await emitAck(socket, 'update-state', {
      sid: s.id,
      expectedVersion: 1,
      agentState: { controlledByUser: false },
    });
    assert.deepEqual(ack2, { result: 'success', version: 2, agentState: { controlledByUser: false } });
  } finally {
    socket.close();
  }
});

test('polling only (no upgrade) carries events and acks', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(
    h,
    { token: h.token, sessionId: s.id },
    { transports: ['polling'] },
  );
  try {
    assert.equal(socket.io.engine.transport.name, 'polling');
    for (let i = 0; i < 3; i++) {
      assert.equal(await emitAck(socket, 'ping', undefined), undefined);
    }
  } finally {
    socket.close();
  }
});

test('bad token → connect_error "Invalid token"', async () => {
  const e = await connectCliExpectError(h, { token: 'wrong' });
  assert.equal(e.message, 'Invalid token');
});

test('missing token → connect_error "Invalid token"', async () => {
  const e = await connectCliExpectError(h, {});
  assert.equal(e.message, 'Invalid token');
});

test('bad token over polling → connect_error "Invalid token"', async () => {
  const e = await connectCliExpectError(h, { token: `${h.token}x` }, { transports: ['polling'] });
  assert.equal(e.message, 'Invalid token');
});

test('token with explicit namespace suffix connects', async () => {
  const socket = await connectCli(h, { token: `${h.token}:default` });
  assert.equal(socket.connected, true);
  socket.close();
});

test('unknown namespace → connect_error "Invalid namespace"', async () => {
  const socket = io(`${h.base}/nope`, {
    path: '/socket.io/',
    forceNew: true, // one Engine.IO connection per socket, like separate CLI processes
    transports: ['websocket'],
    auth: { token: h.token },
    reconnection: false,
  });
  const e = await new Promise((ok, fail) => {
    socket.once('connect', () => fail(new Error('connected to /nope')));
    socket.once('connect_error', ok);
  });
  socket.close();
  assert.equal(e.message, 'Invalid namespace');
});

test('several /cli sockets at once, each acked independently', async () => {
  const sockets = await Promise.all(
    Array.from({ length: 5 }, () => connectCli(h, { token: h.token })),
  );
  try {
    const acks = await Promise.all(sockets.map((s) => emitAck(s, 'ping', undefined)));
    assert.deepEqual(acks, [undefined, undefined, undefined, undefined, undefined]);
  } finally {
    for (const s of sockets) s.close();
  }
});

test('one Engine.IO connection multiplexing / and /cli', async () => {
  const m = new Manager(h.base, { path: '/socket.io/', transports: ['websocket'], reconnection: false });
  const main = m.socket('/');
  const cli = m.socket('/cli', { auth: { token: h.token } });
  const connected = (s) =>
    new Promise((ok, fail) => {
      s.once('connect', ok);
      s.once('connect_error', fail);
    });
  try {
    await Promise.all([connected(main), connected(cli)]);
    assert.notEqual(main.id, cli.id);
    assert.equal(await emitAck(cli, 'ping'), undefined);
  } finally {
    main.close();
    cli.close();
  }
});
