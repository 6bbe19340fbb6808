// Every RPC-backed web route (spec/rest.md §3.4–3.8b, §3.15–3.27): the params the CLI
// receives, the response shape, the side effects, and the failure shape of each group when no
// handler is registered (§2 table).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  createSession,
  createMachine,
  onlineMachine,
  defaultMetadata,
  openSse,
  rawConnect,
  isRpc500,
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
const META = defaultMetadata();

/** Sends only a request head announcing `length` body bytes; returns what hapid answers within 1 s. */
async function rawHead(path, length) {
  const sock = await rawConnect(h);
  let got = '';
  sock.on('data', (d) => (got += d.toString('latin1')));
  sock.on('error', () => {});
  sock.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${jwt}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
  );
  await new Promise((ok) => setTimeout(ok, 1000));
  sock.destroy();
  return got;
}

/** One call through a route: registers `name` with `reply`, calls, returns { r, calls }. */
async function through(cli, name, reply, call) {
  await cli.rpc.handle(cli.sid ?? cli.id, name, () => reply);
  const r = await call();
  return { r, calls: cli.rpc.take(name) };
}

test('git-status, git-diff-numstat (staged), git-diff-file: params and verbatim replies', async () => {
  const cli = await activeSession(h);
  try {
    const base = `/api/sessions/${cli.sid}`;
    const st = { success: true, stdout: '# branch.head main\n1 .M N... 100644 100644 100644 a b src/a.ts\n', stderr: '', exitCode: 0 };
    let { r, calls } = await through(cli, 'git-status', st, () => get(`${base}/git-status`));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, st);
    assert.equal(calls[0].method, `${cli.sid}:git-status`);
    assert.deepEqual(calls[0].params, { cwd: META.path });

    const ns = { success: true, stdout: '3\t1\tsrc/a.ts\n', exitCode: 0 };
    await cli.rpc.handle(cli.sid, 'git-diff-numstat', () => ns);
    for (const [q, want] of [
      ['', { cwd: META.path }],
      ['?staged=true', { cwd: META.path, staged: true }],
      ['?staged=false', { cwd: META.path, staged: false }],
      ['?staged=yes', { cwd: META.path }],
    ]) {
      r = await get(`${base}/git-diff-numstat${q}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, ns);
      assert.deepEqual(cli.rpc.take('git-diff-numstat').map((c) => c.params), [want], q);
    }

    const diff = { success: true, stdout: 'diff --git a/src/a.ts b/src/a.ts\n' };
    await cli.rpc.handle(cli.sid, 'git-diff-file', () => diff);
    r = await get(`${base}/git-diff-file?path=${encodeURIComponent('src/a b.ts')}&staged=true`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, diff);
    assert.deepEqual(cli.rpc.take('git-diff-file')[0].params, { cwd: META.path, filePath: 'src/a b.ts', staged: true });
    r = await get(`${base}/git-diff-file?path=README.md`);
    assert.deepEqual(cli.rpc.take('git-diff-file')[0].params, { cwd: META.path, filePath: 'README.md' });
    for (const q of ['', '?path=', '?staged=true']) {
      r = await get(`${base}/git-diff-file${q}`);
      assert.equal(r.status, 400, q);
      assert.deepEqual(r.body, { error: 'Invalid file path' });
    }
    assert.equal(cli.rpc.take('git-diff-file').length, 0);
  } finally {
    cli.close();
  }
});

test('file (readFile, no cwd) and directory (listDirectory): params and replies', async () => {
  const cli = await activeSession(h);
  try {
    const base = `/api/sessions/${cli.sid}`;
    const content = Buffer.from('hello\nworld\n').toString('base64');
    let { r, calls } = await through(cli, 'readFile', { success: true, content }, () => get(`${base}/file?path=src%2Fa.ts`));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: true, content });
    assert.deepEqual(calls[0].params, { path: 'src/a.ts' });
    for (const q of ['', '?path=']) {
      r = await get(`${base}/file${q}`);
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { error: 'Invalid file path' });
    }
    const entries = {
      success: true,
      entries: [
        { name: 'src', type: 'directory', modified: 1 },
        { name: 'a.ts', type: 'file', size: 12, modified: 2 },
      ],
    };
    await cli.rpc.handle(cli.sid, 'listDirectory', () => entries);
    for (const [q, want] of [
      ['', ''],
      ['?path=', ''],
      ['?path=src', 'src'],
    ]) {
      r = await get(`${base}/directory${q}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, entries);
      assert.deepEqual(cli.rpc.take('listDirectory').map((c) => c.params), [{ path: want }], q);
    }
    // A session inactive (never alive) still serves files (no "requires active").
    const idle = await createSession(h, { metadata: META });
    r = await get(`/api/sessions/${idle.id}/directory`);
    assert.deepEqual(r.body, { success: false, error: `RPC handler not registered: ${idle.id}:listDirectory` });
  } finally {
    cli.close();
  }
});

