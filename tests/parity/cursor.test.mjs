// GET /api/sessions/:id/cursor-chat-store (parity-0.30.7.md §2 row 9; §5 row 12): the web's
// check before it reopens a Cursor session. The stand-in runner answers
// cursor-chat-store-status; the hub validates the answer and keeps {onDisk, store}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, cliMachine, defaultMetadata, answer, NOT_FOUND, OTHER_NS } from './lib.mjs';

const UNAVAILABLE = { status: 409, body: { error: 'Cursor resume metadata is unavailable', code: 'resume_unavailable' } };
const issuesOf = (issues) => JSON.stringify(issues, null, 2);

test('cursor-chat-store asks the runner and keeps {onDisk, store}; bad answers are 502 probe_failed', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const other = await web(h, 'another-ns');
    const m = await cliMachine(h);
    let ans;
    await m.handleRpc('cursor-chat-store-status', () => ans);
    const c = await cliSession(h, { metadata: defaultMetadata({ flavor: 'cursor', cursorSessionId: 'cur-1', machineId: m.id }) });
    const get = (sid = c.sid, who = w) => who.req('GET', `/api/sessions/${sid}/cursor-chat-store`, undefined, { timeoutMs: 40000 }).then(answer);

    ans = { onDisk: true, store: 'acp' };
    assert.deepEqual(await get(), { status: 200, body: { onDisk: true, store: 'acp' } });
    assert.deepEqual(m.rpcCalls.map((x) => x.params), [{ workspacePath: '/tmp/parity-proj', cursorSessionId: 'cur-1' }]);
    ans = { onDisk: false, store: 'legacy', path: '/x', extra: 5 };
    assert.deepEqual(await get(), { status: 200, body: { onDisk: false, store: 'legacy' } });

    ans = 'garbage';
    assert.deepEqual(await get(), {
      status: 502,
      body: { error: issuesOf([{ expected: 'object', code: 'invalid_type', path: [], message: 'Invalid input: expected object, received string' }]), code: 'probe_failed' },
    });
    ans = { error: 'failed here' };
    assert.deepEqual(await get(), {
      status: 502,
      body: {
        error: issuesOf([
          { expected: 'boolean', code: 'invalid_type', path: ['onDisk'], message: 'Invalid input: expected boolean, received undefined' },
          { code: 'invalid_value', values: ['legacy', 'acp'], path: ['store'], message: 'Invalid option: expected one of "legacy"|"acp"' },
        ]),
        code: 'probe_failed',
      },
    });
    ans = { onDisk: 'x', store: 'acp' };
    assert.deepEqual(await get(), {
      status: 502,
      body: { error: issuesOf([{ expected: 'boolean', code: 'invalid_type', path: ['onDisk'], message: 'Invalid input: expected boolean, received string' }]), code: 'probe_failed' },
    });

    // Inactive makes no difference.
    c.emit('session-end', { time: Date.now() });
    await c.ping();
    ans = { onDisk: true, store: 'acp' };
    assert.deepEqual(await get(), { status: 200, body: { onDisk: true, store: 'acp' } });

    assert.deepEqual(await get('nope'), NOT_FOUND);
    assert.deepEqual(await get(c.sid, other), OTHER_NS);
    const noId = await cliSession(h, { metadata: defaultMetadata({ flavor: 'cursor', machineId: m.id }) });
    assert.deepEqual(await get(noId.sid), UNAVAILABLE);
    const notCursor = await cliSession(h, { metadata: defaultMetadata({ flavor: 'codex', cursorSessionId: 'x', machineId: m.id }) });
    assert.deepEqual(await get(notCursor.sid), UNAVAILABLE);
    const noPath = await cliSession(h, { metadata: { host: 'parity-host', flavor: 'cursor', cursorSessionId: 'c3', machineId: m.id } });
    assert.deepEqual(await get(noPath.sid), UNAVAILABLE);
    const away = await cliSession(h, { metadata: defaultMetadata({ flavor: 'cursor', cursorSessionId: 'c4', machineId: 'nope', host: 'elsewhere' }) });
    assert.deepEqual(await get(away.sid), { status: 503, body: { error: 'No machine online', code: 'no_machine_online' } });
  } finally {
    await h.stop();
  }
});

test('cursor-chat-store: no handler on the runner, or no answer within 30 s → 502 probe_failed', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    const c = await cliSession(h, { metadata: defaultMetadata({ flavor: 'cursor', cursorSessionId: 'cur-1', machineId: m.id }) });
    const get = () => w.req('GET', `/api/sessions/${c.sid}/cursor-chat-store`, undefined, { timeoutMs: 45000 }).then(answer);
    assert.deepEqual(await get(), { status: 502, body: { error: `RPC handler not registered: ${m.id}:cursor-chat-store-status`, code: 'probe_failed' } });
    await m.handleRpc('cursor-chat-store-status', () => undefined);
    const t0 = Date.now();
    assert.deepEqual(await get(), { status: 502, body: { error: 'operation has timed out', code: 'probe_failed' } });
    const took = Date.now() - t0;
    assert.ok(took >= 29000 && took < 35000, `took ${took} ms`);
  } finally {
    await h.stop();
  }
});
