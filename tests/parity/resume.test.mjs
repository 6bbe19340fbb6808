// POST /api/sessions/:id/resume and …/reopen (parity-0.30.7.md §2 rows 10, 11; §5 row 10).
// The stand-in runner (cliMachine) answers spawn-happy-session and records what the hub sends;
// the "respawned" session process reconnects with the SAME session id, as the official CLI
// does when the spawn carries existingSessionId.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, cliMachine, connectCli, sleep, defaultMetadata, emitAck, answer, OTHER_NS, NOT_FOUND, IS_OFFICIAL } from './lib.mjs';

/** A session of `m` that ran and ended; `alive` extras set its live config first. */
async function endedSession(h, m, meta = {}, alive = {}) {
  const c = await cliSession(h, { metadata: defaultMetadata({ machineId: m.id, ...meta }) });
  c.alive(alive);
  await c.ping();
  c.emit('session-end', { time: Date.now() });
  await c.ping();
  c.close();
  await sleep(100);
  return c;
}

/** The runner brings session `sid` back: a session-scoped socket with session-alive. */
async function comeBack(h, sid) {
  const s = await connectCli(h, { clientType: 'session-scoped', sessionId: sid });
  s.emit('session-alive', { sid, time: Date.now(), thinking: false });
  return s;
}

/** A runner whose spawn brings back the session it was asked to resume. */
async function respawningMachine(h, extra = {}) {
  const m = await cliMachine(h, extra);
  const back = [];
  await m.handleRpc('spawn-happy-session', async (p) => {
    const sid = p.existingSessionId;
    setTimeout(async () => back.push(await comeBack(h, sid)), 200);
    return { type: 'success', sessionId: sid };
  });
  m.closeAll = () => back.forEach((s) => s.close());
  return m;
}

const spawns = (m) => m.rpcCalls.filter((c) => c.name === 'spawn-happy-session').map((c) => c.params);

test('resume keeps the session id and the permission mode, and resumes the agent session', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await respawningMachine(h);
    const c = await endedSession(h, m, { claudeSessionId: 'claude-agent-1' }, { permissionMode: 'acceptEdits', model: 'opus' });
    const r = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.deepEqual(answer(r), { status: 200, body: { type: 'success', sessionId: c.sid } });
    assert.deepEqual(spawns(m), [
      {
        type: 'spawn-in-directory',
        directory: '/tmp/parity-proj',
        agent: 'claude',
        model: 'opus',
        resumeSessionId: 'claude-agent-1',
        permissionMode: 'acceptEdits',
        existingSessionId: c.sid,
        sessionId: c.sid,
        forkSession: false,
      },
    ]);
    // Still one session, the same one, now active.
    const list = (await w.req('GET', '/api/sessions')).body.sessions;
    assert.deepEqual(list.map((s) => [s.id, s.active]), [[c.sid, true]]);
    // Resume of an active session answers at once, without a spawn.
    const again = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.deepEqual(answer(again), { status: 200, body: { type: 'success', sessionId: c.sid } });
    assert.equal(spawns(m).length, 1);
    m.closeAll();
  } finally {
    await h.stop();
  }
});

test('a never-started session (no agent session id) is spawned fresh under its own id', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await respawningMachine(h);
    const c = await endedSession(h, m, { flavor: 'codex' });
    const r = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.deepEqual(answer(r), { status: 200, body: { type: 'success', sessionId: c.sid } });
    assert.deepEqual(spawns(m), [
      { type: 'spawn-in-directory', directory: '/tmp/parity-proj', agent: 'codex', existingSessionId: c.sid, sessionId: c.sid, forkSession: false },
    ]);
    m.closeAll();
  } finally {
    await h.stop();
  }
});

test('every flavor resumes as itself with metadata.<flavor>SessionId; unknown flavors as claude', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    await m.handleRpc('spawn-happy-session', () => ({ type: 'error', errorMessage: 'stand-in runner refuses' }));
    for (const flavor of ['claude', 'codex', 'gemini', 'opencode', 'cursor', 'copilot', 'grok', 'kimi', 'agy', 'something-else']) {
      const key = flavor === 'something-else' ? 'claudeSessionId' : `${flavor}SessionId`;
      const c = await endedSession(h, m, { flavor, [key]: `${flavor}-agent` });
      m.rpcCalls.length = 0;
      const r = await w.req('POST', `/api/sessions/${c.sid}/resume`);
      assert.deepEqual(answer(r), { status: 500, body: { error: 'stand-in runner refuses', code: 'resume_failed' } }, flavor);
      const agent = flavor === 'something-else' ? 'claude' : flavor;
      assert.deepEqual(spawns(m), [
        { type: 'spawn-in-directory', directory: '/tmp/parity-proj', agent, resumeSessionId: `${flavor}-agent`, existingSessionId: c.sid, sessionId: c.sid, forkSession: false },
      ], flavor);
    }
  } finally {
    await h.stop();
  }
});

