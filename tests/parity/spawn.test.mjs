// POST /api/machines/:id/spawn for every flavor of the v0.30.7 web app (parity §2 row 69, §5
// row 2): the options the hub forwards in `spawn-happy-session` (plus `forkSession:false`),
// the value sets it checks, and `runner_upgrade_required` for a runner whose metadata does not
// list the `agent-availability` capability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliMachine, IS_OFFICIAL } from './lib.mjs';

export const FLAVORS = ['agy', 'claude', 'codex', 'dsh', 'copilot', 'cursor', 'gemini', 'grok', 'kimi', 'opencode', 'pi'];
export const currentRunner = (extra = {}) => ({ host: 'parity-host', platform: 'linux', happyCliVersion: '0.30.7', homeDir: '/home/u', capabilities: ['agent-availability'], ...extra });

async function setup() {
  const h = await startHub();
  const w = await web(h);
  const m = await cliMachine(h, { metadata: currentRunner() });
  await m.handleRpc('spawn-happy-session', () => ({ type: 'success', sessionId: 'spawned-1' }));
  const spawn = async (body) => {
    const r = await w.req('POST', `/api/machines/${m.id}/spawn`, body);
    return { r, calls: m.rpcCalls.splice(0) };
  };
  return { h, w, m, spawn };
}

test('spawn: every flavor the web offers reaches the runner', async () => {
  const { h, spawn } = await setup();
  try {
    for (const agent of FLAVORS) {
      const { r, calls } = await spawn({ directory: '/tmp/p', agent });
      assert.equal(r.status, 200, agent);
      assert.deepEqual(r.body, { type: 'success', sessionId: 'spawned-1' }, agent);
      assert.equal(calls.length, 1, agent);
      assert.equal(calls[0].name, 'spawn-happy-session');
      assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory: '/tmp/p', agent, forkSession: false }, agent);
    }
    for (const agent of ['antigravity', 'deepseek', 'bogus', 5, null]) {
      const { r, calls } = await spawn({ directory: '/tmp/p', agent });
      assert.equal(r.status, 400, String(agent));
      assert.deepEqual(r.body, { error: 'Invalid body' });
      assert.equal(calls.length, 0);
    }
  } finally {
    await h.stop();
  }
});

test('spawn: every option is forwarded; copilotAgentMode fleet becomes interactive', async () => {
  const { h, spawn } = await setup();
  try {
    const full = {
      directory: '/tmp/p', agent: 'codex', model: 'gpt-5', modelReasoningEffort: 'high', yolo: true, sessionType: 'worktree',
      worktreeName: 'wt', effort: 'high', permissionMode: 'yolo', serviceTier: 'fast', collaborationMode: 'plan',
      copilotAgentMode: 'plan', startingMode: 'remote',
    };
    let { r, calls } = await spawn(full);
    assert.equal(r.status, 200);
    const { directory, agent, ...rest } = full;
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory, agent, ...rest, forkSession: false });
    ({ r, calls } = await spawn({ directory: '/tmp/p', agent: 'pi', model: 'anthropic/claude', effort: 'high', modelReasoningEffort: 'high' }));
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory: '/tmp/p', agent: 'pi', model: 'anthropic/claude', modelReasoningEffort: 'high', effort: 'high', forkSession: false });
    ({ r, calls } = await spawn({ directory: '/tmp/p', agent: 'copilot', copilotAgentMode: 'fleet', startingMode: 'pty' }));
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory: '/tmp/p', agent: 'copilot', copilotAgentMode: 'interactive', startingMode: 'pty', forkSession: false });
    // permissionMode is any mode of any flavor (not checked against the agent).
    ({ r, calls } = await spawn({ directory: '/tmp/p', agent: 'claude', permissionMode: 'yolo' }));
    assert.equal(calls[0].params.permissionMode, 'yolo');
    // No agent is Claude.
    ({ r, calls } = await spawn({ directory: '/tmp/p' }));
    assert.deepEqual(calls[0].params, { type: 'spawn-in-directory', directory: '/tmp/p', agent: 'claude', forkSession: false });
    // effort and modelReasoningEffort are free strings (even empty).
    ({ r, calls } = await spawn({ directory: '/tmp/p', effort: '' }));
    assert.equal(calls[0].params.effort, '');
    ({ r, calls } = await spawn({ directory: '/tmp/p', agent: 'codex', effort: 'bogus', modelReasoningEffort: 'minimal' }));
    assert.equal(calls[0].params.effort, 'bogus');
    assert.equal(calls[0].params.modelReasoningEffort, 'minimal');
  } finally {
    await h.stop();
  }
});

