// A slow Telegram never delays the web API or Web Push, nor the other way round (issue 7):
// the fake Bot API accepts getUpdates/sendMessage and never answers; meanwhile
// GET /api/sessions answers and a permission request / ready event still reach the push
// service. Then a push service that never answers does not hold up the Telegram message.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  startFakeTelegram,
  startPushService,
  bindTelegramUser,
  cliSession,
  setRequests,
  sendReady,
  request,
  webJwt,
  makeSubscriber,
  BOT_TOKEN,
  PUBLIC_URL,
} from './lib.mjs';

const ANN = 424242;
const stopAll = [];

after(async () => {
  for (const f of stopAll.reverse()) await f();
});

async function setup({ tgStall = [], pushHang = false }) {
  const tg = await startFakeTelegram({ stall: tgStall });
  stopAll.push(() => tg.close());
  const push = await startPushService({ hang: pushHang });
  stopAll.push(() => push.close());
  const h = await startHapid({
    env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN, HAPI_PUBLIC_URL: PUBLIC_URL, HAPID_TELEGRAM_API_BASE: tg.base },
  });
  stopAll.push(() => h.stop());
  const jwt = await webJwt(h);
  const bound = await bindTelegramUser(h, ANN);
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  const ep = push.endpoint();
  const r = await request(h, 'POST', '/api/push/subscribe', { token: jwt, body: { endpoint: ep.url, keys: makeSubscriber().keys } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { tg, push, h, jwt, ep };
}

test('while Telegram stalls (getUpdates and sendMessage never answered), the web API and Web Push still complete', async () => {
  const { tg, push, h, jwt, ep } = await setup({ tgStall: ['getUpdates', 'sendMessage'] });
  await tg.waitFor((c) => c.method === 'getUpdates'); // the long poll hangs from here on

  const cli = await cliSession(h);
  stopAll.push(async () => cli.close());
  await setRequests(cli, { 'req-iso-1': { tool: 'Bash', arguments: { command: 'make' }, createdAt: Date.now() } });

  // hapid sent the Telegram message (it hangs) and, independently, the push.
  await tg.waitFor((c) => c.method === 'sendMessage' && c.body.chat_id === ANN, { ms: 8000 });
  const [p1] = await push.waitFor((c) => c.path === ep.path, { ms: 8000 });
  assert.equal(p1.method, 'POST');
  assert.equal(p1.headers['content-encoding'], 'aes128gcm');

  // The web API answers while both Telegram calls hang.
  for (let i = 0; i < 5; i++) {
    const r = await request(h, 'GET', '/api/sessions', { token: jwt, timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.ok(r.body.sessions.some((s) => s.id === cli.id));
  }

  // A ready event: a second push while the first sendMessage still hangs.
  sendReady(cli);
  await push.waitFor((c) => c.path === ep.path, { n: 2, ms: 8000 });
  const r = await request(h, 'GET', `/api/sessions/${cli.id}`, { token: jwt, timeoutMs: 5000 });
  assert.equal(r.status, 200);
  assert.equal(tg.of('getUpdates').length, 1, 'still one getUpdates in flight');
});

test('while the push service never answers, the Telegram message is still sent', async () => {
  const { tg, push, h, jwt, ep } = await setup({ pushHang: true });
  await tg.waitFor((c) => c.method === 'getUpdates');
  const cli = await cliSession(h);
  stopAll.push(async () => cli.close());
  await setRequests(cli, { 'req-iso-2': { tool: 'Bash', arguments: { command: 'make test' }, createdAt: Date.now() } });
  await push.waitFor((c) => c.path === ep.path, { ms: 8000 }); // hangs from here on
  const [m] = await tg.waitFor((c) => c.method === 'sendMessage' && c.body.chat_id === ANN, { ms: 8000 });
  assert.equal(m.body.text, 'Permission Request\n\nSession: proj\nTool: Bash\nCommand: make test');
  const r = await request(h, 'GET', '/api/sessions', { token: jwt, timeoutMs: 5000 });
  assert.equal(r.status, 200);
});
