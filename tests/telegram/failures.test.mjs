// Telegram's own failures (telegram.md §3): a bad token stops the bot but not the hub; 5xx
// and 429 (with retry_after) are retried; a 429 on sendMessage re-sends the same message;
// TELEGRAM_NOTIFICATION=false keeps the commands but sends no notifications; plain-http API
// bases need the test switch.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  startFakeTelegram,
  request,
  webJwt,
  messageUpdate,
  sleep,
  bindTelegramUser,
  cliSession,
  setRequests,
  BOT_TOKEN,
  PUBLIC_URL,
} from './lib.mjs';

const stopAll = [];
after(async () => {
  for (const f of stopAll.reverse()) await f();
});

async function setup(script) {
  const tg = await startFakeTelegram();
  stopAll.push(() => tg.close());
  script(tg);
  const h = await startHapid({
    env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN, HAPI_PUBLIC_URL: PUBLIC_URL, HAPID_TELEGRAM_API_BASE: tg.base },
  });
  stopAll.push(() => h.stop());
  return { tg, h };
}

test('401 from getMe: the bot stops (no further calls), the hub keeps serving', async () => {
  const { tg, h } = await setup((tg) =>
    tg.reply('getMe', () => ({ status: 401, json: { ok: false, error_code: 401, description: 'Unauthorized' } })),
  );
  await tg.waitFor((c) => c.method === 'getMe');
  await sleep(4000); // longer than the first back-off
  assert.deepEqual(tg.calls.map((c) => c.method), ['getMe']);
  const jwt = await webJwt(h);
  const r = await request(h, 'GET', '/api/sessions', { token: jwt });
  assert.equal(r.status, 200);
  assert.ok(!h.output().includes(BOT_TOKEN.split(':')[1]), 'the bot token is not logged');
});

test('5xx from getMe and 429 from getUpdates are retried; polling goes on', async () => {
  let getMeCalls = 0;
  let pollCalls = 0;
  const { tg } = await setup((tg) => {
    tg.reply('getMe', () => (++getMeCalls === 1 ? { status: 502, json: { ok: false, error_code: 502, description: 'Bad Gateway' } } : undefined));
    tg.reply('getUpdates', () =>
      ++pollCalls === 1
        ? { status: 429, json: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } }
        : undefined,
    );
  });
  await tg.waitFor((c) => c.method === 'getUpdates', { n: 2, ms: 15000 });
  assert.deepEqual(
    tg.calls.map((c) => c.method),
    ['getMe', 'getMe', 'deleteWebhook', 'getUpdates', 'getUpdates'],
  );
  // The bot works after the retries.
  tg.push(messageUpdate('/start', { chatId: 7 }));
  await tg.waitFor((c) => c.method === 'sendMessage' && c.body.chat_id === 7);
});

test('429 on sendMessage: the same message is sent again after retry_after', async () => {
  let sends = 0;
  const { tg } = await setup((tg) =>
    tg.reply('sendMessage', () =>
      ++sends === 1
        ? { status: 429, json: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } }
        : undefined,
    ),
  );
  await tg.waitFor((c) => c.method === 'getUpdates');
  tg.push(messageUpdate('/app', { chatId: 8 }));
  const [a, b] = await tg.waitFor((c) => c.method === 'sendMessage', { n: 2, ms: 10000 });
  assert.deepEqual(a.body, b.body);
  assert.equal(b.body.chat_id, 8);
  await sleep(1500);
  assert.equal(tg.of('sendMessage').length, 2, 'sent once more, not again');
});

test('a plain-http API base without HAPID_PUSH_ALLOW_HTTP=1: no call is made, the hub keeps serving', async () => {
  const tg = await startFakeTelegram();
  stopAll.push(() => tg.close());
  const h = await startHapid({
    env: {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      HAPI_PUBLIC_URL: PUBLIC_URL,
      HAPID_TELEGRAM_API_BASE: tg.base,
      HAPID_ELEVENLABS_API_BASE: tg.base,
      ELEVENLABS_API_KEY: 'el_key_plain_http_0000',
      ELEVENLABS_AGENT_ID: 'agent_x',
      HAPID_PUSH_ALLOW_HTTP: undefined,
    },
  });
  stopAll.push(() => h.stop());
  const jwt = await webJwt(h);
  const r = await request(h, 'POST', '/api/voice/token', { token: jwt, body: {} });
  assert.equal(r.status, 500);
  assert.equal(r.body.allowed, false);
  assert.equal(typeof r.body.error, 'string');
  await sleep(2000);
  assert.equal(tg.calls.length, 0, `calls: ${tg.calls.map((c) => c.path)}`);
  const s = await request(h, 'GET', '/api/sessions', { token: jwt });
  assert.equal(s.status, 200);
});

test('TELEGRAM_NOTIFICATION=false: commands still answered, no permission message', async () => {
  const tg = await startFakeTelegram();
  stopAll.push(() => tg.close());
  const h = await startHapid({
    env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_NOTIFICATION: 'false', HAPI_PUBLIC_URL: PUBLIC_URL, HAPID_TELEGRAM_API_BASE: tg.base },
  });
  stopAll.push(() => h.stop());
  await tg.waitFor((c) => c.method === 'getUpdates');
  assert.equal((await bindTelegramUser(h, 424242)).status, 200);
  const cli = await cliSession(h);
  stopAll.push(async () => cli.close());
  await setRequests(cli, { 'req-off-1': { tool: 'Bash', arguments: { command: 'ls' }, createdAt: Date.now() } });
  await sleep(1500); // past the 500 ms debounce
  tg.push(messageUpdate('/start', { chatId: 424242 }));
  const [m] = await tg.waitFor((c) => c.method === 'sendMessage');
  assert.ok(m.body.text.startsWith('Welcome to HAPI Bot!'));
  await sleep(500);
  assert.equal(tg.of('sendMessage').length, 1, 'no notification message');
});
