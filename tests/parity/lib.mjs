// Helpers of the parity suite (spec/parity-0.30.7.md; one file per feature): start the hub under test — the
// official hub v0.30.7 (HUB=official, default) or hapid (HUB=hapid, HAPID_BIN) — on a free
// loopback port with a fresh HAPI_HOME, restart it on the same home, act as the CLI with
// socket.io-client 4.8.3 (the version inside the official CLI) and as the web with fetch and an
// SSE reader. HTTP, SSE parsing and waiting helpers come from tests/jslib/hapid.mjs.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import * as j from '../jslib/hapid.mjs';

export { sleep, request, emitAck, waitEvent, until, freePort } from '../jslib/hapid.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const HUB = process.env.HUB || 'official';
export const IS_OFFICIAL = HUB === 'official';
export const TOKEN = 'parity-suite-token-4c1e8b2f7a9d0356';

function hubCommand() {
  if (HUB === 'official') {
    const bin = process.env.OFFICIAL_HAPI_BIN || resolve(here, '../web/.cache/hapi-linux-x64-0.30.7/package/bin/hapi');
    if (!existsSync(bin)) throw new Error(`official hub not found at ${bin}; run tests/web/install-official-hub.sh`);
    return { bin, args: ['hub', '--no-relay'] };
  }
  if (HUB === 'hapid') {
    const bin = process.env.HAPID_BIN || resolve(here, '../../target/release/hapid');
    if (!existsSync(bin)) throw new Error(`hapid not found at ${bin}; cargo build --release or set HAPID_BIN`);
    return { bin, args: [] };
  }
  throw new Error(`HUB must be "official" or "hapid", not ${HUB}`);
}

/**
 * Start the hub under test. `home` reuses a HAPI_HOME (for restarts), `port` a port.
 * Resolves to h = { base, port, token, home, proc, output(), stop({keepHome}), restart() }.
 * Ready = GET /health answers 200.
 */
