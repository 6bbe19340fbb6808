#!/usr/bin/env python3
"""Writes N realistic messages into a hapid database (schema 6, created by hapid itself) and
marks it for the usage backfill, as a database from before the usage aggregates would be.

    gen.py DB N

200 sessions (3 in 4 Claude, 1 in 4 Codex) over 60 days, each active over two days of it
(the sessions overlap; messages arrive in time order). Claude sessions (one model each): assistant messages
with usage (~2 KB each, 1 in 3 repeating the previous message.id as a streamed update would),
user messages and tool results without usage. Codex sessions: token_count events (last and
total usage) between agent text and user messages. Deterministic (seeded)."""
import json, random, sqlite3, sys, uuid

db, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1887)
conn = sqlite3.connect(db)
now = 1_796_300_000_000
start = now - 60 * 86_400_000
sessions = []
for i in range(200):
    flavor = 'codex' if i % 4 == 3 else 'claude'
    sid = str(uuid.UUID(int=rnd.getrandbits(128)))
    meta = json.dumps({'path': f'/home/u/p{i}', 'host': 'bench', 'flavor': flavor})
    conn.execute("INSERT INTO sessions (id, tag, namespace, created_at, updated_at, metadata) VALUES (?,?,?,?,?,?)",
                 (sid, f'tag{i}', 'default', start, now, meta))
    sessions.append([sid, flavor, 0, None, start + i * (58 * 86_400_000) // 200])
filler = 'lorem ipsum dolor sit amet ' * 60  # ~1.6 KB of assistant text
models = ['claude-sonnet-4-5', 'claude-opus-4-1', 'claude-haiku-4-5']
rows = []
for k in range(n):
    at = start + (now - start) * k // n
    hi = min(len(sessions) - 1, (at - start) * len(sessions) // (58 * 86_400_000))
    live = [x for x in sessions[max(0, hi - 7):hi + 1] if at < x[4] + 2 * 86_400_000] or sessions[hi:hi + 1]
    s = live[rnd.randrange(len(live))]
    s[2] += 1
    r = rnd.random()
    if s[1] == 'claude':
        if r < 0.55:
            mid = s[3] if (s[3] and rnd.random() < 0.33) else 'msg_' + uuid.UUID(int=rnd.getrandbits(128)).hex[:24]
            s[3] = mid
            content = {'role': 'agent', 'content': {'type': 'output', 'data': {'type': 'assistant', 'uuid': str(uuid.uuid4()), 'message': {
                'id': mid, 'model': models[sessions.index(s) % 3], 'role': 'assistant',
                'content': [{'type': 'text', 'text': filler}],
                'usage': {'input_tokens': rnd.randrange(1, 50), 'output_tokens': rnd.randrange(10, 2000),
                          'cache_read_input_tokens': rnd.randrange(0, 80000), 'cache_creation_input_tokens': rnd.randrange(0, 5000)}}}}}
        elif r < 0.8:
            content = {'role': 'agent', 'content': {'type': 'output', 'data': {'type': 'user', 'message': {'role': 'user', 'content': [{'type': 'tool_result', 'tool_use_id': 'toolu_x', 'content': filler[:800]}]}}}}
        else:
            content = {'role': 'user', 'content': {'type': 'text', 'text': filler[:200]}}
    else:
        if r < 0.35:
            last = {'input_tokens': rnd.randrange(1000, 60000), 'cached_input_tokens': rnd.randrange(0, 50000), 'output_tokens': rnd.randrange(10, 3000), 'reasoning_output_tokens': 100, 'total_tokens': 0}
            content = {'role': 'agent', 'content': {'type': 'codex', 'data': {'type': 'token_count', 'model': 'gpt-5-codex', 'info': {
                'last_token_usage': last, 'total_token_usage': {k2: v * 40 for k2, v in last.items()}, 'model_context_window': 272000}}}}
        elif r < 0.8:
            content = {'role': 'agent', 'content': {'type': 'codex', 'data': {'type': 'message', 'message': filler}}}
        else:
            content = {'role': 'user', 'content': {'type': 'text', 'text': filler[:200]}}
    rows.append((str(uuid.UUID(int=rnd.getrandbits(128))), s[0], s[2], json.dumps(content), at, at))
    if len(rows) == 10000:
        conn.executemany("INSERT INTO messages (id, session_id, seq, content, created_at, invoked_at, delivery_state) VALUES (?,?,?,?,?,?,'queued')", rows)
        rows = []
conn.executemany("INSERT INTO messages (id, session_id, seq, content, created_at, invoked_at, delivery_state) VALUES (?,?,?,?,?,?,'queued')", rows)
# What migration 5 -> 6 leaves in a database that had messages: the backfill is due.
conn.execute("DELETE FROM usage_buckets")
conn.execute("DELETE FROM usage_message_ids")
conn.execute("DELETE FROM usage_backfill")
conn.execute("INSERT INTO usage_backfill (next_rowid) VALUES (0)")
conn.commit()
print(f'{n} messages in {len(sessions)} sessions')
