// Rename, delete and resume (spec/rest.md §3.3, §3.9, §3.10; spec/storage.md §3.7): rename keeps
// unknown metadata keys in storage; delete is refused while active, then removes the session and
// its messages; resume spawns through a runner (a socket.io client with machineId) asking for the
// SAME session id (existingSessionId, as the official hub v0.30.7; tests/parity/resume.test.mjs);
// a runner that answers with a NEW session gets the old history as the first seqs of the new one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  createSession,
  connectCli,
  onlineMachine,
  defaultMetadata,
  emitAck,
  openSse,
  cliToken,
} from './lib.mjs';

let h;
let jwt;
before(async () => {
  h = await startHapid();
  jwt = await jwtFor(h);
});
after(async () => {
  await h?.stop();
});

const get = (path) => request(h, 'GET', path, { token: jwt });
const post = (path, body) => request(h, 'POST', path, { token: jwt, body });
const cliGet = (path) => request(h, 'GET', path, { token: h.token });

test('rename: name set, unknown metadata keys survive in storage, version +1, updatedAt unchanged, SSE full', async () => {
  const meta = defaultMetadata({
    capabilities: { terminal: true, extra: [1, 2] },
    preferredPermissionMode: 'plan',
    hapiMcpUrl: 'http://127.0.0.1:1/',
  });
  const cli = await activeSession(h, { metadata: meta });
  const sse = await openSse(h, { token: jwt, all: 'true' });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    const before = (await get(`/api/sessions/${cli.sid}`)).body.session;
    const r = await request(h, 'PATCH', `/api/sessions/${cli.sid}`, { token: jwt, body: { name: 'My session', other: 1 } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });

    const ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.metadata?.name === 'My session');
    assert.equal(ev.data.id, cli.sid, 'full session');
    assert.equal(ev.data.metadataVersion, before.metadataVersion + 1);
    const after = (await get(`/api/sessions/${cli.sid}`)).body.session;
    assert.equal(after.metadata.name, 'My session');
    assert.equal(after.metadataVersion, before.metadataVersion + 1);
    assert.equal(after.updatedAt, before.updatedAt, 'a web rename does not touch updatedAt');
    const list = (await get('/api/sessions')).body.sessions.find((x) => x.id === cli.sid);
    assert.equal(list.metadata.name, 'My session');

    // What the CLI sees: every key it wrote, plus the name.
    const raw = await cliGet(`/cli/sessions/${cli.sid}`);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.body.session.metadata, { ...meta, name: 'My session' });
    // The CLI's next write with the old version gets a mismatch carrying the renamed metadata.
    const stale = await emitAck(cli.socket, 'update-metadata', { sid: cli.sid, expectedVersion: before.metadataVersion, metadata: meta });
    assert.equal(stale.result, 'version-mismatch');
    assert.equal(stale.version, before.metadataVersion + 1);
    assert.deepEqual(stale.metadata, { ...meta, name: 'My session' });
  } finally {
    sse.close();
    cli.close();
  }
});

test('rename: validation (1–255 chars), inactive sessions too, no metadata → {path:"",host:"",name}', async () => {
  const s = await createSession(h);
  const url = `/api/sessions/${s.id}`;
  for (const body of [{}, { name: '' }, { name: 'x'.repeat(256) }, { name: 5 }, [1]]) {
    const r = await request(h, 'PATCH', url, { token: jwt, body });
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 40));
    assert.deepEqual(r.body, { error: 'Invalid body: name is required' });
  }
  let r = await request(h, 'PATCH', url, { token: jwt, body: { name: ' '.repeat(3) } });
  assert.equal(r.status, 200, 'not trimmed');
  r = await request(h, 'PATCH', url, { token: jwt, body: { name: 'é'.repeat(255) } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await get(url)).body.session.metadata.name, 'é'.repeat(255));

  const bare = await createSession(h, { metadata: null });
  r = await request(h, 'PATCH', `/api/sessions/${bare.id}`, { token: jwt, body: { name: 'Named' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await cliGet(`/cli/sessions/${bare.id}`)).body.session.metadata, { path: '', host: '', name: 'Named' });
  r = await request(h, 'PATCH', '/api/sessions/no-such-session', { token: jwt, body: { name: 'x' } });
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { error: 'Session not found' });
});

