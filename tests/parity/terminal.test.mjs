// The web terminal (`/terminal` namespace) and the agent-terminal relay of v0.30.7
// (spec/parity-0.30.7.md §3.2 agent-terminal rows, §3.3, §5 row 9): a terminal survives its web
// socket until the idle timeout, re-attaches from a new socket with a replay of the last 256 Ki
// UTF-16 units of output, and the agent PTY viewer relays subscribe/refresh/idle/input/resize/
// output between the web and the session's CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startHub, web, cliSession, sleep, until, IS_OFFICIAL } from './lib.mjs';

/** Records every event a socket receives: { socket, events: [[name, payload]], of(name) }. */
function record(socket) {
  const events = [];
  socket.onAny((name, p) => events.push([name, p]));
  return {
    socket,
    events,
    of: (name) => events.filter(([n]) => n === name).map(([, p]) => p),
    clear: () => events.splice(0),
  };
}

/** A web `/terminal` socket with the user's JWT. */
function terminalSocket(h, w) {
  const s = io(`${h.base}/terminal`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: w.jwt } });
  return new Promise((ok, fail) => {
    s.once('connect', () => ok(record(s)));
    s.once('connect_error', fail);
  });
}

/** A CLI session that answers `terminal:open` with `terminal:ready` (as the real CLI does). */
async function terminalCli(h, opts = {}) {
  const cli = await cliSession(h, opts);
  const rec = record(cli.socket);
  cli.socket.on('terminal:open', (p) => cli.socket.emit('terminal:ready', { sessionId: p.sessionId, terminalId: p.terminalId }));
  cli.rec = rec;
  cli.output = (terminalId, data) => cli.socket.emit('terminal:output', { sessionId: cli.sid, terminalId, data });
  return cli;
}

const settle = () => sleep(300);

test('a terminal survives its web socket and re-attaches from a new socket with the replay', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const a = await terminalSocket(h, w);
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 80, rows: 24 });
    await until(() => a.of('terminal:ready').length === 1);
    cli.output('t1', 'prompt$ ');
    cli.output('t1', 'ls\r\n');
    await until(() => a.of('terminal:output').length === 2);
    a.socket.close();
    await settle();
    cli.output('t1', 'while-detached');
    await settle();
    // Nothing reached the CLI: the terminal is detached, not closed.
    assert.deepEqual(cli.rec.of('terminal:close'), []);

    const b = await terminalSocket(h, w);
    b.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 100, rows: 30 });
    await until(() => b.of('terminal:ready').length === 1);
    // The replay comes first, as one output without sessionId, then the CLI's ready.
    assert.deepEqual(b.events[0], ['terminal:output', { terminalId: 't1', data: 'prompt$ ls\r\nwhile-detached' }]);
    assert.equal(b.events[1][0], 'terminal:ready');
    assert.deepEqual(cli.rec.of('terminal:open').at(-1), { sessionId: cli.sid, terminalId: 't1', cols: 100, rows: 30 });

    // The same socket re-creating gets no replay, only a new open on the CLI.
    b.clear();
    b.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 100, rows: 30 });
    await until(() => b.of('terminal:ready').length === 1);
    assert.deepEqual(b.of('terminal:output'), []);

    // A third socket takes the terminal over; the old one is told nothing and its writes drop.
    const c = await terminalSocket(h, w);
    c.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 100, rows: 30 });
    await until(() => c.of('terminal:ready').length === 1);
    assert.equal(c.of('terminal:output')[0].data, 'prompt$ ls\r\nwhile-detached');
    b.clear();
    b.socket.emit('terminal:write', { terminalId: 't1', data: 'from-b' });
    c.socket.emit('terminal:write', { terminalId: 't1', data: 'from-c' });
    await until(() => cli.rec.of('terminal:write').length >= 1);
    await settle();
    assert.deepEqual(
      cli.rec.of('terminal:write').map((p) => p.data),
      ['from-c'],
    );
    assert.deepEqual(b.events, []);

    // An empty buffer is not replayed.
    c.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 'quiet', cols: 80, rows: 24 });
    await until(() => c.of('terminal:ready').some((p) => p.terminalId === 'quiet'));
    c.socket.close();
    const d = await terminalSocket(h, w);
    d.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 'quiet', cols: 80, rows: 24 });
    await until(() => d.of('terminal:ready').length === 1);
    assert.deepEqual(d.of('terminal:output'), []);
    d.socket.close();
    b.socket.close();
    cli.close();
  } finally {
    await h.stop();
  }
});

