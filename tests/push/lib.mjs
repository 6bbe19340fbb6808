// Helpers for the Web Push end-to-end tests: start the real hapid binary, a local fake push
// service, a subscriber (P-256 key pair + auth secret), a CLI session over socket.io-client,
// an SSE reader, and the independent checks: http_ece decrypts the body with the
// subscriber's private key; node:crypto verifies the VAPID JWT (ES256, raw r||s).
//
// Nothing here uses hapid's own crypto: a hapid bug cannot cancel itself out.

import { createServer as createHttpServer } from 'node:http';
import crypto from 'node:crypto';
import ece from 'http_ece';
import { io } from 'socket.io-client';
import * as hub from '../jslib/hapid.mjs';

export { HAPID_BIN, freePort, sleep, request, webJwt, emitAck } from '../jslib/hapid.mjs';
export const TOKEN = 'push-test-token-7c1e9a4b2d6f8e30';
export const VAPID_SUBJECT = 'mailto:push-e2e@example.com';

// ---------------------------------------------------------------------------------------------
// hapid (launcher, request, webJwt: tests/jslib/hapid.mjs)

/**
 * Start hapid with a fresh HAPI_HOME (or `home`, kept on a failed start), the inherited
 * environment, HAPID_PUSH_ALLOW_HTTP=1 and VAPID_SUBJECT; requests time out after 10 s.
 * Resolves to { port, base, token, home, proc, output(), stop({keepHome}) }.
 */
export function startHapid({ env = {}, home } = {}) {
  return hub.startHapid({
    token: TOKEN,
    tmpPrefix: 'hapid-push-',
    home,
    inheritEnv: true,
    env: { HAPID_PUSH_ALLOW_HTTP: '1', VAPID_SUBJECT, ...env },
    requestTimeoutMs: 10000,
  });
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
  const port = await hub.listenLocal(server);
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
    close: () => hub.closeServer(server, hanging),
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
  const session = await hub.createSession(h, { token, metadata: metadata() });
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

/** update-state with a pending permission request; returns { ack, emittedAt }. */
export async function raisePermission(cli, requests) {
  const emittedAt = performance.now();
  const ack = await hub.emitAck(cli.socket, 'update-state', {
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
  await hub.emitAck(cli.socket, 'ping', null);
}

// ---------------------------------------------------------------------------------------------
// SSE (fetch + stream reader, parsed `data:` blocks)

/** GET /api/events; a non-200 answer throws; next() waits 5 s by default. */
export const openSse = (h, query) => hub.openSse(h, query, { nextMs: 5000 });
