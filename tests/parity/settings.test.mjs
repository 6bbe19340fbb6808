// Settings → General "Session status summaries" and Settings → Storage on v0.30.7
// (parity-0.30.7.md §2 rows 82–84): GET/PUT /api/hub-settings persisted in HAPI_HOME/settings.json
// (other keys kept), the `sessionSummaryContract` the CLI gets from POST /cli/sessions and
// GET /cli/sessions/:id, and GET /api/storage/sqlite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHub, web, request, cliToken, IS_OFFICIAL } from './lib.mjs';

const INVALID = { status: 400, body: { error: 'Invalid body' } };
const flags = (c, i) => ({ sessionSummaryContract: c, sessionSummaryInChat: i });
const cli = (h, method, path, body) => request(h, method, path, { token: cliToken(), body });

test('hub-settings: defaults, validation, merge, persistence across a restart, CLI contract', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const get = async () => (await w.req('GET', '/api/hub-settings')).body;
    assert.deepEqual(await get(), flags(false, false));

    for (const bad of ['{}', '[]', 'nonjson', '{"foo":1}', '{"sessionSummaryContract":"x"}', '{"sessionSummaryContract":null}', '{"sessionSummaryInChat":1}']) {
      const r = await w.req('PUT', '/api/hub-settings', undefined, { rawBody: bad });
      assert.deepEqual({ status: r.status, body: r.body }, INVALID, bad);
    }
    assert.equal((await w.req('PATCH', '/api/hub-settings', {})).status, 404);
    assert.equal((await w.req('POST', '/api/hub-settings', {})).status, 404);
    assert.equal((await request(h, 'GET', '/api/hub-settings')).status, 401);

    // A partial body merges; unknown keys are ignored.
    let r = await w.req('PUT', '/api/hub-settings', { sessionSummaryContract: true, foo: 1 });
    assert.deepEqual({ status: r.status, body: r.body }, { status: 200, body: flags(true, false) });
    r = await w.req('PUT', '/api/hub-settings', { sessionSummaryInChat: true });
    assert.deepEqual(r.body, flags(true, true));
    assert.deepEqual(await get(), flags(true, true));

    // settings.json holds both keys next to the ones it had.
    const file = join(h.home, 'settings.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.sessionSummaryContract, true);
    assert.equal(saved.sessionSummaryInChat, true);
    assert.equal(saved.cliApiToken ?? 'parity-suite-token-4c1e8b2f7a9d0356', 'parity-suite-token-4c1e8b2f7a9d0356');

    // The CLI is told whether to ask the agent for summaries.
    const made = await cli(h, 'POST', '/cli/sessions', { tag: 'settings-tag', metadata: { path: '/tmp/p', host: 'h', flavor: 'claude' } });
    assert.equal(made.status, 200);
    assert.equal(made.body.sessionSummaryContract, true);
    const sid = made.body.session.id;
    assert.equal((await cli(h, 'GET', `/cli/sessions/${sid}`)).body.sessionSummaryContract, true);
    await w.req('PUT', '/api/hub-settings', { sessionSummaryContract: false });
    assert.equal((await cli(h, 'GET', `/cli/sessions/${sid}`)).body.sessionSummaryContract, false);

    // A key another program added to settings.json survives the next PUT.
    const withExtra = { ...JSON.parse(readFileSync(file, 'utf8')), parityExtraKey: { kept: 1 } };
    writeFileSync(file, JSON.stringify(withExtra, null, 2));
    await w.req('PUT', '/api/hub-settings', { sessionSummaryContract: true });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).parityExtraKey, { kept: 1 });

    h = await h.restart();
    w = await web(h);
    assert.deepEqual(await get(), flags(true, true));
  } finally {
    await h.stop();
  }
});

test('GET /api/storage/sqlite answers the database, WAL and SHM sizes', async () => {
  const h = await startHub();
  try {
    const w = await web(h);
    const r = await w.req('GET', '/api/storage/sqlite');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['databaseBytes', 'path', 'shmBytes', 'totalBytes', 'walBytes']);
    // hapid keeps its own database file (config.rs), never the official hapi.db.
    assert.equal(r.body.path, join(h.home, IS_OFFICIAL ? 'hapi.db' : 'hapid.db'));
    assert.ok(r.body.databaseBytes > 0);
    for (const k of ['databaseBytes', 'walBytes', 'shmBytes']) assert.ok(Number.isInteger(r.body[k]) && r.body[k] >= 0, k);
    assert.equal(r.body.totalBytes, r.body.databaseBytes + r.body.walBytes + r.body.shmBytes);
    assert.equal((await request(h, 'GET', '/api/storage/sqlite')).status, 401);
  } finally {
    await h.stop();
  }
});
