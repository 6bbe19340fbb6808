// Retention under load (issue 9): does pruning 100 000 old messages stall the loop?
//
//   node retention.mjs [--old 20] [--per-session 5000] [--fresh 50] [--days 30]
//        [--rate 200] [--conns 4] [--baseline-secs 20] [--after-secs 15] [--max-secs 900]
//        [--out DIR]
//
// 1. A fresh hapid (target/release/hapid or HAPID_BIN) gets --fresh sessions with 20
//    messages each and --old sessions with --per-session ~1 KB messages each, all through
//    the API (POST /cli/sessions, then /cli `message` emits with durable acks).
// 2. hapid stops; python3's sqlite3 moves the old sessions' updated_at/active_at (and their
//    messages' created_at) 2×--days into the past.
// 3. Unloaded: hapid restarts on that database without retention; --conns keep-alive
//    connections send GET /api/sessions open-loop at --rate requests/s in total for
//    --baseline-secs. Latency is measured from the scheduled send time, so a stalled loop
//    shows up in full (no coordinated omission); the latency from the actual send is kept too.
// 4. Pruning: hapid restarts with HAPID_RETENTION_DAYS=--days and the same load runs while
//    GET /api/sessions is polled every 250 ms on its own connection; "during pruning" is from
//    the start until only the fresh sessions are listed, then the load goes on for
//    --after-secs.
// 5. The database is checked: only the fresh sessions' messages are left, integrity ok.
//
// Only 127.0.0.1 is contacted; every phase is bounded in time and count.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TOKEN,
  log,
  startServer,
  binaries,
  machineNote,
  webJwt,
  createSession,
  KeepAlive,
  openCli,
  median,
  percentile,
  fmt,
  tail,
  sleep,
  performance,
  hapidDbMessages,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../..');
const opts = {
  old: 20,
  perSession: 5000,
  fresh: 50,
  days: 30,
  rate: 200,
  conns: 4,
  baselineSecs: 20,
  afterSecs: 15,
  maxSecs: 900,
  out: join(ROOT, 'bench-out/compare'),
};
const hapidEnv = {};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    if (k === '--hapid-env') {
      const [n, ...v] = a[++i].split('=');
      hapidEnv[n] = v.join('=');
      continue;
    }
    const key = k.replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (!(key in opts)) throw new Error(`unknown argument ${k}`);
    const v = a[++i];
    opts[key] = key === 'out' ? resolve(v) : Number(v);
    if (key !== 'out' && !(opts[key] > 0)) throw new Error(`${k} needs a positive number`);
  }
}
const { hapid } = binaries(ROOT);
const server = { name: 'hapid', bin: hapid, args: [], env: hapidEnv };
const FILLER = 'The quick brown fox jumps over the lazy dog while the agent edits src/lib.rs. ';
const agentMessage = (i) => ({
  role: 'agent',
  content: { type: 'output', data: { type: 'assistant', n: i, text: FILLER.repeat(12) } },
  meta: { sentFrom: 'cli' },
});

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
          .timeout(60_000)
          .emit('message', { sid, message: agentMessage(i), localId: `${prefix}-${i}` }, (err, res) => {
            if (err) return fail(err);
            if (res?.ok !== true) return fail(new Error(`message ${i}: ${JSON.stringify(res)}`));
            inflight--;
            if (++done === n) ok();
            else pump();
          });
      }
    };
    if (n === 0) ok();
    else pump();
  });
}

/** Open-loop GET /api/sessions until `stop()` says so; returns the samples. */
async function load(port, jwt, stop) {
  const samples = [];
  const interval = (opts.conns * 1000) / opts.rate;
  const hdr = { authorization: `Bearer ${jwt}` };
  const t0 = performance.now();
  const conns = await Promise.all(Array.from({ length: opts.conns }, () => new KeepAlive(port).connect()));
  let errors = 0;
  await Promise.all(
    conns.map(async (c, i) => {
      let next = t0 + (i * interval) / opts.conns;
      let prevDone = 0;
      while (!stop()) {
        const now = performance.now();
        if (next > now) await sleep(next - now);
        const sent = performance.now();
        // Late because the previous answer came after `next`: the server's delay, counted
        // from `next`. Otherwise only timer slop (ours): counted from the actual send.
        const start = prevDone > next ? next : sent;
        let r;
        try {
          r = await c.request('GET', '/api/sessions', hdr, null, 30_000);
        } catch (e) {
          errors++;
          log(`request failed: ${e.message}`);
          break;
        }
        const done = performance.now();
        prevDone = done;
        if (r.status !== 200) errors++;
        samples.push({ at: next, sched: done - start, service: done - sent, n: r.body.length });
        next += interval;
      }
      c.close();
    }),
  );
  return { samples, errors };
}