test('files: ripgrep --files, --iglob *q* with the trimmed query, limit, error mapping', async () => {
  const cli = await activeSession(h);
  try {
    const base = `/api/sessions/${cli.sid}`;
    let reply = { success: true, stdout: 'src/a.ts\nREADME.md\n' };
    await cli.rpc.handle(cli.sid, 'ripgrep', () => reply);
    let r = await get(`${base}/files?query=a&limit=1`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      success: true,
      files: [{ fileName: 'a.ts', filePath: 'src', fullPath: 'src/a.ts', fileType: 'file' }],
    });
    // v0.30.7 also names the search (fileSearch) for runners that search themselves.
    assert.deepEqual(cli.rpc.take('ripgrep')[0].params, { args: ['--files', '--iglob', '*a*'], cwd: META.path, fileSearch: { query: 'a', limit: 1 } });

    r = await get(`${base}/files?query=${encodeURIComponent('  read me ')}`);
    const rg = cli.rpc.take('ripgrep')[0].params;
    assert.deepEqual({ ...rg, fileSearch: undefined }, { args: ['--files', '--iglob', '*read me*'], cwd: META.path, fileSearch: undefined });
    assert.equal(rg.fileSearch.query, 'read me');
    assert.deepEqual(r.body.files.map((f) => f.fullPath), ['src/a.ts', 'README.md']);
    assert.deepEqual(r.body.files[1], { fileName: 'README.md', filePath: '', fullPath: 'README.md', fileType: 'file' });
    r = await get(`${base}/files?query=%20%20`);
    const blank = cli.rpc.take('ripgrep')[0].params;
    assert.deepEqual({ ...blank, fileSearch: undefined }, { args: ['--files'], cwd: META.path, fileSearch: undefined });

    // Default limit 200; blank and padded lines are dropped; a trailing "/" keeps the full path.
    reply = { success: true, stdout: `${Array.from({ length: 250 }, (_, i) => `  d/f${i}.txt  `).join('\n')}\n\n\ndir/\n` };
    r = await get(`${base}/files`);
    assert.equal(r.body.files.length, 200);
    assert.deepEqual(r.body.files[0], { fileName: 'f0.txt', filePath: 'd', fullPath: 'd/f0.txt', fileType: 'file' });
    r = await get(`${base}/files?limit=500`);
    assert.equal(r.body.files.length, 251);
    assert.deepEqual(r.body.files[250], { fileName: 'dir/', filePath: 'dir', fullPath: 'dir/', fileType: 'file' });
    cli.rpc.take('ripgrep');

    for (const q of ['limit=0', 'limit=501', 'limit=abc', 'limit=1.5', 'limit=-1']) {
      r = await get(`${base}/files?${q}`);
      assert.equal(r.status, 400, q);
      assert.deepEqual(r.body, { error: 'Invalid query' });
    }
    assert.equal(cli.rpc.take('ripgrep').length, 0);
    // Number() semantics: " 5 " and "0x2" are valid limits.
    reply = { success: true, stdout: 'a\nb\nc\nd\ne\nf\n' };
    r = await get(`${base}/files?limit=%205%20`);
    assert.equal(r.body.files.length, 5);
    r = await get(`${base}/files?limit=0x2`);
    assert.equal(r.body.files.length, 2);

    reply = { success: false, error: 'rg: not found' };
    r = await get(`${base}/files`);
    assert.deepEqual(r.body, { success: false, error: 'rg: not found' });
    reply = { success: false };
    r = await get(`${base}/files`);
    assert.deepEqual(r.body, { success: false, error: 'Failed to list files' });
    reply = 'garbage';
    r = await get(`${base}/files`);
    assert.deepEqual(r.body, { success: false, error: 'Failed to list files' });
  } finally {
    cli.close();
  }
});