test('a Pi session resumes only on a runner with runnerState.capabilities.piExistingSessionResume', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    await m.handleRpc('spawn-happy-session', () => ({ type: 'error', errorMessage: 'stand-in runner refuses' }));
    const c = await endedSession(h, m, { flavor: 'pi', piSessionId: 'pi-agent' });
    const r = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.deepEqual(answer(r), { status: 500, body: { error: 'Pi resume requires an upgraded runner', code: 'resume_failed' } });
    assert.equal(spawns(m).length, 0);
    const ack = await emitAck(m.socket, 'machine-update-state', {
      machineId: m.id,
      runnerState: { status: 'running', capabilities: { piExistingSessionResume: true } },
      expectedVersion: 1,
    });
    assert.equal(ack.result, 'success');
    const r2 = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.deepEqual(answer(r2), { status: 500, body: { error: 'stand-in runner refuses', code: 'resume_failed' } });
    assert.deepEqual(spawns(m), [
      { type: 'spawn-in-directory', directory: '/tmp/parity-proj', agent: 'pi', resumeSessionId: 'pi-agent', existingSessionId: c.sid, sessionId: c.sid, forkSession: false },
    ]);
  } finally {
    await h.stop();
  }
});

test('reopen answers {ok, sessionId, resumed}: false for an active session, true after the spawn', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await respawningMachine(h);
    const live = await cliSession(h, { metadata: defaultMetadata({ machineId: m.id }) });
    const r0 = await w.req('POST', `/api/sessions/${live.sid}/reopen`);
    assert.deepEqual(answer(r0), { status: 200, body: { ok: true, sessionId: live.sid, resumed: false } });
    const c = await endedSession(h, m, { claudeSessionId: 'cl' });
    const r = await w.req('POST', `/api/sessions/${c.sid}/reopen`);
    assert.deepEqual(answer(r), { status: 200, body: { ok: true, sessionId: c.sid, resumed: true } });
    assert.equal(spawns(m).length, 1);
    m.closeAll();
  } finally {
    await h.stop();
  }
});

