// Web → CLI delivery and SSE, with the real socket.io-client and the `eventsource` package
// (a WHATWG EventSource implementation) besides a plain fetch stream reader.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import {
  startHapid,
  createSession,
  connectCli,
  emitAck,
  request,
  webJwt,
  waitEvent,
  openSse,
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

async function activeSession() {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const socket = await connectCli(h, { token: h.token, clientType: 'session-scoped', sessionId: s.id });
  socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false });
  await emitAck(socket, 'ping');
  return { s, socket };
}

test('web POST /api/sessions/:id/messages reaches the CLI socket as update new-message', async () => {
  const { s, socket } = await activeSession();
  try {
    const got = waitEvent(socket, 'update', (u) => u?.body?.t === 'new-message');
    const r = await request(h, 'POST', `/api/sessions/${s.id}/messages`, {
      token: jwt,
      body: { text: 'hello from the web', localId: 'web-1' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { ok: true });
    const u = await got;
    const m = u.body.message;
    assert.equal(u.body.sid, s.id);
    assert.equal(m.seq, 1);
    assert.equal(m.localId, 'web-1');
    assert.equal(u.id, m.id, 'for web messages update.id is the message id');
    assert.equal(u.seq, m.seq);
    assert.equal(u.createdAt, m.createdAt);
    assert.equal(m.content.role, 'user');
    assert.deepEqual(m.content.content, { type: 'text', text: 'hello from the web' });
    assert.equal(m.content.meta.sentFrom, 'webapp');

    // Stored, and visible to the CLI's backfill.
    const b = await request(h, 'GET', `/cli/sessions/${s.id}/messages?afterSeq=0`, { token: h.token });
    assert.equal(b.status, 200);
    assert.deepEqual(
      b.body.messages.map((x) => [x.id, x.seq, x.localId]),
      [[m.id, 1, 'web-1']],
    );
  } finally {
    socket.close();
  }
});

test('web message to an inactive session → 409', async () => {
  const s = await createSession(h, { metadata: defaultMetadata() });
  const r = await request(h, 'POST', `/api/sessions/${s.id}/messages`, {
    token: jwt,
    body: { text: 'nobody home' },
  });
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.error, 'Session is inactive');
});

test('SSE (fetch stream): message-received for a CLI message', async () => {
  const { s, socket } = await activeSession();
  const sse = await openSse(h, { token: jwt, sessionId: s.id });
  try {
    assert.match(sse.headers.get('content-type'), /^text\/event-stream/);
    const first = await sse.next(() => true);
    assert.equal(first.type, 'connection-changed');
    assert.equal(first.data.status, 'connected');
    assert.equal(typeof first.data.subscriptionId, 'string');

    const content = { role: 'agent', content: { type: 'output', data: { type: 'assistant', x: 1 } } };
    socket.emit('message', { sid: s.id, message: content, localId: 'sse-1' });
    const ev = await sse.next((e) => e.type === 'message-received');
    assert.equal(ev.sessionId, s.id);
    assert.equal(ev.namespace, 'default');
    assert.equal(ev.message.seq, 1);
    assert.equal(ev.message.localId, 'sse-1');
    assert.deepEqual(ev.message.content, content);
    // The event's message is the stored one.
    const b = await request(h, 'GET', `/cli/sessions/${s.id}/messages?afterSeq=0`, { token: h.token });
    assert.equal(b.body.messages[0].id, ev.message.id);
  } finally {
    sse.close();
    socket.close();
  }
});

test('SSE (EventSource): session-added for a new session, message-received for a web message', async () => {
  const all = new EventSource(`${h.base}/api/events?${new URLSearchParams({ token: jwt, all: 'true' })}`);
  const frames = [];
  const waiters = [];
  all.onmessage = (e) => {
    const d = JSON.parse(e.data);
    frames.push(d);
    for (const w of [...waiters]) if (w.pred(d)) { waiters.splice(waiters.indexOf(w), 1); w.ok(d); }
  };
  const next = (pred, ms = 10000) =>
    new Promise((ok, fail) => {
      const hit = frames.find(pred);
      if (hit) return ok(hit);
      const w = { pred, ok };
      waiters.push(w);
      setTimeout(() => fail(new Error(`EventSource: timed out; got ${frames.map((f) => f.type)}`)), ms).unref();
    });
  let socket;
  let per;
  try {
    await next((d) => d.type === 'connection-changed');
    const s = await createSession(h, { metadata: defaultMetadata() });
    const added = await next((d) => d.type === 'session-added' && d.sessionId === s.id);
    assert.equal(added.namespace, 'default');

    socket = await connectCli(h, { token: h.token, sessionId: s.id });
    socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false });
    await next((d) => d.type === 'session-updated' && d.sessionId === s.id && d.data?.active === true);

    // message-received goes to streams of the session (and, since v0.30.7, to all=true).
    per = new EventSource(`${h.base}/api/events?${new URLSearchParams({ token: jwt, sessionId: s.id })}`);
    const perFrames = [];
    const gotMsg = new Promise((ok, fail) => {
      setTimeout(() => fail(new Error(`no message-received; got ${perFrames.map((f) => f.type)}`)), 10000).unref();
      per.onmessage = (e) => {
        const d = JSON.parse(e.data);
        perFrames.push(d);
        if (d.type === 'connection-changed') {
          request(h, 'POST', `/api/sessions/${s.id}/messages`, {
            token: jwt,
            body: { text: 'via eventsource', localId: 'es-1' },
          }).then((r) => assert.equal(r.status, 200, JSON.stringify(r.body)), fail);
        }
        if (d.type === 'message-received') ok(d);
      };
    });
    const mr = await gotMsg;
    assert.equal(mr.sessionId, s.id);
    assert.equal(mr.message.localId, 'es-1');
    assert.deepEqual(mr.message.content.content, { type: 'text', text: 'via eventsource' });
    // v0.30.7 (whose web app hapid serves) also delivers message-received to all=true
    // streams; the baseline did not (spec/sse.md §5 rule 2, §9).
    const onAll = await next((d) => d.type === 'message-received' && d.sessionId === s.id, 5000);
    assert.equal(onAll.message.id, mr.message.id, 'an all=true stream gets message-received too (v0.30.7)');
  } finally {
    all.close();
    per?.close();
    socket?.close();
  }
});
