// Namespace isolation on every web route (spec/auth.md §9, DESIGN.md): with the JWT of namespace
// B, every /api route that takes a session id or a machine id answers for A's ids exactly like
// for a missing id (same status, same body), and never reaches A's CLI; lists never show A's
// data; B's SSE streams (live and replayed) never carry A's events; push subscriptions are per
// namespace. (Upstream answers 403 "… access denied"; hapid deliberately answers 404.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import crypto from 'node:crypto';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  onlineMachine,
  createSession,
  defaultMetadata,
  emitAck,
  openSse,
  sleep,
} from './lib.mjs';

let h;
let jwtA;
let jwtB;
const A = 'alpha';
const B = 'bravo';

before(async () => {
  h = await startHapid({ env: { HAPID_PUSH_ALLOW_HTTP: '1', VAPID_SUBJECT: 'mailto:isolation@example.com' } });
  jwtA = await jwtFor(h, A);
  jwtB = await jwtFor(h, B);
});
after(async () => {
  await h?.stop();
});

const MISSING_SID = '00000000-0000-4000-8000-000000000000';
const MISSING_MID = 'no-such-machine-id';

/** Every /api route that takes a session id: [method, path after the id, body]. */
const SESSION_ROUTES = [
  ['GET', '', undefined],
  ['HEAD', '', undefined],
  ['PATCH', '', { name: 'stolen' }],
  ['DELETE', '', undefined],
  ['GET', '/messages', undefined],
  ['GET', '/messages?limit=1&beforeSeq=5', undefined],
  ['POST', '/messages', { text: 'hi', localId: 'iso-1' }],
  ['POST', '/resume', undefined],
  ['POST', '/abort', {}],
  ['POST', '/archive', {}],
  ['POST', '/switch', {}],
  ['POST', '/permission-mode', { mode: 'plan' }],
  ['POST', '/model', { model: 'opus' }],
  ['POST', '/collaboration-mode', { mode: 'plan' }],
  ['POST', '/permissions/req-1/approve', {}],
  ['POST', '/permissions/req-1/deny', {}],
  ['POST', '/upload', { filename: 'a', content: 'QQ==', mimeType: 'text/plain' }],
  ['POST', '/upload/delete', { path: '/a' }],
  ['GET', '/slash-commands', undefined],
  ['GET', '/skills', undefined],
  ['GET', '/git-status', undefined],
  ['GET', '/git-diff-numstat?staged=true', undefined],
  ['GET', '/git-diff-file?path=a', undefined],
  ['GET', '/file?path=a', undefined],
  ['GET', '/files?query=a', undefined],
  ['GET', '/directory', undefined],
  ['GET', '/scratchlist', undefined],
  ['GET', '/no-such-subroute', undefined],
  ['POST', '/git-status', {}],
];

/** Every /api route that takes a machine id. */
const MACHINE_ROUTES = [
  ['POST', '/spawn', { directory: '/home/u/proj' }],
  ['POST', '/paths/exists', { paths: ['/a'] }],
  ['GET', '/agent-availability', undefined],
];

const call = (method, path, token, body) => request(h, method, path, { token, body });
const same = (x) => ({ status: x.status, type: x.headers.get('content-type'), text: x.text });

/** A's world: an active session with a pending request and history, an online runner; every
 * RPC handler registered and recorded. */
async function worldA() {
  const cli = await activeSession(h, {
    ns: A,
    keepAlive: true,
    metadata: defaultMetadata({ flavor: 'claude', claudeSessionId: 'c-a' }),
    agentState: { requests: { 'req-1': { tool: 'Bash', arguments: {}, createdAt: 1 } } },
  });
  for (const m of ['abort', 'killSession', 'switch', 'set-session-config', 'permission', 'uploadFile', 'deleteUpload', 'listSlashCommands', 'listSkills', 'git-status', 'git-diff-numstat', 'git-diff-file', 'readFile', 'ripgrep', 'listDirectory']) {
    await cli.rpc.handle(cli.sid, m, () => ({ success: true, applied: {}, stdout: '' }));
  }
  await emitAck(cli.socket, 'message', { sid: cli.sid, message: { role: 'agent', content: { secret: 'A' } } });
  const runner = await onlineMachine(h, { ns: A, metadata: { host: 'webapi-host', platform: 'linux', happyCliVersion: '1' } });
  for (const m of ['spawn-happy-session', 'path-exists', 'agent-availability']) {
    await runner.rpc.handle(runner.id, m, () => ({ type: 'success', sessionId: 'x', exists: {} }));
  }
  // An inactive A session too (DELETE / resume take other paths for inactive sessions).
  const idle = await createSession(h, { ns: A, metadata: defaultMetadata({ machineId: runner.id, claudeSessionId: 'c-idle' }) });
  return { cli, runner, idle };
}

