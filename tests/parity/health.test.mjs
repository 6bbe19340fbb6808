// GET /health on v0.30.7: status, protocol version and the capabilities the web app probes
// (titleSuggestion hides "Generate"; workGraph the work-graph panel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, request } from './lib.mjs';

test('GET /health answers status, protocolVersion 1 and boolean capabilities', async () => {
  const h = await startHub();
  try {
    const r = await request(h, 'GET', '/health');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ok');
    assert.equal(r.body.protocolVersion, 1);
    assert.equal(typeof r.body.capabilities.titleSuggestion, 'boolean');
    assert.equal(typeof r.body.capabilities.workGraph, 'boolean');
    // No title provider configured: the web hides "Generate" on both hubs.
    assert.equal(r.body.capabilities.titleSuggestion, false);
  } finally {
    await h.stop();
  }
});