function summarize(samples) {
  const sched = samples.map((s) => s.sched);
  const service = samples.map((s) => s.service);
  return {
    n: samples.length,
    p50: median(sched),
    p99: percentile(sched, 99),
    p999: percentile(sched, 99.9),
    max: Math.max(...sched),
    serviceP50: median(service),
    serviceP99: percentile(service, 99),
  };
}

async function sessionCount(port, jwt) {
  const ka = await new KeepAlive(port).connect();
  try {
    const r = await ka.request('GET', '/api/sessions', { authorization: `Bearer ${jwt}` });
    return JSON.parse(r.body).sessions.length;
  } finally {
    ka.close();
  }
}

const home = mkdtempSync(join(tmpdir(), 'bench-retention-'));
const db = join(home, 'hapid.db');
const res = { when: new Date().toISOString(), machine: machineNote(), opts };
let h = null;
try {
  // ---- 1. fill through the API
  h = await startServer({ ...server, home });
  const fresh = [];
  const old = [];
  for (let i = 0; i < opts.fresh; i++) fresh.push(await createSession(h.port, `fresh-${i}`, i));
  for (let i = 0; i < opts.old; i++) old.push(await createSession(h.port, `old-${i}`, 1000 + i));
  const sockets = await Promise.all(Array.from({ length: 4 }, () => openCli(h.port, { clientType: 'session-scoped' })));
  const t0 = performance.now();
  const jobs = [
    ...old.map((s, i) => [s.id, opts.perSession, `old-${i}`]),
    ...fresh.map((s, i) => [s.id, 20, `fresh-${i}`]),
  ];
  const fillDeadline = Date.now() + opts.maxSecs * 1000;
  await Promise.all(
    sockets.map(async (sock, w) => {
      for (let j = w; j < jobs.length; j += sockets.length) {
        if (Date.now() > fillDeadline) throw new Error('filling took longer than --max-secs');
        await sendAcked(sock, jobs[j][0], jobs[j][1], 64, jobs[j][2]);
      }
    }),
  );
  const fillMs = performance.now() - t0;
  for (const s of sockets) s.close();
  const total = opts.old * opts.perSession + opts.fresh * 20;
  res.fill = { messages: total, ms: fillMs, rate: (total * 1000) / fillMs };
  log(`filled ${total} messages in ${fmt(fillMs, 0)} ms (${fmt(res.fill.rate, 0)} acked msg/s)`);
  await h.stop();
  h = null;

  // ---- 2. backdate the old sessions
  const past = Date.now() - 2 * opts.days * 86_400_000;
  execFileSync('python3', [
    '-c',
    `import sqlite3,sys,json
c=sqlite3.connect(sys.argv[1]); ids=json.loads(sys.argv[2]); t=int(sys.argv[3])
q=",".join("?"*len(ids))
c.execute(f"update sessions set updated_at=?, active_at=? where id in ({q})",[t,t]+ids)
c.execute(f"update messages set created_at=? where session_id in ({q})",[t]+ids)
c.commit()`,
    db,
    JSON.stringify(old.map((s) => s.id)),
    String(past),
  ]);
  const before = hapidDbMessages(db);
  res.dbBytes = statSync(db).size;
  log(`backdated ${old.length} sessions; ${before.count} messages, DB ${(res.dbBytes / 1048576).toFixed(1)} MiB`);

  // ---- 3. unloaded baseline (same database, no retention)
  h = await startServer({ ...server, home });
  {
    const jwt = await webJwt(h.port);
    const end = performance.now() + opts.baselineSecs * 1000;
    const { samples, errors } = await load(h.port, jwt, () => performance.now() > end);
    res.baseline = { ...summarize(samples), errors, bodyBytes: samples.at(-1)?.n };
    log(`unloaded: ${JSON.stringify(res.baseline)}`);
  }
  await h.stop();
  h = null;

  // ---- 4. the same load while retention prunes
  h = await startServer({ ...server, home, env: { ...hapidEnv, HAPID_RETENTION_DAYS: String(opts.days) } });
  {
    const tStart = performance.now();
    const jwt = await webJwt(h.port);
    let tDone = null;
    let stopAt = tStart + opts.maxSecs * 1000;
    let watchError = null;
    const watcher = (async () => {
      while (performance.now() < stopAt) {
        let n;
        try {
          n = await sessionCount(h.port, jwt);
        } catch (e) {
          watchError = e;
          stopAt = 0;
          return;
        }
        if (n <= opts.fresh) {
          tDone = performance.now();
          stopAt = Math.min(stopAt, tDone + opts.afterSecs * 1000);
          return;
        }
        await sleep(250);
      }
    })();
    const { samples, errors } = await load(h.port, jwt, () => performance.now() > stopAt);
    await watcher;
    if (watchError) throw new Error(`hapid stopped answering while pruning: ${watchError.message}`);
    if (tDone === null) throw new Error(`retention not finished within ${opts.maxSecs} s`);
    const during = samples.filter((s) => s.at <= tDone);
    const after = samples.filter((s) => s.at > tDone);
    res.pruneMs = tDone - tStart;
    res.during = { ...summarize(during), errors };
    // Where the time went: the worst second-by-second latencies while pruning.
    const perSec = new Map();
    for (const x of during) {
      const sec = Math.floor((x.at - tStart) / 1000);
      perSec.set(sec, Math.max(perSec.get(sec) ?? 0, x.sched));
    }
    res.duringPerSecondMaxMs = [...perSec.entries()].sort((p, q) => p[0] - q[0]).map(([, v]) => Number(v.toFixed(1)));
    res.duringOver10ms = during.filter((x) => x.sched > 10).length;
    res.after = summarize(after);
    const hist = [];
    const mt = await (async () => {
      const ka = await new KeepAlive(h.port).connect();
      const r = await ka.request('GET', '/metrics', { authorization: `Bearer ${jwt}` });
      ka.close();
      return r.body.toString();
    })();
    for (const l of mt.split('\n')) {
      if (/^hapid_(commit_seconds|housekeeping_seconds|retention_deleted_total|db_size_bytes)/.test(l)) hist.push(l);
    }
    res.commitHistogram = hist.length ? hist : ['(not in /metrics: the hub part of /metrics is not exported)'];
    log(`pruned ${opts.old} sessions in ${fmt(res.pruneMs, 0)} ms`);
    log(`during: ${JSON.stringify(res.during)}`);
    log(`after:  ${JSON.stringify(res.after)}`);
  }
  await h.stop();
  h = null;

  // ---- 5. check the database
  const afterDb = hapidDbMessages(db);
  res.left = afterDb;
  if (afterDb.count !== opts.fresh * 20 || afterDb.integrity !== 'ok') {
    throw new Error(`after retention: ${JSON.stringify(afterDb)}, expected ${opts.fresh * 20} messages`);
  }
} catch (e) {
  if (h) log(`hapid output:\n${tail(h.output())}`);
  throw e;
} finally {
  if (h) await h.stop();
  rmSync(home, { recursive: true, force: true });
}
res.machineAfter = machineNote();

