// Web Push end to end (spec/push.md §4–§7, issue 5): a permission request raised over the
// /cli socket reaches a local push service as an RFC 8291 aes128gcm body that http_ece
// decrypts with the subscriber's key, signed with a VAPID JWT that node:crypto verifies
// against GET /api/push/vapid-public-key; then a "ready" event; then the visibility gate.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  startPushService,
  request,
  webJwt,
  makeSubscriber,
  parseEceHeader,
  parseVapidAuthorization,
  verifyVapidJwt,
  cliSession,
  raisePermission,
  editRequest,
  sendReady,
  flush,
  openSse,
  sleep,
  VAPID_SUBJECT,
} from './lib.mjs';

let h;
let push;
let jwt;
let vapidKey;

before(async () => {
  push = await startPushService();
  h = await startHapid();
  jwt = await webJwt(h);
  const r = await request(h, 'GET', '/api/push/vapid-public-key', { token: jwt });
  assert.equal(r.status, 200);
  vapidKey = r.body.publicKey;
  assert.match(vapidKey, /^B[A-Za-z0-9_-]{86}$/, 'VAPID key: 65-byte point, base64url, no padding');
});

after(async () => {
  await h?.stop();
  await push?.close();
});

async function subscribe(sub, url, token = jwt) {
  const r = await request(h, 'POST', '/api/push/subscribe', { token, body: { endpoint: url, keys: sub.keys } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { ok: true });
}

/** Every check a push service and a browser would make on one delivered request. */
function checkDelivery(rec, sub, { path }) {
  assert.equal(rec.method, 'POST');
  assert.equal(rec.path, path, 'request target = path of the endpoint');
  assert.equal(rec.headers.host, `127.0.0.1:${push.port}`);
  assert.equal(rec.headers['content-encoding'], 'aes128gcm');
  assert.equal(rec.headers['content-type'], 'application/octet-stream');
  assert.match(rec.headers.ttl ?? '', /^[0-9]+$/, 'TTL: delta-seconds');
  assert.ok(Number(rec.headers.ttl) > 0, `TTL ${rec.headers.ttl}`);
  assert.ok(['very-low', 'low', 'normal', 'high'].includes(rec.headers.urgency), `Urgency ${rec.headers.urgency}`);
  assert.equal(Number(rec.headers['content-length']), rec.body.length);
  assert.equal(rec.headers['crypto-key'], undefined, 'aes128gcm carries the key in the body, not Crypto-Key');
  assert.equal(rec.headers.encryption, undefined);

  // RFC 8292: Authorization: vapid t=<JWT>, k=<the hub's VAPID key>.
  const { jwt: vjwt, k } = parseVapidAuthorization(rec.headers.authorization);
  assert.equal(k, vapidKey, 'k = GET /api/push/vapid-public-key');
  const { header, claims } = verifyVapidJwt(vjwt, k);
  assert.deepEqual(header, { typ: 'JWT', alg: 'ES256' });
  assert.equal(claims.aud, push.origin, 'aud = origin of the push endpoint');
  assert.ok(Number.isInteger(claims.exp), `exp ${claims.exp}`);
  const left = claims.exp - Math.floor(rec.wallMs / 1000);
  assert.ok(left > 0 && left <= 86400, `exp - now = ${left}, must be in (0, 86400]`);
  assert.equal(claims.sub, VAPID_SUBJECT);

  // RFC 8188 header: salt(16) rs(4) idlen(1) keyid(65 = the sender's ephemeral key).
  const hd = parseEceHeader(rec.body);
  assert.equal(hd.rs, 4096);
  assert.equal(hd.idlen, 65);
  assert.equal(hd.keyid[0], 0x04);
  assert.notEqual(hd.keyid.toString('base64url'), vapidKey, 'ephemeral key, not the VAPID key');
  assert.notEqual(hd.keyid.toString('base64url'), sub.keys.p256dh);

  const plain = sub.decrypt(rec.body);
  assert.equal(rec.body.length, 86 + plain.length + 17, 'one record, delimiter 0x02, no padding');
  assert.ok(rec.body.length <= 4096);
  return { payload: JSON.parse(plain.toString('utf8')), salt: hd.salt.toString('hex'), jwtClaims: claims };
}

test('permission request over /cli → one encrypted, VAPID-signed push; then "ready" → Session Ready push', async (t) => {
  const sub = makeSubscriber();
  const ep = push.endpoint(201);
  await subscribe(sub, ep.url);
  const cli = await cliSession(h);
  try {
    const { emittedAt } = await raisePermission(cli, editRequest('req-1'));
    const [rec] = await push.waitFor((r) => r.path === ep.path, { ms: 5000 });
    t.diagnostic(`update-state emit → push request at the service: ${(rec.at - emittedAt).toFixed(1)} ms`);
    const { payload } = checkDelivery(rec, sub, ep);
    assert.equal(payload.title, 'Permission Request');
    assert.equal(payload.body, 'Claude wants to edit src/main.ts');
    assert.equal(payload.data.sessionId, cli.id);
    assert.equal(payload.data.requestId, 'req-1');
    assert.equal(payload.data.url, `/sessions/${cli.id}`);
    // Debounced (spec §4.1: 500 ms after the new id appeared).
    assert.ok(rec.at - emittedAt >= 450, `arrived ${(rec.at - emittedAt).toFixed(0)} ms after the emit, before the debounce`);

    // The same request id again (another state write) does not notify again.
    await raisePermission(cli, editRequest('req-1'));

    // "ready" → Session Ready push, with a fresh salt and ephemeral key.
    const readyAt = sendReady(cli);
    const [, rec2] = await push.waitFor((r) => r.path === ep.path, { n: 2, ms: 5000 });
    t.diagnostic(`ready message emit → push request at the service: ${(rec2.at - readyAt).toFixed(1)} ms`);
    const second = checkDelivery(rec2, sub, ep);
    assert.equal(second.payload.title, 'Session Ready');
    assert.equal(second.payload.body, 'Push Project session is ready');
    assert.equal(second.payload.data.sessionId, cli.id);
    assert.equal(second.payload.data.url, `/sessions/${cli.id}`);
    assert.equal(second.payload.data.requestId, undefined);
    assert.notDeepEqual(parseEceHeader(rec2.body).salt, parseEceHeader(rec.body).salt, 'fresh salt per message');
    assert.notDeepEqual(parseEceHeader(rec2.body).keyid, parseEceHeader(rec.body).keyid, 'fresh ephemeral key per message');

    // A second "ready" within the 5 s cooldown sends nothing; nor did the repeated request id.
    sendReady(cli);
    await flush(cli);
    await sleep(2000);
    assert.equal(push.to(ep.path).length, 2, 'exactly two pushes: permission + ready');
  } finally {
    cli.close();
  }
});

// PUSH_LATENCY_SAMPLES=<n> takes more samples (default 5); a random pause before each
// request spreads them over the phase of the hub's timers.
const SAMPLES = Math.max(1, Number(process.env.PUSH_LATENCY_SAMPLES ?? 5) || 5);

test('a request that disappears and comes back notifies again; permission → push latency', async (t) => {
  const sub = makeSubscriber();
  const ep = push.endpoint(201);
  await subscribe(sub, ep.url);
  const cli = await cliSession(h);
  const lat = [];
  try {
    for (let i = 0; i < SAMPLES; i++) {
      const id = `req-lat-${i}`;
      await sleep(Math.random() * 1000);
      const { emittedAt } = await raisePermission(cli, editRequest(id));
      const recs = await push.waitFor((r) => r.path === ep.path, { n: i + 1, ms: 5000 });
      const rec = recs[i];
      lat.push(rec.at - emittedAt);
      const { payload } = checkDelivery(rec, sub, ep);
      assert.equal(payload.data.requestId, id);
      // Resolve it (no requests) before the next one.
      await raisePermission(cli, {});
    }
    // req-lat-0 comes back: it was forgotten when it disappeared, so it notifies again.
    await raisePermission(cli, editRequest('req-lat-0'));
    const recs = await push.waitFor((r) => r.path === ep.path, { n: SAMPLES + 1, ms: 5000 });
    assert.equal(checkDelivery(recs[SAMPLES], sub, ep).payload.data.requestId, 'req-lat-0');
  } finally {
    cli.close();
  }
  const sorted = [...lat].sort((a, b) => a - b);
  t.diagnostic(
    `update-state emit → push at the service, ms: ${lat.map((x) => x.toFixed(0)).join(', ')} ` +
      `(median ${sorted[sorted.length >> 1].toFixed(0)}, min ${sorted[0].toFixed(0)}, max ${sorted.at(-1).toFixed(0)})`,
  );
});

test('a visible SSE stream gets a toast instead and no push is sent; hidden again → push', async () => {
  const sub = makeSubscriber();
  const ep = push.endpoint(201);
  await subscribe(sub, ep.url);
  const sse = await openSse(h, { token: jwt, visibility: 'visible' });
  const cli = await cliSession(h);
  try {
    const hello = await sse.next((e) => e.type === 'connection-changed');
    const subscriptionId = hello.data.subscriptionId;
    assert.equal(typeof subscriptionId, 'string');

    await raisePermission(cli, editRequest('req-1'));
    const toast = await sse.next((e) => e.type === 'toast', 4000);
    // The toast keeps the spec's in-app text (sse.md §6.3: "<session name> (<tool>)"); the
    // push payload uses the API documents' wording ("Claude wants to edit …").
    assert.deepEqual(toast.data, {
      title: 'Permission Request',
      body: 'Push Project (Edit)',
      sessionId: cli.id,
      url: `/sessions/${cli.id}`,
    });
    await sleep(1500);
    assert.equal(push.to(ep.path).length, 0, 'no push while a web client of the namespace is visible');

    // The web reports "hidden": the next notification goes out as a push.
    const v = await request(h, 'POST', '/api/visibility', {
      token: jwt,
      body: { subscriptionId, visibility: 'hidden' },
    });
    assert.equal(v.status, 200, JSON.stringify(v.body));
    const toastsBefore = sse.events.filter((e) => e.type === 'toast').length;
    sendReady(cli);
    const [rec] = await push.waitFor((r) => r.path === ep.path, { ms: 5000 });
    assert.equal(checkDelivery(rec, sub, ep).payload.title, 'Session Ready');
    assert.equal(sse.events.filter((e) => e.type === 'toast').length, toastsBefore, 'no toast to a hidden stream');
  } finally {
    cli.close();
    sse.close();
  }
});

test('a visible stream of another namespace does not suppress the push', async () => {
  const other = `${h.token}:pushother`;
  const otherJwt = await webJwt(h, other);
  const sub = makeSubscriber();
  const ep = push.endpoint(201);
  await subscribe(sub, ep.url, otherJwt);
  const sse = await openSse(h, { token: jwt, visibility: 'visible' }); // namespace "default"
  const cli = await cliSession(h, { token: other });
  try {
    await sse.next((e) => e.type === 'connection-changed');
    await raisePermission(cli, editRequest('req-x'));
    const [rec] = await push.waitFor((r) => r.path === ep.path, { ms: 5000 });
    const { payload } = checkDelivery(rec, sub, ep);
    assert.equal(payload.data.sessionId, cli.id);
    assert.equal(sse.events.filter((e) => e.type === 'toast').length, 0, 'no toast across namespaces');
  } finally {
    cli.close();
    sse.close();
  }
});
