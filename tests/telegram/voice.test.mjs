// POST /api/voice/token (spec/voice.md) against a fake ElevenLabs API on 127.0.0.1:
// every response row of §7, the find/create/token chain and its cache (§4), the create-agent
// body (§6), encodeURIComponent of the agent id (§4.3), custom credentials (§4.1),
// coalescing and cancellation (§4.2, §8).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHapid, startFakeElevenLabs, request, webJwt, sleep, rawPost } from './lib.mjs';

const ENV_KEY = 'el_env_key_0001_ABCDEFGH';
const ENV_AGENT = 'agent/with space';

let el;
let noKey; // hapid without ELEVENLABS_API_KEY
let withKey; // ELEVENLABS_API_KEY set, no agent id (find/create)
let withAgent; // ELEVENLABS_API_KEY and ELEVENLABS_AGENT_ID set
const jwt = new Map();
const secrets = [ENV_KEY];

before(async () => {
  el = await startFakeElevenLabs();
  const base = { HAPID_ELEVENLABS_API_BASE: el.base };
  [noKey, withKey, withAgent] = await Promise.all([
    startHapid({ env: base }),
    startHapid({ env: { ...base, ELEVENLABS_API_KEY: ENV_KEY } }),
    startHapid({ env: { ...base, ELEVENLABS_API_KEY: ENV_KEY, ELEVENLABS_AGENT_ID: ENV_AGENT } }),
  ]);
  for (const h of [noKey, withKey, withAgent]) jwt.set(h, await webJwt(h));
});

after(async () => {
  for (const h of [noKey, withKey, withAgent]) await h?.stop();
  await el?.close();
});

/** POST /api/voice/token; `body` is JSON-encoded unless `raw` is given. */
function voice(h, body, { raw, signal } = {}) {
  const opts = { token: jwt.get(h), signal };
  if (raw !== undefined) opts.rawBody = raw;
  else if (body !== undefined) opts.body = body;
  return request(h, 'POST', '/api/voice/token', opts);
}

/** A fresh custom API key with its own cache key (first 4 + last 4 characters differ). */
let keyN = 0;
function freshKey() {
  keyN += 1;
  const tag = String(keyN).padStart(4, '0');
  const k = `k${tag.slice(1)}_custom_${Math.random().toString(36).slice(2, 10)}_z${tag}`;
  secrets.push(k);
  return k;
}

const kinds = (recs) => recs.map((r) => r.kind);

test('401 without the web JWT; no ElevenLabs call', async () => {
  const before = el.calls.length;
  const r = await request(withKey, 'POST', '/api/voice/token', { body: {} });
  assert.equal(r.status, 401);
  assert.equal(el.calls.length, before);
});

