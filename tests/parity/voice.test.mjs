// The /api/voice/* routes of v0.30.7 (parity-0.30.7 §2 rows 100–110, §5 row 4): voice
// backends, transcription providers, the owner's provider credentials (masked), server-side
// transcription forwarded to a provider, realtime tokens, Gemini/Qwen token answers, telemetry.
//
// Providers are fakes on loopback. The official hub has a base-URL variable only for the
// OpenAI-compatible provider (TRANSCRIPTION_BASE_URL); its OpenAI, Groq, Deepgram and ElevenLabs
// URLs are constants, so those are tested on hapid alone, through its HAPID_*_API_BASE overrides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHub, web, request, IS_OFFICIAL, cliToken, sleep } from './lib.mjs';

/** Every voice variable unset, so the environment of the test run does not leak in. */
const NO_VOICE_ENV = Object.fromEntries(
  ['OPENAI_API_KEY', 'GROQ_API_KEY', 'DEEPGRAM_API_KEY', 'TRANSCRIPTION_BASE_URL', 'TRANSCRIPTION_MODEL',
    'TRANSCRIPTION_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY', 'DASHSCOPE_API_KEY', 'QWEN_API_KEY',
    'VOICE_BACKEND', 'GEMINI_API_BASE'].map((k) => [k, undefined]),
);

/**
 * A fake provider: records each request ({method, url, headers, body: Buffer}) and answers with
 * `answer(req)` → {status, body} | 'hang' | 'garbage'.
 */
async function fakeProvider(answer) {
  const seen = [];
  const hanging = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      const a = answer(r);
      if (a === 'hang') {
        hanging.add(res);
        return;
      }
      if (a === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
        return;
      }
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(a.body ?? {}));
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    seen,
    close: () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections?.();
      return new Promise((ok) => server.close(ok));
    },
  };
}

/** The text fields and files of a multipart body the fake received. */
function readForm(r) {
  const boundary = /boundary=([^;]+)/.exec(r.headers['content-type'] ?? '')?.[1]?.replace(/"/g, '');
  assert.ok(boundary, `multipart content-type, got ${r.headers['content-type']}`);
  const text = r.body.toString('latin1');
  const out = {};
  for (const chunk of text.split(`--${boundary}`).slice(1, -1)) {
    const [head, ...rest] = chunk.replace(/^\r\n/, '').split('\r\n\r\n');
    const value = rest.join('\r\n\r\n').replace(/\r\n$/, '');
    const name = /name="([^"]*)"/.exec(head)?.[1];
    const filename = /filename="([^"]*)"/.exec(head)?.[1];
    const type = /content-type:\s*(.*)/i.exec(head)?.[1]?.trim();
    out[name] = filename === undefined ? value : { filename, type, data: value };
  }
  return out;
}