test('spawn: option values outside the official sets are 400 Invalid body, nothing sent', async () => {
  const { h, spawn } = await setup();
  try {
    const bad = [
      ['permissionMode', 'bogus'], ['permissionMode', null], ['serviceTier', 'priority'], ['serviceTier', null],
      ['collaborationMode', 'bogus'], ['copilotAgentMode', 'bogus'], ['startingMode', 'local'], ['startingMode', 'bogus'],
      ['model', 5], ['model', null], ['worktreeName', null], ['effort', null], ['yolo', 'x'], ['sessionType', 'bogus'], ['directory', ''],
    ];
    for (const [k, v] of bad) {
      const { r, calls } = await spawn({ directory: '/tmp/p', agent: 'codex', [k]: v });
      assert.equal(r.status, 400, `${k}=${JSON.stringify(v)}`);
      assert.deepEqual(r.body, { error: 'Invalid body' });
      assert.equal(calls.length, 0);
    }
  } finally {
    await h.stop();
  }
});

test('spawn: a runner without the agent-availability capability must be upgraded', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    for (const caps of [undefined, [], ['stop-runner']]) {
      const metadata = currentRunner();
      if (caps === undefined) delete metadata.capabilities;
      else metadata.capabilities = caps;
      const m = await cliMachine(h, { metadata });
      await m.handleRpc('spawn-happy-session', () => ({ type: 'success', sessionId: 'x' }));
      await m.handleRpc('agent-availability', () => ({ agents: [] }));
      // Checked before the body: even an unknown agent gets the upgrade answer.
      for (const agent of ['claude', 'pi', 'bogus']) {
        const r = await w.req('POST', `/api/machines/${m.id}/spawn`, { directory: '/tmp/p', agent });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, { type: 'error', message: 'This runner must be upgraded before creating sessions', code: 'runner_upgrade_required' });
      }
      const a = await w.req('GET', `/api/machines/${m.id}/agent-availability`);
      assert.equal(a.status, 409);
      assert.deepEqual(a.body, { error: 'This runner must be upgraded before creating sessions', code: 'runner_upgrade_required' });
      assert.equal(m.rpcCalls.length, 0);
    }
  } finally {
    await h.stop();
  }
});

test('spawn: missing runner handler, unknown machine, another namespace', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h, { metadata: currentRunner() });
    let r = await w.req('POST', `/api/machines/${m.id}/spawn`, { directory: '/tmp/p', agent: 'claude' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { type: 'error', message: `RPC handler not registered: ${m.id}:spawn-happy-session` });
    r = await w.req('POST', '/api/machines/nope/spawn', { directory: '/tmp/p' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'Machine not found' });
    const other = await web(h, 'other');
    r = await other.req('POST', `/api/machines/${m.id}/spawn`, { directory: '/tmp/p', agent: 'claude' });
    // Deviation (OTHER_NS): the official hub says 403 "Machine access denied"; hapid answers
    // like a missing machine so that ids of other namespaces are not revealed.
    if (IS_OFFICIAL) assert.deepEqual([r.status, r.body], [403, { error: 'Machine access denied' }]);
    else assert.deepEqual([r.status, r.body], [404, { error: 'Machine not found' }]);
  } finally {
    await h.stop();
  }
});