test('every session and machine route: A\'s ids answer B exactly like missing ids; A\'s CLI hears nothing', async () => {
  const { cli, runner, idle } = await worldA();
  try {
    const before = (await call('GET', `/api/sessions/${cli.sid}`, jwtA)).body.session;
    for (const sid of [cli.sid, idle.id]) {
      for (const [method, suffix, body] of SESSION_ROUTES) {
        const other = await call(method, `/api/sessions/${encodeURIComponent(sid)}${suffix}`, jwtB, body);
        const missing = await call(method, `/api/sessions/${MISSING_SID}${suffix}`, jwtB, body);
        assert.deepEqual(same(other), same(missing), `${method} /api/sessions/:id${suffix}`);
        assert.equal(other.status, 404, `${method} ${suffix}: ${other.status} ${other.text}`);
        if (method !== 'HEAD') assert.deepEqual(other.body, { error: 'Session not found' }, `${method} ${suffix}`);
      }
    }
    for (const [method, suffix, body] of MACHINE_ROUTES) {
      const other = await call(method, `/api/machines/${runner.id}${suffix}`, jwtB, body);
      const missing = await call(method, `/api/machines/${MISSING_MID}${suffix}`, jwtB, body);
      assert.deepEqual(same(other), same(missing), `${method} /api/machines/:id${suffix}`);
      assert.equal(other.status, 404, `${method} ${suffix}: ${other.text}`);
      assert.deepEqual(other.body, { error: 'Machine not found' });
    }
    // SSE filters by id.
    for (const q of [{ sessionId: cli.sid }, { machineId: runner.id }]) {
      const other = await openSse(h, { token: jwtB, ...q });
      const missing = await openSse(h, { token: jwtB, ...(q.sessionId ? { sessionId: MISSING_SID } : { machineId: MISSING_MID }) });
      if (other.status === 200) other.close();
      assert.equal(other.status, 404, JSON.stringify(q));
      assert.deepEqual(other.body, missing.body);
    }

    // Nothing reached A's CLI or runner, nothing changed in A.
    assert.deepEqual(cli.rpc.calls.map((c) => c.name), [], 'no RPC to A\'s session');
    assert.deepEqual(runner.rpc.calls.map((c) => c.name), [], 'no RPC to A\'s runner');
    const afterA = (await call('GET', `/api/sessions/${cli.sid}`, jwtA)).body.session;
    assert.equal(afterA.active, true);
    assert.deepEqual(afterA.metadata, before.metadata, 'no rename');
    assert.equal(afterA.metadataVersion, before.metadataVersion);
    assert.equal(afterA.model, before.model);
    const msgs = (await call('GET', `/api/sessions/${cli.sid}/messages`, jwtA)).body.messages;
    assert.equal(msgs.length, 1, 'no message sent by B');
    assert.equal((await call('GET', `/api/sessions/${idle.id}`, jwtA)).status, 200, 'not deleted by B');

    // The same routes do work for A (so the 404s above are about the namespace).
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['GET', '/messages', undefined],
      ['GET', '/git-status', undefined],
      ['GET', '/scratchlist', undefined],
      ['POST', '/permission-mode', { mode: 'plan' }],
    ]) {
      const r = await call(method, `/api/sessions/${cli.sid}${suffix}`, jwtA, body);
      assert.equal(r.status, 200, `A ${method} ${suffix}: ${r.text}`);
    }
    const r = await call('POST', `/api/machines/${runner.id}/paths/exists`, jwtA, { paths: ['/a'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.calls.map((c) => c.name).sort(), ['git-status', 'set-session-config']);
    assert.deepEqual(runner.rpc.calls.map((c) => c.name), ['path-exists']);
  } finally {
    cli.close();
    runner.close();
  }
});