/** POST /api/voice/transcription with a multipart form built from `fields` (Blob = file). */
async function transcribe(h, jwt, fields, { timeoutMs = 20000, signal } = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v && typeof v === 'object' && 'blob' in v) form.set(k, v.blob, v.name);
    else form.set(k, v);
  }
  const res = await fetch(`${h.base}/api/voice/transcription`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}` },
    body: form,
    signal: signal ?? AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep */
  }
  return { status: res.status, body };
}

const audio = (bytes = 'RIFFfakeaudio', type = 'audio/webm', name = 'clip.webm') => ({ blob: new Blob([bytes], { type }), name });
const answer = (r) => ({ status: r.status, body: r.body });
const none = { configured: false, source: 'none', hint: null, editable: true };

test('without providers: no backend, no providers, no voices, tokens refused, credentials all unset', async () => {
  const h = await startHub({ env: NO_VOICE_ENV });
  try {
    const w = await web(h);
    assert.deepEqual(answer(await w.req('GET', '/api/voice/backend')), { status: 200, body: { backend: null, backends: [] } });
    assert.deepEqual(answer(await w.req('GET', '/api/voice/transcription/providers')), { status: 200, body: { providers: [] } });
    assert.deepEqual(answer(await w.req('GET', '/api/voice/voices')), { status: 200, body: { voices: [] } });
    if (IS_OFFICIAL) {
      assert.deepEqual(answer(await w.req('POST', '/api/voice/gemini-token', {})), {
        status: 400,
        body: { allowed: false, error: 'Gemini API key not configured (set GEMINI_API_KEY or GOOGLE_API_KEY)' },
      });
      assert.deepEqual(answer(await w.req('POST', '/api/voice/qwen-token', {})), {
        status: 400,
        body: { allowed: false, error: 'DashScope API key not configured (set DASHSCOPE_API_KEY or QWEN_API_KEY)' },
      });
    } else {
      // hapid has no Gemini/Qwen WebSocket proxy yet, so no token routes for them (404).
      for (const p of ['gemini-token', 'qwen-token']) assert.equal((await w.req('POST', `/api/voice/${p}`, {})).status, 404, p);
    }
    assert.deepEqual(answer(await w.req('POST', '/api/voice/token', {})), {
      status: 400,
      body: { allowed: false, error: 'ElevenLabs API key not configured' },
    });
    assert.deepEqual(answer(await w.req('POST', '/api/voice/transcription/realtime-token', { provider: 'openai' })), {
      status: 400,
      body: { error: 'openai transcription is not configured' },
    });
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'groq', file: audio() }), {
      status: 400,
      body: { error: 'groq transcription is not configured' },
    });
    assert.deepEqual(answer(await w.req('GET', '/api/voice/transcription/credentials')), {
      status: 200,
      body: {
        openai: none,
        elevenlabs: none,
        deepgram: none,
        groq: none,
        openaiCompatible: { configured: false, source: 'none', baseUrl: null, model: null, baseUrlEditable: true, modelEditable: true, apiKey: none },
        voiceBackends: { elevenlabs: none, geminiLive: none, qwenRealtime: none },
      },
    });
  } finally {
    await h.stop();
  }
});

test('every provider from the environment: backends in order, VOICE_BACKEND chooses, credentials masked and locked', async () => {
  const env = {
    ...NO_VOICE_ENV,
    ELEVENLABS_API_KEY: 'xi-env-key-1111',
    GEMINI_API_KEY: 'gem-key-2222',
    QWEN_API_KEY: 'qw-key-3333',
    OPENAI_API_KEY: 'sk-openai-4444',
    DEEPGRAM_API_KEY: 'dg',
    GROQ_API_KEY: 'gsk-groq-5555',
    TRANSCRIPTION_BASE_URL: 'http://127.0.0.1:9/v1/',
    TRANSCRIPTION_MODEL: 'local-whisper',
    VOICE_BACKEND: 'qwen-realtime',
  };
  const h = await startHub({ env });
  try {
    const w = await web(h);
    // hapid offers only the backends it can connect (no Gemini/Qwen proxy yet): ElevenLabs.
    assert.deepEqual(
      (await w.req('GET', '/api/voice/backend')).body,
      IS_OFFICIAL
        ? { backend: 'qwen-realtime', backends: ['elevenlabs', 'gemini-live', 'qwen-realtime'] }
        : { backend: 'elevenlabs', backends: ['elevenlabs'] },
    );
    assert.deepEqual((await w.req('GET', '/api/voice/transcription/providers')).body, {
      providers: [
        { id: 'openai', label: 'OpenAI', modes: ['standard', 'realtime'] },
        { id: 'elevenlabs', label: 'ElevenLabs', modes: ['standard', 'realtime'] },
        { id: 'deepgram', label: 'Deepgram', modes: ['standard', 'realtime'] },
        { id: 'groq', label: 'Groq', modes: ['standard'] },
        { id: 'openai-compatible', label: 'OpenAI-compatible / local', modes: ['standard'] },
      ],
    });
    const env_ = (hint) => ({ configured: true, source: 'env', hint, editable: false });
    const creds = await w.req('GET', '/api/voice/transcription/credentials');
    assert.deepEqual(creds.body, {
      openai: env_('••••4444'),
      elevenlabs: env_('••••1111'),
      deepgram: env_('••••'),
      groq: env_('••••5555'),
      openaiCompatible: {
        configured: true,
        source: 'env',
        baseUrl: 'http://127.0.0.1:9/v1/',
        model: 'local-whisper',
        baseUrlEditable: false,
        modelEditable: false,
        apiKey: none,
      },
      voiceBackends: { elevenlabs: env_('••••1111'), geminiLive: env_('••••2222'), qwenRealtime: env_('••••3333') },
    });
    for (const secret of ['sk-openai-4444', 'xi-env-key-1111', 'gem-key-2222', 'qw-key-3333', 'gsk-groq-5555']) {
      assert.ok(!creds.text.includes(secret), `credentials answer leaks ${secret}`);
    }
    // A key set by the environment cannot be changed (the alias pair locks together).
    assert.deepEqual(answer(await w.req('PUT', '/api/voice/transcription/credentials', { openai: 'sk-new' })), {
      status: 409,
      body: { error: 'OPENAI_API_KEY is set by an environment variable and cannot be changed from Settings' },
    });
    assert.deepEqual(answer(await w.req('PUT', '/api/voice/transcription/credentials', { qwenRealtime: null })), {
      status: 409,
      body: { error: 'DASHSCOPE_API_KEY (or QWEN_API_KEY) is set by an environment variable and cannot be changed from Settings' },
    });
    // Tokens of the WebSocket backends point at the hub's own proxy routes.
    const host = `127.0.0.1:${h.port}`;
    if (IS_OFFICIAL) {
      assert.deepEqual(answer(await w.req('POST', '/api/voice/gemini-token', {})), {
        status: 200,
        body: { allowed: true, apiKey: 'proxied', wsUrl: `ws://${host}/api/voice/gemini-ws` },
      });
      assert.deepEqual(answer(await w.req('POST', '/api/voice/qwen-token')), {
        status: 200,
        body: { allowed: true, wsUrl: `ws://${host}/api/voice/qwen-ws` },
      });
    }
  } finally {
    await h.stop();
  }
  // HAPI_PUBLIC_URL names the proxy's host; an unknown VOICE_BACKEND falls back to elevenlabs.
  const h2 = await startHub({ env: { ...env, VOICE_BACKEND: 'nope', HAPI_PUBLIC_URL: 'https://hapi.example.com/base/', GEMINI_API_BASE: 'https://gem.example' } });
  try {
    const w = await web(h2);
    assert.deepEqual((await w.req('GET', '/api/voice/backend')).body.backend, 'elevenlabs');
    if (IS_OFFICIAL) {
      assert.deepEqual((await w.req('POST', '/api/voice/gemini-token', {})).body, {
        allowed: true,
        apiKey: 'proxied',
        wsUrl: 'wss://hapi.example.com/api/voice/gemini-ws',
        baseUrl: 'https://gem.example',
      });
      assert.deepEqual((await w.req('POST', '/api/voice/qwen-token', {})).body.wsUrl, 'wss://hapi.example.com/api/voice/qwen-ws');
    }
  } finally {
    await h2.stop();
  }
  // Only Gemini (through its alias GOOGLE_API_KEY): it is the backend.
  const h3 = await startHub({ env: { ...NO_VOICE_ENV, GOOGLE_API_KEY: 'g' } });
  try {
    const w = await web(h3);
    // hapid: no Gemini proxy yet, so no backend to offer.
    const want = IS_OFFICIAL ? { backend: 'gemini-live', backends: ['gemini-live'] } : { backend: null, backends: [] };
    assert.deepEqual((await w.req('GET', '/api/voice/backend')).body, want);
  } finally {
    await h3.stop();
  }
});