test('DELETE: 409 while active; then 200, SSE session-removed, session and messages gone', async () => {
  const cli = await activeSession(h);
  const sse = await openSse(h, { token: jwt, all: 'true' });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    for (let i = 0; i < 3; i++) {
      cli.socket.emit('message', { sid: cli.sid, message: { role: 'agent', content: { i } }, localId: `d-${i}` });
    }
    await emitAck(cli.socket, 'ping');
    assert.equal((await get(`/api/sessions/${cli.sid}/messages`)).body.messages.length, 3);

    let r = await request(h, 'DELETE', `/api/sessions/${cli.sid}`, { token: jwt });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, { error: 'Cannot delete active session. Archive it first.' });
    assert.equal((await get(`/api/sessions/${cli.sid}`)).status, 200, 'still there');

    cli.socket.emit('session-end', { sid: cli.sid, time: Date.now() });
    await emitAck(cli.socket, 'ping');
    const from = sse.events.length;
    r = await request(h, 'DELETE', `/api/sessions/${cli.sid}`, { token: jwt });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    const ev = await sse.next((e) => e.type === 'session-removed', 10000, from);
    assert.deepEqual({ ...ev }, { type: 'session-removed', sessionId: cli.sid, namespace: 'default' });

    r = await get(`/api/sessions/${cli.sid}`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Session not found' });
    r = await get(`/api/sessions/${cli.sid}/messages`);
    assert.equal(r.status, 404);
    assert.equal((await get('/api/sessions')).body.sessions.some((x) => x.id === cli.sid), false);
    // The CLI channel sees it gone too (messages included).
    r = await cliGet(`/cli/sessions/${cli.sid}/messages?afterSeq=0`);
    assert.notEqual(r.status, 200, `backfill of a deleted session: ${r.status} ${r.text}`);
    r = await request(h, 'DELETE', `/api/sessions/${cli.sid}`, { token: jwt });
    assert.equal(r.status, 404);
  } finally {
    sse.close();
    cli.close();
  }
});

/**
 * A runner that resumes like the official one: on spawn-happy-session it creates a NEW session
 * (POST /cli/sessions with a new tag), writes one message of its own, connects a session
 * socket, sends session-alive, and answers {type:"success", sessionId}. `sameTag` makes it
 * re-register the old session instead (the spawned id equals the old one).
 */
async function resumingRunner({ delayAliveMs = 0, sameTag = null, metadata, machineMeta } = {}) {
  const runner = await onlineMachine(h, { metadata: machineMeta });
  const spawned = [];
  await runner.rpc.handle(runner.id, 'spawn-happy-session', async (p) => {
    const body = { tag: sameTag ?? `resumed-${crypto.randomUUID()}`, metadata: metadata ?? { path: p.directory, host: 'webapi-host', machineId: runner.id, flavor: p.agent } };
    const r = await request(h, 'POST', '/cli/sessions', { token: cliToken(h), body });
    const s = r.body.session;
    const sock = await connectCli(h, { clientType: 'session-scoped', sessionId: s.id });
    if (!sameTag) {
      await emitAck(sock, 'message', { sid: s.id, message: { role: 'agent', content: { from: 'new' } }, localId: 'new-1' });
    }
    const alive = () => sock.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false });
    if (delayAliveMs >= 0) setTimeout(alive, delayAliveMs);
    const timer = setInterval(() => delayAliveMs >= 0 && alive(), 5000);
    spawned.push({ params: p, sid: s.id, sock, timer });
    return { type: 'success', sessionId: s.id };
  });
  return {
    runner,
    spawned,
    close() {
      for (const s of spawned) {
        clearInterval(s.timer);
        s.sock.close();
      }
      runner.close();
    },
  };
}

/** An inactive session with history: created, alive, 3 messages, model set, ended. */
async function endedSession(metadata, { model } = {}) {
  const cli = await activeSession(h, { metadata });
  for (let i = 1; i <= 3; i++) {
    await emitAck(cli.socket, 'message', { sid: cli.sid, message: { role: 'agent', content: { old: i } }, localId: i === 1 ? 'new-1' : `old-${i}` });
  }
  if (model) cli.socket.emit('session-alive', { sid: cli.sid, time: Date.now(), thinking: false, model });
  cli.socket.emit('session-end', { sid: cli.sid, time: Date.now() });
  await emitAck(cli.socket, 'ping');
  cli.close();
  const g = (await get(`/api/sessions/${cli.sid}`)).body.session;
  assert.equal(g.active, false);
  return g;
}

