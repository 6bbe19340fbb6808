// The scratch list of a session (parity-0.30.7.md §2 rows 34–41, §5 row 3; issue 16):
// GET/POST …/scratchlist, PUT/DELETE …/scratchlist/:entryId, GET …/scratchlist/limits,
// POST …/scratchlist/upload, GET/DELETE …/scratchlist/attachments/:attachmentId, the
// `session-updated` {scratchlistUpdatedAt} event, and storage that survives a restart and
// leaves with its session. Every answer below was observed on the official hub v0.30.7.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startHub, web, cliSession, answer, sleep, until, seen, OTHER_NS, NOT_FOUND } from './lib.mjs';

const LIMITS = {
  maxBytesPerFile: 10485760,
  maxAttachmentsPerEntry: 4,
  maxBytesPerEntry: 20971520,
  maxBytesPerSession: 104857600,
  allowedMimeTypes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/svg+xml', 'application/pdf', 'text/plain'],
};
const b64 = (s) => Buffer.from(s).toString('base64');
const sl = (sid, rest = '') => `/api/sessions/${sid}/scratchlist${rest}`;
const issue = (path, fields) => ({ status: 400, body: { error: 'Invalid body', issues: [{ ...fields, path }] } });
const typeIssue = (path, expected, got) =>
  issue(path, { expected, code: 'invalid_type', message: `Invalid input: expected ${expected}, received ${got}` });

async function withHub(fn, env) {
  const h = await startHub({ env });
  try {
    await fn(h);
  } finally {
    await h.stop();
  }
}

async function upload(w, sid, filename, data, mimeType = 'image/png') {
  const r = await w.req('POST', sl(sid, '/upload'), { filename, content: typeof data === 'string' ? b64(data) : data.toString('base64'), mimeType });
  return r;
}

/** GET an attachment: status, content type, content disposition and bytes. */
async function fetchAttachment(h, w, sid, id) {
  const r = await fetch(`${h.base}${sl(sid, `/attachments/${encodeURIComponent(id)}`)}`, { headers: { authorization: `Bearer ${w.jwt}` } });
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), bytes };
}

/** Files under HAPI_HOME/scratchlist-attachments (both hubs keep them there). */
function attachmentFiles(h) {
  const root = join(h.home, 'scratchlist-attachments');
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name).slice(root.length + 1));
    }
  };
  walk(root);
  return out.sort();
}

test('limits, create (201), idempotent create (200), update, list newest first, delete', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const cli = await cliSession(h);
    const sid = cli.sid;
    assert.deepEqual(answer(await w.req('GET', sl(sid))), { status: 200, body: { entries: [] } });
    assert.deepEqual(answer(await w.req('GET', sl(sid, '/limits'))), { status: 200, body: { limits: LIMITS } });

    const t0 = Date.now();
    const c = await w.req('POST', sl(sid), { text: 'hello' });
    assert.equal(c.status, 201);
    const e = c.body.entry;
    assert.equal(typeof e.entryId, 'string');
    assert.ok(e.entryId.length > 0);
    assert.equal(e.text, 'hello');
    assert.ok(e.createdAt >= t0 && e.createdAt === e.updatedAt);
    assert.deepEqual(e.attachments, []);

    // A client-chosen id and creation time (the web's migration of local notes) …
    const mine = await w.req('POST', sl(sid), { text: 'x', entryId: 'my-id', createdAt: 5, extra: true });
    assert.equal(mine.status, 201);
    assert.equal(mine.body.entry.entryId, 'my-id');
    assert.equal(mine.body.entry.createdAt, 5);
    // … and again: the stored entry, 200, unchanged.
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 'other', entryId: 'my-id', createdAt: 9 })), { status: 200, body: mine.body });

    await sleep(5);
    const u = await w.req('PUT', sl(sid, `/${e.entryId}`), { text: 'changed', entryId: 'ignored', createdAt: 3 });
    assert.equal(u.status, 200);
    assert.equal(u.body.entry.entryId, e.entryId);
    assert.equal(u.body.entry.text, 'changed');
    assert.equal(u.body.entry.createdAt, e.createdAt);
    assert.ok(u.body.entry.updatedAt > e.updatedAt);

    // Newest first by createdAt (the order of equal createdAt is not settled: the official
    // hub answered both ways).
    await w.req('POST', sl(sid), { text: 'B', createdAt: 101 });
    await w.req('POST', sl(sid), { text: 'A', createdAt: 100 });
    const list = await w.req('GET', sl(sid));
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.entries.map((x) => x.text), ['changed', 'B', 'A', 'x']);
    assert.deepEqual(list.body.entries[0], u.body.entry);

    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/${e.entryId}`))), { status: 200, body: { ok: true } });
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/${e.entryId}`))), { status: 404, body: { error: 'Scratchlist entry not found' } });
    assert.deepEqual((await w.req('GET', sl(sid))).body.entries.map((x) => x.text), ['B', 'A', 'x']);

    // An inactive session keeps its scratch list writable.
    cli.socket.emit('session-end', { sid, time: Date.now() });
    await until(async () => (await w.req('GET', `/api/sessions/${sid}`)).body.session.active === false, { ms: 5000 });
    assert.equal((await w.req('POST', sl(sid), { text: 'after end' })).status, 201);
    cli.close();
  });
});

