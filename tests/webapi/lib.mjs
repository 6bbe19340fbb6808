// Helpers for the web API suite: start the real hapid binary, act as the CLI with the real
// socket.io-client (session processes and runners), and as the web with fetch and an SSE
// reader that keeps each event's `id:`.
//
// The binary is target/debug/hapid (override with HAPID_BIN). Each startHapid() gets a free
// loopback port, a fresh temporary HAPI_HOME and a fixed CLI_API_TOKEN, and waits for the
// startup banner "hapid <ver> listening on http://127.0.0.1:<port>".

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
export const HAPID_BIN = process.env.HAPID_BIN || resolve(here, '../../target/debug/hapid');
export const TOKEN = 'webapi-test-token-3b8d1f6a9c2e4710';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// hapid

/** Start hapid; resolves to { port, base, token, home, proc, output(), stop() }. */
export async function startHapid({ env = {} } = {}) {
  if (!existsSync(HAPID_BIN)) {
    throw new Error(`hapid binary not found at ${HAPID_BIN}; run \`cargo build\` first`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const home = mkdtempSync(join(tmpdir(), 'hapid-webapi-'));
    try {
      return await launch(port, home, env);
    } catch (e) {
      lastErr = e;
      rmSync(home, { recursive: true, force: true });
    }
  }
  throw lastErr;
}

/** The inherited environment minus everything hapid reads. */
function cleanEnv() {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(HAPI_|HAPID_|TELEGRAM_|ELEVENLABS_)/.test(k)) continue;
    if (['DB_PATH', 'CLI_API_TOKEN', 'CORS_ORIGINS', 'VAPID_SUBJECT'].includes(k)) continue;
    out[k] = v;
  }
  return out;
}

