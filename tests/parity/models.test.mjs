// Model and option lists of the v0.30.7 web app (parity §2 rows 44–51, 73–80, §4
// machine-agy-models-updated): the flavor check, the RPC name and params, the answer (the
// reply verbatim) and the failure answers, for the 8 session-scoped and 8 machine-scoped
// routes; and the SSE event a runner's `machine-agy-models-changed` raises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, cliMachine, defaultMetadata, sleep } from './lib.mjs';

const runner = (extra = {}) => ({ host: 'parity-host', platform: 'linux', happyCliVersion: '0.30.7', homeDir: '/home/u', capabilities: ['agent-availability'], ...extra });

// route, flavor, RPC, refusal for another flavor.
const SESSION_LISTS = [
  ['codex-models', 'codex', 'listCodexModels', 'Codex models are only available for Codex sessions'],
  ['opencode-models', 'opencode', 'listOpencodeModels', 'OpenCode models are only available for OpenCode sessions'],
  ['opencode-reasoning-effort-options', 'opencode', 'listOpencodeReasoningEffortOptions', 'OpenCode reasoning effort options are only available for OpenCode sessions'],
  ['grok-models', 'grok', 'listGrokModels', 'Grok models are only available for Grok sessions'],
  ['grok-reasoning-effort-options', 'grok', 'listGrokReasoningEffortOptions', 'Grok effort options are only available for Grok sessions'],
  ['copilot-models', 'copilot', 'listCopilotModels', 'Copilot models are only available for Copilot sessions'],
  ['cursor-models', 'cursor', 'listCursorModels', 'Cursor models are only available for Cursor sessions'],
  ['pi-models', 'pi', 'listPiModels', 'Not a Pi session'],
];

test('session model lists: flavor check, then the session RPC with {} and its reply verbatim', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const claude = await cliSession(h, { metadata: defaultMetadata({ flavor: 'claude' }) });
    for (const [route, flavor, rpc, refusal] of SESSION_LISTS) {
      const c = await cliSession(h, { metadata: defaultMetadata({ flavor }) });
      const reply = { success: true, availableModels: [{ modelId: `${flavor}-m`, name: 'M' }], currentModelId: `${flavor}-m` };
      await c.handleRpc(rpc, () => reply);
      let r = await w.req('GET', `/api/sessions/${c.sid}/${route}`);
      assert.deepEqual([r.status, r.body], [200, reply], route);
      assert.deepEqual(c.rpcCalls.map((x) => [x.name, x.params]), [[rpc, {}]], route);
      r = await w.req('GET', `/api/sessions/${claude.sid}/${route}`);
      assert.deepEqual([r.status, r.body], [400, { success: false, error: refusal }], route);
    }
    assert.equal(claude.rpcCalls.length, 0);
  } finally {
    await h.stop();
  }
});

test('session model lists: failures (no handler 500, unsuccessful and garbage verbatim, inactive 409)', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const c = await cliSession(h, { metadata: defaultMetadata({ flavor: 'codex' }) });
    let r = await w.req('GET', `/api/sessions/${c.sid}/codex-models`);
    assert.deepEqual([r.status, r.body], [500, { success: false, error: `RPC handler not registered: ${c.sid}:listCodexModels` }]);
    await c.handleRpc('listCodexModels', () => ({ success: false, error: 'codex not logged in' }));
    r = await w.req('GET', `/api/sessions/${c.sid}/codex-models`);
    assert.deepEqual([r.status, r.body], [200, { success: false, error: 'codex not logged in' }]);
    const g = await cliSession(h, { metadata: defaultMetadata({ flavor: 'pi' }) });
    await g.handleRpc('listPiModels', () => 'garbage{');
    r = await w.req('GET', `/api/sessions/${g.sid}/pi-models`);
    assert.deepEqual([r.status, r.body], [200, 'garbage{']);
    g.emit('session-end', { time: Date.now() });
    await g.ping();
    await sleep(200);
    r = await w.req('GET', `/api/sessions/${g.sid}/pi-models`);
    assert.deepEqual([r.status, r.body], [409, { error: 'Session is inactive', code: 'session_inactive' }]);
  } finally {
    await h.stop();
  }
});