test('bad bodies get the zod issues; unknown ids, other namespaces and missing sessions their errors', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const other = await web(h, 'other-ns');
    const sid = (await cliSession(h)).sid;
    const needText = issue(['text'], { code: 'custom', message: 'Scratchlist entry requires text or attachments' });
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: '' })), needText);
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: '   ' })), needText);
    assert.deepEqual(answer(await w.req('POST', sl(sid), {})), needText);
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 5 })), typeIssue(['text'], 'string', 'number'));
    assert.deepEqual(answer(await w.req('POST', sl(sid), undefined, { rawBody: 'notjson' })), typeIssue([], 'object', 'null'));
    assert.deepEqual(
      answer(await w.req('POST', sl(sid), { text: 'a'.repeat(10001) })),
      issue(['text'], { origin: 'string', code: 'too_big', maximum: 10000, inclusive: true, message: 'Too big: expected string to have <=10000 characters' }),
    );
    assert.equal((await w.req('POST', sl(sid), { text: 'a'.repeat(10000) })).status, 201);
    assert.deepEqual(
      answer(await w.req('POST', sl(sid), { text: 'a', entryId: '' })),
      issue(['entryId'], { origin: 'string', code: 'too_small', minimum: 1, inclusive: true, message: 'Too small: expected string to have >=1 characters' }),
    );
    assert.deepEqual(
      answer(await w.req('POST', sl(sid), { text: 'a', entryId: 'i'.repeat(129) })),
      issue(['entryId'], { origin: 'string', code: 'too_big', maximum: 128, inclusive: true, message: 'Too big: expected string to have <=128 characters' }),
    );
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 'a', createdAt: 'x' })), typeIssue(['createdAt'], 'number', 'string'));
    assert.deepEqual(
      answer(await w.req('POST', sl(sid), { text: 'a', createdAt: -1 })),
      issue(['createdAt'], { origin: 'number', code: 'too_small', minimum: 0, inclusive: true, message: 'Too small: expected number to be >=0' }),
    );
    assert.deepEqual(
      answer(await w.req('POST', sl(sid), { text: 'a', createdAt: 1.5 })),
      issue(['createdAt'], { expected: 'int', format: 'safeint', code: 'invalid_type', message: 'Invalid input: expected int, received number' }),
    );
    const wrongAtt = await w.req('POST', sl(sid), { text: 'z', attachments: [{ id: 'a' }] });
    assert.equal(wrongAtt.status, 400);
    assert.deepEqual(
      wrongAtt.body.issues.map((i) => [i.path.join('.'), i.expected]),
      [['attachments.0.filename', 'string'], ['attachments.0.mimeType', 'string'], ['attachments.0.size', 'number'], ['attachments.0.path', 'string']],
    );

    const e = (await w.req('POST', sl(sid), { text: 'keep' })).body.entry;
    assert.deepEqual(answer(await w.req('PUT', sl(sid, `/${e.entryId}`), { text: null })), typeIssue(['text'], 'string', 'null'));
    assert.deepEqual(answer(await w.req('PUT', sl(sid, `/${e.entryId}`), undefined, { rawBody: '{' })), typeIssue([], 'object', 'null'));
    assert.deepEqual(
      answer(await w.req('PUT', sl(sid, `/${e.entryId}`), { text: ' ' })),
      issue(['text'], { code: 'custom', message: 'Scratchlist entry requires non-empty text or attachments' }),
    );
    assert.deepEqual(answer(await w.req('PUT', sl(sid, '/nope'), { text: 'x' })), { status: 404, body: { error: 'Scratchlist entry not found' } });
    assert.deepEqual(answer(await w.req('GET', sl(sid, '/attachments/nope'))), { status: 404, body: { error: 'Attachment not found' } });
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, '/attachments/nope'))), { status: 404, body: { error: 'Attachment not found' } });
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 'a', attachments: [{ id: 'zzz', filename: 'a.png', mimeType: 'image/png', size: 1, path: 'p' }] })), {
      status: 400,
      body: { error: 'Invalid scratchlist attachment id', code: 'scratchlist_attachment_invalid' },
    });
    // Nothing of the refused requests was stored.
    assert.deepEqual((await w.req('GET', sl(sid))).body.entries.map((x) => x.text), ['keep', 'a'.repeat(10000)]);

    for (const [m, p, b] of [
      ['GET', ''],
      ['POST', '', { text: 'x' }],
      ['GET', '/limits'],
      ['PUT', `/${e.entryId}`, { text: 'x' }],
      ['DELETE', `/${e.entryId}`],
      ['POST', '/upload', { filename: 'a.png', content: 'aGk=', mimeType: 'image/png' }],
      ['GET', '/attachments/x'],
      ['DELETE', '/attachments/x'],
    ]) {
      assert.deepEqual(answer(await other.req(m, sl(sid, p), b)), OTHER_NS, `${m} ${p} from another namespace`);
      assert.deepEqual(answer(await w.req(m, sl('no-such-session', p), b)), NOT_FOUND, `${m} ${p} of a missing session`);
    }
    assert.equal((await w.req('GET', sl(sid))).body.entries.length, 2);
  });
});

