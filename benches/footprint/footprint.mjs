// Footprint of hapid beside the official hub, measured in one run on one machine.
//
//   node benches/footprint/footprint.mjs [--runs N] [--load-runs N] [--sse N] [--cli N]
//        [--idle-secs S] [--out DIR] NAME=BINARY[:ARG...] ...
//
// e.g. hapid=target/cross/dist/hapid-x86_64-unknown-linux-musl
//      official=/work/tools/package/bin/hapi:hub
//
// For each server, each run gets a fresh HAPI_HOME and a free 127.0.0.1 port:
//   start-to-first-answer  spawn() -> first 200 on GET /health (polled every 2 ms), --runs runs
//   idle RSS               VmRSS of the server (summed over its process tree) after --idle-secs
//   loaded RSS             --sse SSE streams (GET /api/events?token=<JWT>&all=true, each counted
//                          once its first event arrived) + --cli /cli Socket.IO sockets
//                          (socket.io-client 4.8.3, websocket, one Engine.IO connection each),
//                          all held open, then VmRSS after --idle-secs; --load-runs runs
// Binary size is the file's size. Reports medians (and min/max) as markdown and JSON.
// Only 127.0.0.1 is contacted; every wait is bounded.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree } from '../procfs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const req = createRequire(resolve(here, '../../tests/node/package.json'));
const { io } = await import(pathToFileURL(req.resolve('socket.io-client')).href);

// ------------------------------------------------------------------------------------------
const opts = { runs: 10, loadRuns: 3, sse: 1000, cli: 100, idleSecs: 5, out: null };
const servers = [];
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const num = () => {
      const v = Number(a[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} needs a number`);
      return v;
    };
    if (k === '--runs') opts.runs = num();
    else if (k === '--load-runs') opts.loadRuns = num();
    else if (k === '--sse') opts.sse = num();
    else if (k === '--cli') opts.cli = num();
    else if (k === '--idle-secs') opts.idleSecs = num();
    else if (k === '--out') opts.out = a[++i];
    else if (k.includes('=')) {
      const [name, spec] = [k.slice(0, k.indexOf('=')), k.slice(k.indexOf('=') + 1)];
      const [bin, ...args] = spec.split(':');
      servers.push({ name, bin: resolve(bin), args });
    } else throw new Error(`unknown argument ${k}`);
  }
  if (servers.length === 0) {
    console.error('usage: footprint.mjs [options] NAME=BINARY[:ARG...] ...');
    process.exit(2);
  }
}
const TOKEN = 'footprint-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
const log = (...a) => console.error('[footprint]', ...a);

// ------------------------------------------------------------------------------------------
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function httpReq(port, method, path, { body, headers = {}, timeout = 5000 } = {}) {
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
        headers: data ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : headers,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => ok({ status: res.statusCode, text }));
        res.on('error', fail);
      },
    );
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', fail);
    if (data) r.write(data);
    r.end();
  });
}

function statusKb(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** { rssKb, hwmKb, threads, procs } over the process tree. */
function memory(pid) {
  const pids = processTree(pid);
  let rssKb = 0;
  let hwmKb = 0;
  let threads = 0;
  for (const p of pids) {
    rssKb += statusKb(p, 'VmRSS');
    hwmKb += statusKb(p, 'VmHWM');
    try {
      threads += Number(readFileSync(`/proc/${p}/status`, 'utf8').match(/^Threads:\s+(\d+)/m)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return { rssKb, hwmKb, threads, procs: pids.length };
}

/** Spawn a server; resolve once GET /health answered 200, with the elapsed ms. */
async function start(server) {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), `footprint-${server.name}-`));
  let out = '';
  const t0 = process.hrtime.bigint();
  const proc = spawn(server.bin, server.args, {
    env: {
      PATH: process.env.PATH,
      HOME: home, // the official hub also writes below $HOME
      HAPI_HOME: home,
      HAPI_LISTEN_HOST: '127.0.0.1',
      HAPI_LISTEN_PORT: String(port),
      CLI_API_TOKEN: TOKEN,
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
  proc.once('exit', () => (exited = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`${server.name} exited during startup:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${server.name}: no 200 on /health within 30 s:\n${out}`);
    }
    try {
      const r = await httpReq(port, 'GET', '/health', { timeout: 1000 });
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(2);
  }
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    port,
    home,
    proc,
    startMs,
    output: () => out,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await new Promise((ok) => (exited ? ok() : proc.once('exit', ok)));
        clearTimeout(t);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function jwt(port) {
  const r = await httpReq(port, 'POST', '/api/auth', { body: { accessToken: TOKEN } });
  if (r.status !== 200) throw new Error(`POST /api/auth: ${r.status} ${r.text}`);
  return JSON.parse(r.text).token;
}

/** One SSE stream; resolves with { close, closed() } once its first event arrived. */
function openSse(port, token) {
  return new Promise((ok, fail) => {
    let closed = false;
    const r = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/api/events?token=${encodeURIComponent(token)}&all=true&visibility=visible`,
        agent: false,
        headers: { accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(new Error(`SSE status ${res.statusCode}`));
          return;
        }
        let buf = '';
        let first = true;
        res.setEncoding('utf8');
        res.on('data', (c) => {
          if (!first) return; // keep draining so the server never sees a slow reader
          buf += c;
          if (buf.includes('\n\n')) {
            first = false;
            buf = '';
            ok({ close: () => r.destroy(), closed: () => closed });
          }
        });
        res.on('close', () => (closed = true));
        res.on('error', () => (closed = true));
      },
    );
    r.on('error', (e) => {
      closed = true;
      fail(e);
    });
    r.setTimeout(30_000, () => r.destroy(new Error('SSE: no first event within 30 s')));
    r.on('response', () => r.setTimeout(0));
  });
}

