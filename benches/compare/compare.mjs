// hapid beside the official HAPI hub, same machine, same run (issues 3 and 4):
//
//   ingest    /cli `message` events, several sockets, each on its own session, ~1 KB messages,
//             a bounded in-flight window per socket.
//             e2e:   both hubs. Messages are sent without acks, as the official CLI sends them;
//                    the window is kept with the CLI's own flush barrier (`ping` with an ack
//                    after every window/2 messages, at most two barriers outstanding). Done
//                    when every message is visible through GET /cli/sessions/:id/messages
//                    ?afterSeq= (polled concurrently, 20 ms pause when caught up), seq and
//                    localId order checked.
//             acked: hapid only (the official hub sends no ack for `message`): a sliding
//                    window of `message` emits with an ack callback; hapid acks after the
//                    row is committed. Done at the last ack; the rows are checked afterwards.
//   sessions  GET /api/sessions with 50 sessions (--session-messages ~1 KB messages each):
//             requests/s and latency (median, p99) with C concurrent keep-alive connections
//             (closed loop), for each C of --conc.
//   sse       CLI message → SSE latency with --sse-clients streams on
//             /api/events?token=<JWT>&sessionId=<sid> (only sessionId streams get
//             message-received): a CLI socket sends --sse-messages messages one at a time
//             (the next after all streams got the previous one, or 10 s); latency = arrival
//             of the event on each stream - the emit, over every stream.
//
// Each benchmark runs on its own fresh pair of hubs (both up at once); repetitions alternate
// the servers (hapid first, then official first, ...) so background load hits both alike;
// medians over the repetitions are reported.
//
//   node compare.mjs [--only ingest,sessions,sse] [--reps N] [--out DIR]
//        [--ingest-sockets 4] [--ingest-per-socket 2000] [--ingest-window 32]
//        [--conc 1,16] [--requests 4000] [--max-secs 10] [--session-messages 20]
//        [--sse-clients 1000] [--sse-messages 30]
//
// HAPID_BIN (default target/release/hapid) and OFFICIAL_BIN (default
// /work/tools/package/bin/hapi or bench-out/official/package/bin/hapi) pick the binaries.