test('uploads: stored names, MIME types, 413 and the per-entry, per-session and per-entry-count limits', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const sid = (await cliSession(h)).sid;
    const up = await upload(w, sid, 'a.png', 'PNGDATA');
    assert.equal(up.status, 200);
    assert.equal(up.body.success, true);
    const a = up.body.attachment;
    assert.deepEqual(a, { id: a.id, filename: 'a.png', mimeType: 'image/png', size: 7, path: `hapi-hub:scratchlist/default/${sid}/${a.id}-a.png` });
    // Names are made safe; MIME types compare case-insensitively and are kept as sent;
    // content is decoded like Node's Buffer.from(…, 'base64').
    for (const [name, safe] of [['../x/b.png', '__x_b.png'], ['a b.png', 'a_b.png'], ['a\\b.png', 'a_b.png'], ['...png', '_.png'], ['ü.png', 'ü.png'], ['.hidden', '.hidden']]) {
      assert.equal((await upload(w, sid, name, 'hi')).body.attachment.filename, safe, name);
    }
    assert.equal((await upload(w, sid, 'c.png', 'hi', 'IMAGE/PNG')).body.attachment.mimeType, 'IMAGE/PNG');
    const lenient = await w.req('POST', sl(sid, '/upload'), { filename: 'd.png', content: '@@@', mimeType: 'image/png' });
    assert.equal(lenient.body.attachment.size, 0);
    for (const body of [{ filename: 'a.png' }, { filename: '', content: 'aGk=', mimeType: 'image/png' }, { filename: 'x'.repeat(300), content: 'aGk=', mimeType: 'image/png' }, { filename: 'a.png', content: '', mimeType: 'image/png' }, { filename: 'a.png', content: 'aGk=' }]) {
      assert.deepEqual(answer(await w.req('POST', sl(sid, '/upload'), body)), { status: 400, body: { error: 'Invalid body' } });
    }
    assert.deepEqual(answer(await w.req('POST', sl(sid, '/upload'), undefined, { rawBody: '{' })), { status: 400, body: { error: 'Invalid body' } });
    assert.deepEqual(answer(await upload(w, sid, 'b.zip', 'hi', 'application/zip')), {
      status: 400,
      body: { success: false, error: 'Mime type not allowed', code: 'scratchlist_attachment_mime' },
    });
    assert.deepEqual(answer(await upload(w, sid, 'big.png', Buffer.alloc(LIMITS.maxBytesPerFile + 1))), {
      status: 413,
      body: { success: false, error: 'File too large', code: 'scratchlist_attachment_too_large' },
    });
    assert.equal((await upload(w, sid, 'max.png', Buffer.alloc(LIMITS.maxBytesPerFile, 1))).status, 200);

    // An entry takes at most 4 attachments and 20 MiB of them.
    const seven = [];
    for (let i = 0; i < 3; i++) seven.push((await upload(w, sid, `s${i}.png`, Buffer.alloc(7 << 20, i))).body.attachment);
    const perEntry = { status: 400, body: { error: 'Attachments exceed per-entry byte limit (20971520 bytes)', code: 'scratchlist_attachments_entry_bytes' } };
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 't', attachments: seven })), perEntry);
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 't', attachments: [a, a, a, a, a] })), {
      status: 400,
      body: { error: 'At most 4 attachments per scratchlist entry', code: 'scratchlist_attachments_per_entry' },
    });
    const two = await w.req('POST', sl(sid), { text: '', attachments: [seven[0], seven[1]] });
    assert.equal(two.status, 201);
    assert.deepEqual(two.body.entry.attachments, [seven[0], seven[1]]);
    assert.deepEqual(answer(await w.req('PUT', sl(sid, `/${two.body.entry.entryId}`), { text: 'p', attachments: seven })), perEntry);
    assert.deepEqual((await w.req('GET', sl(sid))).body.entries.map((e) => e.attachments.length), [2]);

    // The session holds at most 100 MiB of uploads, referenced or not: 41 MiB so far.
    const ten = Buffer.alloc(10 << 20, 3);
    let refused = null;
    for (let i = 0; i < 8 && !refused; i++) {
      const r = await upload(w, sid, `g${i}.png`, ten);
      if (r.status !== 200) refused = { i, r: answer(r) };
    }
    assert.deepEqual(refused, {
      i: 6,
      r: { status: 400, body: { success: false, error: 'Scratchlist attachments would exceed per-session byte limit (104857600 bytes)', code: 'scratchlist_attachments_session_bytes' } },
    });
  });
});