test('the replay keeps the last 262144 UTF-16 units of output', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const a = await terminalSocket(h, w);
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't', cols: 80, rows: 24 });
    await until(() => a.of('terminal:ready').length === 1);
    let all = '';
    for (let i = 0; i < 100; i++) {
      const chunk = String(i).padStart(3, '0') + 'x'.repeat(2997);
      all += chunk;
      cli.output('t', chunk);
    }
    await until(() => a.of('terminal:output').length === 100);
    const replayOn = async () => {
      const s = await terminalSocket(h, w);
      s.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't', cols: 80, rows: 24 });
      await until(() => s.of('terminal:ready').length === 1);
      s.socket.close();
      return s.of('terminal:output')[0].data;
    };
    const r1 = await replayOn();
    assert.equal(r1.length, 262144);
    assert.equal(r1, all.slice(-262144));
    // One chunk longer than the bound is cut too.
    const big = 'B' + 'y'.repeat(299998) + 'E';
    cli.output('t', big);
    await settle();
    assert.equal(await replayOn(), big.slice(-262144));
    // Two-byte chars count one unit each (JavaScript string length).
    const accents = 'é'.repeat(200000);
    cli.output('t', accents);
    await settle();
    const r3 = await replayOn();
    assert.equal(r3.length, 262144);
    assert.equal(r3, (big + accents).slice(-262144));
    cli.close();
  } finally {
    await h.stop();
  }
});

test('a detached terminal closes after the idle timeout (HAPI_TERMINAL_IDLE_TIMEOUT_MS)', async () => {
  const h = await startHub({ env: { HAPI_TERMINAL_IDLE_TIMEOUT_MS: '1500' } });
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const a = await terminalSocket(h, w);
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't', cols: 80, rows: 24 });
    await until(() => a.of('terminal:ready').length === 1);
    cli.output('t', 'old output');
    await settle();
    a.socket.close();
    const closedAt = Date.now();
    await until(() => cli.rec.of('terminal:close').length === 1, { ms: 5000 });
    const waited = Date.now() - closedAt;
    assert.ok(waited > 800 && waited < 3000, `closed after ${waited} ms`);
    assert.deepEqual(cli.rec.of('terminal:close')[0], { sessionId: cli.sid, terminalId: 't' });
    // The id is free again: a new terminal, nothing replayed.
    const b = await terminalSocket(h, w);
    b.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't', cols: 80, rows: 24 });
    await until(() => b.of('terminal:ready').length === 1);
    assert.deepEqual(b.of('terminal:output'), []);
    // An attached terminal idle as long is closed with an error to its web socket.
    await until(() => b.of('terminal:error').length === 1, { ms: 5000 });
    assert.deepEqual(b.of('terminal:error')[0], { terminalId: 't', message: 'Terminal closed due to inactivity.' });
    b.socket.close();
    cli.close();
  } finally {
    await h.stop();
  }
});

test('detached terminals count against the per-session limit; the CLI going drops them', async () => {
  const h = await startHub({ env: { HAPI_TERMINAL_MAX_TERMINALS: '2' } });
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const a = await terminalSocket(h, w);
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 80, rows: 24 });
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't2', cols: 80, rows: 24 });
    await until(() => a.of('terminal:ready').length === 2);
    a.socket.close();
    await settle();
    const b = await terminalSocket(h, w);
    b.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't3', cols: 80, rows: 24 });
    await until(() => b.of('terminal:error').length === 1);
    assert.deepEqual(b.of('terminal:error')[0], { terminalId: 't3', message: 'Too many terminals open for this session (max 2).' });
    // Re-attaching is not limited.
    b.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 80, rows: 24 });
    await until(() => b.of('terminal:ready').length === 1);
    // Another session of the namespace: its id space is shared within the namespace.
    const other = await terminalCli(h);
    b.socket.emit('terminal:create', { sessionId: other.sid, terminalId: 't2', cols: 80, rows: 24 });
    await until(() => b.of('terminal:error').length === 2);
    assert.deepEqual(b.of('terminal:error')[1], { terminalId: 't2', message: 'Terminal ID is already in use.' });
    // The CLI going: the attached terminal errors, the detached one is gone.
    cli.close();
    await until(() => b.of('terminal:error').length === 3);
    assert.deepEqual(b.of('terminal:error')[2], { terminalId: 't1', message: 'CLI disconnected.' });
    const c = await terminalSocket(h, w);
    c.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't2', cols: 80, rows: 24 });
    await until(() => c.of('terminal:error').length === 1);
    assert.deepEqual(c.of('terminal:error')[0], { terminalId: 't2', message: 'CLI is not connected for this session.' });
    for (const s of [b, c]) s.socket.close();
    other.close();
  } finally {
    await h.stop();
  }
});