function openCli(port, i) {
  return new Promise((ok, fail) => {
    const s = io(`http://127.0.0.1:${port}/cli`, {
      path: '/socket.io/',
      transports: ['websocket'],
      forceNew: true, // one Engine.IO connection per socket, as separate CLI processes have
      reconnection: false,
      timeout: 30_000,
      auth: { token: TOKEN, clientType: 'machine-scoped', machineId: `footprint-machine-${i}` },
    });
    s.once('connect', () => ok(s));
    s.once('connect_error', (e) => {
      s.close();
      fail(e);
    });
  });
}

/** Run `fn(i)` for i < n with at most `width` in flight. */
async function pooled(n, width, fn) {
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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ------------------------------------------------------------------------------------------
const results = {};
for (const server of servers) {
  const r = (results[server.name] = {
    bin: server.bin,
    args: server.args,
    sizeBytes: statSync(server.bin).size,
    startMs: [],
    idleRssKb: [],
    idleThreads: [],
    loadRssKb: [],
    loadHwmKb: [],
    loadThreads: [],
    loadConnectMs: [],
  });
  log(`${server.name}: ${server.bin} ${server.args.join(' ')} (${r.sizeBytes} bytes)`);
  for (let run = 0; run < Math.max(opts.runs, opts.loadRuns); run++) {
    const h = await start(server);
    try {
      r.startMs.push(h.startMs);
      await sleep(opts.idleSecs * 1000);
      const idle = memory(h.proc.pid);
      r.idleRssKb.push(idle.rssKb);
      r.idleThreads.push(idle.threads);
      let line = `${server.name} run ${run + 1}: start ${h.startMs.toFixed(1)} ms, idle RSS ${idle.rssKb} kB (${idle.procs} proc, ${idle.threads} threads)`;
      if (run < opts.loadRuns) {
        const token = await jwt(h.port);
        const t0 = Date.now();
        const sse = await pooled(opts.sse, 50, () => openSse(h.port, token));
        const cli = await pooled(opts.cli, 20, (i) => openCli(h.port, i));
        r.loadConnectMs.push(Date.now() - t0);
        await sleep(opts.idleSecs * 1000);
        const loaded = memory(h.proc.pid);
        const sseOpen = sse.filter((s) => !s.closed()).length;
        const cliOpen = cli.filter((s) => s.connected).length;
        if (sseOpen !== opts.sse || cliOpen !== opts.cli) {
          throw new Error(`${server.name}: only ${sseOpen}/${opts.sse} SSE and ${cliOpen}/${opts.cli} CLI still open`);
        }
        // Still answering under that load?
        const health = await httpReq(h.port, 'GET', '/health');
        if (health.status !== 200) throw new Error(`${server.name}: /health ${health.status} under load`);
        r.loadRssKb.push(loaded.rssKb);
        r.loadHwmKb.push(loaded.hwmKb);
        r.loadThreads.push(loaded.threads);
        line += `; ${sseOpen} SSE + ${cliOpen} CLI: RSS ${loaded.rssKb} kB (peak ${loaded.hwmKb} kB, ${loaded.threads} threads), connected in ${Date.now() - t0 - opts.idleSecs * 1000} ms`;
        for (const s of sse) s.close();
        for (const s of cli) s.close();
        await sleep(200);
      }
      log(line);
    } catch (e) {
      log(`${server.name}: output so far:\n${h.output().slice(-4000)}`);
      throw e;
    } finally {
      await h.stop();
    }
  }
}

// ------------------------------------------------------------------------------------------
const mib = (kb) => (kb / 1024).toFixed(1);
const names = Object.keys(results);
const [a, b] = names; // ratios: first server vs second
const summary = {};
for (const n of names) {
  const r = results[n];
  summary[n] = {
    sizeBytes: r.sizeBytes,
    startMsMedian: median(r.startMs),
    startMsMin: Math.min(...r.startMs),
    startMsMax: Math.max(...r.startMs),
    idleRssKbMedian: median(r.idleRssKb),
    loadRssKbMedian: r.loadRssKb.length ? median(r.loadRssKb) : null,
    loadHwmKbMedian: r.loadHwmKb.length ? median(r.loadHwmKb) : null,
    idleThreadsMedian: median(r.idleThreads),
    loadThreadsMedian: r.loadThreads.length ? median(r.loadThreads) : null,
  };
}
const rows = [
  ['Binary size', (s) => `${(s.sizeBytes / 1048576).toFixed(2)} MiB`, (s) => s.sizeBytes],
  ['Idle RSS (after ' + opts.idleSecs + ' s)', (s) => `${mib(s.idleRssKbMedian)} MiB`, (s) => s.idleRssKbMedian],
  [
    `RSS with ${opts.sse} SSE + ${opts.cli} CLI sockets`,
    (s) => (s.loadRssKbMedian == null ? 'n/a' : `${mib(s.loadRssKbMedian)} MiB`),
    (s) => s.loadRssKbMedian,
  ],
  [
    'Peak RSS (VmHWM) of a loaded run',
    (s) => (s.loadHwmKbMedian == null ? 'n/a' : `${mib(s.loadHwmKbMedian)} MiB`),
    (s) => s.loadHwmKbMedian,
  ],
  [
    'Start to first /health 200',
    (s) => `${s.startMsMedian.toFixed(1)} ms (${s.startMsMin.toFixed(1)}–${s.startMsMax.toFixed(1)})`,
    (s) => s.startMsMedian,
  ],
  ['Threads idle / loaded', (s) => `${s.idleThreadsMedian} / ${s.loadThreadsMedian ?? 'n/a'}`, null],
];
let md = `| | ${names.join(' | ')} |${b ? ` ${b} ÷ ${a} |` : ''}\n|---|${names.map(() => '---:').join('|')}|${b ? '---:|' : ''}\n`;
for (const [label, fmt, val] of rows) {
  md += `| ${label} | ${names.map((n) => fmt(summary[n])).join(' | ')} |`;
  if (b) {
    const va = val?.(summary[a]);
    const vb = val?.(summary[b]);
    md += va && vb ? ` ${(vb / va).toFixed(1)}× |` : ' |';
  }
  md += '\n';
}
md += `\nMedians of ${opts.runs} starts (idle RSS, start time) and ${opts.loadRuns} loaded runs; ` +
  `RSS = VmRSS summed over the server's process tree. ${new Date().toISOString()}, ` +
  `${process.platform}/${process.arch}, node ${process.version}.\n`;

console.log(md);
if (opts.out) {
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, 'footprint.md'), md);
  writeFileSync(join(opts.out, 'footprint.json'), JSON.stringify({ opts, summary, results }, null, 2));
  log(`wrote ${join(opts.out, 'footprint.md')} and footprint.json`);
}
process.exit(0);
