// GET /api/events (spec/sse.md): headers and framing, the all / sessionId / machineId filters,
// validation, replay with Last-Event-ID (resume "ok" with exactly the missed events, "gap"
// otherwise), and POST /api/visibility tied to the subscription (404 across namespaces).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  createSession,
  createMachine,
  connectCli,
  emitAck,
  openSse,
  rawConnect,
  sleep,
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

const rename = (sid, name) => request(h, 'PATCH', `/api/sessions/${sid}`, { token: jwt, body: { name } });
const connected = (s) => s.next((e) => e.type === 'connection-changed');
/** Event types and ids of a stream, without heartbeats (30 s; not expected in these tests). */
const trail = (s, from = 0) => s.events.slice(from).filter((e) => e.type !== 'heartbeat');

test('headers and framing: text/event-stream, no-cache, first frame connection-changed without id, events with id', async () => {
  const sock = await rawConnect(h);
  let raw = '';
  sock.on('data', (d) => (raw += d.toString('latin1')));
  sock.write(`GET /api/events?token=${jwt}&all=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  const t0 = Date.now();
  while (!raw.includes('connection-changed') && Date.now() - t0 < 5000) await sleep(10);
  const s = await createSession(h);
  while (!raw.includes('session-added') && Date.now() - t0 < 5000) await sleep(10);
  sock.destroy();
  const [head, body] = [raw.slice(0, raw.indexOf('\r\n\r\n') + 2), raw.slice(raw.indexOf('\r\n\r\n') + 4)];
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/i);
  assert.match(head, /\r\ncache-control: no-cache[^\r]*\r\n/i);
  assert.match(head, /\r\ntransfer-encoding: chunked\r\n/i);
  assert.doesNotMatch(head, /\r\ncontent-length:/i);
  assert.doesNotMatch(head, /\r\ncontent-encoding:/i);
  // De-chunk.
  let text = '';
  for (let rest = body; rest.length; ) {
    const nl = rest.indexOf('\r\n');
    const n = parseInt(rest.slice(0, nl), 16);
    if (!(n > 0)) break;
    text += rest.slice(nl + 2, nl + 2 + n);
    rest = rest.slice(nl + 2 + n + 2);
  }
  const blocks = text.split('\n\n').filter(Boolean);
  assert.match(blocks[0], /^data: \{"type":"connection-changed","data":\{[^\n]*\}\}$/, 'first frame: one data line, no id');
  const first = JSON.parse(blocks[0].slice(6));
  assert.equal(first.data.status, 'connected');
  assert.match(first.data.subscriptionId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(first.namespace, undefined, 'no namespace on connection-changed');
  const added = blocks.find((b) => b.includes('"session-added"'));
  assert.match(added, /^id: [^\n]+\ndata: \{[^\n]*\}$/, 'broadcast events: id line, one data line, no event: line');
  const ev = JSON.parse(added.split('\n')[1].slice(6));
  assert.equal(ev.sessionId, s.id);
  assert.equal(ev.namespace, 'default');
  assert.equal(ev.data.id, s.id);
});

test('auth and validation: 401 without token, Bearer header accepted, 404 unknown sessionId / machineId', async () => {
  let r = await request(h, 'GET', '/api/events');
  assert.equal(r.status, 401);
  assert.deepEqual(r.body, { error: 'Missing authorization token' });
  r = await request(h, 'GET', '/api/events?token=nope');
  assert.equal(r.status, 401);
  const viaHeader = await openSse(h, {}, { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(viaHeader.status, 200);
  await connected(viaHeader);
  viaHeader.close();
  let s = await openSse(h, { token: jwt, sessionId: 'no-such-session' });
  assert.equal(s.status, 404);
  assert.deepEqual(s.body, { error: 'Session not found' });
  s = await openSse(h, { token: jwt, machineId: 'no-such-machine' });
  assert.equal(s.status, 404);
  assert.deepEqual(s.body, { error: 'Machine not found' });
  // An offline machine is fine.
  const m = await createMachine(h);
  s = await openSse(h, { token: jwt, machineId: m.id });
  assert.equal(s.status, 200);
  s.close();
});

test('filters: all / sessionId / machineId / none; message-received to sessionId (and all) streams', async () => {
  const a = await activeSession(h);
  const b = await createSession(h);
  const m = await createMachine(h);
  const runner = await connectCli(h, { machineId: m.id });
  const streams = {
    all: await openSse(h, { token: jwt, all: 'true' }),
    all1: await openSse(h, { token: jwt, all: '1' }),
    allYes: await openSse(h, { token: jwt, all: 'yes', sessionId: '   ' }),
    sessA: await openSse(h, { token: jwt, sessionId: a.sid }),
    sessB: await openSse(h, { token: jwt, sessionId: b.id }),
    mach: await openSse(h, { token: jwt, machineId: m.id }),
    allPlusA: await openSse(h, { token: jwt, all: 'true', sessionId: a.sid }),
    none: await openSse(h, { token: jwt }),
  };
  try {
    for (const s of Object.values(streams)) await connected(s);
    // One event of each kind: session A updated, A message, B updated, machine updated.
    assert.equal((await rename(a.sid, 'A1')).status, 200);
    await emitAck(a.socket, 'message', { sid: a.sid, message: { role: 'agent', content: { x: 1 } } });
    assert.equal((await rename(b.id, 'B1')).status, 200);
    const mu = await emitAck(runner, 'machine-update-metadata', {
      machineId: m.id,
      expectedVersion: 1,
      metadata: { host: 'webapi-host', platform: 'linux', happyCliVersion: '1', displayName: 'M1' },
    });
    assert.equal(mu.result, 'success');
    // A marker every filtered stream would see last: rename A again (all, sessA, allPlusA) —
    // and wait for the machine event on the machine stream.
    assert.equal((await rename(a.sid, 'A2')).status, 200);
    const isA2 = (e) => e.type === 'session-updated' && e.data?.metadata?.name === 'A2';
    for (const k of ['all', 'all1', 'sessA', 'allPlusA']) await streams[k].next(isA2);
    await streams.mach.next((e) => e.type === 'machine-updated');
    await streams.sessB.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'B1');
    await sleep(200);

    const kinds = (s) =>
      trail(s, 1)
        .map((e) => `${e.type}:${e.sessionId ?? e.machineId}`)
        .filter((k) => !k.startsWith('session-updated') || true);
    const sA = `session-updated:${a.sid}`;
    const sB = `session-updated:${b.id}`;
    const mA = `message-received:${a.sid}`;
    const mM = `machine-updated:${m.id}`;
    const has = (s, k) => kinds(s).includes(k);
    for (const k of ['all', 'all1']) {
      assert.ok(has(streams[k], sA) && has(streams[k], sB) && has(streams[k], mM), `${k}: ${kinds(streams[k])}`);
      // Baseline (sse.md §5 rule 2): never to `all` streams. hapid follows v0.30.7, whose web
      // app's session list needs them (src/hub/events.rs `wants`).
      assert.ok(has(streams[k], mA), `${k}: all streams get message-received (v0.30.7)`);
    }
    assert.ok(has(streams.sessA, sA) && has(streams.sessA, mA), `sessA: ${kinds(streams.sessA)}`);
    assert.ok(!has(streams.sessA, sB) && !has(streams.sessA, mM), `sessA: ${kinds(streams.sessA)}`);
    assert.ok(has(streams.sessB, sB) && !has(streams.sessB, sA) && !has(streams.sessB, mA), `sessB: ${kinds(streams.sessB)}`);
    assert.deepEqual([...new Set(kinds(streams.mach))], [mM], `mach: ${kinds(streams.mach)}`);
    assert.ok(has(streams.allPlusA, sA) && has(streams.allPlusA, mA) && has(streams.allPlusA, sB) && has(streams.allPlusA, mM));
    assert.deepEqual(kinds(streams.none), [], 'no filter: nothing but connection-changed');
    assert.deepEqual(kinds(streams.allYes), [], 'all=yes is false and a blank sessionId is none');
    // Every broadcast carries the namespace; every stream saw the same id for the same event.
    const idOf = (s, k) => trail(s, 1).find((e) => `${e.type}:${e.sessionId ?? e.machineId}` === k)?._id;
    assert.equal(idOf(streams.all, sB), idOf(streams.sessB, sB));
    assert.equal(idOf(streams.sessA, mA), idOf(streams.allPlusA, mA));
    for (const e of trail(streams.allPlusA, 1)) assert.equal(e.namespace, 'default');
  } finally {
    for (const s of Object.values(streams)) s.close();
    runner.close();
    a.close();
  }
});

test('Last-Event-ID: reconnect gets resume "ok" and exactly the missed events (same ids), then live ones', async () => {
  // A reference stream stays open throughout and sees everything the all=true filter allows.
  const ref = await openSse(h, { token: jwt, all: 'true' });
  await connected(ref);
  const s1 = await openSse(h, { token: jwt, all: 'true' });
  const first = await connected(s1);
  assert.equal(first.data.resume, 'gap', 'a fresh stream (no Last-Event-ID) says gap');
  const sess = await createSession(h);
  await s1.next((e) => e.type === 'session-added' && e.sessionId === sess.id);
  assert.equal((await rename(sess.id, 'before close')).status, 200);
  const seen = await s1.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'before close');
  const ids = trail(s1, 1).map((e) => e._id);
  assert.ok(ids.every((i) => typeof i === 'string' && i.length > 0), `every broadcast has an id: ${ids}`);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  const lastId = trail(s1).at(-1)._id;
  assert.equal(lastId, seen._id);
  s1.close();

  // Three events while disconnected.
  const s2sess = await createSession(h); // session-added
  assert.equal((await rename(sess.id, 'missed 1')).status, 200); // session-updated
  assert.equal((await rename(s2sess.id, 'missed 2')).status, 200); // session-updated
  await ref.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'missed 2');
  // What the reference stream saw after lastId: the three (plus anything the hub emitted on
  // its own meanwhile, e.g. a liveness patch, which a replay must include as well).
  const after = (s) => {
    const t = trail(s);
    return t.slice(t.findIndex((e) => e._id === lastId) + 1);
  };
  const missed = after(ref);
  const mine = [
    ['session-added', s2sess.id],
    ['session-updated', sess.id],
    ['session-updated', s2sess.id],
  ];
  assert.deepEqual(
    missed.filter((e) => mine.some(([t, id]) => e.type === t && e.sessionId === id)).map((e) => [e.type, e.sessionId]),
    mine,
  );

  const s2 = await openSse(h, { token: jwt, all: 'true' }, { headers: { 'Last-Event-ID': lastId } });
  try {
    const cc = await connected(s2);
    assert.equal(cc.data.resume, 'ok');
    assert.notEqual(cc.data.subscriptionId, first.data.subscriptionId);
    await s2.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'missed 2');
    // One live event after the replay.
    assert.equal((await rename(sess.id, 'live')).status, 200);
    await s2.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'live');
    await ref.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'live');
    const got = trail(s2);
    assert.equal(got[0].type, 'connection-changed');
    const n = missed.length;
    assert.deepEqual(
      got.slice(1, 1 + n).map((e) => [e._id, e.type, e.sessionId]),
      missed.map((e) => [e._id, e.type, e.sessionId]),
      'exactly the missed events, same ids, same order',
    );
    assert.deepEqual(got.slice(1, 1 + n).map((e) => ({ ...e })), missed.map((e) => ({ ...e })), 'same payloads');
    // Then live: the same as the reference from there on.
    assert.deepEqual(got.map((e) => e._id).slice(1), after(ref).map((e) => e._id), 'replay + live = the reference');
    assert.equal(got.at(-1).data.metadata.name, 'live');

    // The same via ?lastEventId= (what the current web app may send).
    const s3 = await openSse(h, { token: jwt, all: 'true', lastEventId: lastId });
    try {
      const cc3 = await connected(s3);
      assert.equal(cc3.data.resume, 'ok');
      await s3.next((e) => e.type === 'session-updated' && e.data?.metadata?.name === 'live');
      assert.deepEqual(trail(s3).slice(1).map((e) => e._id), got.slice(1).map((e) => e._id));
    } finally {
      s3.close();
    }
  } finally {
    s2.close();
    ref.close();
  }
});

test('Last-Event-ID replay applies the stream filter (sessionId stream gets its messages back)', async () => {
  const a = await activeSession(h);
  const other = await activeSession(h);
  try {
    const s1 = await openSse(h, { token: jwt, sessionId: a.sid });
    await connected(s1);
    await emitAck(a.socket, 'message', { sid: a.sid, message: { n: 0 } });
    const m0 = await s1.next((e) => e.type === 'message-received');
    s1.close();
    await emitAck(a.socket, 'message', { sid: a.sid, message: { n: 1 } });
    await emitAck(other.socket, 'message', { sid: other.sid, message: { n: 'other' } });
    assert.equal((await rename(other.sid, 'other renamed')).status, 200);
    assert.equal((await rename(a.sid, 'a renamed')).status, 200);
    await emitAck(a.socket, 'message', { sid: a.sid, message: { n: 2 } });
    const s2 = await openSse(h, { token: jwt, sessionId: a.sid }, { headers: { 'Last-Event-ID': m0._id } });
    try {
      const cc = await connected(s2);
      assert.equal(cc.data.resume, 'ok');
      await s2.next((e) => e.type === 'message-received' && e.message.content.n === 2);
      const got = trail(s2, 1);
      const summary = got
        .filter((e) => e.type !== 'session-updated' || e.data?.metadata?.name === 'a renamed')
        .map((e) => (e.type === 'message-received' ? `msg:${e.message.content.n}` : `${e.type}:${e.data?.metadata?.name}`));
      assert.deepEqual(summary, ['msg:1', 'session-updated:a renamed', 'msg:2']);
      assert.ok(got.every((e) => e.sessionId === a.sid), 'nothing of the other session');
    } finally {
      s2.close();
    }
  } finally {
    a.close();
    other.close();
  }
});

test('Last-Event-ID unknown, malformed, from the future or another epoch, or too old → resume "gap"', async () => {
  const s1 = await openSse(h, { token: jwt, all: 'true' });
  await connected(s1);
  const sess = await createSession(h);
  const ev = await s1.next((e) => e.type === 'session-added' && e.sessionId === sess.id);
  s1.close();
  const id = ev._id;
  const sep = id.lastIndexOf(':');
  const [epoch, n] = [id.slice(0, sep), Number(id.slice(sep + 1))];
  for (const bad of ['garbage', '', `${epoch}:${n + 100000}`, `x${epoch}:${n}`, `${epoch}:abc`, `${epoch}`]) {
    const s = await openSse(h, { token: jwt, all: 'true' }, { headers: { 'Last-Event-ID': bad } });
    const cc = await connected(s);
    s.close();
    assert.equal(cc.data.resume, 'gap', `Last-Event-ID ${JSON.stringify(bad)}`);
  }
  // Push the id out of the bounded log (2048 events): thousands of CLI messages.
  const cli = await activeSession(h);
  try {
    for (let i = 0; i < 2100; i++) cli.socket.emit('message', { sid: cli.sid, message: { i } });
    await emitAck(cli.socket, 'ping');
    const s = await openSse(h, { token: jwt, all: 'true' }, { headers: { 'Last-Event-ID': id } });
    const cc = await connected(s);
    await sleep(200);
    s.close();
    assert.equal(cc.data.resume, 'gap', 'an id older than the log window');
    assert.equal(trail(s).length, 1, 'no partial replay on a gap');
  } finally {
    cli.close();
  }
});

test('visibility: 200 for own subscription, 400 bad body, 404 unknown, closed, or another namespace', async () => {
  const jwtB = await jwtFor(h, 'vis-other');
  const s = await openSse(h, { token: jwt, all: 'true' });
  const cc = await connected(s);
  const sub = cc.data.subscriptionId;
  const vis = (body, token = jwt) => request(h, 'POST', '/api/visibility', { token, body });
  let r = await vis({ subscriptionId: sub, visibility: 'visible' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ok: true });
  r = await vis({ subscriptionId: sub, visibility: 'hidden' });
  assert.deepEqual(r.body, { ok: true });
  for (const body of [{}, { subscriptionId: sub }, { subscriptionId: sub, visibility: 'shown' }, { subscriptionId: '', visibility: 'visible' }, { subscriptionId: 5, visibility: 'visible' }]) {
    r = await vis(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.deepEqual(r.body, { error: 'Invalid body' });
  }
  r = await vis({ subscriptionId: crypto.randomUUID(), visibility: 'visible' });
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { error: 'Subscription not found' });
  r = await vis({ subscriptionId: sub, visibility: 'visible' }, jwtB);
  assert.equal(r.status, 404, 'another namespace');
  assert.deepEqual(r.body, { error: 'Subscription not found' });
  s.close();
  let closed;
  for (let i = 0; i < 100; i++) {
    closed = await vis({ subscriptionId: sub, visibility: 'visible' });
    if (closed.status === 404) break;
    await sleep(50);
  }
  assert.equal(closed.status, 404, 'a closed stream forgets its subscription');
  assert.deepEqual(closed.body, { error: 'Subscription not found' });
});

test('toast: a permission request reaches every visible stream of the namespace, whatever its filter', async () => {
  const cli = await activeSession(h, { agentState: {} });
  const visible = await openSse(h, { token: jwt, visibility: 'visible' });
  const hidden = await openSse(h, { token: jwt, all: 'true' });
  const jwtB = await jwtFor(h, 'toast-other');
  const otherNs = await openSse(h, { token: jwtB, visibility: 'visible' });
  try {
    await Promise.all([connected(visible), connected(hidden), connected(otherNs)]);
    const st = await emitAck(cli.socket, 'update-state', {
      sid: cli.sid,
      expectedVersion: cli.s.agentStateVersion,
      agentState: { requests: { 'r-1': { tool: 'Bash', arguments: {}, createdAt: Date.now() } } },
    });
    assert.equal(st.result, 'success');
    const t = await visible.next((e) => e.type === 'toast', 10000);
    assert.equal(t.data.title, 'Permission Request');
    assert.equal(t.data.sessionId, cli.sid);
    assert.equal(t.data.url, `/sessions/${cli.sid}`);
    assert.match(t.data.body, /\(Bash\)$/);
    assert.equal(t.namespace, undefined);
    await sleep(300);
    assert.ok(!hidden.events.some((e) => e.type === 'toast'), 'hidden stream: no toast');
    assert.ok(!otherNs.events.some((e) => e.type === 'toast'), 'other namespace: no toast');
  } finally {
    visible.close();
    hidden.close();
    otherNs.close();
    cli.close();
  }
});
