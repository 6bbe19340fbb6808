#!/usr/bin/env bash
# The official hapi CLI (npm @twsxtd/hapi-linux-<arch>@0.30.7) against the real hapid binary.
#
#   tests/cli_official.sh            # needs target/debug/hapid (cargo build), npm, node, curl, python3
#
# What it shows (issue 3, spec cli-protocol.md Appendix A):
#   1. `hapi runner start` registers the machine; it shows up active in GET /api/machines
#   2. it stays active for ALIVE_SECONDS (default 55 s: > one 20 s machine-alive period and
#      > one 25 s Engine.IO ping interval, and past the client's 45 s no-ping cut-off) with no
#      socket reconnect (the runner re-sends machine-update-state on every reconnect, so an
#      unchanged runnerStateVersion proves the socket stayed up)
#   3. POST /api/machines/:id/spawn starts a session (fake `claude` on PATH); SSE shows
#      session-added; a web message reaches the agent and its reply comes back; archive
#      ends the session process
#   4. `hapi resume <id>` of the archived session (GET /cli/sessions/resumable and
#      …/:id/resume-target): the agent runs again in this terminal with `--resume <its own
#      session id>`, under the SAME hapi session (no new session), which comes back active
#   5. `hapi runner stop` ends the runner process
#
# Env: HAPID_BIN (default target/debug/hapid), HAPI_CLI_CACHE (default target/hapi-cli-cache),
#      ALIVE_SECONDS (default 55), KEEP_WORKDIR=1 (keep the temp dir with all logs).
# Prints one PASS/FAIL line per check; exits 1 if any check failed.

set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HAPID_BIN=${HAPID_BIN:-$REPO/target/debug/hapid}
CACHE=${HAPI_CLI_CACHE:-$REPO/target/hapi-cli-cache}
CLI_VERSION=0.30.7
ALIVE_SECONDS=${ALIVE_SECONDS:-55}

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
info() { echo "  .. $*"; }
check() { # check "<description>" <command...>
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  echo
  echo "cli_official: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && exit 0 || exit 1
}
fatal() { fail "$*"; finish; }

for tool in node npm curl python3 tar; do
  command -v "$tool" >/dev/null || fatal "required tool not found: $tool"
done
[ -x "$HAPID_BIN" ] || fatal "hapid binary not found at $HAPID_BIN (run cargo build)"

# ---------------------------------------------------------------- JSON helper (node)
# jget '<js expression over d>' < json   → prints the value (strings raw, others as JSON)
jget() {
  node -e '
    let s = ""; process.stdin.on("data", c => s += c).on("end", () => {
      let d; try { d = JSON.parse(s) } catch { process.exit(3) }
      let v; try { v = (new Function("d", "return (" + process.argv[1] + ")"))(d) } catch { process.exit(4) }
      if (v === undefined) process.exit(5);
      process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
    })' "$1"
}

# ---------------------------------------------------------------- install the official CLI
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) fatal "no official hapi build for $(uname -m)" ;;
esac
PKG_NAME=@twsxtd/hapi-linux-$ARCH@$CLI_VERSION
PKG=$CACHE/hapi-linux-$ARCH-$CLI_VERSION/package
HAPI=$PKG/bin/hapi
if [ ! -x "$HAPI" ]; then
  info "fetching $PKG_NAME into $CACHE"
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  if (cd "$tmp" && npm pack "$PKG_NAME" --silent >pack.out 2>pack.err) &&
    tgz=$(tail -n1 "$tmp/pack.out") && [ -f "$tmp/$tgz" ] &&
    mkdir -p "$tmp/x" && tar -xzf "$tmp/$tgz" -C "$tmp/x" && [ -x "$tmp/x/package/bin/hapi" ]; then
    rm -rf "$CACHE/hapi-linux-$ARCH-$CLI_VERSION"
    mkdir -p "$CACHE/hapi-linux-$ARCH-$CLI_VERSION"
    mv "$tmp/x/package" "$PKG"
    rm -rf "$tmp"
  else
    cat "$tmp/pack.err" 2>/dev/null
    rm -rf "$tmp"
    fatal "npm pack $PKG_NAME"
  fi
