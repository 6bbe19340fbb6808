// The Telegram bot (spec/telegram.md) against a fake Bot API on 127.0.0.1: the startup calls
// (§3), /start and /app (§4.1), ignored updates, chat binding (§5), the permission-request
// message and keyboard (§6.3, §6.4) raised by a socket.io-client acting as the CLI, Allow /
// Deny callbacks delivered to that client as the `permission` RPC and the message edited
// (§4.2), every refusal row of §4.2, and the ready message (§6.5).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHapid,
  startFakeTelegram,
  bindTelegramUser,
  cliSession,
  setRequests,
  sendReady,
  nextRpc,
  flush,
  emitAck,
  messageUpdate,
  callbackUpdate,
  deepLink,
  sleep,
  BOT_TOKEN,
  PUBLIC_URL,
} from './lib.mjs';

const ANN = 424242; // bound to the default namespace
const BOB = 555001; // bound to namespace "other"
const EVE = 999001; // never bound

let tg;
let h;
let cli; // the main CLI session ("proj", flavor claude)
const clis = [];

before(async () => {
  tg = await startFakeTelegram();
  h = await startHapid({
    env: {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      HAPI_PUBLIC_URL: PUBLIC_URL,
      HAPID_TELEGRAM_API_BASE: tg.base,
    },
  });
});

after(async () => {
  for (const c of clis) c.close();
  await h?.stop();
  await tg?.close();
});

const openApp = [[{ text: 'Open App', web_app: { url: PUBLIC_URL } }]];
const sendsTo = (chat) => (c) => c.method === 'sendMessage' && c.body?.chat_id === chat;
const answerFor = (id) => (c) => c.method === 'answerCallbackQuery' && c.body?.callback_query_id === id;
const editOf = (messageId) => (c) => c.method === 'editMessageText' && c.body?.message_id === messageId;

/** Presses a button; resolves with the answerCallbackQuery call. */
async function press(data, opts) {
  const [u] = tg.push(callbackUpdate(data, opts));
  const id = u.callback_query.id;
  const [answer] = await tg.waitFor(answerFor(id), { ms: 8000 });
  return { answer, id };
}

/** The §4.2 refusal: exactly `{callback_query_id, text}`, no RPC, no edit. */
async function refused(data, text, { fromId = ANN, on = [cli], messageId } = {}) {
  const rpcBefore = on.map((c) => c.rpc.length);
  messageId ??= 9000 + Math.floor(Math.random() * 1000);
  const { answer, id } = await press(data, { fromId, messageId });
  assert.deepEqual(answer.body, { callback_query_id: id, text }, `data ${data}`);
  await sleep(200);
  on.forEach((c, i) => assert.equal(c.rpc.length, rpcBefore[i], `no RPC for ${data}`));
  assert.equal(tg.calls.filter(editOf(messageId)).length, 0, `no edit for ${data}`);
}

test('startup: getMe, deleteWebhook, then getUpdates long polling (offset, timeout 30)', async () => {
  await tg.waitFor((c) => c.method === 'getUpdates');
  const [a, b, c] = tg.calls;
  assert.deepEqual(
    [a.method, b.method, c.method],
    ['getMe', 'deleteWebhook', 'getUpdates'],
    `calls: ${tg.calls.map((x) => x.method)}`,
  );
  for (const x of [a, b, c]) {
    assert.equal(x.httpMethod, 'POST');
    assert.equal(x.path, `/bot${BOT_TOKEN}/${x.method}`);
    assert.match(x.headers['content-type'] ?? '', /^application\/json/);
  }
  assert.deepEqual(a.body, {});
  assert.deepEqual(b.body, {}, 'deleteWebhook keeps pending updates (no drop_pending_updates)');
  assert.ok(c.body.offset === 0 || c.body.offset === 1, `first offset ${c.body.offset} (0 and 1 both mean "from the oldest")`);
  assert.equal(c.body.timeout, 30);
  assert.equal(c.body.limit, undefined, 'no limit');
  const au = c.body.allowed_updates;
  assert.ok(
    au === undefined || (Array.isArray(au) && (au.length === 0 || (au.includes('message') && au.includes('callback_query')))),
    `allowed_updates ${JSON.stringify(au)}`,
  );
  // One getUpdates in flight: while the fake holds it, no second poll.
  await sleep(1500);
  assert.equal(tg.of('getUpdates').length, 1, 'one getUpdates in flight at a time');
});

