// The official HAPI web app driven in headless Chromium against a hub (hapid or the official one).
//
//   node browser.mjs --hub hapid|official --bundle DIR [--out DIR] [--hapid-bin PATH]
//                    [--official-pkg DIR] [--keep] [--probe OTHER/requests.json]
//
// Starts the hub on a free loopback port with a fresh HAPI_HOME and a fixed CLI_API_TOKEN
// (hapid serves the bundle from HAPI_WEB_DIR; the official hub serves its own embedded copy),
// plays the CLI with socket.io-client (a runner with its machine; a session that keeps alive,
// serves the usual RPCs, stores two messages and answers every message it gets), then drives
// the app: log in with ?token=, see the session in the list, open it and see its messages, send
// a message from the composer (the CLI must receive it), raise a permission request (the dialog
// must appear) and click Allow (the CLI must receive approved:true). Info-only steps follow:
// the live reply, the file/git view, one file, the machine picker of "New session".
//
// Every step gets a screenshot under the output folder (default out/<hub>/). Every response the
// browser's requests receive is recorded in requests.json (API bodies included, truncated); any
// 4xx/5xx or console error fails the run. Two SSE observers are recorded in sse.json.
// result.json holds the step outcomes. Exit code 0 when every non-info step passed, else 1.
//
// --probe: after the steps, replay against this hub every /api request that failed (4xx/5xx)
// in another hub's run (its requests.json), with this run's session id and a fresh JWT, and
// save what this hub answered in probes.json (compare.mjs puts both side by side).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

// ------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const a = { hub: 'hapid', out: null, bundle: null, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--hub') a.hub = v();
    else if (k === '--out') a.out = v();
    else if (k === '--bundle') a.bundle = v();
    else if (k === '--hapid-bin') a.hapidBin = v();
    else if (k === '--official-pkg') a.officialPkg = v();
    else if (k === '--keep') a.keep = true;
    else if (k === '--probe') a.probe = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!['hapid', 'official'].includes(a.hub)) throw new Error('--hub must be hapid or official');
  a.out = resolve(a.out ?? join(here, 'out', a.hub));
  a.hapidBin = resolve(a.hapidBin ?? process.env.HAPID_BIN ?? join(root, 'target/debug/hapid'));
  a.officialPkg = resolve(
    a.officialPkg ?? join(here, '.cache', `hapi-linux-x64-${process.env.HAPI_VERSION ?? '0.30.7'}`, 'package'),
  );
  if (a.hub === 'hapid' && !a.bundle) throw new Error('--bundle DIR is required for --hub hapid');
  return a;
}

const args = parseArgs(process.argv.slice(2));
const TOKEN = 'web-e2e-token-Hq4Zp8Lx2Vn6Rt0Wc3Yb';
const STEP_TIMEOUT = 20_000;
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

rmSync(args.out, { recursive: true, force: true });
mkdirSync(args.out, { recursive: true });

const log = (...m) => console.log(`[${args.hub}]`, ...m);

// ------------------------------------------------------------------ hub process

function freePort() {
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

async function startHub() {
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), `hapi-web-${args.hub}-`));
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    HAPI_HOME: join(home, 'hapi-home'),
    HAPI_LISTEN_HOST: '127.0.0.1',
    HAPI_LISTEN_PORT: String(port),
    CLI_API_TOKEN: TOKEN,
    HAPI_PUBLIC_URL: base,
    CORS_ORIGINS: base,
    // A fake ElevenLabs key: Settings → Voice must show a configured voice backend
    // (steps/60-voice.mjs). Nothing calls ElevenLabs with it in the run.
    ELEVENLABS_API_KEY: 'xi-web-suite-fake-key-0000',
  };
  let cmd;
  let cmdArgs;
  if (args.hub === 'hapid') {
    if (!existsSync(args.hapidBin)) throw new Error(`hapid binary not found: ${args.hapidBin} (cargo build)`);
    cmd = args.hapidBin;
    cmdArgs = [];
    env.HAPI_WEB_DIR = resolve(args.bundle);
  } else {
    cmd = join(args.officialPkg, 'bin/hapi');
    if (!existsSync(cmd)) throw new Error(`official hub not found: ${cmd} (install-official-hub.sh)`);
    cmdArgs = ['hub'];
  }
  const proc = spawn(cmd, cmdArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d) => {
    out += d.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((ok) => proc.once('exit', (code, sig) => ok({ code, sig })));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${args.hub} exited during startup:\n${out}`);
    }
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${args.hub} did not answer /health within 30 s:\n${out}`);
    }
    await sleep(100);
  }
  return {
    base,
    port,
    home,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (!args.keep) rmSync(home, { recursive: true, force: true });
    },
  };
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Waits until `locator` is visible; the error names `what`. */
async function visible(locator, what, timeout = STEP_TIMEOUT) {
  try {
    await locator.waitFor({ state: 'visible', timeout });
  } catch {
    throw new Error(`not visible within ${timeout} ms: ${what}`);
  }
}