test('stored credentials: masked, kept 0600 across a restart, removable; bad payloads refused; owner only', async () => {
  const h = await startHub({ env: NO_VOICE_ENV });
  try {
    const w = await web(h);
    const put = (body) => w.req('PUT', '/api/voice/transcription/credentials', body);
    for (const bad of [{ openai: 5 }, { unknown: 'x' }, { openaiCompatible: 'x' }, [], 'null']) {
      const r = typeof bad === 'string' ? await w.req('PUT', '/api/voice/transcription/credentials', undefined, { rawBody: bad }) : await put(bad);
      assert.deepEqual(answer(r), { status: 400, body: { error: 'Invalid transcription credentials payload' } }, JSON.stringify(bad));
    }
    const r = await put({ openai: '  sk-stored-9876  ', geminiLive: 'gm-stored-1234', openaiCompatible: { baseUrl: 'http://127.0.0.1:9/v1', model: 'm1', apiKey: 'ab' } });
    assert.equal(r.status, 200);
    const set = (hint) => ({ configured: true, source: 'settings', hint, editable: true });
    assert.deepEqual(r.body.openai, set('••••9876'));
    assert.deepEqual(r.body.openaiCompatible, {
      configured: true,
      source: 'settings',
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'm1',
      baseUrlEditable: true,
      modelEditable: true,
      apiKey: set('••••'),
    });
    assert.deepEqual(r.body.voiceBackends.geminiLive, set('••••1234'));
    assert.ok(!r.text.includes('sk-stored-9876'));
    const stored = IS_OFFICIAL ? { backend: 'gemini-live', backends: ['gemini-live'] } : { backend: null, backends: [] };
    assert.deepEqual((await w.req('GET', '/api/voice/backend')).body, stored);
    assert.deepEqual(
      (await w.req('GET', '/api/voice/transcription/providers')).body.providers.map((p) => p.id),
      ['openai', 'openai-compatible'],
    );
    // On disk in settings.json → providerCredentials, readable by the owner only, beside the
    // file's other keys.
    const file = join(h.home, 'settings.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(onDisk.providerCredentials.OPENAI_API_KEY, 'sk-stored-9876');
    assert.equal(onDisk.providerCredentials.GEMINI_API_KEY, 'gm-stored-1234');
    assert.equal(onDisk.cliApiToken, h.token, 'the other settings are kept');
    assert.ok(!h.output().includes('sk-stored-9876'), 'the key is not logged');

    // Another namespace is not the owner.
    const other = await web(h, 'guest');
    const forbidden = { status: 403, body: { error: 'Provider credentials are only available to the hub owner' } };
    assert.deepEqual(answer(await other.req('GET', '/api/voice/transcription/credentials')), forbidden);
    assert.deepEqual(answer(await other.req('PUT', '/api/voice/transcription/credentials', { openai: null })), forbidden);
    void cliToken;

    const h2 = await h.restart();
    const w2 = await web(h2);
    assert.deepEqual((await w2.req('GET', '/api/voice/transcription/credentials')).body.openai, set('••••9876'));
    // null (or blank) removes; an absent key stays.
    const cleared = await w2.req('PUT', '/api/voice/transcription/credentials', { openai: null, openaiCompatible: { model: '  ' } });
    assert.deepEqual(cleared.body.openai, none);
    assert.equal(cleared.body.openaiCompatible.configured, false);
    assert.equal(cleared.body.openaiCompatible.baseUrl, 'http://127.0.0.1:9/v1');
    try {
      // The stored Gemini key survived the restart (hapid keeps it but offers no backend for it).
      assert.deepEqual(cleared.body.voiceBackends.geminiLive, set('••••1234'));
      assert.deepEqual((await w2.req('GET', '/api/voice/backend')).body.backends, IS_OFFICIAL ? ['gemini-live'] : []);
    } finally {
      await h2.stop();
    }
  } finally {
    await h.stop();
  }
});

test('transcription through an OpenAI-compatible provider: the request sent, its answers, failures, a provider that never answers', async () => {
  let mode = 'ok';
  const fake = await fakeProvider((r) => {
    if (mode === 'hang') return 'hang';
    if (mode === 'garbage') return 'garbage';
    if (mode === 'error') return { status: 503, body: { error: 'overloaded' } };
    return { body: { text: 'hello world', language: 'en', extra: 1 } };
  });
  const h = await startHub({ env: { ...NO_VOICE_ENV, TRANSCRIPTION_BASE_URL: `${fake.base}/v1/`, TRANSCRIPTION_MODEL: 'whisper-local', TRANSCRIPTION_API_KEY: 'local-key' } });
  try {
    const w = await web(h);
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', language: 'en-US', file: audio() }), {
      status: 200,
      body: { text: 'hello world', language: 'en' },
    });
    const sent = fake.seen.at(-1);
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, '/v1/audio/transcriptions');
    assert.equal(sent.headers.authorization, 'Bearer local-key');
    const form = readForm(sent);
    // The file's type comes from its name's extension, not from the part's Content-Type.
    assert.deepEqual(form.file, { filename: 'clip.webm', type: 'video/webm', data: 'RIFFfakeaudio' });
    assert.equal(form.model, 'whisper-local');
    assert.equal(form.language, 'en-US');

    // No language: none is sent, and an answer without one has none.
    fake.seen.length = 0;
    assert.equal((await transcribe(h, w.jwt, { provider: 'openai-compatible', mode: 'standard', file: audio('x', 'text/plain', 'speech') })).status, 200);
    assert.equal(readForm(fake.seen[0]).language, undefined);
    assert.deepEqual(readForm(fake.seen[0]).file, { filename: 'speech', type: 'application/octet-stream', data: 'x' });
    assert.equal((await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio('x', 'text/plain', 'a.M4A') })).status, 200);
    assert.equal(readForm(fake.seen[1]).file.type, 'audio/x-m4a');

    mode = 'error';
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio() }), {
      status: 502,
      body: { error: 'openai-compatible transcription failed (HTTP 503)' },
    });
    mode = 'garbage';
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio() }), {
      status: 502,
      body: { error: 'openai-compatible transcription request failed' },
    });
    // A provider that never answers: the web gives up; the hub keeps serving meanwhile.
    mode = 'hang';
    const gaveUp = transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio() }, { timeoutMs: 1500 }).then(
      () => 'answered',
      (e) => e.name,
    );
    await sleep(300);
    assert.equal((await request(h, 'GET', '/health')).status, 200);
    assert.equal((await w.req('GET', '/api/voice/backend')).status, 200);
    assert.equal(await gaveUp, 'TimeoutError');
    mode = 'ok';
    assert.equal((await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio() })).status, 200);
  } finally {
    await h.stop();
    await fake.close();
  }
  // A provider that is not there.
  const gone = await fakeProvider(() => ({}));
  const deadBase = gone.base;
  await gone.close();
  const h2 = await startHub({ env: { ...NO_VOICE_ENV, TRANSCRIPTION_BASE_URL: deadBase, TRANSCRIPTION_MODEL: 'm' } });
  try {
    const w = await web(h2);
    assert.deepEqual(await transcribe(h2, w.jwt, { provider: 'openai-compatible', file: audio() }), {
      status: 502,
      body: { error: 'openai-compatible transcription request failed' },
    });
  } finally {
    await h2.stop();
  }
});