test('resume: a runner answering a NEW session id gets the old one merged in; old history becomes its first seqs; SSE session-removed (old)', { timeout: 30000 }, async () => {
  const rr = await resumingRunner();
  const sse = await openSse(h, { token: jwt, all: 'true' });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    const old = await endedSession(
      { path: '/home/u/proj', host: 'webapi-host', machineId: rr.runner.id, claudeSessionId: 'c-123', name: 'Old name', flavor: 'claude' },
      { model: 'opus' },
    );
    const oldMsgs = (await get(`/api/sessions/${old.id}/messages`)).body.messages;
    assert.deepEqual(oldMsgs.map((m) => m.seq), [1, 2, 3]);

    const r = await post(`/api/sessions/${old.id}/resume`);
    assert.equal(r.status, 200, r.text);
    assert.equal(rr.spawned.length, 1);
    const newId = rr.spawned[0].sid;
    assert.notEqual(newId, old.id);
    assert.deepEqual(r.body, { type: 'success', sessionId: newId });
    assert.deepEqual(rr.spawned[0].params, {
      type: 'spawn-in-directory',
      directory: '/home/u/proj',
      agent: 'claude',
      model: 'opus',
      resumeSessionId: 'c-123',
      existingSessionId: old.id,
      sessionId: old.id,
      forkSession: false,
    });

    // History: old 1..3 first, then the new session's own message as 4.
    const msgs = (await get(`/api/sessions/${newId}/messages`)).body.messages;
    assert.deepEqual(msgs.map((m) => m.seq), [1, 2, 3, 4]);
    assert.deepEqual(msgs.slice(0, 3).map((m) => m.id), oldMsgs.map((m) => m.id));
    assert.deepEqual(msgs.slice(0, 3).map((m) => m.content), oldMsgs.map((m) => m.content));
    assert.deepEqual(msgs[3].content, { role: 'agent', content: { from: 'new' } });
    // A localId present in both sessions survives only on the new session's message.
    assert.equal(msgs[0].localId, null);
    assert.equal(msgs[3].localId, 'new-1');
    // The CLI's backfill sees the same history.
    const back = await cliGet(`/cli/sessions/${newId}/messages?afterSeq=0`);
    assert.deepEqual(back.body.messages.map((m) => m.seq), [1, 2, 3, 4]);

    // Old session gone; metadata name and model carried over.
    assert.equal((await get(`/api/sessions/${old.id}`)).status, 404);
    const ns = (await get(`/api/sessions/${newId}`)).body.session;
    assert.equal(ns.metadata.name, 'Old name');
    assert.equal(ns.model, 'opus');
    assert.equal(ns.active, true);
    const removed = await sse.next((e) => e.type === 'session-removed' && e.sessionId === old.id);
    assert.equal(removed.namespace, 'default');
    const i = sse.events.indexOf(removed);
    await sse.next((e) => e.type === 'session-updated' && e.sessionId === newId && e.data?.metadata?.name === 'Old name', 10000, i);
    const list = (await get('/api/sessions')).body.sessions.map((x) => x.id);
    assert.ok(list.includes(newId));
    assert.ok(!list.includes(old.id));
  } finally {
    sse.close();
    rr.close();
  }
});

test('resume: already active → success with the same id, no spawn', async () => {
  const rr = await resumingRunner();
  const cli = await activeSession(h, { metadata: defaultMetadata({ machineId: rr.runner.id, claudeSessionId: 'c-1' }) });
  try {
    const r = await post(`/api/sessions/${cli.sid}/resume`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { type: 'success', sessionId: cli.sid });
    assert.equal(rr.spawned.length, 0);
  } finally {
    cli.close();
    rr.close();
  }
});