/** Closes "New: ..." feature explainers that cover the composer, if any. */
async function dismissExplainers(page) {
  for (const name of ['Got it', 'Close explainer', 'Dismiss']) {
    const b = page.getByRole('button', { name, exact: true });
    for (let i = 0; i < 3 && (await b.count()) > 0; i++) {
      await b.first().click({ timeout: 2000 }).catch(() => {});
      await sleep(200);
    }
  }
}

/** Clicks, dismissing banners/explainers that cover the target (the PWA install banner). */
async function clickThrough(page, locator, what) {
  for (let i = 0; i < 4; i++) {
    try {
      await locator.click({ timeout: 5000 });
      return;
    } catch {
      await dismissExplainers(page);
    }
  }
  throw new Error(`could not click ${what} (covered or disabled)`);
}

/** Waits until `text` is visible in the chat itself (not only in the "Queued" list). */
async function inTimeline(page, text, what, timeout = STEP_TIMEOUT) {
  const found = async () => {
    let queued = false;
    for (const loc of await page.getByText(text).all()) {
      const where = await loc
        .evaluate((el) => {
          if (!el.checkVisibility()) return 'hidden';
          return el.closest('[aria-label="Queued messages"], [role="status"], [contenteditable]') ? 'queued' : 'timeline';
        })
        .catch(() => 'hidden');
      if (where === 'timeline') return 'timeline';
      if (where === 'queued') queued = true;
    }
    return queued ? 'queued' : 'absent';
  };
  const deadline = Date.now() + timeout;
  let last = 'absent';
  while (Date.now() < deadline) {
    last = await found();
    if (last === 'timeline') return;
    await sleep(150);
  }
  throw new Error(
    last === 'queued'
      ? `${what} is shown only in the "Queued" list, not in the chat, after ${timeout} ms`
      : `not visible within ${timeout} ms: ${what}`,
  );
}