test('lists: GET /api/sessions and /api/machines only show the caller\'s namespace', async () => {
  const a = await activeSession(h, { ns: A });
  const b = await activeSession(h, { ns: B });
  const ma = await onlineMachine(h, { ns: A });
  const mb = await onlineMachine(h, { ns: B });
  try {
    const ids = async (token, what) => (await call('GET', `/api/${what}`, token)).body[what].map((x) => x.id);
    const sA = await ids(jwtA, 'sessions');
    const sB = await ids(jwtB, 'sessions');
    assert.ok(sA.includes(a.sid) && !sA.includes(b.sid), 'A sees A only');
    assert.ok(sB.includes(b.sid) && !sB.includes(a.sid), 'B sees B only');
    assert.equal(sA.filter((x) => sB.includes(x)).length, 0, 'no session in both lists');
    const mA = await ids(jwtA, 'machines');
    const mB = await ids(jwtB, 'machines');
    assert.ok(mA.includes(ma.id) && !mA.includes(mb.id));
    assert.ok(mB.includes(mb.id) && !mB.includes(ma.id));
    // Every object in B's lists says namespace B where the shape has one.
    for (const m of (await call('GET', '/api/machines', jwtB)).body.machines) assert.equal(m.namespace, B);
    // The default namespace sees neither.
    const jwtD = await jwtFor(h);
    const sD = await ids(jwtD, 'sessions');
    assert.ok(!sD.includes(a.sid) && !sD.includes(b.sid));
    // B's CLI cannot reach A's session over /cli either (upstream 403 text kept there).
    const r = await request(h, 'GET', `/cli/sessions/${a.sid}`, { token: `${h.token}:${B}` });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { error: 'Session access denied' });
  } finally {
    a.close();
    b.close();
    ma.close();
    mb.close();
  }
});

