// Per-session agent settings of the v0.30.7 web app (parity §2 rows 22–28, §5 row 2):
// permission-mode (the per-flavor table), model, effort, model-reasoning-effort, service-tier,
// copilot-agent-mode and collaboration-mode — which flavors may use each, the value rules,
// the `set-session-config` params, the 409 answers, and what session-alive keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, defaultMetadata, sleep } from './lib.mjs';

const FLAVORS = ['agy', 'claude', 'codex', 'dsh', 'copilot', 'cursor', 'gemini', 'grok', 'kimi', 'opencode', 'pi'];
const ALL_MODES = ['default', 'acceptEdits', 'auto', 'bypassPermissions', 'plan', 'ask', 'debug', 'autoReview', 'read-only', 'safe-yolo', 'yolo', 'request-review', 'always-proceed'];
const MODES = {
  claude: ['default', 'acceptEdits', 'auto', 'bypassPermissions', 'plan'],
  codex: ['default', 'read-only', 'safe-yolo', 'yolo'],
  gemini: ['default', 'read-only', 'safe-yolo', 'yolo'],
  kimi: ['default', 'read-only', 'safe-yolo', 'yolo'],
  copilot: ['default', 'read-only', 'safe-yolo', 'yolo'],
  grok: ['default', 'auto', 'plan', 'bypassPermissions'],
  opencode: ['default', 'plan', 'yolo'],
  agy: ['request-review', 'always-proceed'],
  cursor: ['default', 'plan', 'ask', 'debug', 'autoReview', 'yolo'],
  pi: [],
  dsh: [],
};

// route, body, the flavors that may use it, the RPC param, the refusal for the others.
const SETTINGS = [
  ['model', { model: 'm1' }, FLAVORS.filter((f) => f !== 'dsh'), { model: 'm1' }, 'Model selection is not supported for this session'],
  ['effort', { effort: 'high' }, ['claude', 'grok', 'pi'], { effort: 'high' }, 'Effort selection is not supported for this session type'],
  ['model-reasoning-effort', { modelReasoningEffort: 'high' }, ['codex', 'opencode'], { modelReasoningEffort: 'high' }, 'Model reasoning effort is only supported for Codex and OpenCode sessions'],
  ['service-tier', { serviceTier: 'fast' }, ['codex'], { serviceTier: 'fast' }, 'Fast mode is only supported for Codex sessions'],
  ['copilot-agent-mode', { mode: 'plan' }, ['copilot'], { copilotAgentMode: 'plan' }, 'Copilot agent mode is only supported for Copilot sessions'],
  ['collaboration-mode', { mode: 'plan' }, ['codex'], { collaborationMode: 'plan' }, 'Collaboration mode is only supported for Codex sessions'],
];

async function session(h, flavor, reply = (p) => ({ applied: p })) {
  const c = await cliSession(h, { metadata: defaultMetadata({ flavor }) });
  if (reply) await c.handleRpc('set-session-config', reply);
  return c;
}

test('session settings: which flavor may change what, and the set-session-config params', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    for (const flavor of FLAVORS) {
      const c = await session(h, flavor);
      for (const [route, body, allowed, params, refusal] of SETTINGS) {
        const r = await w.req('POST', `/api/sessions/${c.sid}/${route}`, body);
        const calls = c.rpcCalls.splice(0);
        if (allowed.includes(flavor)) {
          assert.deepEqual([r.status, r.body], [200, { ok: true }], `${flavor} ${route}`);
          assert.deepEqual(calls.map((x) => [x.name, x.params]), [['set-session-config', params]], `${flavor} ${route}`);
        } else {
          assert.deepEqual([r.status, r.body], [400, { error: refusal }], `${flavor} ${route}`);
          assert.equal(calls.length, 0);
        }
      }
    }
  } finally {
    await h.stop();
  }
});

test('permission-mode: the per-flavor table of modes', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    for (const flavor of FLAVORS) {
      const c = await session(h, flavor);
      for (const mode of ALL_MODES) {
        const r = await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode });
        const calls = c.rpcCalls.splice(0);
        if (MODES[flavor].includes(mode)) {
          assert.deepEqual([r.status, r.body], [200, { ok: true }], `${flavor} ${mode}`);
          assert.deepEqual(calls[0].params, { permissionMode: mode });
        } else {
          const error = MODES[flavor].length === 0 ? 'Permission mode not supported for session flavor' : 'Invalid permission mode for session flavor';
          assert.deepEqual([r.status, r.body], [400, { error }], `${flavor} ${mode}`);
          assert.equal(calls.length, 0);
        }
      }
      const r = await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode: 'bogus' });
      assert.deepEqual([r.status, r.body], [400, { error: 'Invalid body' }]);
    }
  } finally {
    await h.stop();
  }
});