const b = res.baseline;
const d = res.during;
const a = res.after;
let md = `Run ${res.when}, ${res.machine.cpus} CPUs, load average ${res.machine.load} at start, ${res.machineAfter.load} at the end.\n\n`;
md += `### Retention: pruning ${opts.old * opts.perSession} messages (${opts.old} inactive sessions older than ${opts.days} days; DB ${(res.dbBytes / 1048576).toFixed(0)} MiB) under GET /api/sessions at ${opts.rate} req/s (${opts.conns} keep-alive connections, open loop)\n\n`;
md += `Filling through the API: ${res.fill.messages} messages with durable acks in ${fmt(res.fill.ms / 1000, 1)} s (${fmt(res.fill.rate, 0)} msg/s). Pruning took ${fmt(res.pruneMs / 1000, 1)} s.\n\n`;
md += `| GET /api/sessions latency (ms, from scheduled send) | requests | p50 | p99 | p99.9 | max | p99 from actual send |\n|---|---:|---:|---:|---:|---:|---:|\n`;
for (const [label, s] of [
  [`unloaded (same DB, ${opts.fresh + opts.old} sessions, no retention)`, b],
  ['during pruning', d],
  [`after pruning (${opts.fresh} sessions)`, a],
]) {
  md += `| ${label} | ${s.n} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${fmt(s.p999, 2)} | ${fmt(s.max, 2)} | ${fmt(s.serviceP99, 2)} |\n`;
}
md += `\nRequests over 10 ms while pruning: ${res.duringOver10ms} of ${d.n}. Worst latency in each second of pruning (ms): ${res.duringPerSecondMaxMs.join(', ')}.\n`;
if (Object.keys(hapidEnv).length) md += `\nExtra hapid environment: \`${JSON.stringify(hapidEnv)}\`.\n`;
md += `\np99 during pruning ÷ unloaded p99: **${(d.p99 / b.p99).toFixed(2)}×** (target ≤ 2×); ÷ after-pruning p99: ${(d.p99 / a.p99).toFixed(2)}×. Errors: ${d.errors + b.errors}. Left: ${res.left.count} messages, integrity ${res.left.integrity}.\n`;
md += `\nCommit latency histogram, database size and retention counter from /metrics at the end:\n\n\`\`\`\n${res.commitHistogram.join('\n')}\n\`\`\`\n`;
mkdirSync(opts.out, { recursive: true });
writeFileSync(join(opts.out, 'retention.json'), JSON.stringify(res, null, 2));
writeFileSync(join(opts.out, 'retention.md'), md);
console.log(md);
process.exit(0);
