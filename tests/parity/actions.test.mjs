// Session actions of the web app's session menu on v0.30.7 (parity-0.30.7.md §2 rows 6, 8, 17,
// 31, 32; §4 session-ended): pin (project / global, body {mode} as the web app's
// setSessionPinMode sends it), the list order with pins, ?limit and ?order, the summary,
// archive of an already archived session, and session-ended on archive and on session-end.
// A second SSE client (all=true) watches every event; a restart keeps pins and summaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, sleep, until, answer, NOT_FOUND, seen } from './lib.mjs';

const PIN_400 = { status: 400, body: { error: 'Invalid body: mode must be none, project, or global' } };
const SUMMARY_400 = { status: 400, body: { error: 'Invalid body: text is required' } };
const OK = { status: 200, body: { ok: true } };

const pinOf = (s) => [s.pinned, s.globalPinned];

test('PUT /pin: modes exclude each other, session JSON, list, SSE, order, restart', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const watcher = await w.sse({ all: 'true' });
    const a = await cliSession(h);
    const b = await cliSession(h, { metadata: { path: '/tmp/other', host: 'x', os: 'linux', flavor: 'claude' } });
    const c = await cliSession(h);
    const name = (id) => ({ [a.sid]: 'a', [b.sid]: 'b', [c.sid]: 'c' })[id];

    for (const bad of [{ mode: 'bogus' }, {}, { mode: 1 }, null, { mode: 'Global' }]) {
      assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${a.sid}/pin`, bad)), PIN_400, JSON.stringify(bad));
    }
    assert.deepEqual(answer(await w.req('PUT', '/api/sessions/nope/pin', { mode: 'global' })), NOT_FOUND);

    const before = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    assert.deepEqual(pinOf(before), [false, false]);
    const mark = watcher.events.length;
    assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${a.sid}/pin`, { mode: 'global' })), OK);
    assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${a.sid}/pin`, { mode: 'project' })), OK);
    const after = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    assert.deepEqual(pinOf(after), [true, false], 'project clears global');
    // A pin is not a metadata write and does not touch updatedAt.
    assert.equal(after.updatedAt, before.updatedAt);
    assert.equal(after.metadataVersion, before.metadataVersion);
    assert.equal(after.seq, before.seq);

    // Each call publishes session-updated with the full session.
    await until(() => watcher.events.slice(mark).filter((e) => e.type === 'session-updated' && e.sessionId === a.sid).length >= 2);
    const ups = watcher.events.slice(mark).filter((e) => e.type === 'session-updated' && e.sessionId === a.sid);
    assert.deepEqual(pinOf(ups[0].data), [false, true]);
    assert.deepEqual(pinOf(ups[1].data), [true, false]);
    assert.equal(ups[1].data.id, a.sid);
    assert.deepEqual(ups[1].data.metadata, after.metadata);

    assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${b.sid}/pin`, { mode: 'global' })), OK);
    // Global pins first, then project pins, then the rest (c is the newest).
    const list = (await w.req('GET', '/api/sessions')).body.sessions;
    assert.deepEqual(list.map((s) => name(s.id)), ['b', 'a', 'c']);
    assert.deepEqual(list.map(pinOf), [[false, true], [true, false], [false, false]]);
    // ?limit applies after the pin order; ?order=updatedAt ignores pins; other values are ignored.
    const ids = async (q) => (await w.req('GET', `/api/sessions?${q}`)).body.sessions.map((s) => name(s.id));
    assert.deepEqual(await ids('limit=1'), ['b']);
    assert.deepEqual(await ids('limit=0'), ['b']);
    assert.deepEqual(await ids('limit=2&order=asc'), ['b', 'a']);
    assert.deepEqual(await ids('limit=x'), ['b', 'a', 'c']);
    assert.deepEqual(await ids('order=foo'), ['b', 'a', 'c']);
    assert.deepEqual(await ids('order=updatedAt'), ['c', 'b', 'a']);

    // An ended session can be pinned too; none clears.
    c.emit('session-end', { time: Date.now() });
    await until(async () => (await w.req('GET', `/api/sessions/${c.sid}`)).body.session.active === false);
    assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${c.sid}/pin`, { mode: 'project' })), OK);
    assert.deepEqual(answer(await w.req('PUT', `/api/sessions/${b.sid}/pin`, { mode: 'none' })), OK);
    watcher.close?.();

    // A restart keeps the pins.
    for (const x of [a, b, c]) x.close();
    h = await h.restart();
    w = await web(h);
    const again = (await w.req('GET', '/api/sessions')).body.sessions;
    const pins = Object.fromEntries(again.map((s) => [name(s.id), pinOf(s)]));
    assert.deepEqual(pins, { a: [true, false], b: [false, false], c: [true, false] });
    assert.deepEqual(pinOf((await w.req('GET', `/api/sessions/${c.sid}`)).body.session), [true, false]);
  } finally {
    await h.stop();
  }
});

test('PATCH /summary: trimmed text in metadata.summary, bounds, SSE, list, restart', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const watcher = await w.sse({ all: 'true' });
    const a = await cliSession(h);
    for (const bad of [{ text: '' }, { text: '   ' }, {}, { text: 5 }, { text: 'y'.repeat(256) }, { text: '😀'.repeat(128) }, null]) {
      assert.deepEqual(answer(await w.req('PATCH', `/api/sessions/${a.sid}/summary`, bad)), SUMMARY_400, JSON.stringify(bad)?.slice(0, 30));
    }
    assert.deepEqual(answer(await w.req('PATCH', '/api/sessions/nope/summary', { text: 'x' })), NOT_FOUND);
    assert.deepEqual(answer(await w.req('PATCH', `/api/sessions/${a.sid}/summary`, { text: 'y'.repeat(255) })), OK);
    const before = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    const mark = watcher.events.length;
    const t0 = Date.now();
    assert.deepEqual(answer(await w.req('PATCH', `/api/sessions/${a.sid}/summary`, { text: '  the summary  ' })), OK);
    const s = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    assert.equal(s.metadata.summary.text, 'the summary');
    assert.ok(s.metadata.summary.updatedAt >= t0 - 1000 && s.metadata.summary.updatedAt <= Date.now() + 1000);
    assert.deepEqual(Object.keys(s.metadata.summary).sort(), ['text', 'updatedAt']);
    assert.equal(s.metadataVersion, before.metadataVersion + 1);
    assert.equal(s.seq, before.seq + 1);
    assert.equal(s.updatedAt, before.updatedAt);
    const ev = await watcher.next((e) => e.type === 'session-updated' && e.sessionId === a.sid && e.data.metadata?.summary?.text === 'the summary', 10000, mark);
    assert.deepEqual(ev.data.metadata, s.metadata);
    assert.equal(ev.data.metadataVersion, s.metadataVersion);
    // The list entry carries the text only.
    const entry = (await w.req('GET', '/api/sessions')).body.sessions.find((x) => x.id === a.sid);
    assert.deepEqual(entry.metadata.summary, { text: 'the summary' });
    // Nothing goes to the CLI.
    await sleep(200);
    assert.deepEqual(a.updates.filter((u) => u.body?.t === 'update-session'), []);
    // An ended session takes a summary too; a restart keeps it.
    a.emit('session-end', { time: Date.now() });
    await until(async () => (await w.req('GET', `/api/sessions/${a.sid}`)).body.session.active === false);
    assert.deepEqual(answer(await w.req('PATCH', `/api/sessions/${a.sid}/summary`, { text: 'after end' })), OK);
    a.close();
    h = await h.restart();
    w = await web(h);
    assert.equal((await w.req('GET', `/api/sessions/${a.sid}`)).body.session.metadata.summary.text, 'after end');
  } finally {
    await h.stop();
  }
});

test('archive: session-updated then session-ended; already archived; inactive 409; CLI errors do not matter', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const watcher = await w.sse({ all: 'true' });
    const ended = { active: false, thinking: false, activeTurnStartedAt: null, backgroundTaskCount: 0 };
    const order = (sid) => watcher.events.filter((e) => e.sessionId === sid && (e.type === 'session-ended' || (e.type === 'session-updated' && e.data.active === false)));

    // The CLI's session-end: the patch, then session-ended with its reason.
    const d = await cliSession(h);
    d.emit('session-end', { time: Date.now(), reason: 'completed' });
    await until(() => seen(watcher, 'session-ended', d.sid).length === 1);
    assert.deepEqual(order(d.sid).map((e) => e.type), ['session-updated', 'session-ended']);
    assert.deepEqual(order(d.sid)[0].data, ended);
    const { _id, ...dEnded } = seen(watcher, 'session-ended', d.sid)[0];
    assert.deepEqual(dEnded, { type: 'session-ended', sessionId: d.sid, reason: 'completed', namespace: 'default' });

    // Archive: killSession, then the same two events without a reason.
    const c = await cliSession(h);
    await c.handleRpc('killSession', () => ({ success: true, message: 'Killing hapi CLI process' }));
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${c.sid}/archive`)), OK);
    assert.deepEqual(c.rpcCalls.map((r) => r.name), ['killSession']);
    await until(() => seen(watcher, 'session-ended', c.sid).length === 1);
    assert.deepEqual(order(c.sid).map((e) => e.type), ['session-updated', 'session-ended']);
    assert.deepEqual(order(c.sid)[0].data, ended);
    const { _id: _c, ...cEnded } = seen(watcher, 'session-ended', c.sid)[0];
    assert.deepEqual(cEnded, { type: 'session-ended', sessionId: c.sid, namespace: 'default' });
    // Archiving it again, or an ended session, is 409 unless it is marked archived.
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${c.sid}/archive`)), { status: 409, body: { error: 'Session is inactive' } });
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${d.sid}/archive`)), { status: 409, body: { error: 'Session is inactive' } });

    // The CLI marks it archived (metadata.lifecycleState) and ends: alreadyArchived.
    const b = await cliSession(h);
    const meta = { path: '/tmp/parity-proj', host: 'h', os: 'linux', flavor: 'claude', lifecycleState: 'archived' };
    const r = await b.emitAck('update-metadata', { expectedVersion: 1, metadata: meta });
    assert.equal(r.result, 'success');
    b.emit('session-end', { time: Date.now() });
    await until(() => seen(watcher, 'session-ended', b.sid).length === 1);
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${b.sid}/archive`)), { status: 200, body: { ok: true, alreadyArchived: true } });

    // Archived but still active: a normal archive.
    const e = await cliSession(h);
    await e.emitAck('update-metadata', { expectedVersion: 1, metadata: meta });
    await e.handleRpc('killSession', () => ({ success: true }));
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${e.sid}/archive`)), OK);

    // An error answer from the CLI, or no handler at all: still 200 and the session ends.
    const f = await cliSession(h);
    await f.handleRpc('killSession', () => ({ error: 'nope' }));
    const g = await cliSession(h);
    for (const x of [f, g]) {
      assert.deepEqual(answer(await w.req('POST', `/api/sessions/${x.sid}/archive`)), OK);
      assert.equal((await w.req('GET', `/api/sessions/${x.sid}`)).body.session.active, false);
      await until(() => seen(watcher, 'session-ended', x.sid).length === 1);
    }
    assert.deepEqual(answer(await w.req('POST', '/api/sessions/nope/archive')), NOT_FOUND);
  } finally {
    await h.stop();
  }
});

test('POST /title-suggestion without a title provider: 503, and /health says titleSuggestion false', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const a = await cliSession(h);
    const r = await w.req('POST', `/api/sessions/${a.sid}/title-suggestion`);
    assert.deepEqual(answer(r), { status: 503, body: { error: 'Title suggestions are not configured on this Hub' } });
    assert.deepEqual(answer(await w.req('POST', '/api/sessions/nope/title-suggestion')), NOT_FOUND);
    a.emit('session-end', { time: Date.now() });
    await until(async () => (await w.req('GET', `/api/sessions/${a.sid}`)).body.session.active === false);
    assert.equal((await w.req('POST', `/api/sessions/${a.sid}/title-suggestion`)).status, 503);
    const health = await w.req('GET', '/health');
    assert.equal(health.body.capabilities.titleSuggestion, false);
  } finally {
    await h.stop();
  }
});