test('another namespace: its sessions are unavailable; garbage payloads are ignored', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const a = await terminalSocket(h, w);
    a.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 80, rows: 24 });
    await until(() => a.of('terminal:ready').length === 1);
    cli.output('t1', 'secret');
    await settle();

    const w2 = await web(h, 'other');
    const cli2 = await terminalCli(h, { ns: 'other' });
    const o = await terminalSocket(h, w2);
    o.socket.emit('terminal:create', { sessionId: cli.sid, terminalId: 't1', cols: 80, rows: 24 });
    await until(() => o.of('terminal:error').length === 1);
    assert.deepEqual(o.of('terminal:error')[0], { terminalId: 't1', message: 'Session is inactive or unavailable.' });
    o.socket.emit('terminal:write', { terminalId: 't1', data: 'intruder' });
    o.socket.emit('terminal:create', { sessionId: cli2.sid, terminalId: 't1', cols: 80, rows: 24 });
    if (IS_OFFICIAL) {
      // Upstream keys terminal ids globally.
      await until(() => o.of('terminal:error').length === 2);
      assert.deepEqual(o.of('terminal:error')[1], { terminalId: 't1', message: 'Terminal ID is already in use.' });
    } else {
      // hapid isolates namespaces: the id is free there, a new terminal on the own CLI.
      await until(() => o.of('terminal:ready').length === 1);
      assert.deepEqual(o.of('terminal:output'), []);
      assert.deepEqual(cli2.rec.of('terminal:open')[0], { sessionId: cli2.sid, terminalId: 't1', cols: 80, rows: 24 });
    }
    // Garbage: ignored, the socket stays.
    for (const bad of [
      { sessionId: cli2.sid, terminalId: 'g1', cols: 0, rows: 24 },
      { sessionId: cli2.sid, terminalId: 'g2', cols: 80.5, rows: 24 },
      { sessionId: cli2.sid, terminalId: '', cols: 80, rows: 24 },
      { sessionId: cli2.sid, cols: 80, rows: 24 },
      'junk',
    ]) o.socket.emit('terminal:create', bad);
    o.socket.emit('terminal:write', { terminalId: 'nope', data: 'x' });
    o.socket.emit('terminal:write', { terminalId: 't1', data: 5 });
    await settle();
    assert.equal(o.socket.connected, true);
    assert.ok(!cli2.rec.events.some(([n, p]) => n === 'terminal:open' && p.terminalId.startsWith('g')));
    // The default namespace's terminal saw nothing of it.
    assert.deepEqual(cli.rec.of('terminal:write'), []);
    assert.deepEqual(a.of('terminal:error'), []);
    for (const s of [a, o]) s.socket.close();
    cli.close();
    cli2.close();
  } finally {
    await h.stop();
  }
});