function launch(port, home, env) {
  const proc = spawn(HAPID_BIN, [], {
    env: {
      ...cleanEnv(),
      HAPI_HOME: home,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: TOKEN,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((ok) => proc.once('exit', (code, sig) => ok({ code, sig })));
  const h = {
    port,
    base: `http://127.0.0.1:${port}`,
    token: TOKEN,
    home,
    proc,
    output: () => out,
    /** VmRSS of the hapid process in KiB (Linux). */
    rssKiB() {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : NaN;
    },
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
  return new Promise((ok, fail) => {
    const banner = `listening on http://127.0.0.1:${port}`;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      fail(new Error(`hapid did not start within 15 s:\n${out}`));
    }, 15000);
    const check = () => {
      if (out.includes(banner)) {
        clearTimeout(timer);
        proc.stdout.off('data', check);
        ok(h);
      }
    };
    proc.stdout.on('data', check);
    exited.then(({ code, sig }) => {
      clearTimeout(timer);
      fail(new Error(`hapid exited early (code ${code}, signal ${sig}):\n${out}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * fetch; returns { status, headers, text, body } (body = parsed JSON when it parses, else the
 * text). `body` may be an object (sent as JSON) or a string (sent as is).
 */
export async function request(h, method, path, { token, body, headers = {}, timeoutMs = 40000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] ??= 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(h.base + path, init);
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** The CLI access token for a namespace (`default` = the bare token). */
export const cliToken = (h, ns = 'default') => (ns === 'default' ? h.token : `${h.token}:${ns}`);

/** POST /api/auth with the CLI token of `ns` → JWT string. */
export async function jwtFor(h, ns = 'default') {
  const r = await request(h, 'POST', '/api/auth', { body: { accessToken: cliToken(h, ns) } });
  if (r.status !== 200 || typeof r.body?.token !== 'string') {
    throw new Error(`POST /api/auth failed: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body.token;
}

export const defaultMetadata = (extra = {}) => ({
  path: '/tmp/hapid-webapi-proj',
  host: 'webapi-host',
  os: 'linux',
  flavor: 'claude',
  ...extra,
});

/** POST /cli/sessions in `ns` → Session object. */
export async function createSession(h, { ns = 'default', tag, metadata = defaultMetadata(), agentState } = {}) {
  const body = { tag: tag ?? `tag-${crypto.randomUUID()}` };
  if (metadata !== undefined) body.metadata = metadata;
  if (agentState !== undefined) body.agentState = agentState;
  const r = await request(h, 'POST', '/cli/sessions', { token: cliToken(h, ns), body });
  if (r.status !== 200) throw new Error(`POST /cli/sessions: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.session;
}

/** POST /cli/machines in `ns` → Machine object. */
export async function createMachine(h, { ns = 'default', id = `m-${crypto.randomUUID()}`, metadata } = {}) {
  const body = {
    id,
    metadata: metadata ?? { host: 'webapi-host', platform: 'linux', happyCliVersion: '0.30.7', homeDir: '/home/u' },
    runnerState: { status: 'offline' },
  };
  const r = await request(h, 'POST', '/cli/machines', { token: cliToken(h, ns), body });
  if (r.status !== 200) throw new Error(`POST /cli/machines: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.machine;
}

// ---------------------------------------------------------------------------------------------
// The CLI side (socket.io-client, configured like the official CLI)

/** A /cli socket; resolves once connected. `auth.token` defaults to the token of `ns`. */
export function connectCli(h, { ns = 'default', ...auth } = {}, { transports = ['websocket'] } = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true,
    transports,
    auth: { token: cliToken(h, ns), ...auth },
    reconnection: false,
    timeout: 10000,
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => ok(socket));
    socket.once('connect_error', (e) => {
      socket.close();
      fail(e);
    });
  });
}

/** emitWithAck with a timeout, so a missing ack fails the test instead of hanging it. */
export function emitAck(socket, event, payload, ms = 10000) {
  const s = socket.timeout(ms);
  return payload === undefined ? s.emitWithAck(event) : s.emitWithAck(event, payload);
}

/** Resolve with the first `event` on `socket` whose args satisfy `pred`. */
export function waitEvent(socket, event, pred = () => true, ms = 10000) {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => {
      socket.off(event, on);
      fail(new Error(`timed out waiting for ${event}`));
    }, ms);
    function on(...args) {
      if (!pred(...args)) return;
      clearTimeout(t);
      socket.off(event, on);
      ok(args.length <= 1 ? args[0] : args);
    }
    socket.on(event, on);
  });
}

/** rpc-register each method, then a ping round trip so the registrations are processed. */
export async function register(socket, ...methods) {
  for (const method of methods) socket.emit('rpc-register', { method });
  await emitAck(socket, 'ping');
}

/**
 * Routes `rpc-request`s of a socket to per-method handlers; records every request as
 * { method, params (parsed), raw }. handler(params) returns the ack value (a string is sent as
 * is, anything else as JSON text, `undefined` = never ack).
 */
export function rpcServer(socket) {
  const handlers = new Map();
  const calls = [];
  socket.on('rpc-request', (req, ack) => {
    const name = req.method.slice(req.method.indexOf(':') + 1);
    let params;
    try {
      params = JSON.parse(req.params);
    } catch {
      params = { '<unparsable>': req.params };
    }
    calls.push({ method: req.method, name, params, raw: req.params, paramsType: typeof req.params });
    const fn = handlers.get(name);
    if (!fn) return;
    Promise.resolve(fn(params, req)).then((v) => {
      if (v === undefined) return;
      ack(typeof v === 'string' ? v : JSON.stringify(v));
    });
  });
  return {
    calls,
    async handle(scope, name, fn) {
      handlers.set(name, fn);
      await register(socket, `${scope}:${name}`);
    },
    /** The calls made to `name` since the last take(). */
    take(name) {
      const out = calls.filter((c) => c.name === name);
      for (const c of out) calls.splice(calls.indexOf(c), 1);
      return out;
    },
  };
}

/**
 * A session process: the session exists (POST /cli/sessions), a socket joined its room and
 * sent session-alive; `keepAlive` re-sends it every 5 s (the hub ends a session after 30 s
 * without one). Returns { s, socket, rpc, close() }.
 */
export async function activeSession(h, { ns = 'default', metadata, agentState, keepAlive = false, sse } = {}) {
  const s = await createSession(h, { ns, metadata, agentState });
  const socket = await connectCli(h, { ns, clientType: 'session-scoped', sessionId: s.id });
  const rpc = rpcServer(socket);
  socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false });
  await emitAck(socket, 'ping');
  const timer = keepAlive
    ? setInterval(() => socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false }), 5000)
    : null;
  return {
    s,
    sid: s.id,
    socket,
    rpc,
    close() {
      if (timer) clearInterval(timer);
      socket.close();
    },
  };
}

