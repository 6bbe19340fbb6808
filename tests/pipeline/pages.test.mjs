// GET /api/sessions/:id/messages pages and cursors, the message epoch, messages-invalidated,
// and GET /api/sessions ?limit / ?order (CONTRACT.md §6, §7).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let h, w, sse;
const send = (sid, body) => w.req('POST', `/api/sessions/${sid}/messages`, body);
const get = (sid, q = '') => w.req('GET', `/api/sessions/${sid}/messages${q ? `?${q}` : ''}`);
const pos = (m) => ({ at: m.invokedAt ?? m.createdAt, seq: m.seq });
const cmp = (a, b) => (a.at !== b.at ? a.at - b.at : a.seq - b.seq);

before(async () => {
  h = await L.startHub();
  w = await L.web(h);
  sse = await w.sse({ all: 'true' });
});
after(async () => {
  sse?.close();
  await h?.stop();
});

async function agentMessages(cli, n) {
  for (let i = 0; i < n; i++) {
    cli.emit('message', { message: { role: 'agent', content: { type: 'output', data: { n: i } } } });
    await cli.ping();
    await L.sleep(3);
  }
}

const PAGE_KEYS = ['direction', 'epoch', 'hasMore', 'limit', 'nextAfterAt', 'nextAfterSeq', 'nextBeforeAt', 'nextBeforeSeq', 'reset', 'snapshotHeadAt', 'snapshotHeadSeq'];

test('empty session: the latest page', async () => {
  const cli = await L.cliSession(h);
  try {
    assert.deepEqual(L.answer(await get(cli.sid)), {
      status: 200,
      body: {
        messages: [],
        page: {
          direction: 'latest',
          limit: 50,
          epoch: 0,
          reset: false,
          nextBeforeSeq: null,
          nextBeforeAt: null,
          nextAfterSeq: null,
          nextAfterAt: null,
          snapshotHeadSeq: null,
          snapshotHeadAt: null,
          hasMore: false,
        },
      },
    });
  } finally {
    cli.close();
  }
});

test('latest / before / after / until cursors over (invokedAt ?? createdAt, seq) positions', async () => {
  const cli = await L.cliSession(h);
  try {
    await agentMessages(cli, 7);
    const all = (await get(cli.sid)).body;
    assert.equal(all.messages.length, 7);
    assert.deepEqual(Object.keys(all.page).sort(), PAGE_KEYS);
    const ms = all.messages;
    for (let i = 1; i < ms.length; i++) assert.ok(cmp(pos(ms[i - 1]), pos(ms[i])) < 0, 'ascending positions');
    const head = pos(ms.at(-1));
    assert.deepEqual(all.page, {
      direction: 'latest',
      limit: 50,
      epoch: 0,
      reset: false,
      nextBeforeSeq: ms[0].seq,
      nextBeforeAt: pos(ms[0]).at,
      nextAfterSeq: null,
      nextAfterAt: null,
      snapshotHeadSeq: head.seq,
      snapshotHeadAt: head.at,
      hasMore: false,
    });

    // latest with a limit: the newest `limit`, hasMore
    const l3 = (await get(cli.sid, 'limit=3')).body;
    assert.deepEqual(l3.messages.map((m) => m.seq), ms.slice(-3).map((m) => m.seq));
    assert.equal(l3.page.hasMore, true);
    assert.equal(l3.page.nextBeforeSeq, ms[4].seq);
    assert.equal(l3.page.nextBeforeAt, pos(ms[4]).at);

    // before: strictly older than the cursor
    const b = (await get(cli.sid, `limit=3&beforeSeq=${l3.page.nextBeforeSeq}&beforeAt=${l3.page.nextBeforeAt}`)).body;
    assert.deepEqual(b.messages.map((m) => m.seq), ms.slice(1, 4).map((m) => m.seq));
    assert.equal(b.page.direction, 'before');
    assert.equal(b.page.hasMore, true);
    assert.equal(b.page.nextBeforeSeq, ms[1].seq);
    assert.equal(b.page.snapshotHeadSeq, head.seq, 'before pages still report the head');
    const b2 = (await get(cli.sid, `limit=3&beforeSeq=${b.page.nextBeforeSeq}&beforeAt=${b.page.nextBeforeAt}`)).body;
    assert.deepEqual(b2.messages.map((m) => m.seq), [ms[0].seq]);
    assert.equal(b2.page.hasMore, false);

    // after: strictly newer, nextAfter = last row, hasMore when cut by the limit
    const c = pos(ms[1]);
    const a = (await get(cli.sid, `limit=2&afterSeq=${c.seq}&afterAt=${c.at}`)).body;
    assert.deepEqual(a.messages.map((m) => m.seq), [ms[2].seq, ms[3].seq]);
    assert.deepEqual(a.page, {
      direction: 'after',
      limit: 2,
      epoch: 0,
      reset: false,
      nextBeforeSeq: null,
      nextBeforeAt: null,
      nextAfterSeq: ms[3].seq,
      nextAfterAt: pos(ms[3]).at,
      snapshotHeadSeq: head.seq,
      snapshotHeadAt: head.at,
      hasMore: true,
    });
    // until clamps the snapshot head (inclusive)
    const u = pos(ms[4]);
    const au = (await get(cli.sid, `afterSeq=${c.seq}&afterAt=${c.at}&untilSeq=${u.seq}&untilAt=${u.at}`)).body;
    assert.deepEqual(au.messages.map((m) => m.seq), [ms[2].seq, ms[3].seq, ms[4].seq]);
    assert.equal(au.page.snapshotHeadSeq, u.seq);
    assert.equal(au.page.snapshotHeadAt, u.at);
    assert.equal(au.page.hasMore, false);
    // at the head: empty, the cursor echoed back
    const ah = (await get(cli.sid, `afterSeq=${head.seq}&afterAt=${head.at}`)).body;
    assert.deepEqual(ah.messages, []);
    assert.equal(ah.page.nextAfterSeq, head.seq);
    assert.equal(ah.page.nextAfterAt, head.at);
    assert.equal(ah.page.hasMore, false);
    // same epoch: a normal after page; another epoch: the latest page with reset:true
    const ae = (await get(cli.sid, `afterSeq=${c.seq}&afterAt=${c.at}&epoch=0`)).body;
    assert.equal(ae.page.direction, 'after');
    const stale = (await get(cli.sid, `afterSeq=${c.seq}&afterAt=${c.at}&epoch=9`)).body;
    assert.equal(stale.page.direction, 'latest');
    assert.equal(stale.page.reset, true);
    assert.equal(stale.page.epoch, 0);
    assert.equal(stale.messages.length, 7);
  } finally {
    cli.close();
  }
});