test('git and file routes without metadata.path → "Session path not available" before validation', async () => {
  const s = await createSession(h, { metadata: { host: 'no-path' } });
  for (const p of ['git-status', 'git-diff-numstat', 'git-diff-file', 'file', 'files?limit=9999', 'directory']) {
    const r = await get(`/api/sessions/${s.id}/${p}`);
    assert.equal(r.status, 200, p);
    assert.deepEqual(r.body, { success: false, error: 'Session path not available' }, p);
  }
});

test('slash-commands ({agent: flavor}) and skills ({}) are passed through', async () => {
  const cli = await activeSession(h);
  const codex = await activeSession(h, { metadata: defaultMetadata({ flavor: 'codex' }) });
  const noFlavor = await activeSession(h, { metadata: { path: '/p', host: 'x' } });
  try {
    const cmds = { success: true, commands: [{ name: 'review', description: 'Review', source: 'builtin' }] };
    for (const [c, agent] of [
      [cli, 'claude'],
      [codex, 'codex'],
      [noFlavor, 'claude'],
    ]) {
      const { r, calls } = await through(c, 'listSlashCommands', cmds, () => get(`/api/sessions/${c.sid}/slash-commands`));
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, cmds);
      assert.deepEqual(calls[0].params, { agent });
    }
    const skills = { success: true, skills: [{ name: 'pdf', description: 'PDFs' }] };
    const { r, calls } = await through(cli, 'listSkills', skills, () => get(`/api/sessions/${cli.sid}/skills`));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, skills);
    assert.deepEqual(calls[0].params, {});
  } finally {
    cli.close();
    codex.close();
    noFlavor.close();
  }
});

test('upload and upload/delete: params, verbatim reply, validation, 50 MB decoded check', async () => {
  const cli = await activeSession(h);
  try {
    const base = `/api/sessions/${cli.sid}`;
    const content = Buffer.from('PNGDATA').toString('base64');
    const ok = { success: true, path: '/home/u/.hapi/uploads/shot.png' };
    let { r, calls } = await through(cli, 'uploadFile', ok, () =>
      post(`${base}/upload`, { filename: 'shot.png', content, mimeType: 'image/png', extra: 1 }),
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, ok);
    assert.deepEqual(calls[0].params, { sessionId: cli.sid, filename: 'shot.png', content, mimeType: 'image/png' });
    // A CLI failure reply is passed through with 200.
    ({ r } = await through(cli, 'uploadFile', { success: false, error: 'disk full' }, () =>
      post(`${base}/upload`, { filename: 'a', content: 'QQ==', mimeType: 'text/plain' }),
    ));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: false, error: 'disk full' });

    for (const body of [
      {},
      { filename: '', content: 'QQ==', mimeType: 'text/plain' },
      { filename: 'a', content: '', mimeType: 'text/plain' },
      { filename: 'a', content: 'QQ==', mimeType: '' },
      { filename: 'x'.repeat(256), content: 'QQ==', mimeType: 'text/plain' },
      { filename: 'a', content: 5, mimeType: 'text/plain' },
    ]) {
      r = await post(`${base}/upload`, body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
    assert.equal(cli.rpc.take('uploadFile').length, 0);

    // 50 MiB decoded: floor(len*3/4) - padding > 52428800 → 413 JSON (body within the 68 MiB route limit).
    const over = 'A'.repeat(69905068); // floor(69905068*3/4) = 52428801
    r = await post(`${base}/upload`, { filename: 'big.bin', content: over, mimeType: 'application/octet-stream' });
    assert.equal(r.status, 413, r.text.slice(0, 200));
    assert.deepEqual(r.body, { success: false, error: 'File too large (max 50MB)' });
    assert.equal(cli.rpc.take('uploadFile').length, 0);

    // upload/delete
    ({ r, calls } = await through(cli, 'deleteUpload', { success: true }, () =>
      post(`${base}/upload/delete`, { path: '/home/u/.hapi/uploads/shot.png' }),
    ));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: true });
    assert.deepEqual(calls[0].params, { sessionId: cli.sid, path: '/home/u/.hapi/uploads/shot.png' });
    for (const body of [{}, { path: '' }, { path: 3 }]) {
      r = await post(`${base}/upload/delete`, body);
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
  } finally {
    cli.close();
  }
});