test('transcription: bad uploads get the official 400s and an oversize body 413', async () => {
  const h = await startHub({ env: { ...NO_VOICE_ENV, TRANSCRIPTION_BASE_URL: 'http://127.0.0.1:9', TRANSCRIPTION_MODEL: 'm' } });
  try {
    const w = await web(h);
    const bad = (error) => ({ status: 400, body: { error } });
    assert.deepEqual(answer(await w.req('POST', '/api/voice/transcription', { provider: 'openai' })), bad('Invalid form data'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'whisper', file: audio() }), bad('Invalid transcription provider'));
    assert.deepEqual(await transcribe(h, w.jwt, { file: audio() }), bad('Invalid transcription provider'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', language: 'english!', file: audio() }), bad('Invalid transcription language'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', mode: 'realtime', file: audio() }), bad('This endpoint only accepts standard transcription'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible' }), bad('Missing audio file'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: 'not a file' }), bad('Missing audio file'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio('') }), bad('Audio file must be between 1 byte and 26214400 bytes'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio('x', 'audio/webm', 'clip.txt') }), bad('Unsupported audio file type'));
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio('x', 'audio/webm', 'clip.xyz') }), bad('Unsupported audio file type'));
    // Over 25 MiB of audio but under the body limit: 400; over the body limit (26 MiB): 413.
    const big = new Uint8Array(25 * 1024 * 1024 + 10);
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio(big) }), bad('Audio file must be between 1 byte and 26214400 bytes'));
    const huge = new Uint8Array(26 * 1024 * 1024 + 10);
    assert.deepEqual(await transcribe(h, w.jwt, { provider: 'openai-compatible', file: audio(huge) }).catch((e) => e.cause?.code ?? e.name), {
      status: 413,
      body: { error: 'Audio file too large' },
    });
    // Without credentials the upload is refused first.
    assert.equal((await request(h, 'POST', '/api/voice/transcription', { rawBody: 'x', headers: { 'content-type': 'multipart/form-data; boundary=q' } })).status, 401);
    assert.equal((await request(h, 'GET', '/api/voice/backend')).status, 401);

    const rt = (body) => w.req('POST', '/api/voice/transcription/realtime-token', body);
    assert.deepEqual(answer(await rt({ provider: 'groq' })), bad('Invalid realtime transcription provider'));
    assert.deepEqual(answer(await rt(undefined)), bad('Invalid realtime transcription provider'));
    assert.deepEqual(answer(await rt({ provider: 'openai', language: 'x' })), bad('Invalid transcription language'));
    assert.deepEqual(answer(await rt({ provider: 'openai', language: 7 })), bad('Invalid transcription language'));
    assert.deepEqual(answer(await rt({ provider: 'openai', pad: 'x'.repeat(9000) })), { status: 413, body: { error: 'Realtime token request too large' } });
  } finally {
    await h.stop();
  }
});