test('/start, /app and /app@<BotName> get the §4.1 replies; /help, text, edited messages and others get nothing', async () => {
  const batch = tg.push(
    messageUpdate('/start'),
    messageUpdate('/help'),
    messageUpdate('hello there'),
    messageUpdate('/start', { kind: 'edited_message' }),
    messageUpdate('/app'),
    messageUpdate('/app@other_bot'),
    messageUpdate('/Start'),
    messageUpdate('/app@Test_HAPI_Bot'),
    { callback_query: { id: 'cbq-game', from: { id: ANN, is_bot: false, first_name: 'Ann' }, chat_instance: '1', game_short_name: 'g' } },
    { my_chat_member: { chat: { id: ANN, type: 'private' }, from: { id: ANN }, date: 1 } },
  );
  const last = batch[batch.length - 1].update_id;
  const sends = await tg.waitFor(sendsTo(ANN), { n: 3 });
  assert.deepEqual(sends[0].body, {
    chat_id: ANN,
    text: 'Welcome to HAPI Bot!\n\nUse the Mini App for full session management.',
    reply_markup: { inline_keyboard: openApp },
  });
  assert.deepEqual(sends[1].body, { chat_id: ANN, text: 'Open HAPI Mini App:', reply_markup: { inline_keyboard: openApp } });
  assert.deepEqual(sends[2].body, sends[1].body, '/app@<bot> matches the username case-insensitively');

  // The next poll confirms the whole batch.
  const polls = await tg.waitFor((c) => c.method === 'getUpdates' && c.body.offset === last + 1);
  assert.equal(polls[0].body.timeout, 30);

  // A later command (another chat) is answered next: nothing was sent for the ignored updates.
  tg.push(messageUpdate('/app', { chatId: 111 }));
  await tg.waitFor(sendsTo(111));
  const afterBatch = tg.calls.filter((c) => c.seq > sends[0].seq && !['getUpdates'].includes(c.method));
  assert.deepEqual(
    afterBatch.map((c) => `${c.method}:${c.body?.chat_id}`),
    [`sendMessage:${ANN}`, `sendMessage:${ANN}`, 'sendMessage:111'],
    'no call for /help, plain text, edited_message, /app@other_bot, /Start, a data-less callback, my_chat_member',
  );
});

