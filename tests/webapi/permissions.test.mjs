// Permission flow end to end (spec/rest.md §3.13–3.14, spec/cli-protocol.md §10.3): the CLI
// raises a request with update-state, the web sees it (GET, SSE, list), approves or denies it,
// the CLI receives the decision over RPC `permission`, moves the request to
// completedRequests, and the web sees it gone. Then every refusal of the two routes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  jwtFor,
  request,
  activeSession,
  createSession,
  defaultMetadata,
  emitAck,
  openSse,
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

const pending = (id, tool = 'Bash', args = { command: 'ls' }) => ({
  [id]: { tool, arguments: args, createdAt: Date.now() },
});

/** update-state from the CLI with the current version; returns the new version. */
async function writeState(cli, version, agentState) {
  const r = await emitAck(cli.socket, 'update-state', { sid: cli.sid, expectedVersion: version, agentState });
  assert.equal(r.result, 'success', JSON.stringify(r));
  return r.version;
}

async function summary(sid, token = jwt) {
  const r = await request(h, 'GET', '/api/sessions', { token });
  assert.equal(r.status, 200);
  return r.body.sessions.find((x) => x.id === sid);
}

const post = (path, body, token = jwt) => request(h, 'POST', path, { token, body });

test('approve: request visible on GET / SSE / list → CLI gets the exact decision → completed', async () => {
  const cli = await activeSession(h, { agentState: { controlledByUser: false } });
  const sse = await openSse(h, { token: jwt, all: 'true' });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    let version = cli.s.agentStateVersion;
    const req1 = pending('req-1');
    version = await writeState(cli, version, { controlledByUser: false, requests: req1 });

    // GET /api/sessions/:id
    const g = await request(h, 'GET', `/api/sessions/${cli.sid}`, { token: jwt });
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.session.agentState.requests, req1);
    assert.equal(g.body.session.agentStateVersion, version);
    // SSE session-updated with the v0.30.7 agentState patch (tests/pipeline/CONTRACT.md §8)
    const up = await sse.next((e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.agentState?.value?.requests?.['req-1']);
    assert.equal(up.namespace, 'default');
    assert.deepEqual(up.data.agentState, { version, value: { controlledByUser: false, requests: req1 } });
    assert.equal(typeof up.data.updatedAt, 'number');
    // list summary
    assert.equal((await summary(cli.sid)).pendingRequestsCount, 1);

    // The CLI answers like the real one: it completes the request, then acks null.
    await cli.rpc.handle(cli.sid, 'permission', async (p) => {
      const completed = {
        'req-1': { ...req1['req-1'], completedAt: Date.now(), status: p.approved ? 'approved' : 'denied', mode: p.mode, allowTools: p.allowTools, decision: p.decision },
      };
      version = await writeState(cli, version, { controlledByUser: false, requests: {}, completedRequests: completed });
      return null;
    });
    const from = sse.events.length;
    const r = await post(`/api/sessions/${cli.sid}/permissions/req-1/approve`, {
      mode: 'acceptEdits',
      allowTools: ['Bash'],
      decision: 'approved',
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    const calls = cli.rpc.take('permission');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].method, `${cli.sid}:permission`);
    assert.equal(calls[0].paramsType, 'string', 'params travel as a JSON string');
    assert.deepEqual(calls[0].params, {
      id: 'req-1',
      approved: true,
      mode: 'acceptEdits',
      allowTools: ['Bash'],
      decision: 'approved',
    });

    // The web sees it gone.
    const gone = await sse.next(
      (e) => e.type === 'session-updated' && e.sessionId === cli.sid && e.data?.agentState?.value?.completedRequests?.['req-1'],
      10000,
      from,
    );
    assert.deepEqual(gone.data.agentState.value.requests, {});
    assert.equal(gone.data.agentState.value.completedRequests['req-1'].status, 'approved');
    const g2 = await request(h, 'GET', `/api/sessions/${cli.sid}`, { token: jwt });
    assert.deepEqual(g2.body.session.agentState.requests, {});
    assert.equal(g2.body.session.agentState.completedRequests['req-1'].status, 'approved');
    assert.equal((await summary(cli.sid)).pendingRequestsCount, 0);
    // A completed request can no longer be decided.
    const again = await post(`/api/sessions/${cli.sid}/permissions/req-1/approve`, {});
    assert.equal(again.status, 404);
    assert.deepEqual(again.body, { error: 'Request not found' });
    assert.equal(cli.rpc.take('permission').length, 0);
  } finally {
    sse.close();
    cli.close();
  }
});

