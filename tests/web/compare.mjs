// Side-by-side report of two browser.mjs runs (default: out/hapid and out/official).
//
//   node compare.mjs [OUT_DIR]
//
// Prints (and writes to OUT_DIR/comparison.txt):
//   1. PASS/FAIL per step per hub;
//   2. every request that failed (4xx/5xx, or no response) on hapid, with what the official hub
//      answered for the same request (from its own run, else from its --probe replay);
//   3. /api endpoints only one of the two runs requested;
//   4. for /api endpoints both requested: JSON fields the official answer has and hapid's lacks
//      (and the reverse), by key path;
//   5. SSE event types and fields seen by an observer stream on each hub;
//   6. console errors per hub.
// Exit code 0 when both hubs passed every step, 1 otherwise.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(process.argv[2] ?? join(here, 'out'));
const HUBS = ['hapid', 'official'];

const load = (hub, name) => {
  const f = join(outDir, hub, name);
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null;
};
const runs = Object.fromEntries(
  HUBS.map((h) => [
    h,
    {
      result: load(h, 'result.json'),
      requests: load(h, 'requests.json'),
      probes: load(h, 'probes.json'),
      sse: load(h, 'sse.json'),
    },
  ]),
);

const lines = [];
const say = (s = '') => lines.push(s);
const clip = (s, n = 300) => {
  const t = String(s ?? '').replace(/\s+/g, ' ');
  return t.length > n ? `${t.slice(0, n)}…` : t;
};

/** METHOD + path with ids replaced, query reduced to its sorted parameter names. */
function normalize(method, path, sid) {
  const u = new URL(path, 'http://x');
  let p = u.pathname;
  if (sid) p = p.split(sid).join(':sid');
  p = p
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, ':uuid')
    .replace(/toolu_[A-Za-z0-9]+/g, ':requestId');
  const q = [...new Set([...u.searchParams.keys()])].sort();
  return `${method} ${p}${q.length ? `?${q.join('&')}` : ''}`;
}

/** Key paths of a JSON value: objects by key, arrays merged under []. */
function keyPaths(v, prefix = '', out = new Set()) {
  if (Array.isArray(v)) {
    for (const x of v) keyPaths(x, `${prefix}[]`, out);
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      keyPaths(x, p, out);
    }
  }
  return out;
}

// 1. Steps.
say('== Steps');
const stepNames = [];
for (const h of HUBS) for (const s of runs[h].result?.steps ?? []) if (!stepNames.includes(s.name)) stepNames.push(s.name);
const w = Math.max(20, ...stepNames.map((n) => n.length));
say(`${'step'.padEnd(w)}  ${HUBS.map((h) => h.padEnd(8)).join('  ')}`);
let allPass = true;
for (const n of stepNames) {
  const cells = HUBS.map((h) => {
    const r = runs[h].result;
    if (!r) return 'NO RUN';
    const s = r.steps.find((x) => x.name === n);
    return s ? s.status : '-';
  });
  const info = HUBS.some((h) => runs[h].result?.steps.find((x) => x.name === n)?.info);
  if (!info && cells.some((c) => c !== 'PASS')) allPass = false;
  say(`${n.padEnd(w)}  ${cells.map((c) => c.padEnd(8)).join('  ')}${info ? '  (info only)' : ''}`);
}
for (const h of HUBS) {
  if (!runs[h].result) {
    allPass = false;
    continue;
  }
  for (const s of runs[h].result.steps) if (s.status !== 'PASS') say(`  ${h} ${s.name}: ${clip(s.detail, 600)}`);
}

// Index the requests by normalized key.
const index = {};
for (const h of HUBS) {
  index[h] = new Map();
  const rq = runs[h].requests;
  for (const r of rq?.requests ?? []) {
    const k = normalize(r.method, r.path, rq.sid);
    if (!index[h].has(k)) index[h].set(k, []);
    index[h].get(k).push(r);
  }
}

// 2. hapid's failing requests, with the official answer.
say();
say('== Requests that failed on hapid (method path -> status), and what the official hub answered');
const hapidSid = runs.hapid.requests?.sid;
const failing = new Map();
for (const r of runs.hapid.requests?.requests ?? []) {
  if (r.status >= 400 || r.status === 0) {
    const k = normalize(r.method, r.path, hapidSid);
    if (!failing.has(k)) failing.set(k, { r, n: 0 });
    failing.get(k).n += 1;
  }
}
if (failing.size === 0) say('  none');
for (const [k, { r, n }] of failing) {
  say(`- ${k}  (${n}x)`);
  say(`    hapid:    ${r.status}${r.failure ? ` ${r.failure}` : ''} ${clip(r.body)}`);
  if (r.requestBody) say(`    request body: ${clip(r.requestBody)}`);
  const off = (index.official.get(k) ?? []).find((x) => x.status > 0);
  const probe = (runs.official.probes?.probes ?? []).find(
    (p) => normalize(p.method, p.otherPath, hapidSid) === k || normalize(p.method, p.path, runs.official.probes?.sid) === k,
  );
  if (off) say(`    official: ${off.status} ${clip(off.body)}`);
  else if (probe) say(`    official (replayed): ${probe.status} ${clip(probe.body)}`);
  else say('    official: not requested in its run, no probe');
}

