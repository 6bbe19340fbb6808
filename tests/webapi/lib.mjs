// Helpers for the web API suite: start the real hapid binary, act as the CLI with the real
// socket.io-client (session processes and runners), and as the web with fetch and an SSE
// reader that keeps each event's `id:`.
//
// The launcher, HTTP, SSE and waiting helpers are shared with the other node suites
// (tests/jslib/hapid.mjs); this file adds namespaces, machines and the /cli clients.

import { connect as tcpConnect } from 'node:net';
import { io } from 'socket.io-client';
import * as hub from '../jslib/hapid.mjs';

export { HAPID_BIN, freePort, sleep, request, emitAck, waitEvent } from '../jslib/hapid.mjs';
export const TOKEN = 'webapi-test-token-3b8d1f6a9c2e4710';

// ---------------------------------------------------------------------------------------------
// hapid

/**
 * Start hapid (environment cleaned of everything hapid reads, plus `env`); requests time out
 * after 40 s. Resolves to { port, base, token, home, proc, output(), rssKiB(), alive(), stop() }.
 */
export function startHapid({ env = {} } = {}) {
  return hub.startHapid({ token: TOKEN, env, tmpPrefix: 'hapid-webapi-', requestTimeoutMs: 40000 });
}

// ---------------------------------------------------------------------------------------------
// HTTP (request(): { status, headers, text, body }; body = parsed JSON or the text)

/** The CLI access token for a namespace (`default` = the bare token). */
export const cliToken = (h, ns = 'default') => (ns === 'default' ? h.token : `${h.token}:${ns}`);

/** POST /api/auth with the CLI token of `ns` → JWT string. */
export const jwtFor = (h, ns = 'default') => hub.webJwt(h, cliToken(h, ns));

export const defaultMetadata = (extra = {}) => ({
  path: '/tmp/hapid-webapi-proj',
  host: 'webapi-host',
  os: 'linux',
  flavor: 'claude',
  ...extra,
});

/** POST /cli/sessions in `ns` → Session object. */
export function createSession(h, { ns = 'default', tag, metadata = defaultMetadata(), agentState } = {}) {
  return hub.createSession(h, { token: cliToken(h, ns), tag, metadata, agentState });
}

/** POST /cli/machines in `ns` → Machine object. */
export async function createMachine(h, { ns = 'default', id = `m-${crypto.randomUUID()}`, metadata } = {}) {
  const body = {
    id,
    // A 0.30.7 runner names its capabilities; without "agent-availability" spawn answers runner_upgrade_required.
    metadata: metadata ?? { host: 'webapi-host', platform: 'linux', happyCliVersion: '0.30.7', homeDir: '/home/u', capabilities: ['agent-availability'] },
    runnerState: { status: 'offline' },
  };
  const r = await hub.request(h, 'POST', '/cli/machines', { token: cliToken(h, ns), body });
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

/** rpc-register each method, then a ping round trip so the registrations are processed. */
export async function register(socket, ...methods) {
  for (const method of methods) socket.emit('rpc-register', { method });
  await hub.emitAck(socket, 'ping');
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
  await hub.emitAck(socket, 'ping');
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
  await hub.emitAck(socket, 'ping');
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

/**
 * GET /api/events (tests/jslib/hapid.mjs openSse); events carry a non-enumerable `_id` (the
 * `id:` line or null). A non-200 answer resolves with { status, body, headers } and no stream.
 */
export const openSse = (h, query, { headers = {} } = {}) => hub.openSse(h, query, { headers, throwOnError: false });

/** Raw TCP to hapid: resolves with the socket once connected. */
export function rawConnect(h) {
  return new Promise((ok, fail) => {
    const s = tcpConnect(h.port, '127.0.0.1', () => ok(s));
    s.once('error', fail);
  });
}