test('voice telemetry: a valid event is acknowledged, anything else is 400', async () => {
  const h = await startHub({ env: NO_VOICE_ENV });
  try {
    const w = await web(h);
    const tel = (body, opts) => w.req('POST', '/api/voice/telemetry', body, opts);
    assert.deepEqual(answer(await tel({ stage: 'connect', message: 'started', sessionId: 's1', details: { a: 1 }, extra: true })), { status: 200, body: { ok: true } });
    const invalid = { status: 400, body: { ok: false, error: 'Invalid telemetry payload' } };
    for (const bad of [{}, { stage: '', message: 'm' }, { stage: 's' }, { stage: 's', message: 'm', sessionId: null }, { stage: 's', message: 'm', details: [1] }, { stage: 1, message: 'm' }]) {
      assert.deepEqual(answer(await tel(bad)), invalid, JSON.stringify(bad));
    }
    assert.deepEqual(answer(await tel(undefined, { rawBody: '{nope' })), invalid);
  } finally {
    await h.stop();
  }
});

// hapid only: the official hub calls api.openai.com, api.groq.com, api.deepgram.com and
// api.elevenlabs.io with no base-URL variable, so these requests are checked against hapid's
// overrides (HAPID_OPENAI_API_BASE, HAPID_GROQ_API_BASE, HAPID_DEEPGRAM_API_BASE,
// HAPID_ELEVENLABS_API_BASE); the shapes are the ones the official code sends.
test('hapid: OpenAI, Groq, Deepgram and ElevenLabs transcription, realtime tokens and the voice list', { skip: IS_OFFICIAL }, async () => {
  const fake = await fakeProvider((r) => {
    if (r.url === '/v1/voices') return { body: { voices: [{ voice_id: 'v1', name: 'Ann', preview_url: 'https://p/1', category: 'premade', x: 1 }] } };
    if (r.url.startsWith('/deepgram/listen')) return { body: { results: { channels: [{ alternatives: [{ transcript: 'dg text' }] }] } } };
    if (r.url === '/deepgram/auth/grant') return { body: { access_token: 'dg-token' } };
    if (r.url === '/openai/realtime/client_secrets') return { body: { value: 'ek_123' } };
    if (r.url === '/v1/single-use-token/realtime_scribe') return { status: 401, body: {} };
    if (r.url === '/v1/speech-to-text') return { body: { text: 'xi text', language_code: 'de' } };
    return { body: { text: `${r.url} text` } };
  });
  const h = await startHub({
    env: {
      ...NO_VOICE_ENV,
      HAPID_PUSH_ALLOW_HTTP: '1',
      ELEVENLABS_API_KEY: 'xi-key',
      HAPID_ELEVENLABS_API_BASE: fake.base,
      OPENAI_API_KEY: 'sk-o',
      HAPID_OPENAI_API_BASE: `${fake.base}/openai`,
      GROQ_API_KEY: 'gsk',
      HAPID_GROQ_API_BASE: `${fake.base}/groq/`,
      DEEPGRAM_API_KEY: 'dgk',
      HAPID_DEEPGRAM_API_BASE: `${fake.base}/deepgram`,
    },
  });
  try {
    const w = await web(h);
    assert.deepEqual((await w.req('GET', '/api/voice/voices')).body, {
      voices: [{ id: 'v1', name: 'Ann', previewUrl: 'https://p/1', category: 'premade' }],
    });
    assert.equal(fake.seen.at(-1).headers['xi-api-key'], 'xi-key');

    assert.deepEqual((await transcribe(h, w.jwt, { provider: 'openai', language: 'zh-TW', file: audio() })).body, { text: '/openai/audio/transcriptions text' });
    let sent = fake.seen.at(-1);
    assert.equal(sent.headers.authorization, 'Bearer sk-o');
    assert.deepEqual(readForm(sent)['languages[]'], 'zh-tw');
    assert.equal(readForm(sent).model, 'gpt-transcribe');

    assert.equal((await transcribe(h, w.jwt, { provider: 'groq', language: 'pt-BR', file: audio() })).status, 200);
    sent = fake.seen.at(-1);
    assert.equal(sent.url, '/groq/audio/transcriptions');
    assert.equal(readForm(sent).language, 'pt');
    assert.equal(readForm(sent).model, 'whisper-large-v3');

    assert.deepEqual((await transcribe(h, w.jwt, { provider: 'elevenlabs', language: 'de-DE', file: audio() })).body, { text: 'xi text', language: 'de' });
    sent = fake.seen.at(-1);
    assert.equal(sent.headers['xi-api-key'], 'xi-key');
    assert.equal(readForm(sent).model_id, 'scribe_v2');
    assert.equal(readForm(sent).language_code, 'de');

    assert.deepEqual((await transcribe(h, w.jwt, { provider: 'deepgram', language: 'en', file: audio('raw', 'audio/webm', 'clip.ogg') })).body, { text: 'dg text' });
    sent = fake.seen.at(-1);
    assert.equal(sent.url, '/deepgram/listen?model=nova-3&smart_format=true&language=en');
    assert.equal(sent.headers.authorization, 'Token dgk');
    assert.equal(sent.headers['content-type'], 'audio/ogg');
    assert.equal(sent.body.toString(), 'raw');

    const rt = (provider, language) => w.req('POST', '/api/voice/transcription/realtime-token', { provider, language });
    assert.deepEqual(answer(await rt('openai', 'en-GB')), { status: 200, body: { token: 'ek_123' } });
    sent = JSON.parse(fake.seen.at(-1).body);
    assert.deepEqual(sent.session.audio.input.transcription, { model: 'gpt-live-transcribe', delay: 'low', languages: ['en'] });
    assert.deepEqual(answer(await rt('deepgram')), { status: 200, body: { token: 'dg-token' } });
    assert.equal(fake.seen.at(-1).body.toString(), '{}');
    assert.deepEqual(answer(await rt('elevenlabs')), { status: 502, body: { error: 'elevenlabs realtime transcription token failed (HTTP 401)' } });
  } finally {
    await h.stop();
    await fake.close();
  }
});
