// Shared pieces of the side-by-side benchmarks: starting a hub, a lean keep-alive HTTP/1.1
// client, SSE streams, /cli Socket.IO sockets and statistics.
//
// Every server gets a fresh HOME/HAPI_HOME, a free 127.0.0.1 port and the same
// CLI_API_TOKEN. Only 127.0.0.1 is contacted; every wait is bounded.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import http from 'node:http';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import { processTree } from '../procfs.mjs';

export { sleep, performance };

export const TOKEN =
  'bench-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2) + 'Xy9';

export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// ------------------------------------------------------------------------------- servers

/**
 * Starts `bin args...` as a hub and waits for 200 on GET /health (30 s at most).
 * `home` reuses a directory (not removed on stop); `env` adds variables.
 */
export async function startServer({ name, bin, args = [], env = {}, home = null }) {
  const port = await freePort();
  const owned = home === null;
  const dir = home ?? mkdtempSync(join(tmpdir(), `bench-${name}-`));
  let out = '';
  const proc = spawn(bin, args, {
    env: {
      PATH: process.env.PATH,
      HOME: dir, // the official hub also writes below $HOME
      HAPI_HOME: dir,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: TOKEN,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = false;
  const exitP = new Promise((ok) => proc.once('exit', () => ((exited = true), ok())));
  const t0 = performance.now();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`${name} exited during startup:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name}: no 200 on /health within 30 s:\n${out}`);
    }
    try {
      const r = await httpReq(port, 'GET', '/health', { timeout: 1000 });
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(5);
  }
  return {
    name,
    port,
    home: dir,
    proc,
    startMs: performance.now() - t0,
    output: () => out,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exitP;
        clearTimeout(t);
      }
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The hapid binary (HAPID_BIN or target/release/hapid) and the official one. */
export function binaries(root) {
  const hapid = process.env.HAPID_BIN || join(root, 'target/release/hapid');
  if (!existsSync(hapid)) throw new Error(`${hapid} missing: cargo build --release`);
  let official = process.env.OFFICIAL_BIN;
  if (!official) {
    for (const p of ['/work/tools/package/bin/hapi', join(root, 'bench-out/official/package/bin/hapi')]) {
      if (existsSync(p)) {
        official = p;
        break;
      }
    }
  }
  return { hapid, official };
}

/** CPU count, load averages and the other processes' CPU use (for the results header). */
export function machineNote() {
  const [l1, l5, l15] = loadavg();
  let model = cpus()[0]?.model ?? '?';
  return { cpus: cpus().length, model, load: [l1, l5, l15].map((x) => x.toFixed(2)).join(' / ') };
}

// ------------------------------------------------------------------------------- HTTP

/** One request on its own connection (node's http); resolves { status, text }. */
export function httpReq(port, method, path, { body, headers = {}, timeout = 10_000 } = {}) {
  return new Promise((ok, fail) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        timeout,
        headers: data
          ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
          : headers,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => ok({ status: res.statusCode, text, headers: res.headers }));
        res.on('error', fail);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timeout`)));
    r.on('error', fail);
    if (data) r.write(data);
    r.end();
  });
}

export async function jsonReq(port, method, path, opts = {}) {
  const r = await httpReq(port, method, path, opts);
  let json = null;
  try {
    json = JSON.parse(r.text);
  } catch {
    /* not JSON */
  }
  return { ...r, json };
}

export async function webJwt(port) {
  const r = await jsonReq(port, 'POST', '/api/auth', { body: { accessToken: TOKEN } });
  if (r.status !== 200) throw new Error(`POST /api/auth: ${r.status} ${r.text}`);
  return r.json.token;
}

export const sessionMetadata = (i) => ({
  path: `/home/dev/projects/project-${i}`,
  host: 'bench-host',
  os: 'linux',
  flavor: i % 3 === 0 ? 'codex' : 'claude',
  name: `Benchmark session ${i}`,
  summary: { text: `Refactor the storage layer of project ${i} and add tests`, updatedAt: 1_700_000_000_000 + i },
  machineId: 'bench-machine-0001',
  homeDir: '/home/dev',
  hapiVersion: '0.30.7',
  startedBy: 'terminal',
  lifecycleState: 'running',
  capabilities: { terminal: true },
});

export async function createSession(port, tag, i = 0) {
  const r = await jsonReq(port, 'POST', '/cli/sessions', {
    headers: { authorization: `Bearer ${TOKEN}` },
    body: { tag, metadata: sessionMetadata(i), agentState: { controlledByUser: false, requests: {} } },
  });
  if (r.status !== 200) throw new Error(`POST /cli/sessions: ${r.status} ${r.text}`);
  return r.json.session;
}

/**
 * A lean HTTP/1.1 keep-alive client: one connection, one request at a time, responses with
 * Content-Length or chunked bodies. Cheaper per request than node's http module, so the
 * client is less of a bottleneck on a 2-core machine.
 */
export class KeepAlive {
  constructor(port, { localAddress } = {}) {
    this.port = port;
    this.localAddress = localAddress;
    this.sock = null;
    this.buf = Buffer.alloc(0);
    this.waiter = null;
  }

  connect() {
    return new Promise((ok, fail) => {
      const s = netConnect({ host: '127.0.0.1', port: this.port, localAddress: this.localAddress });
      s.setNoDelay(true);
      s.once('connect', () => ok(this));
      s.once('error', (e) => {
        fail(e);
        this.fail(e);
      });
      s.on('data', (d) => {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        this.pump();
      });
      s.on('close', () => this.fail(new Error('connection closed')));
      this.sock = s;
    });
  }

  fail(e) {
    const w = this.waiter;
    this.waiter = null;
    if (w) w.fail(e);
  }

  /** Resolves { status, headers, body: Buffer } of the next response. */
  request(method, path, headers = {}, body = null, timeoutMs = 30_000) {
    let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (body !== null) head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    head += '\r\n';
    return new Promise((ok, fail) => {
      const t = setTimeout(() => {
        this.waiter = null;
        this.sock.destroy();
        fail(new Error(`${method} ${path}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        ok: (r) => (clearTimeout(t), ok(r)),
        fail: (e) => (clearTimeout(t), fail(e)),
      };
      this.sock.write(body === null ? head : head + body);
    });
  }

  pump() {
    if (!this.waiter) return;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const headText = this.buf.subarray(0, end).toString('latin1');
    const lines = headText.split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let rest = this.buf.subarray(end + 4);
    let body;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let off = 0;
      for (;;) {
        const le = rest.indexOf('\r\n', off);
        if (le < 0) return;
        const size = parseInt(rest.subarray(off, le).toString('latin1'), 16);
        if (size === 0) {
          // No trailers are expected: "0\r\n\r\n".
          if (rest.length < le + 4) return;
          off = le + 4;
          break;
        }
        if (rest.length < le + 2 + size + 2) return;
        parts.push(rest.subarray(le + 2, le + 2 + size));
        off = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      this.buf = rest.subarray(off);
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < len) return;
      body = rest.subarray(0, len);
      this.buf = rest.subarray(len);
    }
    const w = this.waiter;
    this.waiter = null;
    w.ok({ status, headers, body });
  }

  close() {
    this.sock?.destroy();
  }
}

