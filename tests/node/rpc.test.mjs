// RPC hub → CLI → hub with the real socket.io-client, driven from the web API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHapid, createSession, connectCli, emitAck, request, webJwt, defaultMetadata } from './hapid.mjs';

let h;
let jwt;
before(async () => {
  h = await startHapid();
  jwt = await webJwt(h);
});
after(async () => {
  await h?.stop();
});

/** rpc-register, then a ping round trip so the registration is surely processed. */
async function register(socket, method) {
  socket.emit('rpc-register', { method });
  await emitAck(socket, 'ping');
}

test('RPC round trip: web git-status → rpc-request on the CLI socket → ack → web answer', async () => {
  const meta = defaultMetadata();
  const s = await createSession(h, { metadata: meta });
  const socket = await connectCli(h, { token: h.token, clientType: 'session-scoped', sessionId: s.id });
  try {
    const seen = [];
    const result = { success: true, stdout: '# branch.head main\n', stderr: '', exitCode: 0 };
    socket.on('rpc-request', (req, ack) => {
      seen.push(req);
      assert.equal(typeof ack, 'function', 'rpc-request must carry an ack id');
      ack(JSON.stringify(result));
    });
    await register(socket, `${s.id}:git-status`);

    const r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, result);

    assert.equal(seen.length, 1);
    assert.equal(seen[0].method, `${s.id}:git-status`);
    assert.equal(typeof seen[0].params, 'string', 'params must be a JSON string');
    assert.deepEqual(JSON.parse(seen[0].params), { cwd: meta.path });
  } finally {
    socket.close();
  }
});

test('RPC: last registration wins; unregister from a non-owner is ignored', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const a = await connectCli(h, { token: h.token, sessionId: s.id });
  const b = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    a.on('rpc-request', (_req, ack) => ack(JSON.stringify({ success: true, stdout: 'from a' })));
    b.on('rpc-request', (_req, ack) => ack(JSON.stringify({ success: true, stdout: 'from b' })));
    const method = `${s.id}:git-status`;
    await register(a, method);
    await register(b, method);
    let r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
    assert.deepEqual(r.body, { success: true, stdout: 'from b' });

    a.emit('rpc-unregister', { method }); // a no longer owns it: no effect
    await emitAck(a, 'ping');
    r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
    assert.deepEqual(r.body, { success: true, stdout: 'from b' });

    b.emit('rpc-unregister', { method });
    await emitAck(b, 'ping');
    r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
    assert.deepEqual(r.body, { success: false, error: `RPC handler not registered: ${method}` });
  } finally {
    a.close();
    b.close();
  }
});

test('RPC to an unregistered method → 200 {success:false, error:"RPC handler not registered: …"}', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { success: false, error: `RPC handler not registered: ${s.id}:git-status` });
});

test('RPC registrations are dropped when the socket disconnects', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  socket.on('rpc-request', (_req, ack) => ack(JSON.stringify({ success: true })));
  await register(socket, `${s.id}:git-status`);
  socket.close();
  // The disconnect is asynchronous; poll until the registration is gone.
  const end = Date.now() + 10000;
  let r;
  do {
    await new Promise((ok) => setTimeout(ok, 100));
    r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
  } while (r.body?.success === true && Date.now() < end);
  assert.equal(r.status, 200);
  assert.equal(r.body.success, false);
  assert.match(r.body.error, new RegExp(`^RPC (handler not registered|socket disconnected): ${s.id}:git-status$`));
});

test('RPC timeout: a handler that never acks → "operation has timed out" after 30 s', { timeout: 60000 }, async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    let called = 0;
    socket.on('rpc-request', () => {
      called++; // never ack
    });
    await register(socket, `${s.id}:git-status`);
    const t0 = Date.now();
    const r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
    const waited = Date.now() - t0;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { success: false, error: 'operation has timed out' });
    assert.equal(called, 1);
    // Not a performance assertion: it must not answer early (the contract is a 30 s wait).
    assert.ok(waited >= 29000, `answered after ${waited} ms`);
    // The socket is still healthy afterwards.
    assert.equal(await emitAck(socket, 'ping'), undefined);
  } finally {
    socket.close();
  }
});

test('RPC on a session without metadata.path → "Session path not available"', async () => {
  const s = await createSession(h, { metadata: { host: 'x' } });
  const r = await request(h, 'GET', `/api/sessions/${s.id}/git-status`, { token: jwt });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { success: false, error: 'Session path not available' });
});

test('RPC ack with a non-JSON string and with null are passed through', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    const replies = ['plain text, not json', null];
    socket.on('rpc-request', (_req, ack) => ack(replies.shift()));
    await register(socket, `${s.id}:readFile`);
    // GET …/file?path= uses readFile; its reply is passed through verbatim.
    let r = await request(h, 'GET', `/api/sessions/${s.id}/file?path=a.txt`, { token: jwt });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body, 'plain text, not json');
    r = await request(h, 'GET', `/api/sessions/${s.id}/file?path=a.txt`, { token: jwt });
    assert.equal(r.status, 200);
    assert.equal(r.body, null);
  } finally {
    socket.close();
  }
});

test('a 2 MB RPC ack (readFile of a big file) travels in one packet', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, sessionId: s.id });
  try {
    const content = Buffer.alloc(1_500_000, 7).toString('base64'); // 2 MB of base64
    const reply = { success: true, content, size: 1_500_000, modified: 1 };
    socket.on('rpc-request', (req, ack) => {
      assert.deepEqual(JSON.parse(req.params), { path: 'big.bin' });
      ack(JSON.stringify(reply));
    });
    await register(socket, `${s.id}:readFile`);
    const r = await request(h, 'GET', `/api/sessions/${s.id}/file?path=big.bin`, { token: jwt });
    assert.equal(r.status, 200);
    assert.equal(r.body.success, true);
    assert.equal(r.body.content.length, content.length);
    assert.equal(r.body.content, content);
    assert.equal(socket.connected, true);
    assert.equal(await emitAck(socket, 'ping'), undefined);
  } finally {
    socket.close();
  }
});