fi
ver=$("$HAPI" --version 2>&1 | head -n1)
case "$ver" in
  *"$CLI_VERSION"*) pass "official CLI installed: $HAPI ($ver)" ;;
  *) fatal "official CLI version: got '$ver', want $CLI_VERSION" ;;
esac

# ---------------------------------------------------------------- workspace
W=$(mktemp -d "${TMPDIR:-/tmp}/hapid-cli-official.XXXXXX")
mkdir -p "$W/hub-home" "$W/cli-home" "$W/claude-home" "$W/fakebin" "$W/proj"
TOKEN="cli-official-$(node -e 'process.stdout.write(require("crypto").randomBytes(18).toString("base64url"))')"
HUB_PID=
SSE_PID=
RUNNER_PID=
SESSION_PIDS=()

# `env` minus everything hapid or the CLI would pick up from the caller (HAPI_HOME, ...).
# An array, not a function, so `"${CLEAN_ENV[@]}" cmd &` leaves $! = the command's pid.
CLEAN_ENV=(env)
for v in $(compgen -e); do
  case "$v" in
    HAPI_* | HAPID_* | TELEGRAM_* | ELEVENLABS_* | DB_PATH | CLI_API_TOKEN | CORS_ORIGINS | VAPID_SUBJECT) CLEAN_ENV+=(-u "$v") ;;
  esac
done

runner_env() { # run the official CLI the way Appendix A does
  "${CLEAN_ENV[@]}" PATH="$W/fakebin:$PATH" CLAUDE_CONFIG_DIR="$W/claude-home" HAPI_HOME="$W/cli-home" \
    HAPI_API_URL="$BASE" CLI_API_TOKEN="$TOKEN" FAKE_CLAUDE_ARGS_LOG="$W/claude-args.log" "$@"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

cleanup() {
  [ -n "$SSE_PID" ] && kill "$SSE_PID" 2>/dev/null
  if alive "$RUNNER_PID"; then
    runner_env timeout 30 "$HAPI" runner stop >/dev/null 2>&1
    alive "$RUNNER_PID" && kill "$RUNNER_PID" 2>/dev/null
  fi
  for p in "${SESSION_PIDS[@]}"; do alive "$p" && kill "$p" 2>/dev/null; done
  if alive "$HUB_PID"; then kill "$HUB_PID" 2>/dev/null; fi
  if [ "${KEEP_WORKDIR:-0}" = 1 ] || [ "$FAILED" -ne 0 ]; then
    echo "  .. logs kept in $W (hub.log, cli-home/logs/, sse.log)"
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT

# The fake agent from spec/cli-protocol.md Appendix A.2.
cat >"$W/fakebin/claude" <<'PY'
#!/usr/bin/env python3
import sys, json, uuid, os, time, re

args = sys.argv[1:]
with open(os.environ.get('FAKE_CLAUDE_ARGS_LOG') or os.devnull, 'a') as log:
    log.write(json.dumps(args) + '\n')
if '--version' in args:
    print('2.1.99 (Claude Code)'); sys.exit(0)
sid = args[args.index('--resume') + 1] if '--resume' in args else str(uuid.uuid4())
cwd = os.getcwd()
cfg = os.environ.get('CLAUDE_CONFIG_DIR') or os.path.expanduser('~/.claude')
proj = os.path.join(cfg, 'projects', re.sub(r'[^a-zA-Z0-9]', '-', os.path.realpath(cwd)))
os.makedirs(proj, exist_ok=True)
transcript = os.path.join(proj, sid + '.jsonl')
open(transcript, 'a').close()

def out(o):
    sys.stdout.write(json.dumps(o) + '\n'); sys.stdout.flush()

def usage():
    return {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

def assistant(blocks):
    msg = {"id": "msg_" + uuid.uuid4().hex[:12], "type": "message", "role": "assistant", "model": "fake",
           "content": blocks, "stop_reason": None, "stop_sequence": None, "usage": usage()}
    out({"type": "assistant", "message": msg, "parent_tool_use_id": None, "session_id": sid, "uuid": str(uuid.uuid4())})

def tool_result(tool_id, text, is_error=False):
    out({"type": "user", "parent_tool_use_id": None, "session_id": sid, "uuid": str(uuid.uuid4()),
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                  "content": text, "is_error": is_error}]}})