export async function startHub({ home, port, env = {} } = {}) {
  const { bin, args } = hubCommand();
  const dir = home ?? mkdtempSync(join(tmpdir(), `parity-${HUB}-`));
  const p = port ?? (await j.freePort());
  const full = { ...j.cleanEnv(), HAPI_HOME: dir, HAPI_LISTEN_HOST: '127.0.0.1', HAPI_LISTEN_PORT: String(p), CLI_API_TOKEN: TOKEN, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const proc = spawn(bin, args, { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((ok) => proc.once('exit', (code, sig) => ok({ code, sig })));
  const h = {
    base: `http://127.0.0.1:${p}`,
    port: p,
    token: TOKEN,
    home: dir,
    proc,
    requestTimeoutMs: 20000,
    output: () => out,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop({ keepHome = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      if (!keepHome) rmSync(dir, { recursive: true, force: true });
    },
    /** Stop (keeping HAPI_HOME) and start again on the same home and port. */
    async restart() {
      await h.stop({ keepHome: true });
      return startHub({ home: dir, port: p, env });
    },
  };
  const deadline = Date.now() + 30000;
  for (;;) {
    if (!h.alive()) throw new Error(`${HUB} hub exited early:\n${out}`);
    try {
      const r = await fetch(`${h.base}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${HUB} hub not ready within 30 s:\n${out}`);
    }
    await j.sleep(150);
  }
  return h;
}

export const cliToken = (ns = 'default') => (ns === 'default' ? TOKEN : `${TOKEN}:${ns}`);

/** A web client of namespace `ns`: JWT from POST /api/auth; req(method, path, body). */
export async function web(h, ns = 'default') {
  const jwt = await j.webJwt(h, cliToken(ns));
  return {
    jwt,
    req: (method, path, body, opts = {}) => j.request(h, method, path, { token: jwt, body, ...opts }),
    sse: (query, opts = {}) => openSse(h, jwt, query, opts),
  };
}

/** GET /api/events?token=…&<query>; events carry `_id` (the `id:` line). */
export function openSse(h, jwt, query = {}, { headers = {} } = {}) {
  return j.openSse(h, { token: jwt, ...query }, { headers, nextMs: 15000 });
}

// ---------------------------------------------------------------------------------------------
// The CLI side

export function connectCli(h, { ns = 'default', ...auth } = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true,
    transports: ['websocket'],
    auth: { token: cliToken(ns), ...auth },
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

export const defaultMetadata = (extra = {}) => ({ path: '/tmp/parity-proj', host: 'parity-host', os: 'linux', flavor: 'claude', ...extra });

/**
 * A session process: POST /cli/sessions, a session-scoped /cli socket that records every
 * `update` (with its ack function) in `updates`, and `session-alive` once. `onUpdate(body)`
 * returns the ack value for an update that carries an ack (cancel-/retry-queued-message);
 * `undefined` = never ack. Options: `metadata`, `ns`, `alive` (send session-alive, default
 * true).
 */
export async function cliSession(h, { ns = 'default', metadata = defaultMetadata(), agentState, alive = true, onUpdate } = {}) {
  const s = await j.createSession(h, { token: cliToken(ns), metadata, agentState });
  const socket = await connectCli(h, { ns, clientType: 'session-scoped', sessionId: s.id });
  const updates = [];
  const rpcHandlers = new Map();
  const rpcCalls = [];
  const cli = {
    s,
    sid: s.id,
    socket,
    updates,
    rpcCalls,
    onUpdate,
    /** The `new-message` updates received (in order). */
    newMessages: () => updates.filter((u) => u.body?.t === 'new-message'),
    byType: (t) => updates.filter((u) => u.body?.t === t),
    waitUpdate: (pred, ms = 10000) => {
      const hit = updates.find(pred);
      if (hit) return Promise.resolve(hit);
      return j.waitEvent(socket, 'update', (u) => pred(u), ms);
    },
    alive: (extra = {}) => socket.emit('session-alive', { sid: s.id, time: Date.now(), thinking: false, ...extra }),
    ping: () => j.emitAck(socket, 'ping'),
    emit: (ev, payload) => socket.emit(ev, { sid: s.id, ...payload }),
    emitAck: (ev, payload) => j.emitAck(socket, ev, { sid: s.id, ...payload }),
    async handleRpc(name, fn) {
      rpcHandlers.set(name, fn);
      socket.emit('rpc-register', { method: `${s.id}:${name}` });
      await j.emitAck(socket, 'ping');
    },
    close: () => socket.close(),
  };
  socket.on('update', (u, ack) => {
    updates.push(u);
    if (typeof ack === 'function' && cli.onUpdate) {
      const v = cli.onUpdate(u.body, u);
      if (v !== undefined) ack(v);
    }
  });
  socket.on('rpc-request', (req, ack) => {
    const name = req.method.slice(req.method.indexOf(':') + 1);
    let params;
    try {
      params = JSON.parse(req.params);
    } catch {
      params = req.params;
    }
    rpcCalls.push({ method: req.method, name, params });
    const fn = rpcHandlers.get(name);
    if (!fn) return;
    Promise.resolve(fn(params)).then((v) => v !== undefined && ack(typeof v === 'string' ? v : JSON.stringify(v)));
  });
  if (alive) {
    cli.alive();
    await cli.ping();
  }
  return cli;
}

/** A machine (runner): POST /cli/machines + machine-scoped socket + machine-alive. */
export async function cliMachine(h, { ns = 'default', id = `m-${crypto.randomUUID()}`, health, metadata } = {}) {
  const body = {
    id,
    metadata: metadata ?? { host: 'parity-host', platform: 'linux', happyCliVersion: '0.30.7', homeDir: '/home/u' },
    runnerState: { status: 'running' },
  };
  const r = await j.request(h, 'POST', '/cli/machines', { token: cliToken(ns), body });
  if (r.status !== 200) throw new Error(`POST /cli/machines: ${r.status} ${JSON.stringify(r.body)}`);
  const socket = await connectCli(h, { ns, clientType: 'machine-scoped', machineId: id });
  const rpcHandlers = new Map();
  const rpcCalls = [];
  const m = {
    id,
    machine: r.body.machine,
    socket,
    rpcCalls,
    alive: (extra = {}) => socket.emit('machine-alive', { machineId: id, time: Date.now(), ...extra }),
    /** Answer RPC `name` (registered as `<machineId>:<name>`) with fn(params). */
    async handleRpc(name, fn) {
      rpcHandlers.set(name, fn);
      socket.emit('rpc-register', { method: `${id}:${name}` });
      await j.emitAck(socket, 'ping');
    },
    close: () => socket.close(),
  };
  socket.on('rpc-request', (req, ack) => {
    const name = req.method.slice(req.method.indexOf(':') + 1);
    let params;
    try {
      params = JSON.parse(req.params);
    } catch {
      params = req.params;
    }
    rpcCalls.push({ method: req.method, name, params });
    const fn = rpcHandlers.get(name);
    if (!fn) return;
    Promise.resolve(fn(params)).then((v) => v !== undefined && ack(typeof v === 'string' ? v : JSON.stringify(v)));
  });
  m.alive(health === undefined ? {} : { health });
  await j.emitAck(socket, 'ping');
  return m;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

export const uid = (p = 'loc') => `${p}-${crypto.randomUUID()}`;

/** Text of a stored user message. */
export const textOf = (m) => m?.content?.content?.text;

/** GET the newest page of messages (the web's first load). */
export async function page(w, sid, query = '') {
  const r = await w.req('GET', `/api/sessions/${sid}/messages${query ? `?${query}` : ''}`);
  if (r.status !== 200) throw new Error(`GET messages ${query}: ${r.status} ${r.text}`);
  return r.body;
}

/** The stored message with this localId (from the newest page of 200). */
export async function findByLocalId(w, sid, localId) {
  const p = await page(w, sid, 'limit=200');
  return p.messages.find((m) => m.localId === localId) ?? null;
}

/** The summary of `sid` in GET /api/sessions. */
export async function summaryOf(w, sid) {
  const r = await w.req('GET', '/api/sessions');
  return r.body.sessions.find((s) => s.id === sid) ?? null;
}

/** Events of `type` for `sid` seen so far on an SSE stream. */
export const seen = (sse, type, sid) => sse.events.filter((e) => e.type === type && (sid === undefined || e.sessionId === sid));

/**
 * A session id of another namespace: the official hub answers 403 {"error":"Session access
 * denied"}; hapid answers exactly like a missing id, 404 {"error":"Session not found"} — the
 * intentional deviation of spec/auth.md §9 (DESIGN.md: namespaces isolate users).
 */
export const OTHER_NS = IS_OFFICIAL
  ? { status: 403, body: { error: 'Session access denied' } }
  : { status: 404, body: { error: 'Session not found' } };
export const NOT_FOUND = { status: 404, body: { error: 'Session not found' } };
export const INACTIVE = { status: 409, body: { error: 'Session is inactive', code: 'session_inactive' } };

/** { status, body } of a response, for deepStrictEqual against an expected answer. */
export const answer = (r) => ({ status: r.status, body: r.body });

/** The zod-style 400 of the official hub: {"error":"Invalid body","issues":{formErrors:[],fieldErrors:{field:[msg]}}}. */
export const invalidBody = (field, msg) => ({ status: 400, body: { error: 'Invalid body', issues: { formErrors: [], fieldErrors: { [field]: [msg] } } } });
export const invalidQuery = (field, msg) => ({ status: 400, body: { error: 'Invalid query', issues: { formErrors: [], fieldErrors: { [field]: [msg] } } } });