test('upload body limit: 68 MiB on the upload route only; other routes keep a small limit', async () => {
  const cli = await activeSession(h);
  try {
    const base = `/api/sessions/${cli.sid}`;
    // Announcing more than 68 MiB (71 303 168 bytes) → 413 with an empty body, before any body
    // byte is sent; exactly 68 MiB is accepted (the hub waits for the body).
    let head = await rawHead(`${base}/upload`, 71_303_169);
    assert.match(head, /^HTTP\/1\.1 413 /, head);
    assert.match(head, /\r\nconnection: close\r\n/i, head);
    // Upstream sends no body; hapid adds {"error":…} (src/http/mod.rs documents it).
    assert.match(head, /\r\n\r\n(\{"error":"[^"]+"\})?$/, head);
    head = await rawHead(`${base}/upload`, 71_303_168);
    assert.equal(head, '', `no answer before the body arrives: ${head}`);
    head = await rawHead(`${base}/messages`, 71_303_168);
    assert.match(head, /^HTTP\/1\.1 413 /, head);
    let r;
    // 2 MB on another route → 413 (the small general limit), while upload takes it.
    const twoMb = 'A'.repeat(2_000_000);
    r = await post(`${base}/messages`, { text: twoMb });
    assert.equal(r.status, 413, `messages with a 2 MB body: ${r.status}`);
    await cli.rpc.handle(cli.sid, 'uploadFile', () => ({ success: true, path: '/p' }));
    r = await post(`${base}/upload`, { filename: 'x', content: twoMb, mimeType: 'a/b' });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.equal(cli.rpc.take('uploadFile')[0].params.content.length, twoMb.length);
  } finally {
    cli.close();
  }
});

test('upload just under 50 MiB decoded reaches the CLI intact', { timeout: 120000 }, async () => {
  const cli = await activeSession(h);
  try {
    // 69 905 064 base64 chars = 52 428 798 bytes decoded (≤ 50 MiB): must be forwarded.
    const content = 'QUJD'.repeat(69905064 / 4);
    let got = null;
    await cli.rpc.handle(cli.sid, 'uploadFile', (p) => {
      got = p.content.length;
      return { success: true, path: '/uploads/big.bin' };
    });
    const disconnected = new Promise((ok) => cli.socket.once('disconnect', (why) => ok(why)));
    const r = await post(`/api/sessions/${cli.sid}/upload`, { filename: 'big.bin', content, mimeType: 'application/octet-stream' });
    const why = await Promise.race([disconnected, new Promise((ok) => setTimeout(() => ok(null), 200))]);
    assert.equal(why, null, `the CLI socket was dropped (${why}) while receiving the upload RPC`);
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.deepEqual(r.body, { success: true, path: '/uploads/big.bin' });
    assert.equal(got, content.length);
  } finally {
    cli.close();
  }
});

test('abort, switch: params and {"ok":true}', async () => {
  const cli = await activeSession(h);
  try {
    let { r, calls } = await through(cli, 'abort', null, () => post(`/api/sessions/${cli.sid}/abort`, {}));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
    assert.deepEqual(calls[0].params, { reason: 'User aborted via Telegram Bot' });
    ({ r, calls } = await through(cli, 'switch', null, () => post(`/api/sessions/${cli.sid}/switch`, { to: 'local' })));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
    assert.deepEqual(calls[0].params, { to: 'remote' });
  } finally {
    cli.close();
  }
});

test('archive: killSession {} → {"ok":true}, SSE {"active":false,"thinking":false,…}, session inactive', async () => {
  const cli = await activeSession(h);
  const sse = await openSse(h, { token: jwt, sessionId: cli.sid });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    const { r, calls } = await through(cli, 'killSession', { success: true, message: 'Killing hapi CLI process' }, () =>
      post(`/api/sessions/${cli.sid}/archive`, {}),
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    assert.deepEqual(calls[0].params, {});
    const ev = await sse.next((e) => e.type === 'session-updated' && e.data?.active === false);
    // v0.30.7 clears the turn and the background-task count with it.
    assert.deepEqual(ev.data, { active: false, thinking: false, activeTurnStartedAt: null, backgroundTaskCount: 0 });
    assert.equal(ev.sessionId, cli.sid);
    const g = await get(`/api/sessions/${cli.sid}`);
    assert.equal(g.body.session.active, false);
    assert.equal(g.body.session.thinking, false);
    // Archived = inactive: a second archive is refused.
    const again = await post(`/api/sessions/${cli.sid}/archive`, {});
    assert.equal(again.status, 409);
    assert.deepEqual(again.body, { error: 'Session is inactive' });
  } finally {
    sse.close();
    cli.close();
  }
});

test('archive whose RPC fails: the session is archived all the same (v0.30.7)', async () => {
  const cli = await activeSession(h);
  try {
    const r = await post(`/api/sessions/${cli.sid}/archive`, {});
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    assert.equal((await get(`/api/sessions/${cli.sid}`)).body.session.active, false);
  } finally {
    cli.close();
  }
});

test('permission-mode / model / collaboration-mode: set-session-config with `applied` → session-updated full', async () => {
  const cli = await activeSession(h);
  const codex = await activeSession(h, { metadata: defaultMetadata({ flavor: 'codex' }) });
  const sse = await openSse(h, { token: jwt, all: 'true' });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    let reply = null;
    await cli.rpc.handle(cli.sid, 'set-session-config', () => reply);
    await codex.rpc.handle(codex.sid, 'set-session-config', () => reply);
    const base = `/api/sessions/${cli.sid}`;

    reply = { applied: { permissionMode: 'acceptEdits' } };
    let from = sse.events.length;
    let r = await post(`${base}/permission-mode`, { mode: 'acceptEdits' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    assert.deepEqual(cli.rpc.take('set-session-config')[0].params, { permissionMode: 'acceptEdits' });
    let ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.permissionMode === 'acceptEdits', 10000, from);
    assert.equal(ev.data.id, cli.sid, 'full session');
    assert.equal(typeof ev.data.updatedAt, 'number');
    assert.equal((await get(base)).body.session.permissionMode, 'acceptEdits');

    // model: trimmed string; applied.model is stored (GET, list summary)
    reply = { applied: { model: 'opus' } };
    from = sse.events.length;
    r = await post(`${base}/model`, { model: '  opus ' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('set-session-config')[0].params, { model: 'opus' });
    ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.model === 'opus', 10000, from);
    assert.equal(ev.data.id, cli.sid);
    assert.equal((await get(base)).body.session.model, 'opus');
    const list = (await get('/api/sessions')).body.sessions;
    assert.equal(list.find((x) => x.id === cli.sid).model, 'opus');
    reply = { applied: { model: null } };
    r = await post(`${base}/model`, { model: null });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('set-session-config')[0].params, { model: null });
    assert.equal((await get(base)).body.session.model, null);
    for (const body of [{}, { model: '   ' }, { model: 5 }]) {
      r = await post(`${base}/model`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
    // Model changes for the other flavors (v0.30.7: all but dsh): tests/parity/session_config.test.mjs.

    // permission-mode validation
    r = await post(`${base}/permission-mode`, { mode: 'yolo' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid permission mode for session flavor' });
    r = await post(`${base}/permission-mode`, { mode: 'turbo' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid body' });
    assert.equal(cli.rpc.take('set-session-config').length, 0);

    // collaboration-mode (codex only)
    reply = { applied: { collaborationMode: 'plan' } };
    from = sse.events.length;
    r = await post(`/api/sessions/${codex.sid}/collaboration-mode`, { mode: 'plan' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(codex.rpc.take('set-session-config')[0].params, { collaborationMode: 'plan' });
    ev = await sse.next((e) => e.type === 'session-updated' && e.sessionId === codex.sid && e.data?.collaborationMode === 'plan', 10000, from);
    assert.equal(ev.data.id, codex.sid);
    r = await post(`/api/sessions/${codex.sid}/collaboration-mode`, { mode: 'fast' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid body' });
    r = await post(`${base}/collaboration-mode`, { mode: 'plan' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Collaboration mode is only supported for Codex sessions' });
    reply = { applied: { permissionMode: 'yolo' } };
    r = await post(`/api/sessions/${codex.sid}/permission-mode`, { mode: 'yolo' });
    assert.equal(r.status, 200, r.text);

    // Reply without `applied` → 409; not an object → 409.
    reply = { ok: true };
    r = await post(`${base}/permission-mode`, { mode: 'plan' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, { error: 'Missing applied session config, got: {"ok":true}' });
    reply = 'done';
    r = await post(`${base}/permission-mode`, { mode: 'plan' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, { error: 'Invalid response from session config RPC' });
    assert.equal((await get(base)).body.session.permissionMode, 'acceptEdits', 'unchanged after a refused config');
  } finally {
    sse.close();
    cli.close();
    codex.close();
  }
});

test('collaboration-mode on a Codex session controlled by the user → 409', async () => {
  const codex = await activeSession(h, { metadata: defaultMetadata({ flavor: 'codex' }), agentState: { controlledByUser: true } });
  try {
    const r = await post(`/api/sessions/${codex.sid}/collaboration-mode`, { mode: 'plan' });
    assert.equal(r.status, 409);
    assert.deepEqual(r.body, { error: 'Collaboration mode can only be changed for remote Codex sessions' });
  } finally {
    codex.close();
  }
});

test('spawn (machine RPC spawn-happy-session): params and every reply mapping', async () => {
  const runner = await onlineMachine(h);
  try {
    const url = `/api/machines/${runner.id}/spawn`;
    let reply = { type: 'success', sessionId: 'new-sid' };
    await runner.rpc.handle(runner.id, 'spawn-happy-session', () => reply);
    let r = await post(url, { directory: '/home/u/proj' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { type: 'success', sessionId: 'new-sid' });
    let calls = runner.rpc.take('spawn-happy-session');
    assert.equal(calls[0].method, `${runner.id}:spawn-happy-session`);
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory: '/home/u/proj', agent: 'claude', forkSession: false });

    const full = {
      directory: '/home/u/proj',
      agent: 'codex',
      model: 'gpt-5',
      modelReasoningEffort: 'high',
      yolo: true,
      sessionType: 'worktree',
      worktreeName: 'fix-x',
      unknown: 'dropped',
    };
    r = await post(url, full);
    calls = runner.rpc.take('spawn-happy-session');
    const { unknown: _drop, ...forwarded } = full;
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', ...forwarded, forkSession: false });

    for (const [cli, web] of [
      [{ type: 'error', errorMessage: 'no such dir' }, { type: 'error', message: 'no such dir' }],
      [{ type: 'requestToApproveDirectoryCreation', directory: '/d' }, { type: 'error', message: 'Directory creation requires approval: /d' }],
      [{ error: 'boom' }, { type: 'error', message: 'boom' }],
      [{ type: 'weird', message: 'msg' }, { type: 'error', message: 'msg' }],
      [{ type: 'success' }, { type: 'error', message: 'Unexpected spawn result: {"type":"success"}' }],
      [5, { type: 'error', message: 'Unexpected spawn result: 5' }],
    ]) {
      reply = cli;
      r = await post(url, { directory: '/x' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, web, JSON.stringify(cli));
    }
    runner.rpc.take('spawn-happy-session');
    for (const body of [{}, { directory: '' }, { directory: '/x', agent: 'gpt' }, { directory: '/x', yolo: 'yes' }, { directory: '/x', sessionType: 'fancy' }, { directory: '/x', model: 1 }]) {
      r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
    assert.equal(runner.rpc.take('spawn-happy-session').length, 0);
    r = await post('/api/machines/no-such-machine/spawn', { directory: '/x' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Machine not found' });
    // Guards before the body.
    r = await post('/api/machines/no-such-machine/spawn', {});
    assert.equal(r.status, 404);
  } finally {
    runner.close();
  }
});

test('paths/exists: trimmed unique paths, only `true` is true, empty → no RPC, invalid reply → 500', async () => {
  const runner = await onlineMachine(h);
  try {
    const url = `/api/machines/${runner.id}/paths/exists`;
    let reply = { exists: { '/home/u/proj': true, '/nope': false } };
    await runner.rpc.handle(runner.id, 'path-exists', () => reply);
    let r = await post(url, { paths: ['/home/u/proj', '/nope', ' /home/u/proj '] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { exists: { '/home/u/proj': true, '/nope': false } });
    assert.deepEqual(runner.rpc.take('path-exists')[0].params, { paths: ['/home/u/proj', '/nope'] });

    reply = { exists: { '/a': 'yes', '/b': 1, '/c': true } };
    r = await post(url, { paths: ['/a', '/b', '/c'] });
    assert.deepEqual(r.body, { exists: { '/a': false, '/b': false, '/c': true } });

    r = await post(url, { paths: [] });
    assert.deepEqual(r.body, { exists: {} });
    r = await post(url, { paths: ['  '] });
    assert.deepEqual(r.body, { exists: {} });
    runner.rpc.take('path-exists');
    for (const body of [{}, { paths: 'x' }, { paths: [''] }, { paths: [1] }, { paths: Array(1001).fill('/a') }]) {
      r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
    assert.equal(runner.rpc.take('path-exists').length, 0, 'no RPC for empty or invalid input');
    r = await post(url, { paths: Array(1000).fill('/a') });
    assert.equal(r.status, 200);

    for (const bad of [{ ok: true }, { exists: [] }, 'text']) {
      reply = bad;
      r = await post(url, { paths: ['/a'] });
      assert.equal(r.status, 500, JSON.stringify(bad));
      assert.deepEqual(r.body, { error: 'Unexpected path-exists result' });
    }
    r = await post('/api/machines/no-such-machine/paths/exists', { paths: ['/a'] });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Machine not found' });
  } finally {
    runner.close();
  }
});

test('no handler registered: the failure shape of every group (rest.md §2 table)', async () => {
  // Active session whose CLI registered nothing; an offline machine (spawn does not need it online).
  const cli = await activeSession(h);
  const m = await createMachine(h);
  try {
    const sid = cli.sid;
    const miss = (method) => `RPC handler not registered: ${sid}:${method}`;
    for (const [p, method] of [
      ['abort', 'abort'],
      ['switch', 'switch'],
      // archive: v0.30.7 archives even when killSession fails (the test above).
    ]) {
      const r = await post(`/api/sessions/${sid}/${p}`, {});
      assert.ok(isRpc500(r, miss(method)), `${p}: ${r.status} ${r.text}`);
    }
    for (const [p, body] of [
      ['permission-mode', { mode: 'plan' }],
      ['model', { model: 'opus' }],
    ]) {
      const r = await post(`/api/sessions/${sid}/${p}`, body);
      assert.equal(r.status, 409, p);
      assert.deepEqual(r.body, { error: miss('set-session-config') }, p);
    }
    const codex = await activeSession(h, { metadata: defaultMetadata({ flavor: 'codex' }) });
    try {
      const r = await post(`/api/sessions/${codex.sid}/collaboration-mode`, { mode: 'plan' });
      assert.equal(r.status, 409);
      assert.deepEqual(r.body, { error: `RPC handler not registered: ${codex.sid}:set-session-config` });
    } finally {
      codex.close();
    }
    let r = await post(`/api/sessions/${sid}/upload`, { filename: 'a', content: 'QQ==', mimeType: 'text/plain' });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { success: false, error: miss('uploadFile') });
    r = await post(`/api/sessions/${sid}/upload/delete`, { path: '/a' });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { success: false, error: miss('deleteUpload') });
    for (const [p, method] of [
      ['slash-commands', 'listSlashCommands'],
      ['skills', 'listSkills'],
      ['git-status', 'git-status'],
      ['git-diff-numstat', 'git-diff-numstat'],
      ['git-diff-file?path=a', 'git-diff-file'],
      ['file?path=a', 'readFile'],
      ['files', 'ripgrep'],
      ['directory', 'listDirectory'],
    ]) {
      r = await get(`/api/sessions/${sid}/${p}`);
      assert.equal(r.status, 200, p);
      assert.deepEqual(r.body, { success: false, error: miss(method) }, p);
    }
    r = await post(`/api/machines/${m.id}/spawn`, { directory: '/x' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { type: 'error', message: `RPC handler not registered: ${m.id}:spawn-happy-session` });
    r = await post(`/api/machines/${m.id}/paths/exists`, { paths: ['/a'] });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { error: `RPC handler not registered: ${m.id}:path-exists` });
    // resume: an inactive session on an online machine that has no spawn handler.
    const runner = await onlineMachine(h);
    try {
      const old = await createSession(h, { metadata: defaultMetadata({ machineId: runner.id, claudeSessionId: 'c-1' }) });
      r = await post(`/api/sessions/${old.id}/resume`);
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, { error: `RPC handler not registered: ${runner.id}:spawn-happy-session`, code: 'resume_failed' });
    } finally {
      runner.close();
    }
  } finally {
    cli.close();
  }
});

test('inactive session: every "requires active" route → 409 and the CLI hears nothing', async () => {
  const s = await createSession(h);
  for (const [p, body] of [
    ['abort', {}],
    ['switch', {}],
    ['archive', {}],
    ['model', { model: 'opus' }],
    ['collaboration-mode', { mode: 'plan' }],
    ['messages', { text: 'hi' }],
    ['upload', { filename: 'a', content: 'QQ==', mimeType: 'text/plain' }],
    ['upload/delete', { path: '/a' }],
  ]) {
    const r = await post(`/api/sessions/${s.id}/${p}`, body);
    assert.equal(r.status, 409, p);
    // v0.30.7 adds a code on the message send (tests/pipeline/CONTRACT.md §0)
    // and on the session-config routes (tests/parity/session_config.test.mjs).
    const coded = ['messages', 'model', 'collaboration-mode'].includes(p);
    const want = coded ? { error: 'Session is inactive', code: 'session_inactive' } : { error: 'Session is inactive' };
    assert.deepEqual(r.body, want, p);
  }
  // v0.30.7: permission-mode on an inactive session is kept for its next start, no RPC.
  const r = await post(`/api/sessions/${s.id}/permission-mode`, { mode: 'plan' });
  assert.equal(r.status, 200, r.text);
  assert.equal((await get(`/api/sessions/${s.id}`)).body.session.metadata.preferredPermissionMode, 'plan');
});

test('the RPC socket disconnecting mid-call fails the call at once with the group shape', async () => {
  const cli = await activeSession(h);
  try {
    await cli.rpc.handle(cli.sid, 'git-status', () => {
      setTimeout(() => cli.socket.close(), 20);
      return undefined;
    });
    const r = await get(`/api/sessions/${cli.sid}/git-status`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: false, error: `RPC socket disconnected: ${cli.sid}:git-status` });
  } finally {
    cli.close();
  }
});