test('resume: the runner re-registers the same session (same tag) → success with the same id, history kept', { timeout: 30000 }, async () => {
  const tag = `same-${crypto.randomUUID()}`;
  // A host of its own: machines of earlier tests stay online for 45 s after their runner left.
  const meta = { path: '/p', host: 'same-tag-host', claudeSessionId: 'c-9' };
  const s = await createSession(h, { tag, metadata: meta });
  const first = await connectCli(h, { sessionId: s.id });
  for (const i of [1, 2]) await emitAck(first, 'message', { sid: s.id, message: { role: 'agent', content: { i } } });
  first.close();
  const rr = await resumingRunner({
    sameTag: tag,
    metadata: meta,
    machineMeta: { host: 'same-tag-host', platform: 'linux', happyCliVersion: '0.30.7' },
  });
  try {
    const r = await post(`/api/sessions/${s.id}/resume`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { type: 'success', sessionId: s.id });
    // Matched by host (no machineId in the metadata).
    assert.equal(rr.spawned[0].params.resumeSessionId, 'c-9');
    assert.equal((await get(`/api/sessions/${s.id}`)).body.session.active, true);
    const msgs = (await get(`/api/sessions/${s.id}/messages`)).body.messages;
    assert.deepEqual(msgs.map((m) => [m.seq, m.content.content.i]), [[1, 1], [2, 2]]);
  } finally {
    rr.close();
  }
});

// A session without an agent session id is no refusal any more: v0.30.7 spawns it fresh
// (tests/parity/resume.test.mjs "a never-started session").
test('resume refusals: missing path, no machine online, spawn error', { timeout: 30000 }, async () => {
  let s = await createSession(h, { metadata: { host: 'webapi-host', claudeSessionId: 'c' } });
  let r = await post(`/api/sessions/${s.id}/resume`);
  assert.equal(r.status, 409);
  assert.deepEqual(r.body, { error: 'Session metadata missing path', code: 'resume_unavailable' });

  // No runner online at all in this namespace (other tests' runners are closed by now, but use a
  // namespace of its own to be sure).
  const nsJwt = await jwtFor(h, 'resume-alone');
  const lone = await createSession(h, { ns: 'resume-alone', metadata: defaultMetadata({ claudeSessionId: 'c' }) });
  r = await request(h, 'POST', `/api/sessions/${lone.id}/resume`, { token: nsJwt });
  assert.equal(r.status, 503);
  assert.deepEqual(r.body, { error: 'No machine online', code: 'no_machine_online' });

  // A machine online but neither its id nor its host match → 503 as well.
  const other = await onlineMachine(h, { ns: 'resume-alone', metadata: { host: 'elsewhere', platform: 'linux', happyCliVersion: '1' } });
  try {
    r = await request(h, 'POST', `/api/sessions/${lone.id}/resume`, { token: nsJwt });
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { error: 'No machine online', code: 'no_machine_online' });
  } finally {
    other.close();
  }

  // The runner answers an error.
  const runner = await onlineMachine(h);
  try {
    await runner.rpc.handle(runner.id, 'spawn-happy-session', () => ({ type: 'error', errorMessage: 'agent not installed' }));
    s = await createSession(h, { metadata: defaultMetadata({ flavor: 'gemini', machineId: runner.id, geminiSessionId: 'g-1' }) });
    r = await post(`/api/sessions/${s.id}/resume`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { error: 'agent not installed', code: 'resume_failed' });
    assert.deepEqual(runner.rpc.take('spawn-happy-session')[0].params, {
      type: 'spawn-in-directory',
      directory: defaultMetadata().path,
      agent: 'gemini',
      resumeSessionId: 'g-1',
      existingSessionId: s.id,
      sessionId: s.id,
      forkSession: false,
    });
  } finally {
    runner.close();
  }
});

test('resume: the spawned session never becomes active → 500 "Session failed to become active" after 15 s', { timeout: 40000 }, async () => {
  const rr = await resumingRunner({ delayAliveMs: -1 });
  try {
    const old = await createSession(h, { metadata: defaultMetadata({ machineId: rr.runner.id, claudeSessionId: 'c-late' }) });
    const t0 = Date.now();
    const r = await post(`/api/sessions/${old.id}/resume`);
    const waited = Date.now() - t0;
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(r.body, { error: 'Session failed to become active', code: 'resume_failed' });
    assert.ok(waited >= 14000, `answered after ${waited} ms (the contract is a 15 s wait)`);
    assert.equal((await get(`/api/sessions/${old.id}`)).status, 200, 'no merge happened');
  } finally {
    rr.close();
  }
});