// route (with query), RPC, params.
const MACHINE_LISTS = [
  ['agy-models', 'listAgyModels', { refresh: false }],
  ['agy-models?refresh=true', 'listAgyModels', { refresh: true }],
  ['pi-models', 'listPiModelsForMachine', {}],
  ['codex-models', 'listCodexModels', {}],
  ['opencode-models?cwd=%2Fp', 'listOpencodeModelsForCwd', { cwd: '/p' }],
  ['opencode-model-variants', 'listOpencodeModelVariants', { cwd: null }],
  ['opencode-model-variants?cwd=%2Fp', 'listOpencodeModelVariants', { cwd: '/p' }],
  ['grok-models?cwd=%2Fp', 'listGrokModelsForCwd', { cwd: '/p' }],
  ['copilot-models?cwd=%2Fp', 'listCopilotModelsForCwd', { cwd: '/p' }],
  ['cursor-models', 'listCursorModels', {}],
];

test('machine model lists: the machine RPC, its params and the reply verbatim', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h, { metadata: runner() });
    for (const [, rpc] of MACHINE_LISTS) await m.handleRpc(rpc, () => ({ success: true, availableModels: [{ modelId: rpc }] }));
    for (const [route, rpc, params] of MACHINE_LISTS) {
      const r = await w.req('GET', `/api/machines/${m.id}/${route}`);
      assert.deepEqual([r.status, r.body], [200, { success: true, availableModels: [{ modelId: rpc }] }], route);
      assert.deepEqual(m.rpcCalls.splice(0).map((x) => [x.name, x.params]), [[rpc, params]], route);
    }
    for (const route of ['opencode-models', 'grok-models', 'copilot-models', 'grok-models?cwd=']) {
      const r = await w.req('GET', `/api/machines/${m.id}/${route}`);
      assert.deepEqual([r.status, r.body], [400, { success: false, error: 'cwd query parameter is required' }], route);
    }
    assert.equal(m.rpcCalls.length, 0);
  } finally {
    await h.stop();
  }
});

test('machine model lists: failures (500, or 503 rpc_target_missing for codex, pi and variants)', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h, { metadata: runner() });
    for (const [route, rpc] of [['agy-models', 'listAgyModels'], ['opencode-models?cwd=/p', 'listOpencodeModelsForCwd'], ['cursor-models', 'listCursorModels'], ['grok-models?cwd=/p', 'listGrokModelsForCwd'], ['copilot-models?cwd=/p', 'listCopilotModelsForCwd']]) {
      const r = await w.req('GET', `/api/machines/${m.id}/${route}`);
      assert.deepEqual([r.status, r.body], [500, { success: false, error: `RPC handler not registered: ${m.id}:${rpc}` }], route);
    }
    for (const [route, rpc] of [['codex-models', 'listCodexModels'], ['opencode-model-variants', 'listOpencodeModelVariants'], ['pi-models', 'listPiModelsForMachine']]) {
      const r = await w.req('GET', `/api/machines/${m.id}/${route}`);
      assert.deepEqual([r.status, r.body], [503, { success: false, error: `RPC handler not registered: ${m.id}:${rpc}`, code: 'rpc_target_missing' }], route);
    }
    await m.handleRpc('listAgyModels', () => ({ success: false, error: 'not signed in' }));
    let r = await w.req('GET', `/api/machines/${m.id}/agy-models`);
    assert.deepEqual([r.status, r.body], [200, { success: false, error: 'not signed in' }]);
    r = await w.req('GET', '/api/machines/nope/agy-models');
    assert.deepEqual([r.status, r.body], [404, { error: 'Machine not found' }]);
  } finally {
    await h.stop();
  }
});

test('machine-agy-models-changed from the runner is SSE machine-agy-models-updated', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const m = await cliMachine(h, { metadata: runner() });
    const sse = await w.sse({ all: 'true' });
    await sse.next((e) => e.type === 'connection-changed');
    m.socket.emit('machine-agy-models-changed', { machineId: 'not-this-machine' });
    m.socket.emit('machine-agy-models-changed', {});
    m.socket.emit('machine-agy-models-changed', { machineId: m.id });
    const e = await sse.next((x) => x.type === 'machine-agy-models-updated');
    assert.deepEqual({ ...e }, { type: 'machine-agy-models-updated', machineId: m.id, namespace: 'default' });
    await sleep(300);
    assert.equal(sse.events.filter((x) => x.type === 'machine-agy-models-updated').length, 1);
  } finally {
    await h.stop();
  }
});
