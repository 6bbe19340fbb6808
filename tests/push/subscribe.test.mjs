// POST/DELETE /api/push/subscribe validation and effects (spec/push.md §3, rest.md §3.29–3.30),
// and the VAPID key file (spec/push.md §2.2: vapid-keys.json, 0600, kept across restarts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  startHapid,
  startPushService,
  request,
  webJwt,
  makeSubscriber,
  cliSession,
  raisePermission,
  editRequest,
  sendReady,
  sleep,
} from './lib.mjs';

let h;
let push;
let jwt;

before(async () => {
  push = await startPushService();
  h = await startHapid();
  jwt = await webJwt(h);
});

after(async () => {
  await push?.close();
  await h?.stop();
});

const post = (body, token = jwt) => request(h, 'POST', '/api/push/subscribe', { token, body });
const del = (body, token = jwt) => request(h, 'DELETE', '/api/push/subscribe', { token, body });
const keys = () => makeSubscriber().keys;

test('POST /api/push/subscribe: 400 {"error":"Invalid body"} on a missing or malformed field', async () => {
  const k = keys();
  const bad = [
    {},
    { endpoint: 'https://push.example/a' },
    { keys: k },
    { endpoint: '', keys: k },
    { endpoint: 42, keys: k },
    { endpoint: 'https://push.example/a', keys: null },
    { endpoint: 'https://push.example/a', keys: 'x' },
    { endpoint: 'https://push.example/a', keys: {} },
    { endpoint: 'https://push.example/a', keys: { p256dh: k.p256dh } },
    { endpoint: 'https://push.example/a', keys: { auth: k.auth } },
    { endpoint: 'https://push.example/a', keys: { p256dh: '', auth: k.auth } },
    { endpoint: 'https://push.example/a', keys: { p256dh: k.p256dh, auth: '' } },
    { endpoint: 'https://push.example/a', keys: { p256dh: 1, auth: k.auth } },
    '[]',
    'null',
    '{"endpoint":',
    'not json',
  ];
  for (const body of bad) {
    const r = await post(body);
    assert.equal(r.status, 400, `body ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body, { error: 'Invalid body' }, `body ${JSON.stringify(body)}`);
  }
  // Extra keys are ignored; values are not validated further (upstream-lenient, §3.2).
  assert.deepEqual((await post({ endpoint: 'https://push.example/a', keys: k, expirationTime: null, x: 1 })).body, { ok: true });
  assert.deepEqual((await post({ endpoint: 'x', keys: { p256dh: 'a', auth: 'b' } })).body, { ok: true });
});

test('DELETE /api/push/subscribe: unknown endpoint → 200, missing endpoint → 400', async () => {
  const r = await del({ endpoint: 'https://push.example/never-subscribed' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ok: true });
  for (const body of [{}, { endpoint: '' }, { endpoint: 7 }, 'null', 'nope']) {
    const x = await del(body);
    assert.equal(x.status, 400, `body ${JSON.stringify(body)} → ${x.status}`);
    assert.deepEqual(x.body, { error: 'Invalid body' });
  }
});

test('push endpoints need the web JWT', async () => {
  assert.equal((await request(h, 'GET', '/api/push/vapid-public-key')).status, 401);
  assert.equal((await post({ endpoint: 'https://push.example/a', keys: keys() }, null)).status, 401);
  assert.equal((await del({ endpoint: 'https://push.example/a' }, null)).status, 401);
  // The CLI token is not a web JWT.
  assert.equal((await request(h, 'GET', '/api/push/vapid-public-key', { token: h.token })).status, 401);
});

test('effects: upsert replaces the keys, DELETE stops delivery, bad rows are skipped, namespaces are separate', async () => {
  const ns = `${h.token}:subs`;
  const nsJwt = await webJwt(h, ns);
  const old = makeSubscriber();
  const fresh = makeSubscriber();
  const upserted = push.endpoint(201);
  const removed = push.endpoint(201);
  const otherNs = push.endpoint(201);
  const junk = push.endpoint(201);
  assert.equal((await post({ endpoint: upserted.url, keys: old.keys }, nsJwt)).status, 200);
  assert.equal((await post({ endpoint: upserted.url, keys: fresh.keys }, nsJwt)).status, 200); // same endpoint, new keys
  assert.equal((await post({ endpoint: removed.url, keys: old.keys }, nsJwt)).status, 200);
  assert.equal((await post({ endpoint: junk.url, keys: { p256dh: 'AAAA', auth: 'AAAA' } }, nsJwt)).status, 200);
  assert.equal((await post({ endpoint: otherNs.url, keys: old.keys }, jwt)).status, 200); // namespace "default"
  const d = await del({ endpoint: removed.url }, nsJwt);
  assert.deepEqual([d.status, d.body], [200, { ok: true }]);
  // Deleting from another namespace does not touch this namespace's row.
  assert.equal((await del({ endpoint: upserted.url }, jwt)).status, 200);

  const cli = await cliSession(h, { token: ns });
  try {
    await raisePermission(cli, editRequest('req-1'));
    const recs = await push.waitFor((r) => r.path === upserted.path, { ms: 5000 });
    assert.equal(recs.length, 1, 'one row per (namespace, endpoint)');
    const payload = JSON.parse(fresh.decrypt(recs[0].body).toString('utf8'));
    assert.equal(payload.data.requestId, 'req-1');
    assert.throws(() => old.decrypt(recs[0].body), 'the replaced keys no longer decrypt');
    sendReady(cli);
    await push.waitFor((r) => r.path === upserted.path, { n: 2, ms: 5000 });
    await sleep(500);
    assert.equal(push.to(removed.path).length, 0, 'a deleted subscription gets nothing');
    assert.equal(push.to(otherNs.path).length, 0, "another namespace's subscription gets nothing");
    assert.equal(push.to(junk.path).length, 0, 'a row with unusable keys is skipped, not sent');
    assert.equal(h.proc.exitCode, null, 'hapid still running');
  } finally {
    cli.close();
  }
});

test('VAPID keys: vapid-keys.json (0600) holds the served key and survives a restart', async () => {
  const file = join(h.home, 'vapid-keys.json');
  const onDisk = JSON.parse(readFileSync(file, 'utf8'));
  const served = (await request(h, 'GET', '/api/push/vapid-public-key', { token: jwt })).body.publicKey;
  assert.equal(onDisk.publicKey, served);
  assert.match(onDisk.privateKey, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);

  await h.stop({ keepHome: true });
  h = await startHapid({ home: h.home });
  jwt = await webJwt(h);
  const again = (await request(h, 'GET', '/api/push/vapid-public-key', { token: jwt })).body.publicKey;
  assert.equal(again, served, 'the key pair is never regenerated while a valid one exists');
});