test('session settings: value rules (trimmed strings or null; fixed sets; fleet → interactive)', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cases = [
      ['claude', 'effort', 'effort', [['high', 'high'], ['bogus', 'bogus'], [null, null], ['  high ', 'high'], ['', 400], [5, 400]]],
      ['codex', 'model-reasoning-effort', 'modelReasoningEffort', [['xhigh', 'xhigh'], [null, null], ['', 400], [5, 400]]],
      ['codex', 'model', 'model', [['m1', 'm1'], [null, null], [' m2 ', 'm2'], ['', 400], ['   ', 400], [5, 400]]],
      ['codex', 'service-tier', 'serviceTier', [['fast', 'fast'], ['standard', 'standard'], ['bogus', 400], [null, 400], [5, 400]]],
      ['copilot', 'copilot-agent-mode', 'mode', [['interactive', 'interactive'], ['autopilot', 'autopilot'], ['fleet', 'interactive'], ['bogus', 400], [null, 400]]],
    ];
    const key = { effort: 'effort', 'model-reasoning-effort': 'modelReasoningEffort', model: 'model', 'service-tier': 'serviceTier', 'copilot-agent-mode': 'copilotAgentMode' };
    for (const [flavor, route, field, values] of cases) {
      const c = await session(h, flavor);
      for (const [v, want] of values) {
        const r = await w.req('POST', `/api/sessions/${c.sid}/${route}`, { [field]: v });
        const calls = c.rpcCalls.splice(0);
        if (want === 400) {
          assert.deepEqual([r.status, r.body], [400, { error: 'Invalid body' }], `${route} ${JSON.stringify(v)}`);
          assert.equal(calls.length, 0);
        } else {
          assert.equal(r.status, 200, `${route} ${JSON.stringify(v)}`);
          assert.deepEqual(calls[0].params, { [key[route]]: want });
        }
      }
    }
    // Which check comes first: the body for model/effort, the flavor for the others.
    const codex = await session(h, 'codex');
    let r = await w.req('POST', `/api/sessions/${codex.sid}/effort`, { effort: '' });
    assert.deepEqual(r.body, { error: 'Invalid body' });
    r = await w.req('POST', `/api/sessions/${codex.sid}/copilot-agent-mode`, { mode: 'bogus' });
    assert.deepEqual(r.body, { error: 'Copilot agent mode is only supported for Copilot sessions' });
    const dsh = await session(h, 'dsh');
    r = await w.req('POST', `/api/sessions/${dsh.sid}/model`, { model: 5 });
    assert.deepEqual(r.body, { error: 'Invalid body' });
    const claude = await session(h, 'claude');
    r = await w.req('POST', `/api/sessions/${claude.sid}/service-tier`, { serviceTier: 'bogus' });
    assert.deepEqual(r.body, { error: 'Fast mode is only supported for Codex sessions' });
  } finally {
    await h.stop();
  }
});

test('session settings: the reply must carry `applied`; failures are 409; inactive is 409', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const bad = await session(h, 'codex', () => ({ ok: true }));
    for (const [route, body] of [['model', { model: 'x' }], ['model-reasoning-effort', { modelReasoningEffort: 'high' }], ['service-tier', { serviceTier: 'fast' }], ['permission-mode', { mode: 'yolo' }]]) {
      const r = await w.req('POST', `/api/sessions/${bad.sid}/${route}`, body);
      assert.deepEqual([r.status, r.body], [409, { error: 'Missing applied session config, got: {"ok":true}' }], route);
    }
    const garbage = await session(h, 'codex', () => 'not json{');
    let r = await w.req('POST', `/api/sessions/${garbage.sid}/model`, { model: 'x' });
    assert.deepEqual([r.status, r.body], [409, { error: 'Invalid response from session config RPC' }]);
    const none = await session(h, 'codex', null);
    r = await w.req('POST', `/api/sessions/${none.sid}/service-tier`, { serviceTier: 'fast' });
    assert.deepEqual([r.status, r.body], [409, { error: `RPC handler not registered: ${none.sid}:set-session-config` }]);
    const ended = await session(h, 'codex');
    ended.emit('session-end', { time: Date.now() });
    await ended.ping();
    await sleep(200);
    for (const [route, body] of [['effort', { effort: 'high' }], ['service-tier', { serviceTier: 'fast' }], ['copilot-agent-mode', { mode: 'plan' }], ['model-reasoning-effort', { modelReasoningEffort: 'high' }]]) {
      r = await w.req('POST', `/api/sessions/${ended.sid}/${route}`, body);
      assert.deepEqual([r.status, r.body], [409, { error: 'Session is inactive', code: 'session_inactive' }], route);
    }
    assert.equal(ended.rpcCalls.length, 0);
  } finally {
    await h.stop();
  }
});