// ------------------------------------------------------------------------------- sockets

/** A /cli socket configured like the official CLI (websocket, one Engine.IO per socket). */
export function openCli(port, auth) {
  return new Promise((ok, fail) => {
    const s = io(`http://127.0.0.1:${port}/cli`, {
      path: '/socket.io/',
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      auth: { token: TOKEN, ...auth },
    });
    s.once('connect', () => ok(s));
    s.once('connect_error', (e) => {
      s.close();
      fail(e);
    });
  });
}

/** Run `fn(i)` for i < n with at most `width` in flight. */
export async function pooled(n, width, fn) {
  const res = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      res[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return res;
}

// ------------------------------------------------------------------------------- statistics

export const median = (xs) => percentile(xs, 50);

/** Nearest-rank percentile of `xs` (0 < p <= 100). */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

export const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/** The newest part of a server's output, for error reports. */
export const tail = (s, n = 3000) => (s.length > n ? s.slice(-n) : s);

export function hapidDbMessages(dbPath) {
  const out = execFileSync('python3', [
    '-c',
    'import sqlite3,sys;c=sqlite3.connect(sys.argv[1]);print(c.execute("select count(*) from messages").fetchone()[0]);print(c.execute("pragma integrity_check").fetchone()[0])',
    dbPath,
  ]).toString();
  const [count, integrity] = out.trim().split('\n');
  return { count: Number(count), integrity };
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, ms) used so far by the process tree rooted at `pid`. */
export function cpuMs(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      /* gone */
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

/** This process's CPU time so far (ms). */
export function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function readJson(p) {
  return JSON.parse(readFileSync(p, 'utf8'));
}