test('SSE: B\'s streams (all, own session, visible, replay) never carry A\'s events', async () => {
  const b = await activeSession(h, { ns: B });
  const streams = [
    await openSse(h, { token: jwtB, all: 'true', visibility: 'visible' }),
    await openSse(h, { token: jwtB, sessionId: b.sid }),
    await openSse(h, { token: jwtB }),
  ];
  const refA = await openSse(h, { token: jwtA, all: 'true' });
  try {
    const first = [];
    for (const s of streams) first.push(await s.next((e) => e.type === 'connection-changed'));
    await refA.next((e) => e.type === 'connection-changed');
    assert.equal((await call('PATCH', `/api/sessions/${b.sid}`, jwtB, { name: 'B start' })).status, 200);
    const startEv = await streams[0].next((e) => e.data?.metadata?.name === 'B start');

    // A lot of A activity: new session, state with a permission request (toast/push path),
    // messages, rename, machine updates, archive-like end, delete.
    const a = await activeSession(h, { ns: A, agentState: {} });
    await emitAck(a.socket, 'update-state', { sid: a.sid, expectedVersion: a.s.agentStateVersion, agentState: { requests: { r: { tool: 'Bash', arguments: {} } } } });
    for (let i = 0; i < 5; i++) await emitAck(a.socket, 'message', { sid: a.sid, message: { role: 'agent', content: { i } } });
    assert.equal((await call('PATCH', `/api/sessions/${a.sid}`, jwtA, { name: 'A renamed' })).status, 200);
    assert.equal((await call('POST', `/api/sessions/${a.sid}/messages`, jwtA, { text: 'A web message' })).status, 200);
    const ma = await onlineMachine(h, { ns: A });
    await emitAck(ma.socket, 'machine-update-state', { machineId: ma.id, expectedVersion: 1, runnerState: { status: 'running' } });
    a.socket.emit('session-end', { sid: a.sid, time: Date.now() });
    await emitAck(a.socket, 'ping');
    assert.equal((await call('DELETE', `/api/sessions/${a.sid}`, jwtA)).status, 200);
    await sleep(800); // past the 500 ms permission debounce (toasts)
    // A's own stream did see its events (the activity was real).
    await refA.next((e) => e.type === 'session-removed' && e.sessionId === a.sid);
    assert.ok(refA.events.some((e) => e.type === 'machine-updated' && e.machineId === ma.id));

    // Marker in B.
    assert.equal((await call('PATCH', `/api/sessions/${b.sid}`, jwtB, { name: 'B end' })).status, 200);
    await streams[0].next((e) => e.data?.metadata?.name === 'B end');
    await streams[1].next((e) => e.data?.metadata?.name === 'B end');
    await sleep(100);
    const leak = (e) => {
      const s = JSON.stringify(e);
      return s.includes(a.sid) || s.includes(ma.id) || (e.namespace !== undefined && e.namespace !== B) || e.type === 'toast';
    };
    for (const [i, s] of streams.entries()) {
      const bad = s.events.filter(leak);
      assert.deepEqual(bad, [], `stream ${i} got A's events`);
    }
    // Replay: reconnecting B's all stream from before A's activity replays B's events only.
    const replay = await openSse(h, { token: jwtB, all: 'true' }, { headers: { 'Last-Event-ID': startEv._id } });
    try {
      const cc = await replay.next((e) => e.type === 'connection-changed');
      assert.equal(cc.data.resume, 'ok');
      await replay.next((e) => e.data?.metadata?.name === 'B end');
      assert.deepEqual(replay.events.filter(leak), [], 'replay carries no A events');
    } finally {
      replay.close();
    }
    // Visibility: B cannot touch A's subscription, A cannot touch B's.
    const subB = first[0].data.subscriptionId;
    let r = await call('POST', '/api/visibility', jwtA, { subscriptionId: subB, visibility: 'hidden' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Subscription not found' });
    r = await call('POST', '/api/visibility', jwtB, { subscriptionId: subB, visibility: 'hidden' });
    assert.equal(r.status, 200);
    ma.close();
    a.close();
  } finally {
    for (const s of streams) s.close();
    refA.close();
    b.close();
  }
});

/** A local push service: records POSTs by path, answers 201. */
function pushService() {
  const got = [];
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  return new Promise((ok) =>
    srv.listen(0, '127.0.0.1', () => ok({ got, url: (p) => `http://127.0.0.1:${srv.address().port}${p}`, close: () => srv.close() })),
  );
}

function subscriberKeys() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
}

test('push subscriptions are per namespace: delivery, same endpoint in two namespaces, DELETE from the other', { timeout: 30000 }, async () => {
  const push = await pushService();
  const nsA = 'push-alpha';
  const nsB = 'push-bravo';
  const [tA, tB] = [await jwtFor(h, nsA), await jwtFor(h, nsB)];
  const sub = (token, path) => call('POST', '/api/push/subscribe', token, { endpoint: push.url(path), keys: subscriberKeys() });
  try {
    for (const [t, p] of [
      [tA, '/only-a'],
      [tB, '/only-b'],
      [tA, '/shared'],
      [tB, '/shared'],
    ]) {
      const r = await sub(t, p);
      assert.equal(r.status, 200, r.text);
    }
    const a = await activeSession(h, { ns: nsA, agentState: {}, keepAlive: true });
    let version = a.s.agentStateVersion;
    const raise = async (key) => {
      const r = await emitAck(a.socket, 'update-state', { sid: a.sid, expectedVersion: version, agentState: { requests: { [key]: { tool: 'Bash', arguments: {}, createdAt: Date.now() } } } });
      assert.equal(r.result, 'success');
      version = r.version;
    };
    const paths = () => push.got.map((g) => g.path).sort();
    try {
      await raise('p-1');
      const t0 = Date.now();
      while (push.got.length < 2 && Date.now() - t0 < 10000) await sleep(50);
      await sleep(500);
      assert.deepEqual(paths(), ['/only-a', '/shared'], 'A\'s notification reaches A\'s two subscriptions only');

      // B unsubscribes the shared endpoint and A's private one: only B's rows are affected.
      assert.deepEqual((await call('DELETE', '/api/push/subscribe', tB, { endpoint: push.url('/shared') })).body, { ok: true });
      assert.deepEqual((await call('DELETE', '/api/push/subscribe', tB, { endpoint: push.url('/only-a') })).body, { ok: true });
      push.got.length = 0;
      await raise('p-2');
      const t1 = Date.now();
      while (push.got.length < 2 && Date.now() - t1 < 10000) await sleep(50);
      await sleep(500);
      assert.deepEqual(paths(), ['/only-a', '/shared'], 'A\'s rows survive B\'s DELETEs');

      // A unsubscribes the shared endpoint: A's next notification skips it.
      assert.equal((await call('DELETE', '/api/push/subscribe', tA, { endpoint: push.url('/shared') })).status, 200);
      push.got.length = 0;
      await raise('p-3');
      const t2 = Date.now();
      while (push.got.length < 1 && Date.now() - t2 < 10000) await sleep(50);
      await sleep(500);
      assert.deepEqual(paths(), ['/only-a']);
    } finally {
      a.close();
    }
    // A B notification goes to B's remaining row only.
    const b = await activeSession(h, { ns: nsB, agentState: {} });
    try {
      push.got.length = 0;
      await emitAck(b.socket, 'update-state', { sid: b.sid, expectedVersion: b.s.agentStateVersion, agentState: { requests: { q: { tool: 'Edit', arguments: {} } } } });
      const t3 = Date.now();
      while (push.got.length < 1 && Date.now() - t3 < 10000) await sleep(50);
      await sleep(500);
      assert.deepEqual(paths(), ['/only-b'], 'B: its remaining row (it deleted its /shared)');
    } finally {
      b.close();
    }
  } finally {
    push.close();
  }
});