test('at most 200 entries: the 201st is 409 scratchlist_at_cap', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const sid = (await cliSession(h)).sid;
    for (let i = 0; i < 200; i++) assert.equal((await w.req('POST', sl(sid), { text: `n${i}` })).status, 201);
    assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 'one more' })), {
      status: 409,
      body: { error: 'Scratchlist is at its 200-entry cap', code: 'scratchlist_at_cap' },
    });
    // An existing id is still answered (nothing is added).
    const first = (await w.req('GET', sl(sid))).body.entries.at(-1);
    assert.equal((await w.req('POST', sl(sid), { text: 'n0', entryId: first.entryId })).status, 200);
    assert.equal((await w.req('GET', sl(sid))).body.entries.length, 200);
  });
});

test('HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY overrides the per-entry count', async () => {
  await withHub(
    async (h) => {
      const w = await web(h);
      const sid = (await cliSession(h)).sid;
      assert.deepEqual((await w.req('GET', sl(sid, '/limits'))).body.limits, { ...LIMITS, maxAttachmentsPerEntry: 2 });
      const a = (await upload(w, sid, 'a.png', 'hi')).body.attachment;
      assert.deepEqual(answer(await w.req('POST', sl(sid), { text: 't', attachments: [a, a, a] })), {
        status: 400,
        body: { error: 'At most 2 attachments per scratchlist entry', code: 'scratchlist_attachments_per_entry' },
      });
    },
    { HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY: '2' },
  );
});

test('attachments: served while referenced (bytes, type, inline name), 409 while referenced, gone with their entry', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const sid = (await cliSession(h)).sid;
    const a = (await upload(w, sid, 'pic.png', 'PNGDATA')).body.attachment;
    // Not served before an entry takes it; deletable while no entry does.
    assert.equal((await fetchAttachment(h, w, sid, a.id)).status, 404);
    const loose = (await upload(w, sid, 'loose.txt', 'plain', 'text/plain')).body.attachment;
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/attachments/${loose.id}`))), { status: 200, body: { ok: true } });
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/attachments/${loose.id}`))), { status: 404, body: { error: 'Attachment not found' } });

    const e1 = (await w.req('POST', sl(sid), { text: '', attachments: [a] })).body.entry;
    const e2 = (await w.req('POST', sl(sid), { text: 'shared', attachments: [a] })).body.entry;
    assert.deepEqual(e1.attachments, [a]);
    const got = await fetchAttachment(h, w, sid, a.id);
    assert.deepEqual({ ...got, bytes: got.bytes.toString() }, { status: 200, type: 'image/png', disposition: 'inline; filename="pic.png"', bytes: 'PNGDATA' });
    const inUse = { status: 409, body: { error: 'Attachment is still referenced by a scratchlist entry', code: 'scratchlist_attachment_in_use' } };
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/attachments/${a.id}`))), inUse);
    // Deleting one entry keeps what the other still references …
    await w.req('DELETE', sl(sid, `/${e1.entryId}`));
    assert.equal((await fetchAttachment(h, w, sid, a.id)).status, 200);
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/attachments/${a.id}`))), inUse);
    // … deleting the last removes it, file and all.
    await w.req('DELETE', sl(sid, `/${e2.entryId}`));
    assert.equal((await fetchAttachment(h, w, sid, a.id)).status, 404);
    assert.deepEqual(answer(await w.req('DELETE', sl(sid, `/attachments/${a.id}`))), { status: 404, body: { error: 'Attachment not found' } });
    assert.deepEqual(attachmentFiles(h), []);
  });
});