test('query validation: 400 {"error":"Invalid query", issues}', async () => {
  const cli = await L.cliSession(h);
  try {
    const cases = [
      ['beforeSeq=3', L.invalidQuery('beforeAt', 'beforeAt and beforeSeq must be provided together')],
      ['beforeAt=3', L.invalidQuery('beforeAt', 'beforeAt and beforeSeq must be provided together')],
      ['afterSeq=2', L.invalidQuery('afterAt', 'afterAt and afterSeq must be provided together')],
      ['afterSeq=2&afterAt=1&untilAt=5', L.invalidQuery('untilAt', 'untilAt and untilSeq must be provided together')],
      ['untilSeq=2&untilAt=5', L.invalidQuery('untilAt', 'until cursor requires an after cursor')],
      ['epoch=0', L.invalidQuery('epoch', 'epoch requires an after cursor')],
      ['beforeSeq=3&beforeAt=1&afterSeq=1&afterAt=1', L.invalidQuery('afterAt', 'before and after cursors are mutually exclusive')],
      ['limit=0', L.invalidQuery('limit', 'Too small: expected number to be >=1')],
      ['limit=201', L.invalidQuery('limit', 'Too big: expected number to be <=200')],
      ['limit=abc', L.invalidQuery('limit', 'Invalid input: expected number, received NaN')],
      ['limit=2.5', L.invalidQuery('limit', 'Invalid input: expected int, received number')],
      ['beforeSeq=0&beforeAt=0', L.invalidQuery('beforeSeq', 'Too small: expected number to be >=1')],
      ['beforeSeq=2&beforeAt=-1', L.invalidQuery('beforeAt', 'Too small: expected number to be >=0')],
    ];
    for (const [q, expected] of cases) assert.deepEqual(L.answer(await get(cli.sid, q)), expected, q);
    assert.deepEqual(L.answer(await get('no-such-session')), L.NOT_FOUND);
  } finally {
    cli.close();
  }
});

test('queued messages: always in the latest page; a consumed one moves to its invokedAt position', async () => {
  const cli = await L.cliSession(h);
  try {
    const q = L.uid('q');
    assert.equal((await send(cli.sid, { text: 'queued first', localId: q })).status, 200);
    await L.sleep(5);
    await agentMessages(cli, 4);
    // limit 2 still carries the older queued row
    const p = (await get(cli.sid, 'limit=2')).body;
    assert.deepEqual(p.messages.map((m) => m.localId), [q, null, null]);
    assert.equal(p.page.nextBeforeSeq, p.messages[1].seq, 'the cursor comes from the page rows, not the queued extra');
    const head = { seq: p.page.snapshotHeadSeq, at: p.page.snapshotHeadAt };

    await L.sleep(5);
    cli.emit('messages-consumed', { localIds: [q] });
    await cli.ping();
    const all = (await get(cli.sid)).body.messages;
    assert.equal(all.at(-1).localId, q, 'ordered by invokedAt now');
    // the web's after-cursor at the old head picks it up
    const a = (await get(cli.sid, `afterSeq=${head.seq}&afterAt=${head.at}&epoch=0`)).body;
    assert.deepEqual(a.messages.map((m) => m.localId), [q]);
    assert.equal(a.page.epoch, 0, 'consuming does not bump the epoch');
  } finally {
    cli.close();
  }
});