def result(text, t0):
    out({"type": "result", "subtype": "success", "is_error": False, "duration_ms": int((time.time() - t0) * 1000),
         "duration_api_ms": 1, "num_turns": 1, "result": text, "session_id": sid, "total_cost_usd": 0,
         "usage": usage(), "permission_denials": [], "uuid": str(uuid.uuid4())})

pending = None  # (control request id, tool_use id, turn start)
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    kind = m.get('type')
    if kind == 'control_request':            # e.g. interrupt from the CLI
        out({"type": "control_response", "response": {"subtype": "success", "request_id": m.get('request_id'), "response": {}}})
        pending = None
        continue
    if kind == 'control_response' and pending and m['response'].get('request_id') == pending[0]:
        _, tool_id, t0 = pending; pending = None
        allowed = (m['response'].get('response') or {}).get('behavior') == 'allow'
        tool_result(tool_id, 'ok' if allowed else 'denied', not allowed)
        assistant([{"type": "text", "text": "allowed" if allowed else "denied"}])
        result('done', t0)
        continue
    if kind != 'user':
        continue
    t0 = time.time()
    c = m['message']['content']
    text = c if isinstance(c, str) else ' '.join(b.get('text', '') for b in c if isinstance(b, dict))
    with open(transcript, 'a') as t:  # what Claude keeps, so `hapi resume` finds a conversation
        t.write(json.dumps({"type": "user", "sessionId": sid, "uuid": str(uuid.uuid4()), "cwd": cwd,
                            "timestamp": time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                            "message": {"role": "user", "content": text}}) + '\n')
    out({"type": "system", "subtype": "init", "cwd": cwd, "session_id": sid, "tools": ["Bash", "TodoWrite"],
         "mcp_servers": [], "model": "fake", "permissionMode": "default", "slash_commands": [],
         "apiKeySource": "none", "uuid": str(uuid.uuid4())})
    if 'slow' in text:
        time.sleep(8)
    if 'todo' in text:
        tid = 'toolu_' + uuid.uuid4().hex[:12]
        assistant([{"type": "tool_use", "id": tid, "name": "TodoWrite", "input": {"todos": [
            {"content": "Write spec", "status": "in_progress", "activeForm": "Writing spec"},
            {"content": "Review spec", "status": "pending", "activeForm": "Reviewing spec"}]}}])
        tool_result(tid, 'Todos have been modified successfully.')
    if 'perm' in text:
        tid = 'toolu_' + uuid.uuid4().hex[:12]
        assistant([{"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": "ls"}}])
        rid = 'req_' + uuid.uuid4().hex[:8]
        pending = (rid, tid, t0)
        out({"type": "control_request", "request_id": rid,
             "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "ls"}, "tool_use_id": tid}})
        continue
    assistant([{"type": "text", "text": "echo: " + text}])
    result("echo: " + text, t0)
PY
chmod +x "$W/fakebin/claude"
HAVE_GIT=false
if command -v git >/dev/null && git -C "$W/proj" init -q 2>/dev/null; then HAVE_GIT=true; fi

# ---------------------------------------------------------------- start hapid
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  "${CLEAN_ENV[@]}" HAPI_HOME="$W/hub-home" HAPI_LISTEN_HOST=127.0.0.1 HAPI_LISTEN_PORT=$PORT CLI_API_TOKEN="$TOKEN" \
    "$HAPID_BIN" >"$W/hub.log" 2>&1 &
  HUB_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening on http://127.0.0.1:$PORT" "$W/hub.log" && break
    alive "$HUB_PID" || break
    sleep 0.1
  done
  grep -q "listening on http://127.0.0.1:$PORT" "$W/hub.log" && break
  kill "$HUB_PID" 2>/dev/null
  HUB_PID=
done
[ -n "$HUB_PID" ] || { cat "$W/hub.log"; fatal "hapid did not start"; }
BASE=http://127.0.0.1:$PORT
pass "hapid started on $BASE (pid $HUB_PID)"

JWT=$(curl -s -X POST "$BASE/api/auth" -H 'content-type: application/json' \
  -d "{\"accessToken\":\"$TOKEN\"}" | jget 'd.token') || fatal "POST /api/auth returned no token"
AUTH="authorization: Bearer $JWT"
api() { # api METHOD PATH [JSON]
  if [ $# -ge 3 ]; then
    curl -s -m 40 -X "$1" "$BASE$2" -H "$AUTH" -H 'content-type: application/json' -d "$3"
  else
    curl -s -m 40 -X "$1" "$BASE$2" -H "$AUTH"
  fi
}

# All-namespace SSE stream, recorded for the whole run (curl is a plain HTTP client here).
curl -sN "$BASE/api/events?token=$JWT&all=true" >"$W/sse.log" 2>/dev/null &
SSE_PID=$!

# ---------------------------------------------------------------- runner start
if runner_env timeout 60 "$HAPI" runner start >"$W/runner-start.out" 2>&1; then
  pass "hapi runner start ($(tr -d '\n' <"$W/runner-start.out"))"
else
  cat "$W/runner-start.out"
  fatal "hapi runner start failed"
fi
MID=$(jget 'd.machineId' <"$W/cli-home/settings.json") || fatal "no machineId in cli-home/settings.json"
info "machine id $MID"

machine() { # prints the machine JSON from GET /api/machines, or nothing
  api GET /api/machines | jget "d.machines.find(m => m.id === '$MID') || null" 2>/dev/null | grep -v '^null$'
}

M=
for _ in $(seq 1 100); do
  M=$(machine)
  [ -n "$M" ] && [ "$(jget 'd.active' <<<"$M")" = true ] && [ "$(jget 'd.runnerState && d.runnerState.status' <<<"$M")" = running ] && break
  M=
  sleep 0.2
done
[ -n "$M" ] || fatal "machine $MID never showed up active with runnerState.status=running in GET /api/machines"
pass "machine $MID active in GET /api/machines (runnerState.status=running)"
check "machine metadata passed through (happyCliVersion=$CLI_VERSION, capabilities kept)" \
  test "$(jget "d.metadata.happyCliVersion === '$CLI_VERSION' && Array.isArray(d.metadata.capabilities)" <<<"$M")" = true
RUNNER_PID=$(jget 'd.runnerState.pid' <<<"$M")
RSV0=$(jget 'd.runnerStateVersion' <<<"$M")
ACT0=$(jget 'd.activeAt' <<<"$M")
check "runner process $RUNNER_PID is running" alive "$RUNNER_PID"

# ---------------------------------------------------------------- stays active
info "watching the machine for ${ALIVE_SECONDS}s (heartbeats, Engine.IO pings)"
stayed=true
end=$((SECONDS + ALIVE_SECONDS))
while [ $SECONDS -lt $end ]; do
  sleep 5
  M=$(machine)
  if [ -z "$M" ] || [ "$(jget 'd.active' <<<"$M")" != true ]; then
    stayed=false
    info "machine not active after $((ALIVE_SECONDS - end + SECONDS))s: ${M:-<absent>}"
    break
  fi
done
check "machine stayed active for ${ALIVE_SECONDS}s" $stayed
M=$(machine)
RSV1=$(jget 'd.runnerStateVersion' <<<"$M" 2>/dev/null)
ACT1=$(jget 'd.activeAt' <<<"$M" 2>/dev/null)
check "no runner socket reconnect in ${ALIVE_SECONDS}s (runnerStateVersion $RSV0 → ${RSV1:-?})" test "${RSV1:-x}" = "$RSV0"
check "machine-alive heartbeats advanced activeAt ($ACT0 → ${ACT1:-?})" test "${ACT1:-0}" -gt $((ACT0 + 15000))

# ---------------------------------------------------------------- spawn a session
SPAWN=$(api POST "/api/machines/$MID/spawn" "{\"directory\":\"$W/proj\",\"agent\":\"claude\"}")
SID=$(jget "d.type === 'success' ? d.sessionId : undefined" <<<"$SPAWN")
if [ -n "$SID" ]; then
  pass "POST /api/machines/:id/spawn → session $SID"
else
  fail "POST /api/machines/:id/spawn: $SPAWN"
fi

if [ -n "$SID" ]; then
  seen=false
  for _ in $(seq 1 50); do
    if grep -F '"type":"session-added"' "$W/sse.log" | grep -qF "\"sessionId\":\"$SID\""; then seen=true; break; fi
    sleep 0.2
  done
  check "SSE stream (all=true) got session-added for $SID" $seen

  S=
  for _ in $(seq 1 100); do
    S=$(api GET "/api/sessions/$SID")
    [ "$(jget 'd.session.active' <<<"$S" 2>/dev/null)" = true ] && break
    S=
    sleep 0.2
  done
  check "spawned session is active (session-alive from the CLI)" test -n "$S"
  if [ -n "$S" ]; then
    SPID=$(jget 'd.session.metadata.hostPid' <<<"$S" 2>/dev/null)
    [ -n "$SPID" ] && SESSION_PIDS+=("$SPID")
    check "session metadata passed through (path, flavor=claude, capabilities kept)" \
      test "$(jget "d.session.metadata.path === '$W/proj' && d.session.metadata.flavor === 'claude' && typeof d.session.metadata.capabilities === 'object'" <<<"$S")" = true
  fi

  # web message → update → agent → message events back
  R=$(api POST "/api/sessions/$SID/messages" '{"text":"hello hapid","localId":"official-1"}')
  check "POST /api/sessions/:id/messages → {\"ok\":true} ($R)" test "$R" = '{"ok":true}'
  got=false
  for _ in $(seq 1 100); do
    if api GET "/api/sessions/$SID/messages" | jget "d.messages.some(m => m.content && m.content.role === 'agent' && JSON.stringify(m.content).includes('echo: hello hapid'))" 2>/dev/null | grep -q true; then
      got=true
      break
    fi
    sleep 0.2
  done
  check "the agent's reply came back through the CLI (message 'echo: hello hapid' stored)" $got
  seqs=$(api GET "/api/sessions/$SID/messages" | jget 'd.messages.map(m => m.seq).join(",")')
  check "message seqs are dense from 1 ($seqs)" \
    test "$(api GET "/api/sessions/$SID/messages" | jget 'd.messages.every((m, i) => m.seq === i + 1)')" = true

  # RPC through the session process (git-status runs real git in the project dir)
  GS=$(api GET "/api/sessions/$SID/git-status")
  if $HAVE_GIT; then
    check "RPC git-status answered by the CLI in a git repo ($(head -c 100 <<<"$GS"))" \
      test "$(jget "d.success === true && d.stdout.includes('# branch.')" <<<"$GS" 2>/dev/null)" = true
  else
    check "RPC git-status answered by the CLI ($(head -c 100 <<<"$GS"))" \
      test "$(jget "typeof d.success === 'boolean' && !(d.error || '').startsWith('RPC ') && d.error !== 'operation has timed out'" <<<"$GS" 2>/dev/null)" = true
  fi

  # archive → killSession RPC → the session process exits
  A=$(api POST "/api/sessions/$SID/archive" '{}')
  check "POST /api/sessions/:id/archive → ok ($A)" test "$(jget 'd.ok' <<<"$A" 2>/dev/null)" = true
  if [ -n "${SPID:-}" ]; then
    for _ in $(seq 1 100); do alive "$SPID" || break; sleep 0.1; done
    check "session process $SPID exited after archive" bash -c "! kill -0 $SPID 2>/dev/null"
  fi
  check "session inactive after archive" \
    test "$(api GET "/api/sessions/$SID" | jget 'd.session.active')" = false

  # hapi resume <id>: the CLI asks resumable / resume-target, then runs the agent here, in
  # local mode, as the same hapi session (stdin at EOF: the fake agent ends at once).
  CLAUDE_SID=$(api GET "/api/sessions/$SID" | jget 'd.session.metadata.claudeSessionId' 2>/dev/null)
  check "the agent's own session id is in the metadata (claudeSessionId=${CLAUDE_SID:-none})" test -n "$CLAUDE_SID"
  cli() { curl -s -m 40 "$BASE$1" -H "authorization: Bearer $TOKEN"; }
  check "GET /cli/sessions/resumable lists $SID" \
    test "$(cli /cli/sessions/resumable | jget "d.sessions.some(s => s.sessionId === '$SID' && s.agentSessionId === '$CLAUDE_SID')" 2>/dev/null)" = true
  check "GET /cli/sessions/:id/resume-target names $SID" \
    test "$(cli "/cli/sessions/$SID/resume-target" | jget "d.target.sessionId === '$SID' && d.target.directory === '$W/proj'" 2>/dev/null)" = true
  N0=$(api GET /api/sessions | jget 'd.sessions.length')
  ACTIVE0=$(grep -F "\"sessionId\":\"$SID\"" "$W/sse.log" | grep -cF '"active":true')
  : >"$W/claude-args.log"
  if (cd "$W/proj" && runner_env timeout 60 "$HAPI" resume "$SID" </dev/null >"$W/resume.out" 2>&1); then
    pass "hapi resume $SID exited 0"
  else
    cat "$W/resume.out"
    fail "hapi resume $SID failed"
  fi
  check "the agent ran again with --resume $CLAUDE_SID" \
    node -e 'const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
      process.exit(l.some(a => a[a.indexOf("--resume") + 1] === process.argv[2]) ? 0 : 1)' "$W/claude-args.log" "$CLAUDE_SID"
  ACTIVE1=$(grep -F "\"sessionId\":\"$SID\"" "$W/sse.log" | grep -cF '"active":true')
  check "session $SID came back active during hapi resume (SSE active:true $ACTIVE0 → $ACTIVE1)" test "$ACTIVE1" -gt "$ACTIVE0"
  N1=$(api GET /api/sessions | jget 'd.sessions.length')
  check "hapi resume reused the session: no new session ($N0 → $N1)" test "$N1" = "$N0"
fi

# ---------------------------------------------------------------- runner stop
if runner_env timeout 60 "$HAPI" runner stop >"$W/runner-stop.out" 2>&1; then
  pass "hapi runner stop"
else
  cat "$W/runner-stop.out"
  fail "hapi runner stop failed"
fi
for _ in $(seq 1 100); do alive "$RUNNER_PID" || break; sleep 0.1; done
check "runner process $RUNNER_PID is gone" bash -c "! kill -0 $RUNNER_PID 2>/dev/null"
M=$(machine)
check "runnerState.status is shutting-down after stop" \
  test "$(jget 'd.runnerState.status' <<<"${M:-null}" 2>/dev/null)" = shutting-down

# ---------------------------------------------------------------- stop hapid
kill -TERM "$HUB_PID"
for _ in $(seq 1 100); do alive "$HUB_PID" || break; sleep 0.1; done
if alive "$HUB_PID"; then
  fail "hapid did not exit within 10 s of SIGTERM"
else
  wait "$HUB_PID" 2>/dev/null
  rc=$?
  check "hapid exited cleanly on SIGTERM (status $rc)" test "$rc" -eq 0
fi
HUB_PID=

finish