test('every open client gets session-updated {scratchlistUpdatedAt} for creates, updates and deletes only', async () => {
  await withHub(async (h) => {
    const w = await web(h);
    const w2 = await web(h);
    const stranger = await web(h, 'other-ns');
    const sid = (await cliSession(h)).sid;
    const sse1 = await w.sse({ all: 'true' });
    const sse2 = await w2.sse({ sessionId: sid });
    const sse3 = await stranger.sse({ all: 'true' });
    try {
      const marks = (sse) => seen(sse, 'session-updated', sid).filter((e) => e.data && 'scratchlistUpdatedAt' in e.data);
      const e = (await w.req('POST', sl(sid), { text: 'one' })).body.entry;
      await until(() => marks(sse2).length === 1, { ms: 5000 });
      const ev = marks(sse2)[0];
      assert.deepEqual({ type: ev.type, sessionId: ev.sessionId, namespace: ev.namespace, data: ev.data }, {
        type: 'session-updated',
        sessionId: sid,
        namespace: 'default',
        data: { scratchlistUpdatedAt: e.updatedAt },
      });
      await w.req('POST', sl(sid), { text: 'dup', entryId: e.entryId }); // idempotent: no event
      const a = (await upload(w, sid, 'a.png', 'hi')).body.attachment; // upload: no event
      await w.req('DELETE', sl(sid, `/attachments/${a.id}`)); // attachment delete: no event
      const u = (await w.req('PUT', sl(sid, `/${e.entryId}`), { text: 'two' })).body.entry;
      await w.req('POST', sl(sid), { text: '' }); // refused: no event
      await w.req('DELETE', sl(sid, `/${e.entryId}`));
      await until(() => marks(sse1).length === 3 && marks(sse2).length === 3, { ms: 5000 });
      await sleep(300);
      assert.equal(marks(sse1).length, 3);
      assert.equal(marks(sse2)[1].data.scratchlistUpdatedAt, u.updatedAt);
      assert.ok(marks(sse2)[2].data.scratchlistUpdatedAt >= u.updatedAt);
      assert.equal(seen(sse3, 'session-updated', sid).length, 0);
      // The session object itself carries no scratchlistUpdatedAt.
      const s = (await w.req('GET', `/api/sessions/${sid}`)).body.session;
      assert.equal('scratchlistUpdatedAt' in s, false);
    } finally {
      sse1.close();
      sse2.close();
      sse3.close();
    }
  });
});

test('a restart keeps entries and attachments; deleting the session leaves no file behind', async () => {
  let h = await startHub();
  try {
    const w = await web(h);
    const cli = await cliSession(h);
    const sid = cli.sid;
    const a = (await upload(w, sid, 'keep.png', 'KEEPME')).body.attachment;
    const loose = (await upload(w, sid, 'loose.png', 'LOOSE')).body.attachment;
    await w.req('POST', sl(sid), { text: 'first', createdAt: 1 });
    await w.req('POST', sl(sid), { text: 'with picture', attachments: [a] });
    const before = (await w.req('GET', sl(sid))).body;
    assert.equal(attachmentFiles(h).length, 2);
    cli.close();
    h = await h.restart();
    const w2 = await web(h);
    assert.deepEqual((await w2.req('GET', sl(sid))).body, before);
    const got = await fetchAttachment(h, w2, sid, a.id);
    assert.equal(got.status, 200);
    assert.equal(got.bytes.toString(), 'KEEPME');
    assert.deepEqual(answer(await w2.req('DELETE', sl(sid, `/attachments/${loose.id}`))), { status: 200, body: { ok: true } });
    assert.equal(attachmentFiles(h).length, 1);
    // The session is inactive after the restart; deleting it takes its scratch list along.
    await until(async () => (await w2.req('GET', `/api/sessions/${sid}`)).body.session?.active === false, { ms: 40000 });
    assert.deepEqual(answer(await w2.req('DELETE', `/api/sessions/${sid}`)), { status: 200, body: { ok: true } });
    // The official hub removes the files after it answers (seen once in CI: the file still there
    // at the answer); hapid before. Either way they go.
    await until(() => attachmentFiles(h).length === 0, { ms: 5000, what: 'the session\'s attachment files removed' });
    assert.deepEqual(answer(await w2.req('GET', sl(sid))), NOT_FOUND);
  } finally {
    await h.stop();
  }
});
