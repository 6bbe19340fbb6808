// Compression, hapid beside the official hub in one run (issue 19 part 2):
//
//   list    GET /api/sessions with 50 sessions: bytes on the wire with Accept-Encoding: gzip
//           and without, and the Content-Encoding each hub chose.
//   stream  --streams gzip event streams (/api/events?token=<JWT>&sessionId=<sid>, the
//           browser's Accept-Encoding) on one session, then --messages CLI messages of ~1 KB:
//           hub RSS per open stream (RSS after opening them minus before, / streams), wire
//           bytes per event on one stream against the identity bytes of the same events, and
//           hub CPU per delivered event (utime+stime from /proc, / (messages x streams)).
//
// Each repetition starts a fresh pair of hubs (hapid first, then the official one, then
// alternating); medians over --reps are printed as a markdown table on stdout and written to
// bench-out/compress/. Figures are for reading, never for assertions.
//
//   node compress.mjs [--reps 3] [--streams 200] [--messages 100]
//
// HAPID_BIN (default target/release/hapid) and OFFICIAL_BIN pick the binaries (benches/compare
// /run.sh unpacks the official one).

import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
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
  openCli,
  sleep,
  median,
  fmt,
  cpuMs,
} from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const opts = { reps: 3, streams: 200, messages: 100 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts)) throw new Error(`unknown option --${k}`);
  opts[k] = Number(process.argv[i + 1]);
}

const rssKib = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
};

/** GET with raw bytes counted (no decompression); resolves { status, bytes, encoding }. */
function rawGet(port, path, headers) {
  return new Promise((ok, fail) => {
    const r = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => ok({ status: res.statusCode, bytes, encoding: res.headers['content-encoding'] ?? 'identity' }));
      res.on('error', fail);
    });
    r.on('error', fail);
  });
}

/** An event stream that counts its wire bytes and the `message-received` events it saw. */
function openStream(port, path, gzip) {
  return new Promise((ok, fail) => {
    const headers = { accept: 'text/event-stream' };
    if (gzip) headers['accept-encoding'] = 'gzip, deflate, br';
    const r = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const s = { bytes: 0, encoding: res.headers['content-encoding'] ?? 'identity', req: r, res };
      res.on('data', (c) => (s.bytes += c.length));
      ok(s);
    });
    r.on('error', fail);
  });
}

const agentMessage = (i) => ({
  role: 'agent',
  content: {
    type: 'output',
    data: {
      type: 'assistant',
      message: {
        role: 'assistant',
        content: [{ type: 'text', text: `Step ${i}: ran the tests; 41 passed, 2 failed in storage/wal.rs. `.repeat(12) }],
      },
    },
  },
  meta: { sentFrom: 'cli' },
});

async function one(name, bin, args) {
  const hub = await startServer({ name, bin, args });
  try {
    const pid = hub.proc.pid;
    const jwt = await webJwt(hub.port);
    const sessions = [];
    for (let i = 0; i < 50; i++) sessions.push(await createSession(hub.port, `c-${i}`, i));
    const auth = { authorization: `Bearer ${jwt}` };
    const plain = await rawGet(hub.port, '/api/sessions', auth);
    const zipped = await rawGet(hub.port, '/api/sessions', { ...auth, 'accept-encoding': 'gzip, deflate, br' });

    const sid = sessions[0].id;
    const cli = await openCli(hub.port, { clientType: 'session-scoped', sessionId: sid });
    cli.emit('session-alive', { sid, time: Date.now(), thinking: false });
    await sleep(300);
    const path = `/api/events?token=${encodeURIComponent(jwt)}&sessionId=${sid}`;
    const identity = await openStream(hub.port, path, false);
    await sleep(300);
    const rss0 = rssKib(pid);
    const streams = [];
    for (let i = 0; i < opts.streams; i++) streams.push(await openStream(hub.port, path, true));
    await sleep(1000);
    const rss1 = rssKib(pid);
    const encodings = [...new Set(streams.map((s) => s.encoding))].join(',');
    const b0 = streams[0].bytes;
    const i0 = identity.bytes;
    const cpu0 = cpuMs(pid);
    for (let i = 0; i < opts.messages; i++) {
      cli.emit('message', { sid, message: agentMessage(i), localId: `z-${i}` });
      if (i % 10 === 9) await sleep(50);
    }
    // Wait until the identity stream stops growing.
    let last = -1;
    for (let k = 0; k < 100 && identity.bytes !== last; k++) {
      last = identity.bytes;
      await sleep(200);
    }
    const cpu1 = cpuMs(pid);
    const wire = (streams[0].bytes - b0) / opts.messages;
    const ident = (identity.bytes - i0) / opts.messages;
    const row = {
      name,
      listIdentity: plain.bytes,
      listWire: zipped.bytes,
      listEncoding: zipped.encoding,
      streamEncoding: encodings,
      rssPerStreamKib: (rss1 - rss0) / opts.streams,
      eventIdentityBytes: ident,
      eventWireBytes: wire,
      cpuUsPerEvent: ((cpu1 - cpu0) * 1000) / (opts.messages * (opts.streams + 1)),
    };
    for (const s of [identity, ...streams]) s.req.destroy();
    cli.close();
    return row;
  } finally {
    await hub.stop();
  }
}

const { hapid, official } = binaries(root);
if (!official) throw new Error('OFFICIAL_BIN not set and no unpacked official hub found');
const runs = { hapid: [], official: [] };
for (let r = 0; r < opts.reps; r++) {
  const order = r % 2 === 0 ? ['hapid', 'official'] : ['official', 'hapid'];
  for (const n of order) {
    const row = n === 'hapid' ? await one('hapid', hapid, []) : await one('official', official, ['hub', '--no-relay']);
    log(JSON.stringify(row));
    runs[n].push(row);
  }
}
const med = (n, k) => median(runs[n].map((r) => r[k]));
const m = machineNote();
let md = `### Compression, hapid beside the official hub (${opts.reps} runs, medians; ${m.cpus} cores, load ${m.load})\n\n`;
md += `| | hapid | official | ratio |\n|---|---|---|---|\n`;
const line = (label, k, d = 0) => {
  const a = med('hapid', k);
  const b = med('official', k);
  md += `| ${label} | ${fmt(a, d)} | ${fmt(b, d)} | ${fmt(a / b, 2)} |\n`;
};
line('GET /api/sessions (50), identity bytes', 'listIdentity');
line('GET /api/sessions (50), gzip bytes on the wire', 'listWire');
md += `| its Content-Encoding | ${runs.hapid[0].listEncoding} | ${runs.official[0].listEncoding} | |\n`;
md += `| event stream Content-Encoding | ${runs.hapid[0].streamEncoding} | ${runs.official[0].streamEncoding} | |\n`;
line(`RSS per open gzip stream (KiB, ${opts.streams} streams)`, 'rssPerStreamKib', 1);
line('bytes per ~1 KB event, identity stream', 'eventIdentityBytes', 0);
line('bytes per ~1 KB event, gzip stream', 'eventWireBytes', 0);
line('hub CPU per delivered event (µs)', 'cpuUsPerEvent', 1);
md += `\nEach figure's spread: hapid ${JSON.stringify(runs.hapid.map((r) => Math.round(r.cpuUsPerEvent * 10) / 10))} µs/event, official ${JSON.stringify(runs.official.map((r) => Math.round(r.cpuUsPerEvent * 10) / 10))}.\n`;
const out = join(root, 'bench-out/compress');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'compress.md'), md);
writeFileSync(join(out, 'runs.json'), JSON.stringify(runs, null, 2));
console.log(md);
