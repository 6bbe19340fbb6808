// Settings → Token usage on v0.30.7 (parity-0.30.7.md §2 row 85): GET /api/usage/summary.
// Claude usages (`data.type:"assistant"`, `message.usage`, the same `message.id` counted once,
// last wins) and Codex `token_count` usages (`info.last_token_usage` before the totals), ranges,
// time zones (an invalid one is a 400), namespaces, deletion and a restart. hapid answers from
// aggregates kept with the message insert (src/hub/usage.rs), the official hub from the messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, defaultMetadata, sleep, request } from './lib.mjs';

const DAY = 86_400_000;
const summary = async (w, q = '') => {
  const r = await w.req('GET', `/api/usage/summary${q}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const claude = (id, model, usage) => ({ role: 'agent', content: { type: 'output', data: { type: 'assistant', message: { ...(id ? { id } : {}), ...(model ? { model } : {}), usage } } } });
const codex = (data) => ({ role: 'agent', content: { type: 'codex', data: { type: 'token_count', ...data } } });
const send = async (c, message) => {
  c.emit('message', { message });
  await c.ping();
};
/** The local YYYY-MM-DD of `ms` in `timeZone` (as the web's keys are). */
const localDay = (ms, timeZone) => {
  const off = /^([+-])(\d\d):(\d\d)$/.exec(timeZone);
  if (off) return new Date(ms + (off[1] === '-' ? -1 : 1) * (off[2] * 3600 + off[3] * 60) * 1000).toISOString().slice(0, 10);
  return localDayIn(ms, timeZone);
};
const localDayIn = (ms, timeZone) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
const row = (key, input, output, cacheRead, cacheCreation, requests) => ({
  ...(key === undefined ? {} : { key }),
  inputTokens: input,
  outputTokens: output,
  cacheReadTokens: cacheRead,
  cacheCreationTokens: cacheCreation,
  totalTokens: input + output,
  uncachedTokens: input - cacheRead + output,
  requests,
});

test('usage summary: empty, Claude and Codex usages, dedup by message id, groups and order', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const t0 = Date.now();
    const empty = await summary(w);
    assert.deepEqual(empty.totals, { ...row(undefined, 0, 0, 0, 0, 0), sessions: 0 });
    assert.deepEqual([empty.daily, empty.byAgent, empty.byModel], [[], [], []]);
    assert.equal(empty.range.to - empty.range.from, 7 * DAY);
    assert.ok(empty.range.to >= t0 && empty.updatedAt === empty.range.to);
    assert.equal((await request(h, 'GET', '/api/usage/summary')).status, 401);

    const c = await cliSession(h);
    await send(c, claude('msg1', 'claude-a', { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 }));
    // The same id again: replaces the first (last wins), one request.
    await send(c, claude('msg1', 'claude-a', { input_tokens: 11, output_tokens: 6, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 }));
    // No id: each counts; no model: "unknown".
    await send(c, claude(undefined, 'claude-b', { input_tokens: 1, output_tokens: 1 }));
    await send(c, claude(undefined, 'claude-b', { input_tokens: 1, output_tokens: 1 }));
    await send(c, claude(undefined, undefined, { input_tokens: 3, output_tokens: 0 }));
    // Not counted: no usage, a user message, data.type other than assistant.
    await send(c, claude('nousage', 'claude-a', undefined));
    await send(c, { role: 'user', content: { type: 'output', data: { type: 'assistant', message: { model: 'claude-a', usage: { input_tokens: 999, output_tokens: 1 } } } } });
    await send(c, { role: 'agent', content: { type: 'output', data: { type: 'user', message: { id: 'u', usage: { input_tokens: 999 } } } } });

    const x = await cliSession(h, { metadata: defaultMetadata({ flavor: 'codex' }) });
    // The last turn's usage counts, not the running total; the model is data.model.
    await send(x, codex({ model: 'gpt-5', info: { last_token_usage: { input_tokens: 500, cached_input_tokens: 300, output_tokens: 70 }, total_token_usage: { input_tokens: 5000, cached_input_tokens: 3000, output_tokens: 700 } } }));
    await send(x, codex({ info: { total_token_usage: { input_tokens: 40, cached_input_tokens: 0, output_tokens: 2 } } }));
    await send(x, codex({ info: { lastTokenUsage: { inputTokens: 8, cachedInputTokens: 4, outputTokens: 1 } } }));
    // Not counted: wrapped in event_msg, an empty info.
    await send(x, { role: 'agent', content: { type: 'codex', data: { type: 'event_msg', payload: { type: 'token_count', info: { last_token_usage: { input_tokens: 9999, output_tokens: 1 } } } } } });
    await send(x, codex({ info: {} }));
    await sleep(100);

    const s = await summary(w, '?range=7d&timeZone=UTC');
    const claudeA = row('claude-a', 131, 6, 100, 20, 1);
    const gpt = row('gpt-5', 500, 70, 300, 0, 1);
    const unknown = row('unknown', 3 + 40 + 8, 0 + 2 + 1, 4, 0, 3);
    const claudeB = row('claude-b', 2, 2, 0, 0, 2);
    assert.deepEqual(s.byModel, [gpt, claudeA, unknown, claudeB]);
    assert.deepEqual(s.byAgent, [row('codex', 548, 73, 304, 0, 3), row('claude', 136, 8, 100, 20, 4)]);
    assert.deepEqual(s.totals, { ...row(undefined, 684, 81, 404, 20, 7), sessions: 2 });
    assert.deepEqual(s.daily, [row(localDay(s.range.to, 'UTC'), 684, 81, 404, 20, 7)]);
    assert.deepEqual(Object.keys(s), ['range', 'totals', 'daily', 'byAgent', 'byModel', 'updatedAt']);

    // Fractions are truncated, negatives count 0.
    await send(c, claude(undefined, 'claude-f', { input_tokens: 2.7, output_tokens: -1 }));
    await sleep(100);
    assert.deepEqual((await summary(w, '?range=all')).byModel.find((m) => m.key === 'claude-f'), row('claude-f', 2, 0, 0, 0, 1));

    // A session without a flavor counts as claude.
    const plain = await cliSession(h, { metadata: { path: '/tmp/p', host: 'h' } });
    await send(plain, claude(undefined, 'claude-b', { input_tokens: 1000, output_tokens: 0 }));
    await sleep(100);
    const s2 = await summary(w);
    assert.deepEqual(s2.byAgent.map((a) => [a.key, a.requests]), [['claude', 6], ['codex', 3]]);
    assert.equal(s2.totals.sessions, 3);
  } finally {
    await h.stop();
  }
});

test('usage summary: ranges, time zones, namespaces, deletion and a restart', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const a = await cliSession(h);
    const b = await cliSession(h);
    await send(a, claude('same', 'm', { input_tokens: 1, output_tokens: 0 }));
    await send(b, claude('same', 'm', { input_tokens: 10, output_tokens: 0 }));
    await send(a, claude('same', 'm', { input_tokens: 100, output_tokens: 0 }));
    await sleep(100);

    // The same id in two sessions counts in each.
    for (const [q, span] of [['', 7 * DAY], ['?range=7d', 7 * DAY], ['?range=30d', 30 * DAY], ['?range=bogus', 7 * DAY], ['?range=all', null]]) {
      const s = await summary(w, q);
      assert.equal(s.range.from === null ? null : s.range.to - s.range.from, span, q);
      assert.deepEqual(s.totals, { ...row(undefined, 110, 0, 0, 0, 2), sessions: 2 }, q);
    }

    for (const tz of ['Europe/Berlin', 'Asia/Kolkata', 'America/New_York', 'Asia/Kathmandu', 'utc', 'UTC', 'GMT', 'Etc/GMT%2B5', 'US/Pacific', '-05:30', '%2B05:45']) {
      const s = await summary(w, `?range=all&timeZone=${tz}`);
      assert.deepEqual(s.daily.map((d) => [d.key, d.totalTokens]), [[localDay(s.range.to, decodeURIComponent(tz)), 110]], tz);
    }
    // Names in any case; offsets also without the colon or minutes.
    for (const [tz, as] of [['europe/berlin', 'Europe/Berlin'], ['ASIA/KOLKATA', 'Asia/Kolkata'], ['%2B0900', '+09:00'], ['%2B09', '+09:00'], ['%2B14:00', '+14:00']]) {
      const s = await summary(w, `?range=all&timeZone=${tz}`);
      assert.deepEqual(s.daily.map((d) => d.key), [localDay(s.range.to, as)], tz);
    }
    // `+` in a query is a space; files of the tz database that are not zone names.
    for (const tz of ['', 'Nope/Zone', 'Europe', '+5', '%2B5', '%2B25:00', 'posixrules', 'localtime', 'not a zone', '../../etc/passwd']) {
      const r = await w.req('GET', `/api/usage/summary?timeZone=${tz}`);
      assert.deepEqual({ status: r.status, body: r.body }, { status: 400, body: { error: 'Invalid timeZone' } }, tz);
    }

    // Only the hub owner (the default namespace) may ask; another namespace is refused.
    const other = await web(h, 'other');
    const refused = await other.req('GET', '/api/usage/summary?range=all');
    assert.deepEqual({ status: refused.status, body: refused.body }, { status: 403, body: { error: 'Usage summary is only available to the hub owner' } });
    // …and the owner does not see that namespace's usage.
    const o = await cliSession(h, { ns: 'other' });
    await send(o, claude(undefined, 'm', { input_tokens: 5000, output_tokens: 0 }));
    await sleep(100);
    assert.deepEqual((await summary(w, '?range=30d&timeZone=Asia/Tokyo')).totals, { ...row(undefined, 110, 0, 0, 0, 2), sessions: 2 });
    o.close();

    // A restart keeps the usage.
    a.close();
    b.close();
    h = await h.restart();
    w = await web(h);
    assert.deepEqual((await summary(w, '?range=all')).totals, { ...row(undefined, 110, 0, 0, 0, 2), sessions: 2 });

    // A deleted session's usage goes with it.
    const del = await w.req('DELETE', `/api/sessions/${a.sid}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.deepEqual((await summary(w, '?range=all')).totals, { ...row(undefined, 10, 0, 0, 0, 1), sessions: 1 });
  } finally {
    await h.stop();
  }
});