test('deny: {"decision":"denied"} → {"id","approved":false,"decision"}; no body → {"id","approved":false}', async () => {
  const cli = await activeSession(h, { agentState: {} });
  try {
    let version = cli.s.agentStateVersion;
    version = await writeState(cli, version, { requests: { ...pending('req-2'), ...pending('req-3', 'Edit', { file: 'a' }) } });
    await cli.rpc.handle(cli.sid, 'permission', () => null);

    let r = await post(`/api/sessions/${cli.sid}/permissions/req-2/deny`, { decision: 'denied' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: true });
    let calls = cli.rpc.take('permission');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].params, { id: 'req-2', approved: false, decision: 'denied' });

    // No body at all (the web's deny without a decision); extra keys are dropped.
    r = await request(h, 'POST', `/api/sessions/${cli.sid}/permissions/req-3/deny`, { token: jwt });
    assert.equal(r.status, 200, r.text);
    calls = cli.rpc.take('permission');
    assert.deepEqual(calls[0].params, { id: 'req-3', approved: false });
    r = await post(`/api/sessions/${cli.sid}/permissions/req-3/deny`, { reason: 'nope', extra: 1 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('permission')[0].params, { id: 'req-3', approved: false });

    // Bad decision → 400; the CLI hears nothing.
    r = await post(`/api/sessions/${cli.sid}/permissions/req-3/deny`, { decision: 'maybe' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid body' });
    assert.equal(cli.rpc.take('permission').length, 0);

    // The CLI completes req-2; it is gone for the web (the list counts only req-3).
    await writeState(cli, version, {
      requests: pending('req-3', 'Edit', { file: 'a' }),
      completedRequests: { 'req-2': { tool: 'Bash', arguments: { command: 'ls' }, status: 'denied', decision: 'denied' } },
    });
    assert.equal((await summary(cli.sid)).pendingRequestsCount, 1);
    r = await post(`/api/sessions/${cli.sid}/permissions/req-2/deny`, {});
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Request not found' });
  } finally {
    cli.close();
  }
});

test('approve passes answers (both shapes) and approved_for_session; omits absent fields', async () => {
  const cli = await activeSession(h, { agentState: { requests: { ...pending('q-1', 'AskUserQuestion', {}), ...pending('q-2', 'request_user_input', {}) } } });
  try {
    await cli.rpc.handle(cli.sid, 'permission', () => null);
    let r = await post(`/api/sessions/${cli.sid}/permissions/q-1/approve`, { answers: { 'Pick one': ['Yes'] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('permission')[0].params, { id: 'q-1', approved: true, answers: { 'Pick one': ['Yes'] } });
    r = await post(`/api/sessions/${cli.sid}/permissions/q-2/approve`, {
      answers: { q: { answers: ['a', 'b'] } },
      decision: 'approved_for_session',
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('permission')[0].params, {
      id: 'q-2',
      approved: true,
      answers: { q: { answers: ['a', 'b'] } },
      decision: 'approved_for_session',
    });
    // Empty body and invalid JSON both count as {}.
    r = await request(h, 'POST', `/api/sessions/${cli.sid}/permissions/q-1/approve`, { token: jwt });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('permission')[0].params, { id: 'q-1', approved: true });
    r = await post(`/api/sessions/${cli.sid}/permissions/q-1/approve`, '{not json');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(cli.rpc.take('permission')[0].params, { id: 'q-1', approved: true });
  } finally {
    cli.close();
  }
});

test('refusals: unknown request 404, invalid body 400, mode not allowed for the flavor 400 (CLI hears nothing)', async () => {
  const cli = await activeSession(h, { agentState: { requests: pending('req-1') } });
  const codex = await activeSession(h, { metadata: defaultMetadata({ flavor: 'codex' }), agentState: { requests: pending('req-1') } });
  try {
    await cli.rpc.handle(cli.sid, 'permission', () => null);
    await codex.rpc.handle(codex.sid, 'permission', () => null);
    const base = `/api/sessions/${cli.sid}/permissions`;
    for (const action of ['approve', 'deny']) {
      const r = await post(`${base}/no-such-request/${action}`, {});
      assert.equal(r.status, 404, `${action}: ${r.text}`);
      assert.deepEqual(r.body, { error: 'Request not found' });
    }
    // Order: approve validates the body before the request, deny the request before the body.
    let r = await post(`${base}/no-such-request/approve`, { allowTools: 'Bash' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid body' });
    r = await post(`${base}/no-such-request/deny`, { decision: 5 });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Request not found' });

    for (const body of [{ allowTools: 'Bash' }, { allowTools: [1] }, { mode: 'turbo' }, { decision: 'yes' }, { answers: { q: 'a' } }, [1]]) {
      r = await post(`${base}/req-1/approve`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.deepEqual(r.body, { error: 'Invalid body' });
    }
    // A valid mode the claude flavor does not allow.
    for (const mode of ['yolo', 'read-only', 'safe-yolo', 'ask']) {
      r = await post(`${base}/req-1/approve`, { mode });
      assert.equal(r.status, 400, `${mode}: ${r.text}`);
      assert.deepEqual(r.body, { error: 'Invalid permission mode for session flavor' });
    }
    // codex: acceptEdits is not allowed, yolo is.
    r = await post(`/api/sessions/${codex.sid}/permissions/req-1/approve`, { mode: 'acceptEdits' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'Invalid permission mode for session flavor' });
    assert.equal(cli.rpc.take('permission').length + codex.rpc.take('permission').length, 0, 'no RPC for refused calls');
    r = await post(`/api/sessions/${codex.sid}/permissions/req-1/approve`, { mode: 'yolo' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(codex.rpc.take('permission')[0].params, { id: 'req-1', approved: true, mode: 'yolo' });
  } finally {
    cli.close();
    codex.close();
  }
});

test('inactive session → 409 {"error":"Session is inactive"} (never alive, and after session-end)', async () => {
  const s = await createSession(h, { agentState: { requests: pending('req-1') } });
  for (const action of ['approve', 'deny']) {
    const r = await post(`/api/sessions/${s.id}/permissions/req-1/${action}`, {});
    assert.equal(r.status, 409, r.text);
    assert.deepEqual(r.body, { error: 'Session is inactive' });
  }
  const cli = await activeSession(h, { agentState: { requests: pending('req-1') } });
  try {
    await cli.rpc.handle(cli.sid, 'permission', () => null);
    cli.socket.emit('session-end', { sid: cli.sid, time: Date.now() });
    await emitAck(cli.socket, 'ping');
    for (const action of ['approve', 'deny']) {
      const r = await post(`/api/sessions/${cli.sid}/permissions/req-1/${action}`, {});
      assert.equal(r.status, 409, r.text);
      assert.deepEqual(r.body, { error: 'Session is inactive' });
    }
    assert.equal(cli.rpc.take('permission').length, 0);
  } finally {
    cli.close();
  }
});

test('RPC failure (no handler; socket gone mid-call) → 500', async () => {
  const cli = await activeSession(h, { agentState: { requests: pending('req-1') } });
  try {
    for (const action of ['approve', 'deny']) {
      const r = await post(`/api/sessions/${cli.sid}/permissions/req-1/${action}`, {});
      assert.ok(isRpc500(r, `RPC handler not registered: ${cli.sid}:permission`), `${action}: ${r.status} ${r.text}`);
    }
    // A handler that goes away mid-call: the socket disconnects before acking.
    await cli.rpc.handle(cli.sid, 'permission', () => {
      setTimeout(() => cli.socket.close(), 50);
      return undefined; // never ack
    });
    const r = await post(`/api/sessions/${cli.sid}/permissions/req-1/approve`, {});
    assert.ok(isRpc500(r, `RPC socket disconnected: ${cli.sid}:permission`), `${r.status} ${r.text}`);
  } finally {
    cli.close();
  }
});