test('400 Invalid request body for 5, {"customAgentId":5} and other non-conforming bodies', async () => {
  const before = el.calls.length;
  for (const raw of ['5', '{"customAgentId":5}', '"x"', '[]', 'true', '{"customApiKey":null}', '{"customAgentId":"a","customApiKey":7}']) {
    for (const h of [withKey, noKey]) {
      const r = await voice(h, undefined, { raw });
      assert.equal(r.status, 400, `body ${raw}`);
      assert.deepEqual(r.body, { allowed: false, error: 'Invalid request body' }, `body ${raw}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    }
  }
  assert.equal(el.calls.length, before, 'no ElevenLabs call for an invalid body');
});

test('400 ElevenLabs API key not configured (empty body, {}, garbage, null, empty custom key)', async () => {
  const before = el.calls.length;
  for (const raw of ['', '{}', 'garbage', 'null', '{"customApiKey":""}', '{"customAgentId":"agent_x","unknown":1}']) {
    const r = await voice(noKey, undefined, { raw });
    assert.equal(r.status, 400, `body ${JSON.stringify(raw)}`);
    assert.deepEqual(r.body, { allowed: false, error: 'ElevenLabs API key not configured' }, `body ${JSON.stringify(raw)}`);
  }
  assert.equal(el.calls.length, before);
});

test('env key, no agent id: list → create (§6 body) → token → 200; the second call only asks for a token', async () => {
  const r = await voice(withKey, {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const calls = el.byKey(ENV_KEY);
  assert.deepEqual(kinds(calls), ['list', 'create', 'token']);
  const [list, create, tok] = calls;

  for (const c of calls) {
    assert.equal(c.headers['xi-api-key'], ENV_KEY);
    assert.match(c.headers.accept ?? '', /application\/json/);
  }
  assert.equal(list.method, 'GET');
  assert.equal(list.path, '/v1/convai/agents');
  assert.equal(create.method, 'POST');
  assert.equal(create.path, '/v1/convai/agents/create');
  assert.match(create.headers['content-type'] ?? '', /^application\/json/);

  // §6: the create-agent body.
  const b = create.body;
  assert.equal(b.name, 'Hapi Voice Assistant');
  const agent = b.conversation_config.agent;
  assert.equal(typeof agent.first_message, 'string');
  assert.ok(agent.first_message.length > 0);
  assert.equal(agent.language, 'en');
  assert.equal(typeof agent.prompt.prompt, 'string');
  assert.ok(agent.prompt.prompt.length > 100, 'a real system prompt');
  assert.equal(agent.prompt.llm, 'gemini-2.5-flash');
  assert.equal(agent.prompt.temperature, 0.7);
  assert.equal(agent.prompt.max_tokens, 1024);
  const tools = agent.prompt.tools;
  assert.equal(tools.length, 2);
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  const mca = byName.messageCodingAgent;
  const ppr = byName.processPermissionRequest;
  assert.ok(mca && ppr, `tool names: ${tools.map((t) => t.name)}`);
  assert.equal(tools[0].name, 'messageCodingAgent', 'tools in the order of §6');
  for (const [t, timeout, param] of [
    [mca, 120, 'message'],
    [ppr, 30, 'decision'],
  ]) {
    assert.equal(t.type, 'client');
    assert.equal(t.expects_response, true);
    assert.equal(t.response_timeout_secs, timeout);
    assert.equal(typeof t.description, 'string');
    assert.ok(t.description.length > 0);
    assert.equal(t.parameters.type, 'object');
    assert.deepEqual(t.parameters.required, [param]);
    assert.deepEqual(Object.keys(t.parameters.properties), [param]);
    assert.equal(t.parameters.properties[param].type, 'string');
    assert.equal(typeof t.parameters.properties[param].description, 'string');
  }
  assert.deepEqual(b.conversation_config.turn, { turn_timeout: 30, silence_end_call_timeout: 600 });
  assert.deepEqual(b.conversation_config.tts, { voice_id: 'cgSgspJ2msm6clMCkdW9', model_id: 'eleven_flash_v2', speed: 1.1 });
  assert.deepEqual(b.platform_settings, { overrides: { conversation_config_override: { agent: { language: true } } } });

  // The token call uses the created agent id.
  const url = new URL(tok.path, 'http://x');
  assert.equal(url.pathname, '/v1/convai/conversation/token');
  const agentId = url.searchParams.get('agent_id');
  assert.match(agentId, /^agent_created_\d+$/);
  assert.equal(r.body.allowed, true);
  assert.equal(r.body.agentId, agentId);
  assert.match(r.body.token, /^tok_\d+$/);
  assert.deepEqual(Object.keys(r.body).sort(), ['agentId', 'allowed', 'token']);

  // §4.2 cache: the same key goes straight to the token request.
  const r2 = await voice(withKey, {});
  assert.equal(r2.status, 200, JSON.stringify(r2.body));
  assert.deepEqual(kinds(el.byKey(ENV_KEY)), ['list', 'create', 'token', 'token']);
  assert.equal(r2.body.agentId, agentId);
  assert.notEqual(r2.body.token, r.body.token, 'a fresh conversation token per call');
  assert.equal(new URL(el.byKey(ENV_KEY)[3].path, 'http://x').searchParams.get('agent_id'), agentId);
});

test('an existing "Hapi Voice Assistant" is found (first match wins), no create; 200 exactly', async () => {
  const key = freshKey();
  el.script(key, {
    list: {
      json: {
        agents: [
          { agent_id: 'agent_other', name: 'Hapi Voice Assistant (old)' },
          { agent_id: 'agent_fake123', name: 'Hapi Voice Assistant', tags: [] },
          { agent_id: 'agent_dup', name: 'Hapi Voice Assistant' },
        ],
        has_more: false,
      },
    },
    token: { json: { token: 'tok_fake_abc' } },
  });
  const r = await voice(withKey, { customApiKey: key });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { allowed: true, token: 'tok_fake_abc', agentId: 'agent_fake123' });
  assert.deepEqual(kinds(el.byKey(key)), ['list', 'token']);
  assert.equal(el.byKey(key)[1].path, '/v1/convai/conversation/token?agent_id=agent_fake123');
});

test('500 Failed to create ElevenLabs agent automatically (failure is not cached)', async () => {
  const cases = [
    { list: { status: 500, json: { detail: 'boom' } }, create: { status: 422, json: { detail: { message: 'invalid config' } } } },
    { list: { json: { agents: [] } }, create: { json: { id: 'no agent_id field' } } },
    { list: 'close', create: 'close' },
    { list: { text: 'not json' }, create: { status: 401, json: { detail: { status: 'invalid_api_key', message: 'Invalid API key' } } } },
  ];
  for (const script of cases) {
    const key = freshKey();
    el.script(key, script);
    const r = await voice(withKey, { customApiKey: key });
    assert.equal(r.status, 500, JSON.stringify(script));
    assert.deepEqual(r.body, { allowed: false, error: 'Failed to create ElevenLabs agent automatically' });
    assert.deepEqual(kinds(el.byKey(key)), ['list', 'create'], JSON.stringify(script));
    // Not cached: the next call searches again (and now succeeds).
    el.script(key, {});
    const r2 = await voice(withKey, { customApiKey: key });
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    assert.deepEqual(kinds(el.byKey(key)), ['list', 'create', 'list', 'create', 'token']);
  }
});

/** Token-reply rows of §4.3/§7, with custom key + custom agent (no list/create). */
const tokenRows = [
  [{ status: 401, json: { detail: { status: 'invalid_api_key', message: 'Invalid API key' } } }, 'Invalid API key'],
  [{ status: 403, json: { detail: { message: '' }, error: 'quota exceeded' } }, 'quota exceeded'],
  [{ status: 429, json: { error: 'rate limited' } }, 'rate limited'],
  [{ status: 404, json: { detail: 'Not Found' } }, 'ElevenLabs API error: 404'],
  [{ status: 503, json: {} }, 'ElevenLabs API error: 503'],
  [{ status: 502, text: '<html>bad gateway</html>' }, 'ElevenLabs API error: 502'],
  [{ status: 200, json: {} }, 'No token in ElevenLabs response'],
  [{ status: 200, json: { token: '' } }, 'No token in ElevenLabs response'],
  [{ status: 200, json: { conversation_token: 'x' } }, 'No token in ElevenLabs response'],
];

test('token replies → 500 with detail.message / error / "ElevenLabs API error: <status>" / "No token …"', async () => {
  for (const [action, error] of tokenRows) {
    const key = freshKey();
    el.script(key, { token: action });
    const r = await voice(withKey, { customApiKey: key, customAgentId: 'agent_custom_1' });
    assert.equal(r.status, 500, JSON.stringify(action));
    assert.deepEqual(r.body, { allowed: false, error }, JSON.stringify(action));
    const calls = el.byKey(key);
    assert.deepEqual(kinds(calls), ['token'], 'a configured agent: only the token request');
    assert.equal(calls[0].path, '/v1/convai/conversation/token?agent_id=agent_custom_1');
    assert.equal(calls[0].headers['xi-api-key'], key, 'the custom key is sent');
  }
});

test('network error (the fake closes the connection) and a non-JSON 2xx → 500 with an error text', async () => {
  for (const action of ['close', { status: 200, text: 'this is not json' }]) {
    const key = freshKey();
    el.script(key, { token: action });
    const r = await voice(withKey, { customApiKey: key, customAgentId: 'agent_custom_2' });
    assert.equal(r.status, 500, JSON.stringify(action));
    assert.equal(r.body.allowed, false);
    assert.equal(typeof r.body.error, 'string');
    assert.ok(r.body.error.length > 0);
    assert.deepEqual(Object.keys(r.body).sort(), ['allowed', 'error']);
    assert.ok(!r.body.error.includes(key), 'the API key never appears in an error body');
  }
});

test('custom key and agent id from the body: 200 with that agent, the env key unused', async () => {
  const key = freshKey();
  el.script(key, { token: { json: { token: 'tok_custom' } } });
  const r = await voice(withKey, { customApiKey: key, customAgentId: 'agent_mine' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { allowed: true, token: 'tok_custom', agentId: 'agent_mine' });
  assert.deepEqual(kinds(el.byKey(key)), ['token']);

  // A custom agent with the env key.
  const before = el.byKey(ENV_KEY).length;
  const r2 = await voice(withKey, { customAgentId: 'agent_custom_env' });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.agentId, 'agent_custom_env');
  const last = el.byKey(ENV_KEY).slice(before);
  assert.deepEqual(kinds(last), ['token']);
  assert.equal(last[0].path, '/v1/convai/conversation/token?agent_id=agent_custom_env');

  // Without any key configured, a custom key alone is enough (find/create with it).
  const key2 = freshKey();
  const r3 = await voice(noKey, { customApiKey: key2 });
  assert.equal(r3.status, 200, JSON.stringify(r3.body));
  assert.deepEqual(kinds(el.byKey(key2)), ['list', 'create', 'token']);
});

test('ELEVENLABS_AGENT_ID="agent/with space" → agent_id=agent%2Fwith%20space; custom ids encodeURIComponent', async () => {
  const before = el.byKey(ENV_KEY).length;
  const r = await voice(withAgent, {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.agentId, ENV_AGENT);
  const calls = el.byKey(ENV_KEY).slice(before);
  assert.deepEqual(kinds(calls), ['token'], 'a configured agent id: no list/create');
  assert.equal(calls[0].path, '/v1/convai/conversation/token?agent_id=agent%2Fwith%20space');

  const odd = "a-_.!~*'()b c/d?e&f=g#h+i%j\u00e9\u{1F600}";
  const key = freshKey();
  const r2 = await voice(withAgent, { customApiKey: key, customAgentId: odd });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.agentId, odd);
  assert.equal(el.byKey(key)[0].path, `/v1/convai/conversation/token?agent_id=${encodeURIComponent(odd)}`);
});

test('concurrent first calls for one key share one find/create', async () => {
  const key = freshKey();
  el.script(key, { list: 'hold' });
  const p1 = voice(withKey, { customApiKey: key });
  const p2 = voice(withKey, { customApiKey: key });
  const [list] = await el.waitFor((c) => c.key === key && c.kind === 'list');
  await sleep(300); // both requests are in hapid now
  el.release(list, { json: { agents: [] } });
  const [r1, r2] = await Promise.all([p1, p2]);
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.equal(r2.status, 200, JSON.stringify(r2.body));
  assert.equal(r1.body.agentId, r2.body.agentId);
  assert.deepEqual(kinds(el.byKey(key)), ['list', 'create', 'token', 'token']);
});

test('a client that disconnects while the token request runs does not break the next request', async () => {
  const key = freshKey();
  el.script(key, { token: 'hold' });
  const ac = new AbortController();
  const p = voice(withKey, { customApiKey: key, customAgentId: 'agent_dc' }, { signal: ac.signal });
  const [tok] = await el.waitFor((c) => c.key === key && c.kind === 'token');
  ac.abort();
  await assert.rejects(p);
  await sleep(300);
  el.release(tok, { json: { token: 'tok_late' } });
  el.script(key, {});
  const r = await voice(withKey, { customApiKey: key, customAgentId: 'agent_dc' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.agentId, 'agent_dc');
});

for (const how of ['reset', 'fin']) {
  test(`a client that goes away (${how}) during the agent search does not break the next request for that key`, async () => {
    const key = freshKey();
    el.script(key, { list: 'hold' });
    const sock = await rawPost(withKey, '/api/voice/token', { token: jwt.get(withKey), body: JSON.stringify({ customApiKey: key }) });
    const [list] = await el.waitFor((c) => c.key === key && c.kind === 'list');
    if (how === 'reset') sock.resetAndDestroy();
    else sock.end();
    await sleep(300); // hapid has seen the close
    const p2 = voice(withKey, { customApiKey: key });
    await sleep(300); // the second request waits on the search in flight (or starts its own)
    el.script(key, {});
    el.release(list, { json: { agents: [] } });
    // If hapid started a second search, answer it too.
    for (const c of el.byKey(key).filter((c) => c.kind === 'list' && c !== list)) {
      try {
        el.release(c, { json: { agents: [] } });
      } catch {
        /* not held */
      }
    }
    const r = await p2;
    assert.equal(r.status, 200, `expected the second client to get a token, got ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.allowed, true);
    const k = kinds(el.byKey(key));
    assert.equal(k.filter((x) => x === 'create').length, 1, `calls: ${k}`);
    sock.destroy();
  });
}

test('secrets never appear in hapid output', async () => {
  for (const h of [noKey, withKey, withAgent]) {
    const out = h.output();
    for (const s of secrets) assert.ok(!out.includes(s), `hapid output contains the key ${s.slice(0, 4)}…`);
    assert.ok(!/tok_(fake|custom|late|\d)/.test(out), 'hapid output contains a conversation token');
  }
});
