// The CLI's own resume routes (parity-0.30.7.md §2 rows 119–121; §5 row 10): what `hapi resume`
// asks the hub. GET /cli/sessions/resumable, GET /cli/sessions/:id/resume-target,
// POST /cli/sessions/:id/handoff-local (held until the session goes inactive, 15 s at most).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, cliMachine, request, sleep, defaultMetadata, emitAck, answer, cliToken, IS_OFFICIAL } from './lib.mjs';

const cli = (h, method, path, { ns = 'default', body, timeoutMs = 30000 } = {}) =>
  request(h, method, path, { token: cliToken(ns), body, timeoutMs });

const NOT_STARTED = 'Resume session ID unavailable. Start a new session in this directory, or retry after the agent has initialized.';

test('resumable lists sessions whose agent started, newest first, filtered by machineId; resume-target names one', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    const a = await cliSession(h, { metadata: defaultMetadata({ claudeSessionId: 'cl-1', machineId: m.id, name: 'first one' }) });
    a.alive({ permissionMode: 'acceptEdits', model: 'opus' });
    await a.ping();
    const sent = await w.req('POST', `/api/sessions/${a.sid}/messages`, { text: 'hello first', localId: 'l-1' });
    assert.equal(sent.status, 200);
    const never = await cliSession(h, { metadata: defaultMetadata({ machineId: m.id }) });
    never.emit('session-end', { time: Date.now() });
    await never.ping();
    await sleep(20);
    const b = await cliSession(h, { metadata: defaultMetadata({ flavor: 'codex', codexSessionId: 'cx-1', machineId: m.id, summary: { text: 'the summary', updatedAt: 5 } }) });
    b.emit('session-end', { time: Date.now() });
    await b.ping();
    await sleep(100);
    const bs = (await w.req('GET', `/api/sessions/${b.sid}`)).body.session;
    const as = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    const common = { directory: '/tmp/parity-proj', machineId: m.id, host: 'parity-host', controlledByUser: false, effort: null, modelReasoningEffort: null };
    const bEntry = { sessionId: b.sid, flavor: 'codex', ...common, active: false, thinking: false, agentSessionId: 'cx-1', model: null };
    const aEntry = { sessionId: a.sid, flavor: 'claude', ...common, active: true, thinking: as.thinking, agentSessionId: 'cl-1', model: 'opus', permissionMode: 'acceptEdits' };
    const want = {
      sessions: [
        { ...bEntry, updatedAt: bs.updatedAt, summary: 'the summary' },
        { ...aEntry, updatedAt: as.updatedAt, name: 'first one', firstUserMessage: 'hello first' },
      ],
    };
    const r = await cli(h, 'GET', '/cli/sessions/resumable');
    assert.equal(r.status, 200);
    // Key order is not part of the contract; compare as objects.
    assert.deepEqual(r.body, want);
    assert.deepEqual((await cli(h, 'GET', `/cli/sessions/resumable?machineId=${m.id}`)).body, want);
    assert.deepEqual((await cli(h, 'GET', '/cli/sessions/resumable?machineId=')).body, want);
    assert.deepEqual(answer(await cli(h, 'GET', '/cli/sessions/resumable?machineId=other')), { status: 200, body: { sessions: [] } });
    assert.deepEqual(answer(await cli(h, 'GET', '/cli/sessions/resumable', { ns: 'elsewhere' })), { status: 200, body: { sessions: [] } });

    assert.deepEqual(answer(await cli(h, 'GET', `/cli/sessions/${a.sid}/resume-target`)), { status: 200, body: { target: aEntry } });
    assert.deepEqual(answer(await cli(h, 'GET', `/cli/sessions/${b.sid}/resume-target`)), { status: 200, body: { target: bEntry } });
    assert.deepEqual(answer(await cli(h, 'GET', `/cli/sessions/${never.sid}/resume-target`)), {
      status: 409,
      body: { error: NOT_STARTED, code: 'resume_unavailable' },
    });
    assert.deepEqual(answer(await cli(h, 'GET', '/cli/sessions/nope/resume-target')), {
      status: 404,
      body: { error: 'Session not found', code: 'session_not_found' },
    });
    // Another namespace's session: the official hub says 403 access_denied; hapid answers it
    // like a missing id (namespaces isolate users, DESIGN.md).
    const other = await cli(h, 'GET', `/cli/sessions/${a.sid}/resume-target`, { ns: 'elsewhere' });
    assert.deepEqual(answer(other), IS_OFFICIAL
      ? { status: 403, body: { error: 'Session access denied', code: 'access_denied' } }
      : { status: 404, body: { error: 'Session not found', code: 'session_not_found' } });
    assert.equal((await cli(h, 'GET', '/cli/sessions/resumable', { ns: undefined })).status, 200);
    const bad = await request(h, 'GET', '/cli/sessions/resumable', { token: 'wrong' });
    assert.deepEqual(answer(bad), { status: 401, body: { error: 'Invalid token' } });
  } finally {
    await h.stop();
  }
});

test('handoff-local calls the handoff-local RPC and answers when the session goes inactive', async () => {
  const h = await startHub();
  try {
    const c = await cliSession(h, { metadata: defaultMetadata({ claudeSessionId: 'cl-1' }) });
    // No handler registered: the RPC fails at once.
    assert.deepEqual(answer(await cli(h, 'POST', `/cli/sessions/${c.sid}/handoff-local`)), {
      status: 500,
      body: { error: `RPC handler not registered: ${c.sid}:handoff-local`, code: 'handoff_failed' },
    });
    await c.handleRpc('handoff-local', () => ({ ok: true }));
    const t0 = Date.now();
    const pending = cli(h, 'POST', `/cli/sessions/${c.sid}/handoff-local`);
    await sleep(1500);
    assert.deepEqual(c.rpcCalls.filter((x) => x.name === 'handoff-local').map((x) => x.params), [{}]);
    c.emit('session-end', { time: Date.now(), reason: 'handoff' });
    const r = await pending;
    assert.deepEqual(answer(r), { status: 200, body: { ok: true } });
    assert.ok(Date.now() - t0 >= 1500);
    assert.equal(r.headers.get('x-hapi-protocol-version'), '1');
    // Inactive: at once.
    assert.deepEqual(answer(await cli(h, 'POST', `/cli/sessions/${c.sid}/handoff-local`)), { status: 200, body: { ok: true } });
    assert.deepEqual(answer(await cli(h, 'POST', '/cli/sessions/nope/handoff-local')), {
      status: 404,
      body: { error: 'Session not found', code: 'session_not_found' },
    });
  } finally {
    await h.stop();
  }
});

test('handoff-local of a session that stays active fails after 15 s, whatever the RPC answered', async () => {
  const h = await startHub();
  try {
    const c = await cliSession(h, { metadata: defaultMetadata({ claudeSessionId: 'cl-1' }) });
    await c.handleRpc('handoff-local', () => ({ ok: false, error: 'refused' }));
    const keepAlive = setInterval(() => c.alive(), 2000);
    const t0 = Date.now();
    const r = await cli(h, 'POST', `/cli/sessions/${c.sid}/handoff-local`, { timeoutMs: 40000 });
    clearInterval(keepAlive);
    const took = Date.now() - t0;
    assert.deepEqual(answer(r), { status: 500, body: { error: 'Timed out waiting for remote session to hand off', code: 'handoff_failed' } });
    assert.ok(took >= 14500 && took < 20000, `took ${took} ms`);
  } finally {
    await h.stop();
  }
});
