// Helpers for the Telegram bot and voice-token tests (issue 7): start the real hapid binary,
// a fake Telegram Bot API and a fake ElevenLabs API (plain HTTP on 127.0.0.1, every request
// recorded), a fake push service, a CLI session over socket.io-client, and a Mini App
// initData signer (auth.md §7, written here with node:crypto, independent of hapid's code).

import { createServer as createHttpServer } from 'node:http';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';
import * as hub from '../jslib/hapid.mjs';

export { HAPID_BIN, freePort, sleep, request, webJwt, emitAck } from '../jslib/hapid.mjs';
export const TOKEN = 'tg-test-token-5b1f0c9e7a3d2468';
export const BOT_TOKEN = '123456:TESTTOKENabcdefghij';
export const BOT_USERNAME = 'test_hapi_bot';
export const PUBLIC_URL = 'https://hapi.example.test/app';

// ---------------------------------------------------------------------------------------------
// hapid (launcher, request, webJwt: tests/jslib/hapid.mjs)

/** The ambient environment must not configure the integrations under test. */
const UNSET = [
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_NOTIFICATION',
  'HAPI_PUBLIC_URL',
  'ELEVENLABS_API_KEY',
  'ELEVENLABS_AGENT_ID',
  'HAPID_TELEGRAM_API_BASE',
  'HAPID_ELEVENLABS_API_BASE',
];

/**
 * Start hapid with a fresh HAPI_HOME, the inherited environment minus UNSET, and
 * HAPID_PUSH_ALLOW_HTTP=1 (plain-http API bases); requests time out after 10 s.
 * `env` values of `undefined` remove a variable. Resolves to
 * { port, base, token, home, proc, output(), stop() }.
 */
export function startHapid({ env = {} } = {}) {
  return hub.startHapid({
    token: TOKEN,
    tmpPrefix: 'hapid-tg-',
    inheritEnv: true,
    env: { ...Object.fromEntries(UNSET.map((k) => [k, undefined])), HAPID_PUSH_ALLOW_HTTP: '1', ...env },
    requestTimeoutMs: 10000,
  });
}

// ---------------------------------------------------------------------------------------------
// Telegram Mini App initData (auth.md §7): secret = HMAC-SHA256(key "WebAppData", bot token),
// hash = HMAC-SHA256(secret, data-check-string).

export function signInitData(user, botToken = BOT_TOKEN, authDate = Math.floor(Date.now() / 1000) - 10) {
  const fields = {
    auth_date: String(authDate),
    chat_instance: '-1',
    chat_type: 'private',
    query_id: `AAH${crypto.randomBytes(4).toString('hex')}`,
    user: JSON.stringify(user),
  };
  const dcs = Object.keys(fields)
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join('\n');
  const secret = crypto.createHmac('sha256', 'WebAppData').update(botToken).digest();
  const hash = crypto.createHmac('sha256', secret).update(dcs).digest('hex');
  return new URLSearchParams({ ...fields, hash }).toString();
}

/** POST /api/bind for Telegram user `userId` with the CLI access token (optionally `:<ns>`). */
export async function bindTelegramUser(h, userId, accessToken = h.token) {
  const initData = signInitData({ id: userId, first_name: `User${userId}`, username: `u${userId}` });
  return hub.request(h, 'POST', '/api/bind', { body: { initData, accessToken } });
}

// ---------------------------------------------------------------------------------------------
// Recording servers

/** Listens on 127.0.0.1; the common part of a recording server's handle. */
async function serve(server, log) {
  const port = await hub.listenLocal(server);
  return { port, base: `http://127.0.0.1:${port}`, calls: log.calls, waitFor: log.waitFor };
}

/** A request log with `waitFor(pred, {n, ms})`. */
function recorder(label) {
  const calls = [];
  const waiters = [];
  return {
    calls,
    add(rec) {
      calls.push(rec);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        const hits = calls.filter(w.pred);
        if (hits.length >= w.n) {
          waiters.splice(i, 1);
          clearTimeout(w.timer);
          w.ok(hits);
        }
      }
    },
    waitFor(pred, { n = 1, ms = 5000 } = {}) {
      return new Promise((ok, fail) => {
        const have = calls.filter(pred);
        if (have.length >= n) return ok(have);
        const w = { pred, n, ok, timer: null };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          fail(
            new Error(
              `${label}: expected ${n} matching request(s) within ${ms} ms, got ${calls.filter(pred).length}; ` +
                `all: ${JSON.stringify(calls.map((c) => c.method + (c.path ? ' ' + c.path : '')))}`,
            ),
          );
        }, ms);
        waiters.push(w);
      });
    },
  };
}

function readBody(req) {
  return new Promise((ok) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
  });
}