test('resume and reopen errors: unknown, other namespace, no path, no machine, spawn failures', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const other = await web(h, 'other-ns');
    const m = await cliMachine(h);
    let spawnAnswer = () => 'garbage';
    await m.handleRpc('spawn-happy-session', () => spawnAnswer());
    const c = await endedSession(h, m, { claudeSessionId: 'cl' });
    for (const op of ['resume', 'reopen']) {
      assert.deepEqual(answer(await w.req('POST', `/api/sessions/nope/${op}`)), NOT_FOUND, op);
      assert.deepEqual(answer(await other.req('POST', `/api/sessions/${c.sid}/${op}`)), OTHER_NS, op);
      assert.deepEqual(answer(await w.req('POST', `/api/sessions/${c.sid}/${op}`)), {
        status: 500,
        body: { error: 'Unexpected spawn result: garbage', code: 'resume_failed' },
      }, op);
    }
    spawnAnswer = () => ({ type: 'error', errorMessage: 'boom' });
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${c.sid}/resume`)), { status: 500, body: { error: 'boom', code: 'resume_failed' } });
    const noPath = await cliSession(h, { metadata: { host: 'parity-host', flavor: 'claude', machineId: m.id, claudeSessionId: 'x' } });
    noPath.emit('session-end', { time: Date.now() });
    await noPath.ping();
    assert.deepEqual(answer(await w.req('POST', `/api/sessions/${noPath.sid}/resume`)), {
      status: 409,
      body: { error: 'Session metadata missing path', code: 'resume_unavailable' },
    });
    const elsewhere = await endedSession(h, m, { claudeSessionId: 'x', host: 'another-host', machineId: 'no-such-machine' });
    for (const op of ['resume', 'reopen']) {
      assert.deepEqual(answer(await w.req('POST', `/api/sessions/${elsewhere.sid}/${op}`)), {
        status: 503,
        body: { error: 'No machine online', code: 'no_machine_online' },
      }, op);
    }
    // The runner answers with some other session id, which never shows up: 15 s, then 500.
    spawnAnswer = () => ({ type: 'success', sessionId: 'some-other-session' });
    const t0 = Date.now();
    const late = await w.req('POST', `/api/sessions/${c.sid}/resume`, undefined, { timeoutMs: 40000 });
    assert.deepEqual(answer(late), { status: 500, body: { error: 'Session failed to become active', code: 'resume_failed' } });
    const took = Date.now() - t0;
    assert.ok(took >= 14000 && took < 20000, `waited ${took} ms`);
  } finally {
    await h.stop();
  }
});

test('a spawn RPC without an answer fails after the 30 s RPC timeout', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    await m.handleRpc('spawn-happy-session', () => undefined);
    const c = await endedSession(h, m, { claudeSessionId: 'cl' });
    const t0 = Date.now();
    const r = await w.req('POST', `/api/sessions/${c.sid}/resume`, undefined, { timeoutMs: 45000 });
    assert.deepEqual(answer(r), { status: 500, body: { error: 'operation has timed out', code: 'resume_failed' } });
    const took = Date.now() - t0;
    assert.ok(took >= 29000 && took < 35000, `waited ${took} ms`);
  } finally {
    await h.stop();
  }
});

test('a Pi resume completes on session-ready, and fails when the session ends before it', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h);
    await emitAck(m.socket, 'machine-update-state', {
      machineId: m.id,
      runnerState: { status: 'running', capabilities: { piExistingSessionResume: true } },
      expectedVersion: 1,
    });
    let then = 'ready';
    const back = [];
    await m.handleRpc('spawn-happy-session', (p) => {
      const sid = p.existingSessionId;
      setTimeout(async () => {
        const s = await comeBack(h, sid);
        back.push(s);
        setTimeout(() => {
          if (then === 'ready') s.emit('session-ready', { sid, time: Date.now() });
          else s.emit('session-end', { sid, time: Date.now() });
        }, 1500);
      }, 200);
      return { type: 'success', sessionId: sid };
    });
    const a = await endedSession(h, m, { flavor: 'pi', piSessionId: 'pi-a' });
    const t0 = Date.now();
    const r = await w.req('POST', `/api/sessions/${a.sid}/resume`, undefined, { timeoutMs: 40000 });
    assert.deepEqual(answer(r), { status: 200, body: { type: 'success', sessionId: a.sid } });
    assert.ok(Date.now() - t0 >= 1500, 'answered before session-ready');
    then = 'end';
    const b = await endedSession(h, m, { flavor: 'pi', piSessionId: 'pi-b' });
    const r2 = await w.req('POST', `/api/sessions/${b.sid}/resume`, undefined, { timeoutMs: 40000 });
    assert.deepEqual(answer(r2), { status: 500, body: { error: 'Pi session ended before native resume completed', code: 'resume_failed' } });
    back.forEach((s) => s.close());
  } finally {
    await h.stop();
  }
});

test('the permission mode is kept in metadata.preferredPermissionMode and outlives a hub restart', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const c = await cliSession(h, { metadata: defaultMetadata({ claudeSessionId: 'cl-keep' }) });
    const meta = async () => (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    c.alive({ permissionMode: 'acceptEdits' });
    await c.ping();
    let s = await meta();
    assert.deepEqual([s.metadataVersion, s.metadata.preferredPermissionMode, s.permissionMode], [2, 'acceptEdits', 'acceptEdits']);
    c.alive({ permissionMode: 'acceptEdits' });
    await c.ping();
    assert.equal((await meta()).metadataVersion, 2, 'an unchanged mode writes nothing');
    c.alive({ permissionMode: 'plan' });
    await c.ping();
    s = await meta();
    assert.deepEqual([s.metadataVersion, s.metadata.preferredPermissionMode], [3, 'plan']);
    c.emit('session-end', { time: Date.now() });
    await c.ping();
    c.close();
    h = await h.restart();
    w = await web(h);
    s = (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    assert.deepEqual([s.metadataVersion, s.metadata.preferredPermissionMode, s.permissionMode], [3, 'plan', 'plan']);
    const m = await cliMachine(h);
    await m.handleRpc('spawn-happy-session', () => ({ type: 'error', errorMessage: 'stand-in runner refuses' }));
    const r = await w.req('POST', `/api/sessions/${c.sid}/resume`);
    assert.equal(r.status, 500);
    assert.equal(spawns(m)[0].permissionMode, 'plan');
  } finally {
    await h.stop();
  }
});
