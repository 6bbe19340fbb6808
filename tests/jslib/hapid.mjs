// Shared helpers of the node test suites (tests/node, tests/push, tests/telegram,
// tests/webapi): start the real hapid binary, HTTP + web JWT + session creation over fetch,
// an SSE reader, and small waiting helpers. Node built-ins only, so every suite can import it
// by a relative path without its own node_modules; helpers that need an npm package (the
// socket.io-client CLI connections, http_ece) stay in the suites.
//
// The binary is target/debug/hapid (override with HAPID_BIN). Each startHapid() gets a free
// loopback port, a fresh temporary HAPI_HOME and the suite's CLI_API_TOKEN, and waits for the
// startup banner "hapid <ver> listening on http://127.0.0.1:<port>".

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const HAPID_BIN = process.env.HAPID_BIN || resolve(here, '../../target/debug/hapid');

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

/** Poll `fn` until it returns a truthy value (or throw after ms). */
export async function until(fn, { ms = 10000, every = 100, what = 'condition' } = {}) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// hapid

/** The inherited environment minus everything hapid reads (see `hapid --help`). */
export function cleanEnv() {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(HAPI_|HAPID_|TELEGRAM_|ELEVENLABS_)/.test(k)) continue;
    if (['DB_PATH', 'CLI_API_TOKEN', 'CORS_ORIGINS', 'VAPID_SUBJECT'].includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Start hapid. Options:
 *   token             CLI_API_TOKEN (required)
 *   tmpPrefix         name prefix of the temporary HAPI_HOME
 *   home              use this HAPI_HOME instead of a fresh one (kept on a failed start)
 *   inheritEnv        false: the inherited environment minus what hapid reads (cleanEnv());
 *                     true: the whole inherited environment
 *   env               set last; a value of `undefined` removes the variable
 *   requestTimeoutMs  default timeout of request() on this hub (0 = none)
 * Resolves to { port, base, token, home, proc, requestTimeoutMs, output(), rssKiB(), alive(),
 * stop({keepHome}) }.
 */
export async function startHapid({ token, tmpPrefix = 'hapid-', home, inheritEnv = false, env = {}, requestTimeoutMs = 10000 } = {}) {
  if (!existsSync(HAPID_BIN)) {
    throw new Error(`hapid binary not found at ${HAPID_BIN}; run \`cargo build\` first`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = home ?? mkdtempSync(join(tmpdir(), tmpPrefix));
    const full = {
      ...(inheritEnv ? process.env : cleanEnv()),
      HAPI_HOME: dir,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: token,
    };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete full[k];
      else full[k] = v;
    }
    try {
      return await launch(port, dir, token, full, requestTimeoutMs);
    } catch (e) {
      lastErr = e;
      if (!home) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastErr;
}

function launch(port, home, token, env, requestTimeoutMs) {
  const proc = spawn(HAPID_BIN, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((ok) => proc.once('exit', (code, sig) => ok({ code, sig })));
  const scheme = env.HAPID_TLS_CERT ? 'https' : 'http';
  const h = {
    port,
    base: `${scheme}://127.0.0.1:${port}`,
    token,
    home,
    proc,
    requestTimeoutMs,
    output: () => out,
    /** VmRSS of the hapid process in KiB (Linux). */
    rssKiB() {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : NaN;
    },
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop({ keepHome = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (!keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
  return new Promise((ok, fail) => {
    const banner = `listening on ${scheme}://127.0.0.1:${port}`;
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
 * fetch; returns { status, headers, text, body, ms } (body = parsed JSON when it parses, else
 * the text; ms = time to the end of the body). `body` may be an object (sent as JSON) or a
 * string (sent as is); `rawBody` is sent as is. Both default the content-type to
 * application/json. The request is aborted by `signal`, else after `timeoutMs` (default: the
 * hub's requestTimeoutMs; 0 = never).
 */
export async function request(h, method, path, { token, body, rawBody, headers = {}, timeoutMs = h.requestTimeoutMs ?? 10000, signal } = {}) {
  const init = { method, headers: { ...headers } };
  const abort = signal ?? (timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined);
  if (abort) init.signal = abort;
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (rawBody !== undefined) {
    init.headers['content-type'] ??= 'application/json';
    init.body = rawBody;
  } else if (body !== undefined) {
    init.headers['content-type'] ??= 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const t0 = performance.now();
  const res = await fetch(h.base + path, init);
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, text, body: parsed, ms };
}

/** POST /api/auth with a CLI access token (default the hub's) → web JWT string. */
export async function webJwt(h, accessToken = h.token) {
  const r = await request(h, 'POST', '/api/auth', { body: { accessToken } });
  if (r.status !== 200 || typeof r.body?.token !== 'string') {
    throw new Error(`POST /api/auth failed: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body.token;
}

/** POST /cli/sessions with `token` (default the hub's) → Session object. */
export async function createSession(h, { token = h.token, tag, metadata, agentState } = {}) {
  const body = { tag: tag ?? `tag-${crypto.randomUUID()}` };
  if (metadata !== undefined) body.metadata = metadata;
  if (agentState !== undefined) body.agentState = agentState;
  const r = await request(h, 'POST', '/cli/sessions', { token, body });
  if (r.status !== 200) throw new Error(`POST /cli/sessions: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.session;
}

// ---------------------------------------------------------------------------------------------
// Socket.IO sockets (any socket.io-client socket; the suites create them)

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
 * Open GET /api/events with fetch and read it with a stream reader. `query` is an object of
 * query parameters. Options: `headers` (extra request headers, e.g. Last-Event-ID), `nextMs`
 * (the default timeout of next()), `throwOnError` (a non-200 answer throws
 * "GET /api/events: <status> <text>"; when false it resolves with { status, body, headers }
 * and no stream).
 * Returns { status, headers, events, state, next(pred, ms, from), close() }. Each event is the
 * parsed JSON of one `data:` block, with a non-enumerable `_id` (the `id:` line or null);
 * state.closed turns true when the stream ends.
 */
export async function openSse(h, query, { headers = {}, nextMs = 10000, throwOnError = true } = {}) {
  const ac = new AbortController();
  const res = await fetch(`${h.base}/api/events?${new URLSearchParams(query)}`, { signal: ac.signal, headers });
  if (res.status !== 200) {
    const text = await res.text();
    if (throwOnError) throw new Error(`GET /api/events: ${res.status} ${text}`);
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
          if (obj !== null && typeof obj === 'object') Object.defineProperty(obj, '_id', { value: e.id, enumerable: false });
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
    next(pred, ms = nextMs, from = 0) {
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

// ---------------------------------------------------------------------------------------------
// Fake upstream servers (node:http servers the tests run next to hapid)

/** Listen on an ephemeral 127.0.0.1 port; resolves to the port. */
export async function listenLocal(server) {
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return server.address().port;
}

/** Destroy `pending` (responses held back on purpose), drop every connection, close. */
export async function closeServer(server, pending = []) {
  for (const res of pending) res.destroy();
  server.closeAllConnections?.();
  await new Promise((ok) => server.close(ok));
}