/** The request body: { raw (Buffer), body (parsed JSON, null when empty, else {'<unparsable>': text}) }. */
async function readJson(req) {
  const raw = await readBody(req);
  try {
    return { raw, body: raw.length ? JSON.parse(raw.toString('utf8')) : null };
  } catch {
    return { raw, body: { '<unparsable>': raw.toString('utf8') } };
  }
}

/**
 * A fake Telegram Bot API serving POST /bot<token>/<method>. Every call is recorded as
 * { method, body (parsed JSON), raw, headers, path, seq }. getMe/deleteWebhook answer at once;
 * getUpdates returns the scripted updates with update_id >= offset, else holds the request
 * until `push()` adds updates (or `holdMs` passes, then `[]`). Other methods answer ok.
 * `stall` is a set of method names that are accepted and never answered.
 */
export async function startFakeTelegram({ token = BOT_TOKEN, username = BOT_USERNAME, stall = [], holdMs = 20000 } = {}) {
  const log = recorder('fake Telegram');
  const stalled = new Set(stall);
  const pending = []; // scripted updates not yet confirmed
  let nextUpdateId = 2001;
  let nextMessageId = 5000;
  let seq = 0;
  const held = new Set(); // { res, timer } of waiting getUpdates
  const hanging = new Set();
  const replies = new Map(); // method → (body) => {status, json}

  const sendJson = (res, status, obj) => {
    if (res.writableEnded || res.destroyed) return;
    const s = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  };
  const available = (offset) => pending.filter((u) => u.update_id >= offset);
  const confirm = (offset) => {
    for (let i = pending.length - 1; i >= 0; i--) if (pending[i].update_id < offset) pending.splice(i, 1);
  };
  const releaseHeld = () => {
    for (const hd of [...held]) {
      const ups = available(hd.offset);
      if (ups.length) {
        held.delete(hd);
        clearTimeout(hd.timer);
        sendJson(hd.res, 200, { ok: true, result: ups });
      }
    }
  };

  const server = createHttpServer(async (req, res) => {
    const { raw, body } = await readJson(req);
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url);
    const rec = {
      seq: seq++,
      at: performance.now(),
      httpMethod: req.method,
      path: req.url,
      method: m ? m[2] : null,
      token: m ? m[1] : null,
      headers: req.headers,
      raw,
      body,
    };
    log.add(rec);
    if (!m || m[1] !== token) {
      return sendJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    }
    const method = m[2];
    if (stalled.has(method)) {
      hanging.add(res);
      req.socket.once('close', () => hanging.delete(res));
      return;
    }
    const custom = replies.get(method);
    if (custom) {
      const r = custom(body, rec);
      if (r) return sendJson(res, r.status ?? 200, r.json);
    }
    switch (method) {
      case 'getMe':
        return sendJson(res, 200, {
          ok: true,
          result: { id: Number(token.split(':')[0]), is_bot: true, first_name: 'Test HAPI', username, can_join_groups: true },
        });
      case 'deleteWebhook':
        return sendJson(res, 200, { ok: true, result: true, description: 'Webhook is already deleted' });
      case 'getUpdates': {
        const offset = Number(body?.offset ?? 0);
        confirm(offset);
        const ups = available(offset);
        if (ups.length || body?.limit !== undefined) return sendJson(res, 200, { ok: true, result: ups });
        const hd = { res, offset, timer: null };
        hd.timer = setTimeout(() => {
          held.delete(hd);
          sendJson(res, 200, { ok: true, result: [] });
        }, holdMs);
        held.add(hd);
        req.socket.once('close', () => {
          held.delete(hd);
          clearTimeout(hd.timer);
        });
        return;
      }
      case 'sendMessage':
        return sendJson(res, 200, {
          ok: true,
          result: { message_id: nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: body?.chat_id, type: 'private' }, text: body?.text },
        });
      case 'editMessageText':
        return sendJson(res, 200, {
          ok: true,
          result: { message_id: body?.message_id, date: Math.floor(Date.now() / 1000), chat: { id: body?.chat_id, type: 'private' }, text: body?.text },
        });
      default:
        return sendJson(res, 200, { ok: true, result: true });
    }
  });
  return {
    ...(await serve(server, log)),
    /** Calls of one Bot API method. */
    of: (method) => log.calls.filter((c) => c.method === method),
    /** Adds updates (update_id assigned when missing); returns them. */
    push(...updates) {
      const added = updates.map((u) => ({ update_id: u.update_id ?? nextUpdateId++, ...u }));
      for (const u of added) nextUpdateId = Math.max(nextUpdateId, u.update_id + 1);
      pending.push(...added);
      releaseHeld();
      return added;
    },
    /** Overrides the answer of a method: fn(body, rec) → {status, json} or undefined (default). */
    reply(method, fn) {
      if (fn) replies.set(method, fn);
      else replies.delete(method);
    },
    async close() {
      for (const hd of held) clearTimeout(hd.timer);
      await hub.closeServer(server, [...[...held].map((hd) => hd.res), ...hanging]);
    },
  };
}