async function waitFor(what, pred, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------ the fake CLI

/** An agent message in the v0.30.7 CLI's Claude shape (spec/cli-protocol.md §6.3). */
function claudeText(text) {
  return {
    role: 'agent',
    content: {
      type: 'output',
      data: {
        parentUuid: null,
        isSidechain: false,
        type: 'assistant',
        uuid: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        message: { role: 'assistant', model: 'claude-fake-1', content: [{ type: 'text', text }] },
      },
    },
    meta: { sentFrom: 'cli' },
  };
}

const PROJECT = '/tmp/hapi-web-e2e/project';
const b64 = (t) => Buffer.from(t).toString('base64');

/** What a session process answers (shapes of spec/cli-protocol.md §7.3), for a tiny project. */
function sessionHandlers() {
  const files = {
    'alpha.txt': 'alpha\n',
    'beta.txt': 'beta\n',
    'README.md': '# Project\n',
  };
  const now = Date.now();
  return {
    abort: () => undefined,
    switch: () => undefined,
    killSession: () => ({ success: true, message: 'Killing hapi CLI process' }),
    'set-session-config': (p) => ({
      applied: { permissionMode: p?.permissionMode ?? 'default', model: p?.model ?? null, effort: null },
    }),
    'git-status': () => ({
      success: true,
      stdout: '# branch.oid 0123456789abcdef0123456789abcdef01234567\n# branch.head main\n1 .M N... 100644 100644 100644 0123456789abcdef0123456789abcdef01234567 0123456789abcdef0123456789abcdef01234567 alpha.txt\n',
      stderr: '',
      exitCode: 0,
    }),
    'git-diff-numstat': () => ({ success: true, stdout: '1\t0\talpha.txt\n', stderr: '', exitCode: 0 }),
    'git-diff-file': () => ({
      success: true,
      stdout: 'diff --git a/alpha.txt b/alpha.txt\n--- a/alpha.txt\n+++ b/alpha.txt\n@@ -1 +1,2 @@\n alpha\n+more\n',
      stderr: '',
      exitCode: 0,
    }),
    readFile: (p) => {
      const name = String(p?.path ?? '').split('/').pop();
      const text = files[name];
      return text === undefined
        ? { success: false, error: 'File not found' }
        : { success: true, content: b64(text), size: text.length, modified: now };
    },
    listDirectory: () => ({
      success: true,
      entries: [
        { name: 'src', type: 'directory', size: 4096, modified: now },
        ...Object.entries(files).map(([name, t]) => ({ name, type: 'file', size: t.length, modified: now })),
      ],
    }),
    ripgrep: () => ({ success: true, stdout: Object.keys(files).join('\n') + '\n', stderr: '', exitCode: 0 }),
    listSlashCommands: () => ({ success: true, commands: [{ name: 'compact', description: 'Compact', source: 'builtin' }] }),
    listSkills: () => ({ success: true, skills: [] }),
  };
}

/** The runner of the session's machine: registers, reports running, stays alive. */
class FakeMachine {
  constructor(hub, id) {
    this.hub = hub;
    this.id = id;
    this.rpcRequests = [];
    this.handlers = {
      'path-exists': (p) => ({ exists: Object.fromEntries((p?.paths ?? []).map((x) => [x, x === PROJECT])) }),
      'list-directory': () => ({
        success: true,
        entries: [{ name: 'project', type: 'directory', size: 4096, modified: Date.now() }],
      }),
      'spawn-happy-session': () => ({ type: 'error', errorMessage: 'spawning is not part of this test' }),
      'agent-availability': () => ({ agents: [{ agent: 'claude', available: true }] }),
      'cursor-chat-store-status': () => ({ success: true, exists: false }),
    };
  }

  async start() {
    const metadata = {
      host: 'e2e-host',
      platform: 'linux',
      happyCliVersion: '0.30.7',
      homeDir: '/tmp/hapi-web-e2e',
      happyHomeDir: '/tmp/hapi-web-e2e/.hapi',
      happyLibDir: '/tmp/hapi-web-e2e/.hapi/runtime/0.30.7',
      // Without these the app shows its "runner out of date" banner over everything.
      capabilities: ['agent-availability', 'cursor-chat-store-status', 'stop-runner'],
      startedCliMtimeMs: 499162500000,
      installedCliMtimeMs: 499162500000,
      supervisedRestart: false,
    };
    const r = await fetch(`${this.hub.base}/cli/machines`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: this.id, metadata, runnerState: { status: 'offline' } }),
    });
    const body = await r.json().catch(() => null);
    if (r.status !== 200 || !body?.machine) throw new Error(`POST /cli/machines: ${r.status} ${JSON.stringify(body)}`);
    this.socket = io(`${this.hub.base}/cli`, {
      path: '/socket.io/',
      transports: ['websocket'],
      auth: { token: TOKEN, clientType: 'machine-scoped', machineId: this.id },
      reconnection: false,
      timeout: 10_000,
    });
    this.socket.on('rpc-request', (req, ack) => {
      this.rpcRequests.push(req);
      let params = null;
      try {
        params = JSON.parse(req.params);
      } catch {
        /* null */
      }
      const handler = this.handlers[String(req.method).slice(String(req.method).indexOf(':') + 1)];
      Promise.resolve(handler ? handler(params) : { error: 'Method not found' }).then((res) => ack(JSON.stringify(res)));
    });
    await new Promise((ok, fail) => {
      this.socket.once('connect', ok);
      this.socket.once('connect_error', (e) => fail(new Error(`machine socket connect: ${e.message}`)));
    });
    for (const name of Object.keys(this.handlers)) this.socket.emit('rpc-register', { method: `${this.id}:${name}` });
    const ack = await this.socket.timeout(10_000).emitWithAck('machine-update-state', {
      machineId: this.id,
      expectedVersion: body.machine.runnerStateVersion ?? 1,
      runnerState: { status: 'running', pid: process.pid, startedAt: Date.now() },
    });
    if (ack?.result !== 'success') throw new Error(`machine-update-state: ${JSON.stringify(ack)}`);
    const alive = () => this.socket.emit('machine-alive', { machineId: this.id, time: Date.now() });
    alive();
    this.timer = setInterval(alive, 20_000);
  }

  close() {
    clearInterval(this.timer);
    this.socket?.close();
  }
}

class FakeCli {
  constructor(hub, query) {
    this.hub = hub;
    this.query = query;
    this.updates = [];
    this.rpcRequests = [];
    this.events = [];
    this.handlers = sessionHandlers();
  }

