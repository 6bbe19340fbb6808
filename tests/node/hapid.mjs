// Start the real hapid binary for a test file and talk to it with real clients.
//
// The binary is target/debug/hapid (override with HAPID_BIN). Each call to startHapid()
// gets a free loopback port, a fresh temporary HAPI_HOME and a fixed CLI_API_TOKEN, and
// waits for the startup banner "hapid <ver> listening on http://127.0.0.1:<port>".

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
export const HAPID_BIN = process.env.HAPID_BIN || resolve(here, '../../target/debug/hapid');
export const TOKEN = 'node-test-token-4f9c2b7e1d3a5c8e';

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

/** Start hapid; resolves to { port, base, token, home, proc, output(), stop() }. */
export async function startHapid({ token = TOKEN, env = {} } = {}) {
  if (!existsSync(HAPID_BIN)) {
    throw new Error(`hapid binary not found at ${HAPID_BIN}; run \`cargo build\` first`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const home = mkdtempSync(join(tmpdir(), 'hapid-node-'));
    try {
      return await launch(port, home, token, env);
    } catch (e) {
      lastErr = e;
      rmSync(home, { recursive: true, force: true });
    }
  }
  throw lastErr;
}

/** The inherited environment minus everything hapid reads (see `hapid --help`). */
function cleanEnv() {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(HAPI_|HAPID_|TELEGRAM_|ELEVENLABS_)/.test(k)) continue;
    if (['DB_PATH', 'CLI_API_TOKEN', 'CORS_ORIGINS', 'VAPID_SUBJECT'].includes(k)) continue;
    out[k] = v;
  }
  return out;
}

function launch(port, home, token, env) {
  const proc = spawn(HAPID_BIN, [], {
    env: {
      ...cleanEnv(),
      HAPI_HOME: home,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: token,
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
    token,
    home,
    proc,
    output: () => out,
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

/** fetch + JSON; returns { status, headers, body } (body parsed when JSON, else text). */
export async function request(h, method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
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
  return { status: res.status, headers: res.headers, body: parsed };
}

/** POST /api/auth with the CLI token → JWT string. */
export async function webJwt(h) {
  const r = await request(h, 'POST', '/api/auth', { body: { accessToken: h.token } });
  if (r.status !== 200 || typeof r.body?.token !== 'string') {
    throw new Error(`POST /api/auth failed: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body.token;
}

/** POST /cli/sessions → Session object. */
export async function createSession(h, { tag, metadata, agentState } = {}) {
  const body = { tag: tag ?? `tag-${crypto.randomUUID()}` };
  if (metadata !== undefined) body.metadata = metadata;
  if (agentState !== undefined) body.agentState = agentState;
  const r = await request(h, 'POST', '/cli/sessions', { token: h.token, body });
  if (r.status !== 200) throw new Error(`POST /cli/sessions: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.session;
}

export const defaultMetadata = () => ({
  path: '/tmp/hapid-node-proj',
  host: 'node-test',
  os: 'linux',
  flavor: 'claude',
  capabilities: { terminal: true },
});

/**
 * A /cli Socket.IO client configured like the official CLI (socket.io-client 4.8.3,
 * path /socket.io/, websocket only unless transports is given). Resolves once connected.
 */
export function connectCli(h, auth, { transports = ['websocket'], timeout = 10000 } = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true, // one Engine.IO connection per socket, like separate CLI processes
    transports,
    auth,
    reconnection: false,
    timeout,
    autoConnect: false,
  });
  socket.connect(); // creates the engine synchronously, before any IO
  socket.io.engine.once('handshake', (data) => {
    socket.handshake = data; // the Engine.IO open packet, as the server sent it
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => ok(socket));
    socket.once('connect_error', (e) => {
      socket.close();
      fail(e);
    });
  });
}

/** Same as connectCli but resolves with the connect_error instead. */
export function connectCliExpectError(h, auth, opts = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true, // one Engine.IO connection per socket, like separate CLI processes
    transports: opts.transports ?? ['websocket'],
    auth,
    reconnection: false,
    timeout: 10000,
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => {
      socket.close();
      fail(new Error('connected although an error was expected'));
    });
    socket.once('connect_error', (e) => {
      socket.close();
      ok(e);
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

/** Poll `fn` until it returns a truthy value (or throw after ms). */
export async function until(fn, { ms = 10000, every = 100, what = 'condition' } = {}) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Read an SSE stream with fetch + a stream reader. Returns { events, next(pred, ms), close() }.
 * Each event is the parsed JSON of one `data:` line block.
 */
export async function openSse(h, query) {
  const ac = new AbortController();
  const res = await fetch(`${h.base}/api/events?${new URLSearchParams(query)}`, { signal: ac.signal });
  if (res.status !== 200) {
    throw new Error(`GET /api/events: ${res.status} ${await res.text()}`);
  }
  const events = [];
  const waiters = [];
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
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, ''))
            .join('\n');
          if (!data) continue;
          try {
            events.push(JSON.parse(data));
          } catch {
            events.push({ type: '<unparsable>', raw: data });
          }
        }
        deliver();
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    headers: res.headers,
    events,
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
