// Helpers for the Web Push end-to-end tests: start the real hapid binary, a local fake push
// service, a subscriber (P-256 key pair + auth secret), a CLI session over socket.io-client,
// an SSE reader, and the independent checks: http_ece decrypts the body with the
// subscriber's private key; node:crypto verifies the VAPID JWT (ES256, raw r||s).
//
// Nothing here uses hapid's own crypto: a hapid bug cannot cancel itself out.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import ece from 'http_ece';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
export const HAPID_BIN = process.env.HAPID_BIN || resolve(here, '../../target/debug/hapid');
export const TOKEN = 'push-test-token-7c1e9a4b2d6f8e30';
export const VAPID_SUBJECT = 'mailto:push-e2e@example.com';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createTcpServer();
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

/**
 * Start hapid with a fresh HAPI_HOME, HAPID_PUSH_ALLOW_HTTP=1 and VAPID_SUBJECT.
 * Resolves to { port, base, token, home, proc, output(), stop({keepHome}) }.
 */
export async function startHapid({ env = {}, home } = {}) {
  if (!existsSync(HAPID_BIN)) {
    throw new Error(`hapid binary not found at ${HAPID_BIN}; run \`cargo build\` first`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = home ?? mkdtempSync(join(tmpdir(), 'hapid-push-'));
    try {
      return await launch(port, dir, env);
    } catch (e) {
      lastErr = e;
      if (!home) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastErr;
}

function launch(port, home, env) {
  const proc = spawn(HAPID_BIN, [], {
    env: {
      ...process.env,
      HAPI_HOME: home,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: TOKEN,
      HAPID_PUSH_ALLOW_HTTP: '1',
      VAPID_SUBJECT,
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

/** fetch + JSON; returns { status, headers, body, ms } (body parsed when JSON, else text). */
export async function request(h, method, path, { token, body, headers = {}, timeoutMs = 10000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
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
  return { status: res.status, headers: res.headers, body: parsed, ms };
}

/** POST /api/auth with the CLI token → web JWT. */
export async function webJwt(h, accessToken = h.token) {
  const r = await request(h, 'POST', '/api/auth', { body: { accessToken } });
  if (r.status !== 200 || typeof r.body?.token !== 'string') {
    throw new Error(`POST /api/auth failed: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body.token;
}

// ---------------------------------------------------------------------------------------------
// The fake push service

/**
 * A plain-HTTP push service on 127.0.0.1. Every request is recorded as
 * { at (performance.now()), method, path, headers, body: Buffer, closedAt? }.
 * Each endpoint has its answer: a status number (default 201), `{status, headers}`, or
 * 'hang' (read the request, never answer; the time the client closes the socket is recorded).
 */
export async function startPushService() {
  const requests = [];
  const waiters = [];
  const behaviour = new Map(); // path prefix → status | {status, headers} | 'hang'
  const hanging = new Set();
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = {
        at: performance.now(),
        wallMs: Date.now(),
        method: req.method,
        path: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        closedAt: null,
      };
      requests.push(rec);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (requests.filter(w.pred).length >= w.n) {
          waiters.splice(i, 1);
          clearTimeout(w.timer);
          w.ok(requests.filter(w.pred));
        }
      }
      const how = behaviourFor(req.url);
      if (how === 'hang') {
        hanging.add(res);
        req.socket.once('close', () => {
          rec.closedAt = performance.now();
          hanging.delete(res);
        });
        return;
      }
      const status = typeof how === 'number' ? how : how.status;
      res.writeHead(status, { 'content-type': 'text/plain', ...(how.headers ?? {}) });
      res.end(status >= 200 && status < 300 ? '' : `status ${status}\n`);
    });
  });
  const behaviourFor = (path) => {
    for (const [prefix, how] of behaviour) if (path.startsWith(prefix)) return how;
    return 201;
  };
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    /** A fresh endpoint URL answered with `how` (status, {status, headers} or 'hang'). */
    endpoint(how = 201) {
      const path = `/push/${crypto.randomUUID()}`;
      behaviour.set(path, how);
      return { url: `http://127.0.0.1:${port}${path}`, path };
    },
    to(path) {
      return requests.filter((r) => r.path === path);
    },
    /** Resolves with the matching requests once there are at least n (default 1). */
    waitFor(pred, { n = 1, ms = 5000 } = {}) {
      return new Promise((ok, fail) => {
        const have = requests.filter(pred);
        if (have.length >= n) return ok(have);
        const w = { pred, n, ok, timer: null };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          fail(new Error(`push service: expected ${n} request(s) within ${ms} ms, got ${requests.filter(pred).length}`));
        }, ms);
        waiters.push(w);
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections?.();
      await new Promise((ok) => server.close(ok));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The subscriber (what a browser's PushManager holds)

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

/** A P-256 key pair and a 16-byte auth secret, as PushManager.subscribe() makes them. */
export function makeSubscriber() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return {
    ecdh,
    auth,
    keys: { p256dh: b64u(ecdh.getPublicKey(null, 'uncompressed')), auth: b64u(auth) },
    /** Decrypt an aes128gcm body with http_ece (the RFC 8291 reference implementation). */
    decrypt(body) {
      return ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth });
    },
  };
}

/** Parse an aes128gcm header (RFC 8188 §2.1). */
export function parseEceHeader(body) {
  return {
    salt: body.subarray(0, 16),
    rs: body.readUInt32BE(16),
    idlen: body[20],
    keyid: body.subarray(21, 21 + body[20]),
  };
}

/**
 * Verify a VAPID JWT (RFC 8292) with node:crypto: ES256, signature raw r||s (IEEE P1363),
 * public key = the 65-byte uncompressed point `k` (base64url). Returns { header, claims }
 * or throws.
 */
export function verifyVapidJwt(jwt, k) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error(`JWT has ${parts.length} parts`);
  const point = unb64u(k);
  if (point.length !== 65 || point[0] !== 4) throw new Error(`k is not an uncompressed P-256 point (${point.length} bytes)`);
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33, 65)) },
    format: 'jwk',
  });
  const sig = unb64u(parts[2]);
  if (sig.length !== 64) throw new Error(`signature is ${sig.length} bytes, not raw r||s (64)`);
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!ok) throw new Error('VAPID JWT signature does not verify with k');
  return { header: JSON.parse(unb64u(parts[0]).toString('utf8')), claims: JSON.parse(unb64u(parts[1]).toString('utf8')) };
}

/** Split `vapid t=<jwt>, k=<key>` exactly (one space after the comma, RFC 8292 §3). */
export function parseVapidAuthorization(value) {
  const m = /^vapid t=([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+), k=([A-Za-z0-9_\-]+)$/.exec(value ?? '');
  if (!m) throw new Error(`Authorization is not "vapid t=<jwt>, k=<key>": ${value}`);
  return { jwt: m[1], k: m[2] };
}

// ---------------------------------------------------------------------------------------------
// The CLI side (socket.io-client, as the official hapi CLI uses it)

export const projectPath = '/tmp/hapid-push-proj';
export const metadata = () => ({
  path: projectPath,
  host: 'push-e2e',
  name: 'Push Project',
  os: 'linux',
  flavor: 'claude',
});

/**
 * POST /cli/sessions, connect /cli, session-alive. `token` may carry a namespace
 * (`<CLI_API_TOKEN>:<ns>`). Returns { id, session, socket, version, close() }.
 */
export async function cliSession(h, { token = h.token } = {}) {
  const r = await request(h, 'POST', '/cli/sessions', {
    token,
    body: { tag: `tag-${crypto.randomUUID()}`, metadata: metadata() },
  });
  if (r.status !== 200) throw new Error(`POST /cli/sessions: ${r.status} ${JSON.stringify(r.body)}`);
  const session = r.body.session;
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
  socket.emit('session-alive', { sid: session.id, time: Date.now(), thinking: false });
  return {
    id: session.id,
    session,
    socket,
    version: session.agentStateVersion ?? 1,
    close: () => socket.close(),
  };
}

/** emitWithAck with a timeout. */
export function emitAck(socket, event, payload, ms = 10000) {
  return socket.timeout(ms).emitWithAck(event, payload);
}

/** update-state with a pending permission request; returns { ack, emittedAt }. */
export async function raisePermission(cli, requests) {
  const emittedAt = performance.now();
  const ack = await emitAck(cli.socket, 'update-state', {
    sid: cli.id,
    expectedVersion: cli.version,
    agentState: { requests },
  });
  if (ack?.result !== 'success') throw new Error(`update-state: ${JSON.stringify(ack)}`);
  cli.version = ack.version;
  return { ack, emittedAt };
}

export const editRequest = (id = 'req-1') => ({
  [id]: { tool: 'Edit', arguments: { file_path: `${projectPath}/src/main.ts` }, createdAt: Date.now() },
});

/** The CLI's "ready" event message (spec/cli-protocol.md §6.3). */
export function sendReady(cli) {
  const emittedAt = performance.now();
  cli.socket.emit('message', {
    sid: cli.id,
    message: { role: 'agent', content: { id: crypto.randomUUID(), type: 'event', data: { type: 'ready' } } },
  });
  return emittedAt;
}

/** Wait until the CLI socket's earlier emits were handled (a ping ack round trip). */
export async function flush(cli) {
  await emitAck(cli.socket, 'ping', undefined);
}

// ---------------------------------------------------------------------------------------------
// SSE (fetch + stream reader, parsed `data:` blocks)

export async function openSse(h, query) {
  const ac = new AbortController();
  const res = await fetch(`${h.base}/api/events?${new URLSearchParams(query)}`, { signal: ac.signal });
  if (res.status !== 200) throw new Error(`GET /api/events: ${res.status} ${await res.text()}`);
  const events = [];
  const waiters = [];
  const deliver = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      const hit = events.find(w.pred);
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
    events,
    next(pred, ms = 5000) {
      return new Promise((ok, fail) => {
        const w = { pred, ok, timer: null };
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