  async createSession(metadata) {
    const r = await fetch(`${this.hub.base}/cli/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tag: `web-e2e-${crypto.randomUUID()}`, metadata, agentState: { controlledByUser: false } }),
    });
    const body = await r.json().catch(() => null);
    if (r.status !== 200 || !body?.session?.id) {
      throw new Error(`POST /cli/sessions: ${r.status} ${JSON.stringify(body)}`);
    }
    this.session = body.session;
    this.sid = body.session.id;
    this.agentStateVersion = body.session.agentStateVersion;
    this.agentState = body.session.agentState ?? {};
    return body.session;
  }

  async connect() {
    this.socket = io(`${this.hub.base}/cli`, {
      path: '/socket.io/',
      transports: ['websocket'],
      auth: { token: TOKEN, clientType: 'session-scoped', sessionId: this.sid },
      reconnection: false,
      timeout: 10_000,
    });
    this.socket.on('update', (u) => {
      this.updates.push(u);
      // Like the real CLI: a user message from the web is taken into the agent at once.
      const m = u?.body?.t === 'new-message' ? u.body.message : null;
      if (m?.localId && m?.content?.role === 'user') {
        this.consumed([m.localId]);
        const text = m.content?.content?.text;
        if (typeof text === 'string') setTimeout(() => this.reply(`Echo: ${text}`), 200);
      }
    });
    this.socket.on('error', (e) => this.events.push({ event: 'error', e }));
    this.socket.on('rpc-request', (req, ack) => {
      this.rpcRequests.push(req);
      let params = null;
      try {
        params = typeof req.params === 'string' ? JSON.parse(req.params) : req.params;
      } catch {
        /* keep null */
      }
      req.parsed = params;
      const name = String(req.method ?? '').slice(String(req.method ?? '').indexOf(':') + 1);
      const handler = this.handlers[name];
      if (!handler) {
        ack(JSON.stringify({ error: 'Method not found' }));
        return;
      }
      Promise.resolve(handler(params))
        .then((res) => ack(res === undefined ? null : JSON.stringify(res)))
        .catch((e) => ack(JSON.stringify({ error: String(e) })));
    });
    await new Promise((ok, fail) => {
      this.socket.once('connect', ok);
      this.socket.once('connect_error', (e) => fail(new Error(`socket connect: ${e.message}`)));
    });
    // Like the real CLI: every method it serves is registered right after connecting
    // (`permission` is registered later, when the test raises the request).
    for (const name of Object.keys(this.handlers)) this.register(`${this.sid}:${name}`);
    this.alive();
    this.aliveTimer = setInterval(() => this.alive(), 2000);
  }

  alive(thinking = false) {
    this.socket.volatile.emit('session-alive', {
      sid: this.sid,
      time: Date.now(),
      thinking,
      mode: 'remote',
      permissionMode: 'default',
      model: null,
    });
  }

  /** Stores a message; returns its localId. */
  message(message) {
    const localId = crypto.randomUUID();
    this.socket.emit('message', { sid: this.sid, message, localId });
    return localId;
  }

  /** What the v0.30.7 CLI sends once it has taken user messages into the agent. */
  consumed(localIds) {
    this.socket.emit('messages-consumed', { sid: this.sid, localIds, invokedAt: Date.now() });
  }

  /** One agent turn, as the CLI sends it: thinking, a Claude assistant entry, "ready", idle. */
  reply(text) {
    this.alive(true);
    this.message(claudeText(text));
    this.message({ role: 'agent', content: { id: crypto.randomUUID(), type: 'event', data: { type: 'ready' } } });
    this.alive(false);
  }

  async ping() {
    await this.socket.timeout(10_000).emitWithAck('ping');
  }

  async updateState(agentState) {
    for (let i = 0; i < 5; i++) {
      const ack = await this.socket
        .timeout(10_000)
        .emitWithAck('update-state', { sid: this.sid, expectedVersion: this.agentStateVersion, agentState });
      if (ack?.result === 'success') {
        this.agentStateVersion = ack.version;
        this.agentState = ack.agentState;
        return ack;
      }
      if (ack?.result === 'version-mismatch') {
        this.agentStateVersion = ack.version;
        continue;
      }
      throw new Error(`update-state: ${JSON.stringify(ack)}`);
    }
    throw new Error('update-state: version mismatch 5 times');
  }

  register(method) {
    this.socket.emit('rpc-register', { method });
  }

  close() {
    clearInterval(this.aliveTimer);
    this.socket?.close();
  }
}

// ------------------------------------------------------------------ an SSE observer

/** Reads `/api/events?<query>` beside the browser and keeps every frame (for compare.mjs). */
class SseRecorder {
  constructor(hub, query) {
    this.hub = hub;
    this.query = query;
    this.frames = [];
    this.abort = new AbortController();
  }

  async start() {
    const auth = await fetch(`${this.hub.base}/api/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accessToken: TOKEN }),
    }).then((r) => r.json());
    const url = `${this.hub.base}/api/events?${this.query}&token=${encodeURIComponent(auth.token)}`;
    const res = await fetch(url, { signal: this.abort.signal });
    this.status = res.status;
    this.headers = Object.fromEntries(res.headers);
    if (!res.ok || !res.body) return;
    const t0 = Date.now();
    (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += dec.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const f = { ms: Date.now() - t0, fields: [] };
            const data = [];
            for (const line of block.split('\n')) {
              const c = line.indexOf(':');
              const name = c < 0 ? line : line.slice(0, c);
              const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
              f.fields.push(name);
              if (name === 'data') data.push(value);
              else if (name === 'id') f.id = value;
              else if (name === 'event') f.event = value;
            }
            try {
              f.json = JSON.parse(data.join('\n'));
            } catch {
              f.raw = block.slice(0, 500);
            }
            this.frames.push(f);
          }
        }
      } catch {
        /* aborted at the end */
      }
    })();
  }

  stop() {
    this.abort.abort();
    return { query: this.query, status: this.status, headers: this.headers, frames: this.frames };
  }
}

