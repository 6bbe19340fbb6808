// GET /api/sessions/:id/export (parity-0.30.7.md §2 row 7, §5 row 5; issue 16): the web's
// "Export conversation". Observed on the official hub v0.30.7: 200 application/json (no
// Content-Disposition; the web names the download itself), {schemaVersion: 2, exportedAt,
// session, messages, scratchlist}: `session` is the GET /api/sessions/:id object, `messages`
// every stored message as GET …/messages pages carry them, oldest first, `scratchlist` the
// entries oldest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, answer, until, OTHER_NS, NOT_FOUND } from './lib.mjs';

const agentText = (text) => ({ role: 'agent', content: { type: 'output', data: { type: 'assistant', message: { content: [{ type: 'text', text }] } } } });

/** Every message of a session, oldest first, by paging GET …/messages backwards. */
async function allMessages(w, sid) {
  const out = [];
  let q = 'limit=200';
  for (;;) {
    const r = await w.req('GET', `/api/sessions/${sid}/messages?${q}`);
    assert.equal(r.status, 200);
    out.unshift(...r.body.messages);
    if (!r.body.page.hasMore) return out;
    q = `limit=200&beforeSeq=${r.body.page.nextBeforeSeq}&beforeAt=${r.body.page.nextBeforeAt}`;
  }
}

async function exportOf(h, w, sid) {
  const r = await fetch(`${h.base}/api/sessions/${sid}/export`, { headers: { authorization: `Bearer ${w.jwt}` } });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), body: JSON.parse(text), bytes: text.length };
}

test('the export holds the session, its messages and its scratch list (schemaVersion 2)', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await cliSession(h);
    const sid = cli.sid;
    for (const t of ['one', 'two', 'three']) cli.emit('message', { message: agentText(t), localId: `l-${t}` });
    await until(async () => (await allMessages(w, sid)).length === 3, { ms: 5000 });
    await w.req('POST', `/api/sessions/${sid}/scratchlist`, { text: 'old note', createdAt: 10 });
    await w.req('POST', `/api/sessions/${sid}/scratchlist`, { text: 'new note' });
    const session = (await w.req('GET', `/api/sessions/${sid}`)).body.session;
    const messages = await allMessages(w, sid);
    const list = (await w.req('GET', `/api/sessions/${sid}/scratchlist`)).body.entries;

    const t0 = Date.now();
    const ex = await exportOf(h, w, sid);
    assert.equal(ex.status, 200);
    assert.equal(ex.type, 'application/json');
    assert.equal(ex.disposition, null);
    assert.deepEqual(Object.keys(ex.body).sort(), ['exportedAt', 'messages', 'schemaVersion', 'scratchlist', 'session']);
    assert.equal(ex.body.schemaVersion, 2);
    assert.ok(Number.isInteger(ex.body.exportedAt) && ex.body.exportedAt >= t0 - 5 && ex.body.exportedAt <= Date.now());
    assert.deepEqual(ex.body.session, session);
    assert.deepEqual(ex.body.messages, messages);
    assert.deepEqual(ex.body.messages.map((m) => m.content.content.data.message.content[0].text), ['one', 'two', 'three']);
    assert.deepEqual(ex.body.scratchlist, [...list].reverse());
    assert.deepEqual(ex.body.scratchlist.map((e) => e.text), ['old note', 'new note']);
    cli.close();
  } finally {
    await h.stop();
  }
});

test('an empty session exports empty lists; missing and foreign sessions are refused', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const other = await web(h, 'other-ns');
    const sid = (await cliSession(h)).sid;
    const ex = await exportOf(h, w, sid);
    assert.equal(ex.status, 200);
    assert.deepEqual([ex.body.messages, ex.body.scratchlist], [[], []]);
    assert.deepEqual(answer(await w.req('GET', '/api/sessions/no-such-session/export')), NOT_FOUND);
    assert.deepEqual(answer(await other.req('GET', `/api/sessions/${sid}/export`)), OTHER_NS);
  } finally {
    await h.stop();
  }
});

test('a long session exports every message in order (paged over the store by hapid)', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await cliSession(h);
    const sid = cli.sid;
    const n = 1200;
    for (let i = 0; i < n; i++) cli.emit('message', { message: agentText(`m${i} ${'x'.repeat(200)}`) });
    await until(async () => (await w.req('GET', `/api/sessions/${sid}/messages?limit=1`)).body.page.snapshotHeadSeq === n, { ms: 60000, every: 250 });
    const ex = await exportOf(h, w, sid);
    assert.equal(ex.status, 200);
    assert.equal(ex.body.messages.length, n);
    assert.deepEqual(ex.body.messages.map((m) => m.seq), Array.from({ length: n }, (_, i) => i + 1));
    assert.deepEqual(ex.body.messages, await allMessages(w, sid));
    cli.close();
  } finally {
    await h.stop();
  }
});

test('past 20000 messages the export warns (count, limit, estimatedBytes) unless force=true', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await cliSession(h);
    const sid = cli.sid;
    const n = 20001;
    for (let i = 0; i < n; i++) {
      cli.emit('message', { message: { role: 'agent', content: { type: 'output', data: { i } } } });
      if (i % 500 === 499) await new Promise((ok) => setTimeout(ok, 20));
    }
    await until(async () => (await w.req('GET', `/api/sessions/${sid}/messages?limit=1`)).body.page.snapshotHeadSeq === n, { ms: 120000, every: 500 });
    const warned = await w.req('GET', `/api/sessions/${sid}/export`);
    const forced = await w.req('GET', `/api/sessions/${sid}/export?force=true`);
    assert.equal(forced.status, 200);
    assert.equal(forced.body.messages.length, n);
    assert.deepEqual(answer(warned), { status: 200, body: { type: 'warning', count: n, limit: 20000, estimatedBytes: forced.text.length } });
    cli.close();
  } finally {
    await h.stop();
  }
});