test('POST /api/bind with signed initData binds Telegram users to namespaces', async () => {
  let r = await bindTelegramUser(h, ANN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(typeof r.body.token, 'string');
  r = await bindTelegramUser(h, ANN); // idempotent
  assert.equal(r.status, 200);
  r = await bindTelegramUser(h, BOB, `${h.token}:other`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await bindTelegramUser(h, ANN, `${h.token}:other`);
  assert.equal(r.status, 409);
  assert.deepEqual(r.body, { error: 'already_bound' });
});

test('a permission request from the CLI → §6.3 text and §6.4 keyboard to the bound chat', async () => {
  cli = await cliSession(h);
  clis.push(cli);
  await setRequests(cli, {
    toolu_01ABCDEFGHijklmnop: { tool: 'Bash', arguments: { command: 'ls -la /tmp' }, createdAt: Date.now() },
  });
  const [m] = await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.startsWith('Permission Request'), { ms: 8000 });
  const s8 = cli.id.slice(0, 8);
  assert.deepEqual(m.body, {
    chat_id: ANN,
    text: 'Permission Request\n\nSession: proj\nTool: Bash\nCommand: ls -la /tmp',
    reply_markup: {
      inline_keyboard: [
        [
          { text: 'Allow', callback_data: `ap:${s8}:toolu_01` },
          { text: 'Deny', callback_data: `dn:${s8}:toolu_01` },
        ],
        [{ text: 'Details', web_app: { url: deepLink(cli.id) } }],
      ],
    },
  });
  assert.equal(deepLink(cli.id), `https://hapi.example.test/app?startapp=session_${cli.id}`);
});

test('Allow → RPC "<sid>:permission" {"id","approved":true} on the CLI socket; after the ack: "Approved!" and the edit', async () => {
  let release;
  const acked = new Promise((ok) => (release = ok));
  cli.onRpc = (_req, ack) => acked.then(() => ack(JSON.stringify({})));
  const from = cli.rpc.length;
  const [u] = tg.push(callbackUpdate(`ap:${cli.id.slice(0, 8)}:toolu_01`, { id: 'cbq3004', messageId: 777 }));
  const req = await nextRpc(cli, from);
  assert.equal(req.method, `${cli.id}:permission`);
  assert.equal(typeof req.params, 'string', 'params is a JSON string');
  assert.deepEqual(JSON.parse(req.params), { id: 'toolu_01ABCDEFGHijklmnop', approved: true });
  assert.deepEqual(Object.keys(JSON.parse(req.params)), ['id', 'approved'], 'exactly these keys');

  await sleep(300);
  assert.equal(tg.calls.filter(answerFor(u.callback_query.id)).length, 0, 'answered only after the CLI acked');
  release();
  // The CLI resolves the request, as the real one does.
  await setRequests(cli, {}, { toolu_01ABCDEFGHijklmnop: { tool: 'Bash', arguments: { command: 'ls -la /tmp' }, status: 'approved' } });

  const [answer] = await tg.waitFor(answerFor('cbq3004'));
  assert.deepEqual(answer.body, { callback_query_id: 'cbq3004', text: 'Approved!' });
  const [edit] = await tg.waitFor(editOf(777));
  assert.equal(edit.body.chat_id, ANN);
  assert.equal(edit.body.message_id, 777);
  assert.equal(edit.body.text, 'Permission approved.');
  const kb = edit.body.reply_markup?.inline_keyboard;
  assert.ok(JSON.stringify(kb) === '[[]]' || JSON.stringify(kb) === '[]', `buttons removed: ${JSON.stringify(edit.body.reply_markup)}`);
  assert.ok(answer.seq < edit.seq, 'answer first, then edit');
  cli.onRpc = (_req, ack) => ack(JSON.stringify({}));
});

test('Deny → RPC {"id","approved":false}; "Denied" and "Permission denied."', async () => {
  await setRequests(cli, { 'req-deny-0002': { tool: 'Read', arguments: { file_path: '/etc/hosts' }, createdAt: Date.now() } });
  const s8 = cli.id.slice(0, 8);
  const [m] = await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.includes('Tool: Read'), { ms: 8000 });
  assert.equal(m.body.text, 'Permission Request\n\nSession: proj\nTool: Read\nFile: /etc/hosts');
  assert.deepEqual(m.body.reply_markup.inline_keyboard[0], [
    { text: 'Allow', callback_data: `ap:${s8}:req-deny` },
    { text: 'Deny', callback_data: `dn:${s8}:req-deny` },
  ]);

  const from = cli.rpc.length;
  tg.push(callbackUpdate(`dn:${s8}:req-deny`, { id: 'cbq3005', messageId: 778 }));
  const req = await nextRpc(cli, from);
  assert.equal(req.method, `${cli.id}:permission`);
  assert.deepEqual(JSON.parse(req.params), { id: 'req-deny-0002', approved: false });
  await setRequests(cli, {}, { 'req-deny-0002': { tool: 'Read', arguments: {}, status: 'denied' } });
  const [answer] = await tg.waitFor(answerFor('cbq3005'));
  assert.deepEqual(answer.body, { callback_query_id: 'cbq3005', text: 'Denied' });
  const [edit] = await tg.waitFor(editOf(778));
  assert.equal(edit.body.chat_id, ANN);
  assert.equal(edit.body.text, 'Permission denied.');
});

test('refusals: unbound user, unknown action, unknown session, other namespace, finished request', async () => {
  const s8 = cli.id.slice(0, 8);
  // A pending request exists, so a stale button must not fall back to it.
  await setRequests(cli, { 'req-pend-0003': { tool: 'Write', arguments: { file_path: '/tmp/x', content: 'abc' }, createdAt: Date.now() } });
  await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.includes('Tool: Write'), { ms: 8000 });

  await refused(`ap:${s8}:req-pend`, 'Telegram account is not bound', { fromId: EVE });
  await refused(`zz:${s8}:req-pend`, 'Unknown action');
  await refused('ap:ffffffff:req-pend', 'Session not found');
  await refused(`ap:${s8}:req-pend`, 'Session not found', { fromId: BOB }); // bound, but to namespace "other"
  await refused(`ap:${s8}:toolu_01`, 'Request not found or already processed'); // approved earlier
  await refused(`dn:${s8}:req-deny`, 'Request not found or already processed'); // denied earlier
  await refused(`ap:${s8}:zzzzzzzz`, 'Request not found or already processed');
});