// ------------------------------------------------------------------ probing another run's failures

async function probe(hub, sid, file) {
  const { readFileSync } = await import('node:fs');
  let other;
  try {
    other = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    log(`probe: cannot read ${file}: ${e.message}`);
    return;
  }
  const auth = await fetch(`${hub.base}/api/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken: TOKEN }),
  }).then((r) => r.json());
  const jwt = auth?.token;
  const seen = new Set();
  const out = [];
  for (const r of other.requests ?? []) {
    if (!(r.status >= 400 || r.status === 0) || !r.path.startsWith('/api')) continue;
    const path = (other.sid ? r.path.split(other.sid).join(sid) : r.path).replace(
      /([?&]token=)[^&]*/,
      `$1${encodeURIComponent(jwt ?? '')}`,
    );
    const key = `${r.method} ${path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const init = { method: r.method, headers: { authorization: `Bearer ${jwt}` } };
    if (r.requestBody !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = other.sid ? r.requestBody.split(other.sid).join(sid) : r.requestBody;
    }
    try {
      const res = await fetch(hub.base + path, init);
      const body = (await res.text()).slice(0, 4000);
      out.push({ method: r.method, path, otherPath: r.path, status: res.status, contentType: res.headers.get('content-type'), body });
    } catch (e) {
      out.push({ method: r.method, path, otherPath: r.path, status: 0, body: String(e) });
    }
  }
  writeFileSync(join(args.out, 'probes.json'), JSON.stringify({ sid, probes: out }, null, 2));
  log(`probe: replayed ${out.length} failing request(s) of ${file}`);
}

// ------------------------------------------------------------------ the run

const steps = [];
const requests = [];
const consoleErrors = [];
const pageErrors = [];
let shotNo = 0;

/** Runs one step; `info` steps are recorded but never fail the run. */
async function step(name, fn, page, { info = false } = {}) {
  const t0 = Date.now();
  const rec = { name, status: 'FAIL', ms: 0, detail: '', ...(info ? { info: true } : {}) };
  steps.push(rec);
  log(`step ${name} ...`);
  try {
    const detail = await fn();
    rec.status = 'PASS';
    rec.detail = typeof detail === 'string' ? detail : '';
  } catch (e) {
    rec.detail = String(e?.message ?? e).split('\n')[0].slice(0, 500);
  }
  rec.ms = Date.now() - t0;
  if (page) {
    shotNo += 1;
    const file = `${String(shotNo).padStart(2, '0')}-${name}.png`;
    if (rec.status !== 'PASS') {
      // The DOM at the failure, for diagnosis.
      await page
        .content()
        .then((html) => writeFileSync(join(args.out, file.replace(/\.png$/, '.html')), html))
        .catch(() => {});
      await page
        .evaluate(() => ({
          href: location.href,
          visibility: document.visibilityState,
          swController: Boolean(navigator.serviceWorker?.controller),
          eventStreams: performance
            .getEntriesByType('resource')
            .filter((e) => e.name.includes('/api/events'))
            .map((e) => ({ url: e.name.replace(/token=[^&]*/, 'token=X'), start: Math.round(e.startTime) })),
        }))
        .then((d) => writeFileSync(join(args.out, file.replace(/\.png$/, '.state.json')), JSON.stringify(d, null, 2)))
        .catch(() => {});
    }
    try {
      await page.screenshot({ path: join(args.out, file), fullPage: false, timeout: 10_000 });
      rec.screenshot = file;
    } catch (e) {
      rec.detail += ` (screenshot failed: ${e.message})`;
    }
  }
  log(`step ${name}: ${rec.status} ${rec.detail}`);
  return rec.status === 'PASS';
}

const SESSION_NAME = `e2e-session-${Math.random().toString(36).slice(2, 8)}`;
const USER_TEXT = 'Please list the files in this project';
const AGENT_TEXT = 'Here are the files: alpha.txt and beta.txt';
const COMPOSER_TEXT = `Hello from the browser ${Math.random().toString(36).slice(2, 8)}`;
const REQUEST_ID = `toolu_e2e${Math.random().toString(16).slice(2, 12)}`;

let hub;
let cli;
let machine;
let sse;
let browser;
let userDataDir;
let exitCode = 1;

try {
  hub = await startHub();
  log(`hub up at ${hub.base}`);
  cli = new FakeCli(hub);

  const setupOk = await step('cli-setup', async () => {
    machine = new FakeMachine(hub, crypto.randomUUID());
    await machine.start();
    await cli.createSession({
      path: PROJECT,
      host: 'e2e-host',
      name: SESSION_NAME,
      flavor: 'claude',
      machineId: machine.id,
      os: 'linux',
      version: '0.30.7',
      lifecycleState: 'running',
      lifecycleStateSince: Date.now(),
    });
    await cli.connect();
    const userLocalId = cli.message({ role: 'user', content: { type: 'text', text: USER_TEXT }, meta: { sentFrom: 'cli' } });
    cli.consumed([userLocalId]);
    cli.message(claudeText(AGENT_TEXT));
    await cli.ping();
    return `session ${cli.sid}`;
  });
  if (!setupOk) throw new Error('CLI setup failed; nothing to test');
  // Two observers like the app's two streams: everything, and the open session.
  // The `all` one is visible (it gets toasts, like the page); the session one is hidden.
  sse = {
    all: new SseRecorder(hub, 'all=true&visibility=visible'),
    session: new SseRecorder(hub, `sessionId=${cli.sid}&visibility=hidden`),
  };
  for (const r of Object.values(sse)) await r.start().catch((e) => log(`sse recorder: ${e.message}`));

  userDataDir = mkdtempSync(join(tmpdir(), 'hapi-web-chromium-'));
  // A fresh profile per run (launchPersistentContext passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    locale: 'en-US',
    serviceWorkers: process.env.WEB_SW === 'block' ? 'block' : 'allow',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = browser;
  const page = context.pages()[0] ?? (await context.newPage());

  // Record every response (page and service worker) and every console error.
  const apiBodies = new Set(['xhr', 'fetch', 'eventsource']);
  const byRequest = new Map();
  const recordOf = (req) => {
    let rec = byRequest.get(req);
    if (!rec) {
      const url = new URL(req.url());
      if (url.origin !== hub.base) return null;
      rec = {
        t: Date.now(),
        method: req.method(),
        path: url.pathname + url.search,
        status: null, // null: no response (yet)
        type: req.resourceType(),
        sw: Boolean(req.serviceWorker?.()),
      };
      const post = req.postData();
      if (post && url.pathname.startsWith('/api')) rec.requestBody = post.slice(0, 2000);
      byRequest.set(req, rec);
      requests.push(rec);
    }
    return rec;
  };
  context.on('request', (req) => recordOf(req));
  context.on('response', async (res) => {
    const rec = recordOf(res.request());
    if (!rec) return;
    rec.status = res.status();
    rec.ms = Date.now() - rec.t;
    rec.sw = rec.sw || res.fromServiceWorker();
    rec.contentType = res.headers()['content-type'] ?? null;
    const url = new URL(res.url());
    if (url.pathname.startsWith('/api') && apiBodies.has(rec.type) && !url.pathname.startsWith('/api/events')) {
      try {
        rec.body = (await res.text()).slice(0, 4000);
      } catch {
        /* body gone (navigation) */
      }
    }
  });
  context.on('requestfailed', (req) => {
    const rec = recordOf(req);
    if (!rec) return;
    rec.failure = req.failure()?.errorText ?? 'failed';
    if (rec.status === null) rec.status = 0;
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      consoleErrors.push({ text: msg.text().slice(0, 1000), location: msg.location()?.url ?? null });
    }
  });
  page.on('pageerror', (err) => pageErrors.push(String(err?.stack ?? err).slice(0, 1000)));

  // 1. Log in with ?token=.
  await step(
    'login',
    async () => {
      const authResp = page.waitForResponse(
        (r) => new URL(r.url()).pathname === '/api/auth' && r.request().method() === 'POST',
        { timeout: STEP_TIMEOUT },
      );
      await page.goto(`${hub.base}/?token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'load' });
      const r = await authResp;
      if (r.status() !== 200) throw new Error(`POST /api/auth answered ${r.status()}`);
      await page.waitForResponse(
        (x) => new URL(x.url()).pathname === '/api/sessions' && x.request().method() === 'GET',
        { timeout: STEP_TIMEOUT },
      );
      return 'POST /api/auth 200, GET /api/sessions requested';
    },
    page,
  );

  // 2. The session list shows the CLI's session.
  const listed = await step(
    'session-list',
    async () => {
      await visible(page.getByText(SESSION_NAME, { exact: false }).first(), `session name ${SESSION_NAME}`);
      return `"${SESSION_NAME}" visible`;
    },
    page,
  );

  // 3. Opening it shows its messages.
  await step(
    'session-view',
    async () => {
      if (listed) {
        await clickThrough(page, page.getByText(SESSION_NAME, { exact: false }).first(), 'the session in the list');
      } else {
        await page.goto(`${hub.base}/sessions/${cli.sid}`, { waitUntil: 'load' });
      }
      await page.waitForURL((u) => u.pathname.includes(cli.sid), { timeout: STEP_TIMEOUT });
      await dismissExplainers(page);
      await inTimeline(page, USER_TEXT, 'the stored user message');
      await inTimeline(page, AGENT_TEXT, 'the stored agent message');
      return listed ? 'opened from the list; both messages visible' : 'opened by URL (list failed); both messages visible';
    },
    page,
  );

  // 4. A message typed in the composer reaches the CLI.
  await step(
    'send-message',
    async () => {
      await dismissExplainers(page);
      const box = page.locator('[data-testid="rich-composer-input"], textarea').first();
      await visible(box, 'the composer input');
      await clickThrough(page, box, 'the composer input');
      await page.keyboard.type(COMPOSER_TEXT);
      const send = page.getByRole('button', { name: 'Send', exact: true }).first();
      await visible(send, 'the Send button');
      await waitFor('the Send button to be enabled', () => send.isEnabled().catch(() => false), 5000);
      await clickThrough(page, send, 'the Send button');
      const got = await waitFor('the CLI to receive the message', () =>
        cli.updates.find(
          (u) => u?.body?.t === 'new-message' && JSON.stringify(u.body.message?.content ?? '').includes(COMPOSER_TEXT),
        ),
      );
      const c = got.body.message.content;
      if (c?.role !== 'user' || c?.content?.text !== COMPOSER_TEXT) {
        throw new Error(`unexpected content ${JSON.stringify(c)}`);
      }
      await inTimeline(page, COMPOSER_TEXT, 'the sent message in the chat');
      return `CLI got new-message seq ${got.body.message.seq} (sentFrom ${c?.meta?.sentFrom})`;
    },
    page,
  );

  // 4b. The CLI's reply (sent as soon as it got the message) appears without a reload. Info
  // only: the official app sometimes never opens its per-session event stream (it then shows
  // the reply only at its next refetch), with either hub — an upstream race, not a hub matter.
  await step(
    'live-reply',
    async () => {
      await inTimeline(page, `Echo: ${COMPOSER_TEXT}`, "the CLI's reply, live", 10_000);
      return 'shown without a reload';
    },
    page,
    { info: true },
  );

  // 5. A permission request raised by the CLI shows its dialog.
  let approveParams = null;
  cli.handlers.permission = async (params) => {
    {
      approveParams = params;
      const req = cli.agentState?.requests?.[params?.id];
      if (req) {
        const requests = { ...(cli.agentState.requests ?? {}) };
        delete requests[params.id];
        await cli.updateState({
          ...cli.agentState,
          requests,
          completedRequests: {
            ...(cli.agentState.completedRequests ?? {}),
            [params.id]: { ...req, completedAt: Date.now(), status: params.approved ? 'approved' : 'denied' },
          },
        });
      }
      return undefined;
    }
  };
  cli.register(`${cli.sid}:permission`);
  const dialog = await step(
    'permission-dialog',
    async () => {
      await cli.ping();
      await cli.updateState({
        ...cli.agentState,
        requests: {
          [REQUEST_ID]: { tool: 'Bash', arguments: { command: 'ls', description: 'List files' }, createdAt: Date.now() },
        },
      });
      await visible(page.getByRole('button', { name: 'Allow', exact: true }).first(), 'the Allow button');
      return `Allow button visible for ${REQUEST_ID}`;
    },
    page,
  );

  // 6. Allow reaches the CLI.
  await step(
    'permission-allow',
    async () => {
      if (!dialog) throw new Error('no dialog');
      await clickThrough(page, page.getByRole('button', { name: 'Allow', exact: true }).first(), 'Allow');
      await waitFor('rpc-request permission', () => approveParams);
      if (approveParams.id !== REQUEST_ID || approveParams.approved !== true) {
        throw new Error(`unexpected params ${JSON.stringify(approveParams)}`);
      }
      await page
        .getByRole('button', { name: 'Allow', exact: true })
        .first()
        .waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
      return `rpc-request ${JSON.stringify(approveParams)}`;
    },
    page,
  );

  // 7. The file and git views (they reach the CLI over RPC). Info only.
  await step(
    'files-view',
    async () => {
      await dismissExplainers(page);
      await clickThrough(page, page.getByRole('button', { name: 'Files', exact: true }).first(), 'Files');
      await visible(page.getByText('alpha.txt').first(), 'alpha.txt in the file view');
      return 'alpha.txt listed';
    },
    page,
    { info: true },
  );
  await step(
    'file-open',
    async () => {
      await clickThrough(page, page.getByText('alpha.txt').first(), 'alpha.txt');
      await sleep(1500);
      return `at ${new URL(page.url()).pathname}`;
    },
    page,
    { info: true },
  );

  // 8. The machine picker of "new session". Info only.
  await step(
    'machine-picker',
    async () => {
      await page.goto(`${hub.base}/sessions`, { waitUntil: 'load' });
      await dismissExplainers(page);
      const plus = page.locator('button[aria-label*="New session" i], a[aria-label*="New session" i]').first();
      await clickThrough(page, plus, 'New session');
      await visible(page.getByText('Create Session').first(), 'the Create Session form');
      await waitFor('the machine in the picker', () =>
        page.evaluate(() =>
          [...document.querySelectorAll('select option, [role="combobox"], button')].some((o) =>
            (o.textContent ?? '').includes('e2e-host'),
          ),
        ),
      );
      await visible(
        page.getByText('Claude', { exact: true }).filter({ visible: true }).first(),
        'the available agent (Claude)',
      );
      return 'machine e2e-host and agent Claude offered';
    },
    page,
    { info: true },
  );

  // Feature scenarios (tests/web/steps/*.mjs, in name order): each module's default export is
  // called with this run's context and records its own steps, so a feature adds a file here
  // instead of editing this one. The no-http-errors and no-console-errors steps below cover
  // what they do too.
  const stepsDir = join(dirname(fileURLToPath(import.meta.url)), 'steps');
  if (existsSync(stepsDir)) {
    const { readdirSync } = await import('node:fs');
    for (const f of readdirSync(stepsDir).filter((n) => n.endsWith('.mjs')).sort()) {
      const mod = await import(join(stepsDir, f));
      await mod.default({
        page, step, hub, cli, machine, sse, args, requests, log, sleep,
        visible, clickThrough, dismissExplainers, waitFor, inTimeline, PROJECT,
      });
    }
  }

  await sleep(1500); // let trailing requests settle
  await step(
    'no-http-errors',
    async () => {
      const bad = requests.filter((r) => r.status >= 400);
      if (bad.length) {
        throw new Error(`${bad.length} failing: ${bad.map((r) => `${r.method} ${r.path} -> ${r.status}`).join('; ')}`);
      }
      return `${requests.length} responses, none 4xx/5xx`;
    },
    null,
  );
  await step(
    'no-console-errors',
    async () => {
      const all = [
        ...consoleErrors.map((c) =>
          c.location && c.text.startsWith('Failed to load resource') ? `${c.text} [${c.location.replace(hub.base, '')}]` : c.text,
        ),
        ...pageErrors,
      ];
      if (all.length) throw new Error(`${all.length}: ${all.join(' | ')}`);
      return 'none';
    },
    null,
  );
  if (args.probe) await probe(hub, cli.sid, args.probe);
} catch (e) {
  steps.push({ name: 'harness', status: 'FAIL', detail: String(e?.stack ?? e).slice(0, 2000) });
  log(`harness error: ${e?.stack ?? e}`);
} finally {
  if (sse) {
    const rec = { all: sse.all.stop(), session: sse.session.stop() };
    writeFileSync(join(args.out, 'sse.json'), JSON.stringify(rec, null, 2));
  }
  cli?.close();
  machine?.close();
  await browser?.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  if (hub) {
    writeFileSync(join(args.out, 'hub.log'), hub.output());
    await hub.stop();
  }
  const failed = steps.filter((s) => s.status !== 'PASS' && !s.info);
  exitCode = failed.length === 0 ? 0 : 1;
  writeFileSync(
    join(args.out, 'result.json'),
    JSON.stringify(
      { hub: args.hub, sid: cli?.sid ?? null, requestId: REQUEST_ID, steps, consoleErrors, pageErrors },
      null,
      2,
    ),
  );
  writeFileSync(join(args.out, 'requests.json'), JSON.stringify({ sid: cli?.sid ?? null, requests }, null, 2));
  log(exitCode === 0 ? 'PASS' : `FAIL (${failed.map((s) => s.name).join(', ')})`);
}
process.exit(exitCode);
