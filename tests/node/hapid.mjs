// Start the real hapid binary for a test file and talk to it with real clients.
//
// The launcher, HTTP, SSE and waiting helpers are shared with the other node suites
// (tests/jslib/hapid.mjs); this file adds the suite's token and the /cli Socket.IO clients.

import { io } from 'socket.io-client';
import * as hub from '../jslib/hapid.mjs';

export {
  HAPID_BIN,
  freePort,
  request,
  webJwt,
  createSession,
  emitAck,
  waitEvent,
  until,
  openSse,
} from '../jslib/hapid.mjs';
export const TOKEN = 'node-test-token-4f9c2b7e1d3a5c8e';

/**
 * Start hapid (environment cleaned of everything hapid reads, no request timeout); resolves to
 * { port, base, token, home, proc, output(), stop() }.
 */
export function startHapid({ token = TOKEN, env = {} } = {}) {
  return hub.startHapid({ token, env, tmpPrefix: 'hapid-node-', requestTimeoutMs: 0 });
}

export const defaultMetadata = () => ({
  path: '/tmp/hapid-node-proj',
  host: 'node-test',
  os: 'linux',
  flavor: 'claude',
  capabilities: { terminal: true },
});

/**
 * A /cli Socket.IO client configured like the official CLI (socket.io-client 4.8.3,
 * path /socket.io/, websocket only unless transports is given). Resolves once connected.
 */
export function connectCli(h, auth, { transports = ['websocket'], timeout = 10000 } = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true, // one Engine.IO connection per socket, like separate CLI processes
    transports,
    auth,
    reconnection: false,
    timeout,
    autoConnect: false,
  });
  socket.connect(); // creates the engine synchronously, before any IO
  socket.io.engine.once('handshake', (data) => {
    socket.handshake = data; // the Engine.IO open packet, as the server sent it
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => ok(socket));
    socket.once('connect_error', (e) => {
      socket.close();
      fail(e);
    });
  });
}

/** Same as connectCli but resolves with the connect_error instead. */
export function connectCliExpectError(h, auth, opts = {}) {
  const socket = io(`${h.base}/cli`, {
    path: '/socket.io/',
    forceNew: true, // one Engine.IO connection per socket, like separate CLI processes
    transports: opts.transports ?? ['websocket'],
    auth,
    reconnection: false,
    timeout: 10000,
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => {
      socket.close();
      fail(new Error('connected although an error was expected'));
    });
    socket.once('connect_error', (e) => {
      socket.close();
      ok(e);
    });
  });
}
