// The integration scenario run against a hapid binary that is already listening
// (scripts/qemu-smoke.sh starts it, natively or under qemu-user).
//
//   node scripts/smoke-scenario.mjs scenario BASE TOKEN    -> prints "SESSION <id>" at the end
//   node scripts/smoke-scenario.mjs readback BASE TOKEN ID -> the messages survived a restart
//
// Real clients only: fetch for HTTP and socket.io-client 4.8.3 (the version inside the
// official hapi CLI), resolved from tests/node/node_modules. Every step has a timeout;
// any failure exits non-zero with the step's name.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const req = createRequire(resolve(here, '../tests/node/package.json'));
const { io } = await import(pathToFileURL(req.resolve('socket.io-client')).href);

const [mode, base, token, sidArg] = process.argv.slice(2);
if (!mode || !base || !token) {
  console.error('usage: smoke-scenario.mjs scenario|readback BASE TOKEN [SESSION_ID]');
  process.exit(2);
}

const STEP_MS = 20000; // generous: ARM binaries run under instruction emulation
let checks = 0;
async function step(name, fn) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${STEP_MS} ms`)), STEP_MS);
  });
  try {
    const r = await Promise.race([fn(), timeout]);
    checks++;
    console.log(`  ok   ${name}`);
    return r;
  } catch (e) {
    console.log(`  FAIL ${name}: ${e?.stack ?? e}`);
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
}

async function http(method, path, { bearer, body } = {}) {
  const headers = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

async function login() {
  const r = await http('POST', '/api/auth', { body: { accessToken: token } });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json?.token, 'string', r.text);
  const parts = r.json.token.split('.');
  assert.equal(parts.length, 3, 'JWT has three parts');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  assert.equal(header.alg, 'HS256');
  assert.equal(claims.ns, 'default');
  assert.ok(claims.exp > Date.now() / 1000, 'exp in the future');
  // The JWT works, and a wrong access token does not.
  const bad = await http('POST', '/api/auth', { body: { accessToken: `${token}-wrong` } });
  assert.equal(bad.status, 401, bad.text);
  return r.json.token;
}

const agentMessage = {
  role: 'agent',
  content: { type: 'output', data: { type: 'assistant', text: 'stored by the smoke test' } },
};

async function scenario() {
  await step('GET /health answers 200 {"status":"ok"}', async () => {
    const r = await http('GET', '/health');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.status, 'ok', r.text);
  });
  const jwt = await step('POST /api/auth with the token issues an HS256 JWT', login);
  const sid = await step('POST /cli/sessions (Bearer token) creates a session', async () => {
    const r = await http('POST', '/cli/sessions', {
      bearer: token,
      body: {
        tag: `smoke-${Date.now()}`,
        metadata: { path: '/tmp/smoke', host: 'qemu-smoke', os: 'linux', flavor: 'claude' },
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json?.session?.id, 'string', r.text);
    return r.json.session.id;
  });
  await step('GET /api/sessions (JWT) lists it', async () => {
    const r = await http('GET', '/api/sessions', { bearer: jwt });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.sessions.some((s) => s.id === sid), r.text);
  });
  await step('GET /cli/sessions/:id/messages?afterSeq=0 answers {"messages":[]}', async () => {
    const r = await http('GET', `/cli/sessions/${sid}/messages?afterSeq=0`, { bearer: token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { messages: [] });
  });

  const socket = await step('socket.io-client connects to /cli (websocket)', () => {
    const s = io(`${base}/cli`, {
      path: '/socket.io/',
      transports: ['websocket'],
      auth: { token, clientType: 'session-scoped', sessionId: sid },
      reconnection: false,
      timeout: STEP_MS,
    });
    return new Promise((ok, fail) => {
      s.once('connect', () => ok(s));
      s.once('connect_error', (e) => {
        s.close();
        fail(e);
      });
    });
  });
  try {
    await step('CLI "message" is stored (seq 1) and read back via GET /api/sessions/:id/messages', async () => {
      socket.emit('message', { sid, message: agentMessage, localId: 'smoke-agent-1' });
      // `ping` is acked after the turn that stored the message has committed.
      await socket.timeout(STEP_MS).emitWithAck('ping');
      const r = await http('GET', `/api/sessions/${sid}/messages`, { bearer: jwt });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.messages.length, 1, r.text);
      const m = r.json.messages[0];
      assert.equal(m.seq, 1);
      assert.equal(m.localId, 'smoke-agent-1');
      assert.deepEqual(m.content, agentMessage);
    });
    await step('session-alive makes the session active', async () => {
      for (let i = 0; i < 100; i++) {
        socket.emit('session-alive', { sid, time: Date.now(), thinking: false });
        await socket.timeout(STEP_MS).emitWithAck('ping');
        const r = await http('GET', `/api/sessions/${sid}`, { bearer: jwt });
        assert.equal(r.status, 200, r.text);
        if (r.json.session?.active === true) return;
        await new Promise((ok) => setTimeout(ok, 100));
      }
      throw new Error('session never became active');
    });
    await step('POST /api/sessions/:id/messages is stored, pushed to the CLI and read back', async () => {
      const update = new Promise((ok) => {
        socket.on('update', (u) => {
          if (u?.body?.t === 'new-message' && u.body.message?.localId === 'smoke-web-1') ok(u);
        });
      });
      const r = await http('POST', `/api/sessions/${sid}/messages`, {
        bearer: jwt,
        body: { text: 'hello from the web', localId: 'smoke-web-1' },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { ok: true });
      const u = await update;
      assert.equal(u.body.sid, sid);
      assert.equal(u.body.message.seq, 2);
      assert.equal(u.body.message.content.content.text, 'hello from the web');
      const back = await http('GET', `/cli/sessions/${sid}/messages?afterSeq=0`, { bearer: token });
      assert.equal(back.status, 200, back.text);
      assert.deepEqual(
        back.json.messages.map((m) => [m.seq, m.localId]),
        [
          [1, 'smoke-agent-1'],
          [2, 'smoke-web-1'],
        ],
      );
    });
  } finally {
    socket.close();
  }
  console.log(`SESSION ${sid}`);
}

async function readback(sid) {
  assert.ok(sid, 'readback needs a session id');
  const jwt = await step('after restart: POST /api/auth still issues a JWT', login);
  await step('after restart: both messages are still there', async () => {
    const r = await http('GET', `/api/sessions/${sid}/messages`, { bearer: jwt });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.json.messages.map((m) => [m.seq, m.localId]),
      [
        [1, 'smoke-agent-1'],
        [2, 'smoke-web-1'],
      ],
    );
    assert.deepEqual(r.json.messages[0].content, agentMessage);
  });
}

if (mode === 'scenario') await scenario();
else if (mode === 'readback') await readback(sidArg);
else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
console.log(`CHECKS ${checks}`);
process.exit(0);