test('deleting a queued message bumps the epoch: a stale after-cursor gets reset:true', async () => {
  const cli = await L.cliSession(h, { onUpdate: () => ({ removed: true }) });
  try {
    await agentMessages(cli, 2);
    const q = L.uid('q');
    assert.equal((await send(cli.sid, { text: 'to cancel', localId: q })).status, 200);
    const p = (await get(cli.sid)).body;
    assert.equal(p.page.epoch, 0);
    const c = pos(p.messages[0]);
    assert.equal((await w.req('DELETE', `/api/sessions/${cli.sid}/messages/${q}`)).body.status, 'cancelled');
    const r = (await get(cli.sid, `afterSeq=${c.seq}&afterAt=${c.at}&epoch=0`)).body;
    assert.equal(r.page.reset, true);
    assert.equal(r.page.direction, 'latest');
    assert.equal(r.page.epoch, 1);
    assert.equal(r.messages.length, 2);
  } finally {
    cli.close();
  }
});

test('rewind emits messages-invalidated {reason:"rewind", truncateFromLocalId} and bumps the epoch', async () => {
  const cli = await L.cliSession(h, { metadata: L.defaultMetadata({ flavor: 'codex', capabilities: { conversationHistory: { rewindToMessage: true } } }) });
  try {
    assert.equal((await send(cli.sid, { text: 'keep', localId: 'rw-keep' })).status, 200);
    assert.equal((await send(cli.sid, { text: 'drop', localId: 'rw-drop' })).status, 200);
    cli.emit('messages-consumed', { localIds: ['rw-keep', 'rw-drop'], clearQueuedThinkingGrace: true });
    await cli.ping();
    cli.alive({ thinking: false });
    await cli.ping();
    await cli.handleRpc('rewind-conversation', (p) => ({ success: true, truncateFromLocalId: p.messageLocalId, messages: [] }));
    const from = sse.events.length;
    assert.deepEqual(L.answer(await w.req('POST', `/api/sessions/${cli.sid}/rewind`, { messageLocalId: 'rw-drop' })), { status: 200, body: { success: true } });
    assert.deepEqual(cli.rpcCalls.at(-1).params, { messageLocalId: 'rw-drop' });
    const ev = await sse.next((e) => e.type === 'messages-invalidated' && e.sessionId === cli.sid, 3000, from);
    assert.deepEqual({ ...ev }, { type: 'messages-invalidated', sessionId: cli.sid, namespace: 'default', reason: 'rewind', truncateFromLocalId: 'rw-drop' });
    assert.ok(typeof ev._id === 'string');
    const p = (await get(cli.sid)).body;
    assert.deepEqual(p.messages.map((m) => m.localId), ['rw-keep']);
    assert.equal(p.page.epoch, 1);
  } finally {
    cli.close();
  }
});

test('GET /api/sessions: ?limit (1..500, floored; NaN ignored) and ?order=updatedAt', async () => {
  const ww = await L.web(h, 'list-ns');
  const mk = async () => {
    const c = await L.cliSession(h, { ns: 'list-ns' });
    await L.sleep(15);
    return c;
  };
  const a = await mk();
  const b = await mk();
  const c = await mk();
  try {
    // c ends (inactive, newest updatedAt among... ) then a gets a message (newest updatedAt)
    c.emit('session-end', { time: Date.now() });
    await c.ping();
    await L.sleep(30);
    assert.equal((await ww.req('POST', `/api/sessions/${a.sid}/messages`, { text: 'touch' })).status, 200);
    await L.sleep(100);
    const ids = async (q) => (await ww.req('GET', `/api/sessions${q}`)).body.sessions.map((s) => s.id);
    const byDefault = await ids('');
    // default order: active first, then updatedAt desc
    assert.deepEqual(byDefault, [a.sid, b.sid, c.sid]);
    assert.deepEqual(await ids('?order=updatedAt'), [a.sid, c.sid, b.sid], 'updatedAt desc, active or not');
    assert.deepEqual(await ids('?limit=1'), [a.sid]);
    assert.deepEqual(await ids('?limit=2'), [a.sid, b.sid]);
    assert.deepEqual(await ids('?order=updatedAt&limit=2'), [a.sid, c.sid]);
    assert.deepEqual(await ids('?limit=0'), [a.sid], 'clamped to 1');
    assert.deepEqual(await ids('?limit=-3'), [a.sid], 'clamped to 1');
    assert.deepEqual(await ids('?limit=1.7'), [a.sid], 'floored');
    assert.deepEqual(await ids('?limit=abc'), byDefault, 'not a number: no limit');
    assert.deepEqual(await ids('?order=bogus'), byDefault, 'unknown order: the default');
  } finally {
    a.close();
    b.close();
    c.close();
  }
});