test('refusal: a session that ended → "Session is inactive"', async () => {
  const c2 = await cliSession(h, { meta: { path: '/home/u/other', host: 'box', name: 'ended', os: 'linux', flavor: 'codex' } });
  clis.push(c2);
  await setRequests(c2, { 'req-inact-01': { tool: 'Bash', arguments: { command: 'true' }, createdAt: Date.now() } });
  await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.includes('Session: ended'), { ms: 8000 });
  clearInterval(c2.keepAlive);
  c2.socket.emit('session-end', { sid: c2.id, time: Date.now() });
  await flush(c2);
  await refused(`ap:${c2.id.slice(0, 8)}:req-inac`, 'Session is inactive', { on: [c2] });
});

test('RPC not registered by the CLI → "An error occurred", message not edited', async () => {
  const c3 = await cliSession(h, { register: false, meta: { path: '/home/u/p3', host: 'box', name: 'noreg', os: 'linux', flavor: 'claude' } });
  clis.push(c3);
  await setRequests(c3, { 'req-noreg-1': { tool: 'Bash', arguments: { command: 'id' }, createdAt: Date.now() } });
  await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.includes('Session: noreg'), { ms: 8000 });
  await refused(`ap:${c3.id.slice(0, 8)}:req-noreg`, 'An error occurred', { on: [c3], messageId: 4444 });
});

test('the CLI disconnects before acking the RPC → "An error occurred", message not edited', async () => {
  const c4 = await cliSession(h, { meta: { path: '/home/u/p4', host: 'box', name: 'gone', os: 'linux', flavor: 'claude' } });
  clis.push(c4);
  await setRequests(c4, { 'req-gone-01': { tool: 'Bash', arguments: { command: 'id' }, createdAt: Date.now() } });
  await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.includes('Session: gone'), { ms: 8000 });
  c4.onRpc = () => setTimeout(() => c4.close(), 100); // never acks
  const { answer, id } = await press(`ap:${c4.id.slice(0, 8)}:req-gone`, { messageId: 4555 });
  assert.equal(c4.rpc.length, 1, 'the RPC reached the CLI');
  assert.deepEqual(answer.body, { callback_query_id: id, text: 'An error occurred' });
  await sleep(200);
  assert.equal(tg.calls.filter(editOf(4555)).length, 0);
});

test('a ready event → §6.5 "It\'s ready!" message with the Open Session deep link', async () => {
  sendReady(cli);
  const [m] = await tg.waitFor((c) => sendsTo(ANN)(c) && c.body.text.startsWith("It's ready!"), { ms: 8000 });
  assert.deepEqual(m.body, {
    chat_id: ANN,
    text: "It's ready!\n\nClaude is waiting for your command",
    reply_markup: { inline_keyboard: [[{ text: 'Open Session', web_app: { url: deepLink(cli.id) } }]] },
  });
  // The 5 s cooldown (push.md §4.2): a second ready right away sends nothing.
  sendReady(cli);
  await flush(cli);
  // A sentinel command: handled after the second ready was processed.
  tg.push(messageUpdate('/app', { chatId: 112 }));
  await tg.waitFor(sendsTo(112));
  assert.equal(tg.calls.filter((c) => sendsTo(ANN)(c) && c.body.text.startsWith("It's ready!")).length, 1);
});

test('notifications go only to chats bound to the session\'s namespace; the token never appears in the output', async () => {
  const notified = new Set(tg.of('sendMessage').filter((c) => /^(Permission Request|It's ready!)/.test(c.body.text)).map((c) => c.body.chat_id));
  assert.deepEqual([...notified], [ANN]);
  await emitAck(cli.socket, 'ping', null);
  assert.ok(!h.output().includes(BOT_TOKEN.split(':')[1]), 'the bot token is not logged');
});