import { writeFileSync, mkdirSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import {
  TOKEN,
  log,
  startServer,
  binaries,
  machineNote,
  jsonReq,
  webJwt,
  createSession,
  KeepAlive,
  openCli,
  pooled,
  median,
  percentile,
  fmt,
  tail,
  sleep,
  performance,
  cpuMs,
  selfCpuMs,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../..');

const opts = {
  only: ['ingest', 'sessions', 'sse'],
  reps: 3,
  out: join(ROOT, 'bench-out/compare'),
  ingestSockets: 4,
  ingestPerSocket: 2000,
  ingestWindow: 32,
  conc: [1, 16],
  sessionMessages: 20,
  requests: 4000,
  maxSecs: 10,
  sseClients: 1000,
  sseMessages: 30,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const v = () => a[++i];
    const num = () => {
      const x = Number(v());
      if (!Number.isFinite(x) || x <= 0) throw new Error(`${k} needs a positive number`);
      return x;
    };
    if (k === '--only') opts.only = v().split(',');
    else if (k === '--reps') opts.reps = num();
    else if (k === '--out') opts.out = resolve(v());
    else if (k === '--ingest-sockets') opts.ingestSockets = num();
    else if (k === '--ingest-per-socket') opts.ingestPerSocket = num();
    else if (k === '--ingest-window') opts.ingestWindow = Math.max(2, num());
    else if (k === '--conc') opts.conc = v().split(',').map(Number);
    else if (k === '--requests') opts.requests = num();
    else if (k === '--session-messages') opts.sessionMessages = num();
    else if (k === '--max-secs') opts.maxSecs = num();
    else if (k === '--sse-clients') opts.sseClients = num();
    else if (k === '--sse-messages') opts.sseMessages = num();
    else throw new Error(`unknown argument ${k}`);
  }
}

const bins = binaries(ROOT);
if (!bins.official) throw new Error('official hub not found: set OFFICIAL_BIN (run.sh fetches it)');
const SERVERS = [
  { name: 'hapid', bin: bins.hapid, args: [] },
  { name: 'official', bin: bins.official, args: ['hub'] },
];
const rand = () => Math.random().toString(36).slice(2, 10);
const AUTH_CLI = { authorization: `Bearer ${TOKEN}` };

// ~1 KB agent output, shaped like what the v0.30.7 CLI sends (spec/cli-protocol.md §6.3).
const FILLER = 'The quick brown fox jumps over the lazy dog while the agent edits src/lib.rs. ';
function agentMessage(i) {
  return {
    role: 'agent',
    content: {
      type: 'output',
      data: {
        type: 'assistant',
        uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        message: { role: 'assistant', content: [{ type: 'text', text: `#${i} ` + FILLER.repeat(10) }] },
      },
    },
    meta: { sentFrom: 'cli' },
  };
}
const MESSAGE_BYTES = JSON.stringify(agentMessage(12345)).length;

// ------------------------------------------------------------------------------- ingest

async function pollUntilVisible(port, sid, n, prefix, deadline) {
  const ka = await new KeepAlive(port).connect();
  try {
    let cursor = 0;
    while (cursor < n) {
      if (Date.now() > deadline) throw new Error(`only ${cursor}/${n} messages visible before the deadline`);
      const r = await ka.request('GET', `/cli/sessions/${sid}/messages?afterSeq=${cursor}&limit=200`, AUTH_CLI);
      if (r.status !== 200) throw new Error(`GET messages: ${r.status} ${r.body}`);
      const msgs = JSON.parse(r.body).messages;
      for (const m of msgs) {
        if (m.seq !== cursor + 1) throw new Error(`seq ${m.seq} after ${cursor}`);
        if (m.localId !== `${prefix}-${cursor}`) throw new Error(`seq ${m.seq}: localId ${m.localId}`);
        cursor = m.seq;
      }
      if (msgs.length < 200 && cursor < n) await sleep(20);
    }
    return performance.now();
  } finally {
    ka.close();
  }
}

function sendAcked(sock, sid, n, w, prefix) {
  return new Promise((ok, fail) => {
    let sent = 0;
    let done = 0;
    let inflight = 0;
    const pump = () => {
      while (inflight < w && sent < n) {
        const i = sent++;
        inflight++;
        sock
          .timeout(30_000)
          .emit('message', { sid, message: agentMessage(i), localId: `${prefix}-${i}` }, (err, res) => {
            if (err) return fail(err);
            if (res?.ok !== true) return fail(new Error(`message ${i} acked with ${JSON.stringify(res)}`));
            inflight--;
            if (++done === n) ok(performance.now());
            else pump();
          });
      }
    };
    pump();
  });
}

async function sendFlushed(sock, sid, n, w, prefix) {
  const half = Math.max(1, w >> 1);
  const barriers = [];
  for (let i = 0; i < n; i += half) {
    for (let j = i; j < Math.min(n, i + half); j++) {
      sock.emit('message', { sid, message: agentMessage(j), localId: `${prefix}-${j}` });
    }
    barriers.push(sock.timeout(30_000).emitWithAck('ping'));
    if (barriers.length >= 2) await barriers.shift();
  }
  await Promise.all(barriers);
  return performance.now();
}

async function ingestOnce(h, mode, rep) {
  const S = opts.ingestSockets;
  const N = opts.ingestPerSocket;
  const tagBase = `ingest-${mode}-${rep}-${rand()}`;
  const sessions = await Promise.all(Array.from({ length: S }, (_, i) => createSession(h.port, `${tagBase}-${i}`, i)));
  const sockets = await Promise.all(
    sessions.map((s) => openCli(h.port, { clientType: 'session-scoped', sessionId: s.id })),
  );
  const deadline = Date.now() + 120_000;
  const pid = h.proc.pid;
  try {
    const c0 = cpuMs(pid);
    const t0 = performance.now();
    if (mode === 'acked') {
      const ends = await Promise.all(
        sockets.map((sock, j) => sendAcked(sock, sessions[j].id, N, opts.ingestWindow, `${tagBase}-${j}`)),
      );
      const tAck = Math.max(...ends);
      const cpu = cpuMs(pid) - c0;
      // Untimed check that every acknowledged row is there, in order.
      await Promise.all(sessions.map((s, j) => pollUntilVisible(h.port, s.id, N, `${tagBase}-${j}`, deadline)));
      return { msgs: S * N, ms: tAck - t0, rate: (S * N * 1000) / (tAck - t0), cpuUsPerMsg: (cpu * 1000) / (S * N) };
    }
    const polls = sessions.map((s, j) => pollUntilVisible(h.port, s.id, N, `${tagBase}-${j}`, deadline));
    const sends = sockets.map((sock, j) => sendFlushed(sock, sessions[j].id, N, opts.ingestWindow, `${tagBase}-${j}`));
    const tSent = Math.max(...(await Promise.all(sends)));
    const tSeen = Math.max(...(await Promise.all(polls)));
    const cpu = cpuMs(pid) - c0;
    return {
      cpuUsPerMsg: (cpu * 1000) / (S * N),
      msgs: S * N,
      ms: tSeen - t0,
      rate: (S * N * 1000) / (tSeen - t0),
      sentMs: tSent - t0,
    };
  } finally {
    for (const s of sockets) s.close();
  }
}

// ------------------------------------------------------------------------------- sessions

async function sessionsSetup(h) {
  const sock = await openCli(h.port, { clientType: 'session-scoped' });
  try {
    for (let i = 0; i < 50; i++) {
      const s = await createSession(h.port, `list-${i}-${rand()}`, i);
      for (let j = 0; j < opts.sessionMessages; j++) {
        sock.emit('message', { sid: s.id, message: agentMessage(j), localId: `list-${i}-${j}` });
      }
      await sock.timeout(30_000).emitWithAck('ping');
    }
  } finally {
    sock.close();
  }
}

async function sessionsOnce(h, conc) {
  const jwt = await webJwt(h.port);
  const hdr = { authorization: `Bearer ${jwt}` };
  const clients = await Promise.all(Array.from({ length: conc }, () => new KeepAlive(h.port).connect()));
  try {
    let bodyLen = -1;
    // Warm-up: 20 requests per connection, checked.
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 20; i++) {
          const r = await c.request('GET', '/api/sessions', hdr);
          if (r.status !== 200) throw new Error(`GET /api/sessions: ${r.status} ${r.body}`);
          const n = JSON.parse(r.body).sessions.length;
          if (n < 50) throw new Error(`GET /api/sessions: ${n} sessions`);
          bodyLen = r.body.length;
        }
      }),
    );
    const lat = [];
    let issued = 0;
    const c0 = cpuMs(h.proc.pid);
    const s0 = selfCpuMs();
    const t0 = performance.now();
    const end = t0 + opts.maxSecs * 1000;
    await Promise.all(
      clients.map(async (c) => {
        while (issued < opts.requests && performance.now() < end) {
          issued++;
          const s = performance.now();
          const r = await c.request('GET', '/api/sessions', hdr);
          lat.push(performance.now() - s);
          if (r.status !== 200) throw new Error(`GET /api/sessions: ${r.status}`);
        }
      }),
    );
    const el = performance.now() - t0;
    const cpu = cpuMs(h.proc.pid) - c0;
    const client = selfCpuMs() - s0;
    return {
      n: lat.length,
      rps: (lat.length * 1000) / el,
      p50: median(lat),
      p99: percentile(lat, 99),
      bodyLen,
      cpuUsPerReq: (cpu * 1000) / lat.length,
      serverCpuShare: cpu / el,
      clientCpuShare: client / el,
    };
  } finally {
    for (const c of clients) c.close();
  }
}