/** A private-chat message update with a bot_command entity when `text` starts with `/`. */
export function messageUpdate(text, { chatId = 424242, fromId = chatId, messageId = 10, kind = 'message' } = {}) {
  const msg = {
    message_id: messageId,
    from: { id: fromId, is_bot: false, first_name: 'Ann', username: 'annlee', language_code: 'en' },
    chat: { id: chatId, first_name: 'Ann', username: 'annlee', type: 'private' },
    date: Math.floor(Date.now() / 1000),
    text,
  };
  if (text.startsWith('/')) {
    const end = text.indexOf(' ');
    msg.entities = [{ offset: 0, length: end < 0 ? text.length : end, type: 'bot_command' }];
  }
  return { [kind]: msg };
}

/** A callback_query update (a button press on message `messageId` in `chatId`). */
export function callbackUpdate(data, { id = `cbq${crypto.randomInt(1e6)}`, fromId = 424242, chatId = fromId, messageId = 777 } = {}) {
  return {
    callback_query: {
      id,
      from: { id: fromId, is_bot: false, first_name: 'Ann' },
      message: {
        message_id: messageId,
        from: { id: 123456, is_bot: true, first_name: 'Test HAPI', username: BOT_USERNAME },
        chat: { id: chatId, type: 'private' },
        date: Math.floor(Date.now() / 1000),
        text: 'Permission Request',
      },
      chat_instance: '-42',
      data,
    },
  };
}

/**
 * A fake ElevenLabs API. Requests are recorded as { method, path, headers, key (xi-api-key),
 * body (parsed JSON or null) }. Behaviour is scripted per API key and call kind:
 * `script(key, { list, create, token })`, each an action:
 *   { status, json } | { status, text } | 'close' (destroy the socket) | 'hold' (kept until
 *   `release(rec, action)`) | (rec) => action.
 * Defaults: list → {agents: []}, create → {agent_id: "agent_created_<n>"}, token → {token: "tok_<n>"}.
 */
export async function startFakeElevenLabs() {
  const log = recorder('fake ElevenLabs');
  const scripts = new Map();
  const holding = new Map(); // rec → res
  let n = 0;
  const kindOf = (method, path) => {
    if (method === 'GET' && path === '/v1/convai/agents') return 'list';
    if (method === 'POST' && path === '/v1/convai/agents/create') return 'create';
    if (method === 'GET' && path.startsWith('/v1/convai/conversation/token?')) return 'token';
    return 'other';
  };
  const respond = (req, res, rec, action) => {
    if (typeof action === 'function') action = action(rec);
    if (action === 'close') {
      req.socket.destroy();
      return;
    }
    if (action === 'hold') {
      holding.set(rec, { req, res });
      return;
    }
    const status = action.status ?? 200;
    if (action.json !== undefined) {
      const s = JSON.stringify(action.json);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
    } else {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(action.text ?? '');
    }
  };
  const server = createHttpServer(async (req, res) => {
    const { raw, body } = await readJson(req);
    const kind = kindOf(req.method, req.url);
    const rec = { at: performance.now(), method: req.method, path: req.url, kind, headers: req.headers, key: req.headers['xi-api-key'], raw, body };
    const s = scripts.get(rec.key) ?? {};
    const i = ++n;
    const defaults = {
      list: { json: { agents: [] } },
      create: { json: { agent_id: `agent_created_${i}` } },
      token: { json: { token: `tok_${i}` } },
      other: { status: 404, json: { detail: 'Not Found' } },
    };
    log.add(rec);
    respond(req, res, rec, s[kind] ?? defaults[kind]);
  });
  return {
    ...(await serve(server, log)),
    /** Recorded requests made with API key `key`. */
    byKey: (key) => log.calls.filter((c) => c.key === key),
    script(key, actions) {
      scripts.set(key, actions);
    },
    /** Answers a held request. */
    release(rec, action) {
      const h = holding.get(rec);
      if (!h) throw new Error('request not held');
      holding.delete(rec);
      respond(h.req, h.res, rec, action);
    },
    close: () => hub.closeServer(server, [...holding.values()].map(({ res }) => res)),
  };
}