test('session settings: the applied values and session-alive fields show in the session', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const sub = await session(h, 'codex', () => ({ applied: { model: 'applied-model', serviceTier: 'fast', modelReasoningEffort: 'low' } }));
    let r = await w.req('POST', `/api/sessions/${sub.sid}/model`, { model: 'x' });
    assert.equal(r.status, 200);
    let s = (await w.req('GET', `/api/sessions/${sub.sid}`)).body.session;
    assert.deepEqual([s.model, s.serviceTier, s.modelReasoningEffort, s.effort], ['applied-model', 'fast', 'low', null]);
    const al = await session(h, 'copilot');
    al.alive({ model: 'gpt', effort: 'high', modelReasoningEffort: 'low', serviceTier: 'fast', copilotAgentMode: 'autopilot', permissionMode: 'yolo', collaborationMode: 'plan' });
    await al.ping();
    await sleep(200);
    s = (await w.req('GET', `/api/sessions/${al.sid}`)).body.session;
    assert.deepEqual(
      { model: s.model, effort: s.effort, mre: s.modelReasoningEffort, st: s.serviceTier, cam: s.copilotAgentMode, pm: s.permissionMode, cm: s.collaborationMode },
      { model: 'gpt', effort: 'high', mre: 'low', st: 'fast', cam: 'autopilot', pm: 'yolo', cm: 'plan' },
    );
    al.alive({ serviceTier: null });
    await al.ping();
    await sleep(200);
    s = (await w.req('GET', `/api/sessions/${al.sid}`)).body.session;
    assert.equal(s.serviceTier, null);
    assert.equal(s.copilotAgentMode, 'autopilot');
  } finally {
    await h.stop();
  }
});

test('permission-mode on an inactive session: kept as metadata.preferredPermissionMode, no RPC', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const c = await session(h, 'codex');
    c.emit('session-end', { time: Date.now() });
    await c.ping();
    await sleep(200);
    const sse = await w.sse({ all: 'true' });
    await sse.next((e) => e.type === 'connection-changed');
    let r = await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode: 'yolo' });
    assert.deepEqual([r.status, r.body], [200, { ok: true }]);
    const e = await sse.next((x) => x.type === 'session-updated' && x.sessionId === c.sid);
    assert.equal(e.data.metadata.preferredPermissionMode, 'yolo');
    // The flavor table still applies.
    r = await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode: 'acceptEdits' });
    assert.deepEqual([r.status, r.body], [400, { error: 'Invalid permission mode for session flavor' }]);
    const s = (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    assert.equal(s.metadata.preferredPermissionMode, 'yolo');
    assert.equal(s.permissionMode, 'yolo');
    assert.equal(s.metadataVersion, 2);
    assert.equal(c.rpcCalls.length, 0);
    r = await w.req('POST', `/api/sessions/${c.sid}/collaboration-mode`, { mode: 'plan' });
    assert.deepEqual([r.status, r.body], [409, { error: 'Session is inactive', code: 'session_inactive' }]);
    r = await w.req('POST', `/api/sessions/${c.sid}/model`, { model: 'x' });
    assert.deepEqual([r.status, r.body], [409, { error: 'Session is inactive', code: 'session_inactive' }]);
  } finally {
    await h.stop();
  }
});

test('an unknown flavor is Claude for permission modes but may not change its model or effort', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const c = await session(h, 'bogus');
    let r = await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode: 'acceptEdits' });
    assert.deepEqual([r.status, r.body], [200, { ok: true }]);
    r = await w.req('POST', `/api/sessions/${c.sid}/model`, { model: 'x' });
    assert.deepEqual([r.status, r.body], [400, { error: 'Model selection is not supported for this session' }]);
    r = await w.req('POST', `/api/sessions/${c.sid}/effort`, { effort: 'high' });
    assert.deepEqual([r.status, r.body], [400, { error: 'Effort selection is not supported for this session type' }]);
    // No flavor at all is Claude.
    const none = await cliSession(h, { metadata: { path: '/p', host: 'h' } });
    await none.handleRpc('set-session-config', (p) => ({ applied: p }));
    r = await w.req('POST', `/api/sessions/${none.sid}/effort`, { effort: 'high' });
    assert.deepEqual([r.status, r.body], [200, { ok: true }]);
  } finally {
    await h.stop();
  }
});

test('an applied permission or Copilot agent mode and an alive permission mode become the preferred ones in metadata', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const c = await session(h, 'codex');
    await w.req('POST', `/api/sessions/${c.sid}/permission-mode`, { mode: 'yolo' });
    let s = (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    assert.deepEqual([s.metadata.preferredPermissionMode, s.metadataVersion, s.permissionMode], ['yolo', 2, 'yolo']);
    c.alive({ permissionMode: 'read-only' });
    await c.ping();
    await sleep(200);
    s = (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    assert.deepEqual([s.metadata.preferredPermissionMode, s.metadataVersion, s.permissionMode], ['read-only', 3, 'read-only']);
    // The same mode again changes nothing.
    c.alive({ permissionMode: 'read-only' });
    await c.ping();
    await sleep(200);
    s = (await w.req('GET', `/api/sessions/${c.sid}`)).body.session;
    assert.equal(s.metadataVersion, 3);
    const cp = await session(h, 'copilot');
    await w.req('POST', `/api/sessions/${cp.sid}/copilot-agent-mode`, { mode: 'plan' });
    s = (await w.req('GET', `/api/sessions/${cp.sid}`)).body.session;
    assert.deepEqual([s.metadata.preferredCopilotAgentMode, s.metadataVersion, s.copilotAgentMode], ['plan', 2, 'plan']);
  } finally {
    await h.stop();
  }
});
