// Claude agent-team state on v0.30.7 (parity-0.30.7.md §3.1 `message`, §5 row 14): the hub
// derives session.teamState from TeamCreate / Task / SendMessage / TeamDelete tool calls in the
// agent's messages, publishes it as session-updated {teamState: {version, value}}, and keeps it
// across a restart. A second SSE client (all=true) watches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, web, cliSession, connectCli, until } from './lib.mjs';

const asst = (blocks) => ({ role: 'agent', content: { type: 'output', data: { type: 'assistant', message: { role: 'assistant', content: blocks } } } });
const tool = (id, name, input) => asst([{ type: 'tool_use', id, name, input }]);

test('team state from TeamCreate, Task, SendMessage, TeamDelete', async () => {
  let h = await startHub();
  try {
    let w = await web(h);
    const watcher = await w.sse({ all: 'true' });
    const a = await cliSession(h);
    const get = async () => (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    const teamPatches = () => watcher.events.filter((e) => e.type === 'session-updated' && e.sessionId === a.sid && e.data.teamState !== undefined && e.data.id === undefined);

    const s0 = await get();
    assert.equal(s0.teamState, undefined);
    const t0 = Date.now();
    a.emit('message', { message: tool('tu1', 'TeamCreate', { team_name: 'alpha', description: 'the team' }) });
    const s1 = await until(async () => { const s = await get(); return s.teamState ? s : null; });
    assert.deepEqual({ ...s1.teamState, updatedAt: 0 }, { teamName: 'alpha', description: 'the team', members: [], tasks: [], messages: [], updatedAt: 0 });
    assert.ok(s1.teamStateUpdatedAt >= t0 - 1000);
    assert.equal(s1.updatedAt, s1.teamStateUpdatedAt);
    await until(() => teamPatches().length === 1);
    const p1 = teamPatches()[0].data;
    assert.deepEqual(p1, { teamState: { version: s1.teamStateUpdatedAt, value: s1.teamState }, updatedAt: s1.teamStateUpdatedAt });

    a.emit('message', { message: tool('tu2', 'Task', { description: 'do x', prompt: 'p', subagent_type: 'general-purpose', name: 'worker-1', team_name: 'alpha' }) });
    await until(() => teamPatches().length === 2);
    a.emit('message', { message: tool('tu3', 'SendMessage', { type: 'message', recipient: 'worker-1', content: 'hi there', summary: 'greet' }) });
    await until(() => teamPatches().length === 3);
    // A tool call that is not a team tool changes nothing.
    a.emit('message', { message: tool('tu4', 'Bash', { command: 'ls' }) });
    const s3 = await get();
    assert.deepEqual(s3.teamState.members, [{ name: 'worker-1', agentType: 'general-purpose', status: 'active' }]);
    assert.deepEqual(s3.teamState.tasks, [{ id: 'agent:worker-1', title: 'do x', status: 'in_progress', owner: 'worker-1' }]);
    assert.equal(s3.teamState.messages.length, 1);
    const { timestamp, ...msg } = s3.teamState.messages[0];
    assert.deepEqual(msg, { from: 'team-lead', to: 'worker-1', summary: 'greet', type: 'message' });
    assert.equal(typeof timestamp, 'number');
    assert.equal(teamPatches().length, 3);

    // A restart keeps it.
    a.close();
    h = await h.restart();
    w = await web(h);
    const r = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    assert.deepEqual(r.teamState, s3.teamState);
    assert.equal(r.teamStateUpdatedAt, s3.teamStateUpdatedAt);

    // TeamDelete: teamState leaves the JSON, teamStateUpdatedAt moves; the patch carries null.
    const a2 = await connectCli(h, { clientType: 'session-scoped', sessionId: a.sid });
    const watcher2 = await w.sse({ all: 'true' });
    a2.emit('message', { sid: a.sid, message: tool('tu5', 'TeamDelete', {}) });
    const ev = await watcher2.next((e) => e.type === 'session-updated' && e.sessionId === a.sid && e.data.teamState !== undefined);
    assert.equal(ev.data.teamState.value, null);
    const d = (await w.req('GET', `/api/sessions/${a.sid}`)).body.session;
    assert.equal(d.teamState, undefined);
    assert.ok(d.teamStateUpdatedAt > s3.teamStateUpdatedAt);
    assert.equal(ev.data.teamState.version, d.teamStateUpdatedAt);
    a2.close();
  } finally {
    await h.stop();
  }
});