test('agent terminal: subscribe/refresh, output relay, input/resize, idle, session end', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const agentOut = (data, extra = {}) => cli.socket.emit('agent-terminal:output', { sessionId: cli.sid, terminalId: 'agent', data, ...extra });
    agentOut('before-anyone');
    const a = await terminalSocket(h, w);
    a.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    await until(() => cli.rec.of('agent-terminal:refresh').length === 1);
    assert.deepEqual(cli.rec.of('agent-terminal:refresh')[0], { sessionId: cli.sid });
    assert.deepEqual(a.events, []);

    agentOut('AGENT-TUI', { seq: 1 });
    cli.socket.emit('agent-terminal:output', { sessionId: cli.sid, data: 'no-terminal-id' });
    cli.socket.emit('agent-terminal:output', { sid: cli.sid, terminalId: 'agent', data: 'sid-not-sessionId' });
    cli.socket.emit('agent-terminal:output', { sessionId: cli.sid, terminalId: 'agent', data: 7 });
    await until(() => a.of('agent-terminal:output').length === 1);
    await settle();
    assert.deepEqual(a.of('agent-terminal:output'), [{ sessionId: cli.sid, terminalId: 'agent', data: 'AGENT-TUI' }]);

    // A second viewer: another refresh, no replay from the hub.
    const b = await terminalSocket(h, w);
    b.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    await until(() => cli.rec.of('agent-terminal:refresh').length === 2);
    await settle();
    assert.deepEqual(b.events, []);
    agentOut('both');
    await until(() => b.of('agent-terminal:output').length === 1 && a.of('agent-terminal:output').length === 2);

    a.socket.emit('agent-terminal:resize', { sessionId: cli.sid, cols: 120, rows: 40 });
    a.socket.emit('agent-terminal:resize', { sessionId: cli.sid, cols: 0, rows: 40 });
    a.socket.emit('agent-terminal:input', { sessionId: cli.sid, data: 'ls\r' });
    a.socket.emit('agent-terminal:input', { sessionId: cli.sid, data: 5 });
    await until(() => cli.rec.of('agent-terminal:input').length === 1);
    await settle();
    assert.deepEqual(cli.rec.of('agent-terminal:resize'), [{ sessionId: cli.sid, cols: 120, rows: 40 }]);
    assert.deepEqual(cli.rec.of('agent-terminal:input'), [{ sessionId: cli.sid, data: 'ls\r' }]);

    // Idle only when the last viewer leaves (unsubscribe or disconnect).
    a.socket.emit('agent-terminal:unsubscribe', { sessionId: cli.sid });
    await settle();
    assert.deepEqual(cli.rec.of('agent-terminal:idle'), []);
    b.socket.close();
    await until(() => cli.rec.of('agent-terminal:idle').length === 1);
    assert.deepEqual(cli.rec.of('agent-terminal:idle')[0], { sessionId: cli.sid });

    // Input from a socket that does not view the session is still forwarded.
    a.socket.emit('agent-terminal:input', { sessionId: cli.sid, data: 'unsubscribed' });
    await until(() => cli.rec.of('agent-terminal:input').length === 2);

    // Another namespace reaches nothing.
    const w2 = await web(h, 'other');
    const o = await terminalSocket(h, w2);
    o.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    o.socket.emit('agent-terminal:input', { sessionId: cli.sid, data: 'intruder' });
    o.socket.emit('agent-terminal:subscribe', { sessionId: 'no-such-session' });
    o.socket.emit('agent-terminal:subscribe', {});
    await settle();
    assert.equal(cli.rec.of('agent-terminal:refresh').length, 2);
    assert.equal(cli.rec.of('agent-terminal:input').length, 2);
    agentOut('not-for-other');
    await settle();
    assert.deepEqual(o.events, []);

    // Session end: viewers see "[Session terminated]".
    a.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    await until(() => cli.rec.of('agent-terminal:refresh').length === 3);
    a.clear();
    cli.socket.emit('session-end', { sid: cli.sid, time: Date.now() });
    await until(() => a.of('agent-terminal:output').length === 1);
    assert.deepEqual(a.of('agent-terminal:output')[0], { sessionId: cli.sid, terminalId: 'agent', data: '\r\n[Session terminated]\r\n' });
    // An ended session cannot be viewed or typed into.
    const c = await terminalSocket(h, w);
    c.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    c.socket.emit('agent-terminal:input', { sessionId: cli.sid, data: 'after-end' });
    await settle();
    assert.equal(cli.rec.of('agent-terminal:refresh').length, 3);
    assert.equal(cli.rec.of('agent-terminal:input').length, 2);
    for (const s of [a, c, o]) s.socket.close();
    cli.close();
  } finally {
    await h.stop();
  }
});

test('agent terminal output only from a socket of that session', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const cli = await terminalCli(h);
    const cliO = await terminalCli(h, { ns: 'other' });
    const a = await terminalSocket(h, w);
    a.socket.emit('agent-terminal:subscribe', { sessionId: cli.sid });
    await until(() => cli.rec.of('agent-terminal:refresh').length === 1);
    const another = await terminalCli(h);
    for (const s of [cliO.socket, another.socket]) s.emit('agent-terminal:output', { sessionId: cli.sid, terminalId: 'agent', data: 'forged' });
    cli.socket.emit('agent-terminal:output', { sessionId: cli.sid, terminalId: 'agent', data: 'real' });
    await until(() => a.of('agent-terminal:output').length >= 1);
    await settle();
    assert.deepEqual(a.of('agent-terminal:output').map((p) => p.data), ['real']);
    // Archiving from the web ends the session: the viewer is told.
    await cli.handleRpc('killSession', () => ({ success: true, message: 'ok' }));
    const r = await w.req('POST', `/api/sessions/${cli.sid}/archive`, {});
    assert.equal(r.status, 200);
    await until(() => a.of('agent-terminal:output').length === 2);
    assert.equal(a.of('agent-terminal:output')[1].data, '\r\n[Session terminated]\r\n');
    a.socket.close();
    for (const c of [cli, cliO, another]) c.close();
  } finally {
    await h.stop();
  }
});