/** A fake push service: every POST recorded; answers 201, or never when `hang`. */
export async function startPushService({ hang = false } = {}) {
  const log = recorder('push service');
  const hanging = new Set();
  const server = createHttpServer(async (req, res) => {
    const body = await readBody(req);
    log.add({ at: performance.now(), method: req.method, path: req.url, headers: req.headers, body });
    if (hang) {
      hanging.add(res);
      return;
    }
    res.writeHead(201, { 'content-type': 'text/plain' });
    res.end('');
  });
  const served = await serve(server, log);
  return {
    ...served,
    endpoint() {
      const path = `/push/${crypto.randomUUID()}`;
      return { url: `http://127.0.0.1:${served.port}${path}`, path };
    },
    close: () => hub.closeServer(server, hanging),
  };
}

/** A P-256 public key and auth secret, as PushManager.subscribe() makes them. */
export function makeSubscriber() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    keys: {
      p256dh: Buffer.from(ecdh.getPublicKey(null, 'uncompressed')).toString('base64url'),
      auth: crypto.randomBytes(16).toString('base64url'),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The CLI side (socket.io-client, as the official hapi CLI uses it)

export const metadata = (over = {}) => ({
  path: '/home/u/proj',
  host: 'box',
  name: 'proj',
  os: 'linux',
  flavor: 'claude',
  ...over,
});

/**
 * POST /cli/sessions, connect /cli, session-alive, rpc-register "<sid>:permission" (unless
 * `register: false`). Every rpc-request is recorded in `rpc` and answered by `onRpc`
 * (default: ack `{}` at once). Returns { id, socket, rpc, version, close() }.
 */
export async function cliSession(h, { token = h.token, meta = metadata(), register = true } = {}) {
  const session = await hub.createSession(h, { token, metadata: meta });
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    transports: ['websocket'],
    auth: { token, clientType: 'session-scoped', sessionId: session.id },
    reconnection: false,
    timeout: 10000,
  });
  await new Promise((ok, fail) => {
    socket.once('connect', ok);
    socket.once('connect_error', fail);
  });
  const cli = {
    id: session.id,
    session,
    socket,
    version: session.agentStateVersion ?? 1,
    rpc: [],
    rpcWaiters: [],
    onRpc: (_req, ack) => ack(JSON.stringify({})),
    keepAlive: null,
    close() {
      clearInterval(cli.keepAlive);
      socket.close();
    },
  };
  socket.on('rpc-request', (req, ack) => {
    cli.rpc.push(req);
    for (const w of cli.rpcWaiters.splice(0)) w();
    cli.onRpc(req, ack);
  });
  socket.emit('session-alive', { sid: session.id, time: Date.now(), thinking: false });
  // Sessions without session-alive for 30 s go inactive (lifecycle.md §3.5).
  cli.keepAlive = setInterval(() => socket.emit('session-alive', { sid: session.id, time: Date.now(), thinking: false }), 10000);
  if (register) socket.emit('rpc-register', { method: `${session.id}:permission` });
  await flush(cli);
  return cli;
}

/** The next rpc-request recorded after `from` (index into cli.rpc). */
export async function nextRpc(cli, from, ms = 5000) {
  await hub.until(() => cli.rpc.length > from, { ms, every: 20, what: 'an rpc-request on the CLI socket' });
  return cli.rpc[from];
}

/** update-state with agentState.requests (and completedRequests); returns the ack. */
export async function setRequests(cli, requests, completedRequests) {
  const agentState = { requests };
  if (completedRequests) agentState.completedRequests = completedRequests;
  const ack = await hub.emitAck(cli.socket, 'update-state', { sid: cli.id, expectedVersion: cli.version, agentState });
  if (ack?.result !== 'success') throw new Error(`update-state: ${JSON.stringify(ack)}`);
  cli.version = ack.version;
  return ack;
}

/** The CLI's "ready" event message (cli-protocol.md §6.3). */
export function sendReady(cli) {
  cli.socket.emit('message', {
    sid: cli.id,
    message: { role: 'agent', content: { id: crypto.randomUUID(), type: 'event', data: { type: 'ready' } } },
  });
}

/** Wait until the CLI socket's earlier emits were handled (a ping ack round trip). */
export async function flush(cli) {
  await hub.emitAck(cli.socket, 'ping', null);
}

/** telegram.md §6.2 deep link for PUBLIC_URL. */
export const deepLink = (sid) => `${PUBLIC_URL}?startapp=session_${sid}`;

/**
 * Sends a POST over a raw TCP socket and returns the socket, so a test can vanish mid-request:
 * `socket.resetAndDestroy()` (RST, what a killed browser tab looks like) or `socket.end()`.
 */
export async function rawPost(h, path, { token, body = '' } = {}) {
  const { connect } = await import('node:net');
  const socket = connect(h.port, '127.0.0.1');
  await new Promise((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  socket.on('error', () => {});
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${h.port}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(token ? [`Authorization: Bearer ${token}`] : []),
    '',
    '',
  ].join('\r\n');
  socket.write(head + body);
  return socket;
}