// ------------------------------------------------------------------------------- SSE

function openStream(port, jwt, sid, onMessage) {
  return new Promise((ok, fail) => {
    const st = { closed: false, got: 0, close: null };
    const r = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/api/events?token=${encodeURIComponent(jwt)}&sessionId=${encodeURIComponent(sid)}`,
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
          const now = performance.now();
          buf += c;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (first) {
              first = false;
              ok(st);
            }
            if (ev.includes('"message-received"')) {
              const m = /"benchK":(\d+)/.exec(ev);
              if (m) {
                st.got++;
                onMessage(Number(m[1]), now);
              }
            }
          }
        });
        res.on('close', () => (st.closed = true));
        res.on('error', () => (st.closed = true));
      },
    );
    st.close = () => r.destroy();
    r.on('error', (e) => {
      st.closed = true;
      fail(e);
    });
    r.setTimeout(30_000, () => r.destroy(new Error('SSE: no first event within 30 s')));
    r.on('response', () => r.setTimeout(0));
  });
}

async function sseOnce(h) {
  const n = opts.sseClients;
  const M = opts.sseMessages;
  const s = await createSession(h.port, `sse-${rand()}`, 0);
  const cli = await openCli(h.port, { clientType: 'session-scoped', sessionId: s.id });
  const jwt = await webJwt(h.port);
  const sentAt = new Map();
  const lat = [];
  const counts = new Map();
  let waiting = null;
  const onMessage = (k, now) => {
    const t = sentAt.get(k);
    if (t === undefined) return;
    lat.push(now - t);
    const c = (counts.get(k) ?? 0) + 1;
    counts.set(k, c);
    if (c === n && waiting?.k === k) waiting.done(now);
  };
  const t0 = performance.now();
  let streams = [];
  try {
    streams = await pooled(n, 50, () => openStream(h.port, jwt, s.id, onMessage));
    const openMs = performance.now() - t0;
    await sleep(1000);
    const fanout = [];
    let missing = 0;
    const c0 = cpuMs(h.proc.pid);
    for (let k = 1; k <= M; k++) {
      const p = new Promise((done) => {
        const t = setTimeout(() => done(null), 10_000);
        waiting = { k, done: (now) => (clearTimeout(t), done(now)) };
      });
      const ts = performance.now();
      sentAt.set(k, ts);
      cli.emit('message', {
        sid: s.id,
        message: { role: 'agent', content: { type: 'output', data: { type: 'assistant', benchK: k } } },
        localId: `sse-${k}`,
      });
      const all = await p;
      if (all === null) missing += n - (counts.get(k) ?? 0);
      else fanout.push(all - ts);
      await sleep(100);
    }
    const cpu = cpuMs(h.proc.pid) - c0;
    const open = streams.filter((x) => !x.closed).length;
    return {
      cpuMsPerMsg: cpu / M,
      clients: n,
      open,
      openMs,
      p50: median(lat),
      p99: percentile(lat, 99),
      fanoutP50: median(fanout),
      fanoutMax: Math.max(...fanout),
      missing,
      samples: lat.length,
    };
  } finally {
    for (const x of streams) x.close?.();
    cli.close();
  }
}

// ------------------------------------------------------------------------------- main

const results = {
  when: new Date().toISOString(),
  machine: machineNote(),
  opts,
  messageBytes: MESSAGE_BYTES,
  servers: Object.fromEntries(SERVERS.map((s) => [s.name, s.bin])),
  ingest: {},
  sessions: {},
  sse: {},
};
log(`machine: ${JSON.stringify(results.machine)}; message ${MESSAGE_BYTES} bytes`);

// Each benchmark gets its own fresh pair of hubs, so one benchmark's sessions and messages
// never weigh on the next.
async function withHubs(fn) {
  const hubs = {};
  try {
    for (const s of SERVERS) {
      hubs[s.name] = await startServer(s);
      log(`${s.name} up on ${hubs[s.name].port} (${fmt(hubs[s.name].startMs)} ms)`);
    }
    await fn(hubs);
  } catch (e) {
    for (const [n, h] of Object.entries(hubs)) log(`${n} output:\n${tail(h.output())}`);
    throw e;
  } finally {
    for (const h of Object.values(hubs)) await h.stop();
  }
}
const orderOf = (rep) => (rep % 2 ? SERVERS : [...SERVERS].reverse());

if (opts.only.includes('ingest')) {
  await withHubs(async (hubs) => {
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const s of orderOf(rep)) {
        const modes = s.name === 'hapid' ? ['e2e', 'acked'] : ['e2e'];
        for (const mode of modes) {
          const key = `${s.name}/${mode}`;
          const r = await ingestOnce(hubs[s.name], mode, rep);
          (results.ingest[key] ??= []).push(r);
          log(`ingest ${key} rep ${rep}: ${r.msgs} msgs in ${fmt(r.ms)} ms = ${fmt(r.rate, 0)} msg/s, server CPU ${fmt(r.cpuUsPerMsg, 0)} µs/msg`);
        }
      }
    }
  });
}
if (opts.only.includes('sessions')) {
  await withHubs(async (hubs) => {
    for (const s of SERVERS) await sessionsSetup(hubs[s.name]);
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const c of opts.conc) {
        for (const s of orderOf(rep)) {
          const key = `${s.name}/c${c}`;
          const r = await sessionsOnce(hubs[s.name], c);
          (results.sessions[key] ??= []).push(r);
          log(`sessions ${key} rep ${rep}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms (${r.n} req, ${r.bodyLen} B), server CPU ${fmt(r.cpuUsPerReq, 0)} µs/req (${fmt(100 * r.serverCpuShare, 0)}% of a core), client ${fmt(100 * r.clientCpuShare, 0)}%`);
        }
      }
    }
  });
}
if (opts.only.includes('sse')) {
  await withHubs(async (hubs) => {
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const s of orderOf(rep)) {
        const r = await sseOnce(hubs[s.name]);
        (results.sse[s.name] ??= []).push(r);
        log(`sse ${s.name} rep ${rep}: ${r.open}/${r.clients} open (in ${fmt(r.openMs, 0)} ms), p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, all-streams p50 ${fmt(r.fanoutP50, 2)} ms, missing ${r.missing}, server CPU ${fmt(r.cpuMsPerMsg, 1)} ms/msg`);
        await sleep(500);
      }
    }
  });
}
results.machineAfter = machineNote();

// ------------------------------------------------------------------------------- report

const med = (rs, f) => median(rs.map(f));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
let md = `Run ${results.when}, ${results.machine.cpus} CPUs (${results.machine.model}), load average (1/5/15 min) ${results.machine.load} at start, ${results.machineAfter.load} at the end; ${opts.reps} repetitions, medians.\n\n`;

if (opts.only.includes('ingest')) {
  const I = results.ingest;
  const h = I['hapid/e2e'];
  const o = I['official/e2e'];
  const a = I['hapid/acked'];
  md += `### Ingest (${opts.ingestSockets} /cli sockets × ${opts.ingestPerSocket} messages of ${MESSAGE_BYTES} B, window ${opts.ingestWindow} per socket)\n\n`;
  md += `| Completion | hapid msg/s | official msg/s | hapid ÷ official |\n|---|---:|---:|---:|\n`;
  md += `| all visible via GET /cli/…/messages?afterSeq= (no acks; ping barrier) | ${fmt(med(h, (r) => r.rate), 0)} | ${fmt(med(o, (r) => r.rate), 0)} | ${ratio(med(h, (r) => r.rate), med(o, (r) => r.rate))} |\n`;
  md += `| hapid: last durable ack (sliding window of acked emits) | ${fmt(med(a, (r) => r.rate), 0)} | — (no ack) | — |\n`;
  md += `| server CPU per message, µs (all visible run) | ${fmt(med(h, (r) => r.cpuUsPerMsg), 0)} | ${fmt(med(o, (r) => r.cpuUsPerMsg), 0)} | ${ratio(med(o, (r) => r.cpuUsPerMsg), med(h, (r) => r.cpuUsPerMsg))} less |\n\n`;
}
if (opts.only.includes('sessions')) {
  md += `### GET /api/sessions, 50 sessions with ${opts.sessionMessages} messages each (keep-alive, closed loop, up to ${opts.requests} requests or ${opts.maxSecs} s per run)\n\n`;
  md += `| Connections | hapid req/s | official req/s | ratio | hapid p50 ms | official p50 ms | hapid p99 ms | official p99 ms | p99 ratio (official ÷ hapid) | hapid CPU µs/req | official CPU µs/req | CPU ratio |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
  for (const c of opts.conc) {
    const h = results.sessions[`hapid/c${c}`];
    const o = results.sessions[`official/c${c}`];
    const [hr, or] = [med(h, (r) => r.rps), med(o, (r) => r.rps)];
    const [hp99, op99] = [med(h, (r) => r.p99), med(o, (r) => r.p99)];
    const [hc, oc] = [med(h, (r) => r.cpuUsPerReq), med(o, (r) => r.cpuUsPerReq)];
    md += `| ${c} | ${fmt(hr, 0)} | ${fmt(or, 0)} | ${ratio(hr, or)} | ${fmt(med(h, (r) => r.p50), 2)} | ${fmt(med(o, (r) => r.p50), 2)} | ${fmt(hp99, 2)} | ${fmt(op99, 2)} | ${ratio(op99, hp99)} | ${fmt(hc, 0)} | ${fmt(oc, 0)} | ${ratio(oc, hc)} |\n`;
  }
  const bl = results.sessions[`hapid/c${opts.conc[0]}`][0].bodyLen;
  const ol = results.sessions[`official/c${opts.conc[0]}`][0].bodyLen;
  const cs = (n) => fmt(100 * median(opts.conc.flatMap((c) => results.sessions[`${n}/c${c}`].map((r) => r.clientCpuShare))), 0);
  md += `\nResponse body: hapid ${bl} B, official ${ol} B. The client (node) used ${cs('hapid')}% / ${cs('official')}% of a core (median) while driving hapid / official.\n\n`;
}
if (opts.only.includes('sse')) {
  const h = results.sse.hapid;
  const o = results.sse.official;
  md += `### CLI message → SSE, ${opts.sseClients} streams on /api/events?sessionId= (${opts.sseMessages} messages per run)\n\n`;
  md += `| | hapid | official | official ÷ hapid |\n|---|---:|---:|---:|\n`;
  const row = (label, f, d = 2) => {
    const [x, y] = [med(h, f), med(o, f)];
    md += `| ${label} | ${fmt(x, d)} | ${fmt(y, d)} | ${ratio(y, x)} |\n`;
  };
  md += `| streams accepted / still open | ${h.map((r) => `${r.open}/${r.clients}`).join(', ')} | ${o.map((r) => `${r.open}/${r.clients}`).join(', ')} | |\n`;
  row('latency p50 (ms, every stream)', (r) => r.p50);
  row('latency p99 (ms, every stream)', (r) => r.p99);
  row('time until all streams had it, p50 (ms)', (r) => r.fanoutP50);
  row(`time to open ${opts.sseClients} streams (ms)`, (r) => r.openMs, 0);
  row('server CPU per message fanned out to every stream (ms)', (r) => r.cpuMsPerMsg, 1);
  md += `| events missing | ${h.map((r) => r.missing).join(', ')} | ${o.map((r) => r.missing).join(', ')} | |\n\n`;
}

mkdirSync(opts.out, { recursive: true });
writeFileSync(join(opts.out, 'compare.json'), JSON.stringify(results, null, 2));
writeFileSync(join(opts.out, 'compare.md'), md);
console.log(md);
log(`wrote ${join(opts.out, 'compare.md')} and compare.json`);
process.exit(0);