// 3. Endpoints requested by only one hub's run.
const apiKeys = (h) => [...index[h].keys()].filter((k) => k.split(' ')[1].startsWith('/api'));
say();
say('== /api requests made in only one run (the app took a different path)');
let only = 0;
for (const [a, b] of [
  ['official', 'hapid'],
  ['hapid', 'official'],
]) {
  for (const k of apiKeys(a)) {
    if (!index[b].has(k)) {
      only += 1;
      const r = index[a].get(k)[0];
      say(`- only ${a}: ${k} -> ${r.status} ${clip(r.body, 200)}`);
    }
  }
}
if (!only) say('  none');

// 4. Field differences of JSON answers.
say();
say('== JSON fields: official answer has, hapid answer lacks (first 200 answer of each endpoint)');
let diffs = 0;
for (const k of apiKeys('official')) {
  if (!index.hapid.has(k)) continue;
  const pick = (h) => {
    for (const r of index[h].get(k)) {
      if (r.status !== 200 || !r.body) continue;
      try {
        return JSON.parse(r.body);
      } catch {
        /* truncated or not JSON */
      }
    }
    return undefined;
  };
  const o = pick('official');
  const d = pick('hapid');
  if (o === undefined || d === undefined) continue;
  const ko = keyPaths(o);
  const kd = keyPaths(d);
  const missing = [...ko].filter((p) => !kd.has(p));
  const extra = [...kd].filter((p) => !ko.has(p));
  if (missing.length || extra.length) {
    diffs += 1;
    say(`- ${k}`);
    if (missing.length) say(`    missing on hapid: ${missing.join(', ')}`);
    if (extra.length) say(`    only on hapid:    ${extra.join(', ')}`);
  }
}
if (!diffs) say('  none');

// 5. SSE: two observer streams beside the browser (all=true, and sessionId=<the session>).
say();
say('== SSE observers (/api/events?all=true visible, ?sessionId=<sid> hidden): event types and fields');
for (const stream of ['all', 'session']) {
  const types = {};
  for (const h of HUBS) {
    const d = runs[h].sse?.[stream];
    types[h] = new Map();
    if (!d) {
      say(`- [${stream}] ${h}: no recording`);
      continue;
    }
    const withId = d.frames.filter((f) => f.id !== undefined).length;
    const counts = {};
    for (const f of d.frames) {
      const t = f.json?.type ?? '(not JSON)';
      counts[t] = (counts[t] ?? 0) + 1;
      if (!types[h].has(t)) types[h].set(t, new Set());
      keyPaths(f.json ?? {}, '', types[h].get(t));
    }
    const list = Object.entries(counts)
      .map(([t, n]) => `${t} x${n}`)
      .join(', ');
    say(
      `- [${stream}] ${h}: status ${d.status}, ${d.frames.length} frames (${withId} with id:), content-encoding ${d.headers?.['content-encoding'] ?? 'none'}: ${list}`,
    );
  }
  const generic = (p) => p.replace(/toolu_[A-Za-z0-9]+/g, ':requestId');
  for (const [t, ko] of types.official ?? []) {
    const kd = types.hapid?.get(t);
    if (!kd) {
      say(`  [${stream}] only official sent ${t}: fields ${[...new Set([...ko].map(generic))].join(', ')}`);
      continue;
    }
    const kdg = new Set([...kd].map(generic));
    const missing = [...new Set([...ko].map(generic))].filter((p) => !kdg.has(p));
    if (missing.length) say(`  [${stream}] ${t}: fields official sent and hapid did not: ${missing.join(', ')}`);
  }
  for (const t of types.hapid?.keys() ?? []) {
    if (!types.official?.has(t)) say(`  [${stream}] only hapid sent ${t}`);
  }
}

// 6. Console errors.
say();
say('== Console errors');
for (const h of HUBS) {
  const r = runs[h].result;
  const errs = [
    ...(r?.consoleErrors ?? []).map((c) =>
      c.location && c.text.startsWith('Failed to load resource') ? `${c.text} [${new URL(c.location).pathname}]` : c.text,
    ),
    ...(r?.pageErrors ?? []),
  ];
  say(`- ${h}: ${errs.length}`);
  for (const e of errs) say(`    ${clip(e, 400)}`);
}

say();
say(allPass ? 'RESULT: both hubs PASS every step' : 'RESULT: FAIL');
const text = lines.join('\n');
console.log(text);
writeFileSync(join(outDir, 'comparison.txt'), `${text}\n`);
process.exit(allPass ? 0 : 1);