/**
 * A runner: POST /cli/machines, a socket with auth.machineId, machine-alive (the machine is
 * online), kept alive every 10 s. Returns { m, id, socket, rpc, close() }.
 */
export async function onlineMachine(h, { ns = 'default', id, metadata } = {}) {
  const m = await createMachine(h, { ns, id, metadata });
  const socket = await connectCli(h, { ns, clientType: 'machine-scoped', machineId: m.id });
  const rpc = rpcServer(socket);
  const alive = () => socket.emit('machine-alive', { machineId: m.id, time: Date.now() });
  alive();
  await emitAck(socket, 'ping');
  const timer = setInterval(alive, 10000);
  return {
    m,
    id: m.id,
    socket,
    rpc,
    close() {
      clearInterval(timer);
      socket.close();
    },
  };
}

/** Poll `fn` until it returns a truthy value (or throw after ms). */
export async function until(fn, { ms = 10000, every = 50, what = 'condition' } = {}) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * The 500 of abort / switch / archive / approve / deny when the RPC fails: upstream answers
 * `text/plain` "Internal Server Error"; hapid may instead answer `{"error": <the RPC failure>}`
 * (src/hub/rpc.rs documents that choice). Either is accepted; nothing else is.
 */
export function isRpc500(r, rpcError) {
  if (r.status !== 500) return false;
  const ct = r.headers.get('content-type') ?? '';
  if (ct.startsWith('text/plain')) return r.text === 'Internal Server Error';
  return ct.startsWith('application/json') && JSON.stringify(r.body) === JSON.stringify({ error: rpcError });
}

// ---------------------------------------------------------------------------------------------
// SSE

/** Parse SSE blocks out of `buf`; returns [events, rest]. Each event: { id, data, raw }. */
export function parseSse(buf) {
  const events = [];
  let i;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).replace(/^ /, '');
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0) continue;
    events.push({ id, data: data.join('\n'), raw: block });
  }
  return [events, buf];
}

/**
 * Open GET /api/events with fetch. `query` is an object of query parameters; `headers` extra
 * request headers (e.g. Last-Event-ID). Returns { status, headers, events, next(pred, ms),
 * close(), closed }. Each event is the parsed JSON with a non-enumerable `_id` (the `id:` line
 * or null). A non-200 answer resolves with { status, body } and no stream.
 */
export async function openSse(h, query, { headers = {} } = {}) {
  const ac = new AbortController();
  const res = await fetch(`${h.base}/api/events?${new URLSearchParams(query)}`, { signal: ac.signal, headers });
  if (res.status !== 200) {
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: res.status, body, headers: res.headers };
  }
  const events = [];
  const waiters = [];
  const state = { closed: false };
  const deliver = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      const hit = events.find((e, idx) => idx >= w.from && w.pred(e));
      if (hit) {
        waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.ok(hit);
      }
    }
  };
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        const [evs, rest] = parseSse(buf);
        buf = rest;
        for (const e of evs) {
          let obj;
          try {
            obj = JSON.parse(e.data);
          } catch {
            obj = { type: '<unparsable>', raw: e.data };
          }
          Object.defineProperty(obj, '_id', { value: e.id, enumerable: false });
          events.push(obj);
        }
        deliver();
      }
    } catch {
      /* aborted */
    }
    state.closed = true;
  })();
  return {
    status: 200,
    headers: res.headers,
    events,
    state,
    /** The first event at index ≥ from that satisfies pred. */
    next(pred, ms = 10000, from = 0) {
      return new Promise((ok, fail) => {
        const w = { pred, ok, from, timer: null };
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          fail(new Error(`SSE: timed out; got ${JSON.stringify(events.map((e) => e.type))}`));
        }, ms);
        waiters.push(w);
        deliver();
      });
    },
    close() {
      ac.abort();
    },
  };
}

/** Raw TCP to hapid: resolves with the socket once connected. */
export function rawConnect(h) {
  return new Promise((ok, fail) => {
    const s = tcpConnect(h.port, '127.0.0.1', () => ok(s));
    s.once('error', fail);
  });
}
