#!/usr/bin/env python3
"""Starts hapid on HOME (its database already generated), times the start-up (the usage
backfill runs before the hub listens), then calls GET /api/usage/summary?range=all&
timeZone=Europe/Berlin 10 times, sampling hapid's VmRSS every 2 ms. Prints a markdown table.

    measure.py HAPID_BIN HOME"""
import json, os, re, socket, subprocess, sys, threading, time, urllib.request

binary, home = sys.argv[1], sys.argv[2]
token = 'bench-usage-token-0123456789abcdef'
with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
env = dict(os.environ, HAPI_HOME=home, CLI_API_TOKEN=token, HAPI_LISTEN_HOST='127.0.0.1', HAPI_LISTEN_PORT=str(port))
log = open(os.path.join(home, 'hapid.log'), 'w')
t0 = time.monotonic()
proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
base = f'http://127.0.0.1:{port}'

def rss_kb(field='VmRSS'):
    with open(f'/proc/{proc.pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0

try:
    while True:
        try:
            urllib.request.urlopen(base + '/health', timeout=1).read()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() - t0 > 600:
                raise SystemExit('hapid did not start')
            time.sleep(0.005)
    startup = time.monotonic() - t0
    req = urllib.request.Request(base + '/api/auth', data=json.dumps({'accessToken': token}).encode(), headers={'content-type': 'application/json'})
    jwt = json.load(urllib.request.urlopen(req))['token']
    time.sleep(1)
    before = rss_kb()
    peak = [before]
    sampling = [True]
    def sample():
        while sampling[0]:
            peak[0] = max(peak[0], rss_kb())
            time.sleep(0.002)
    th = threading.Thread(target=sample)
    th.start()
    lat = []
    body = None
    for _ in range(10):
        r = urllib.request.Request(base + '/api/usage/summary?range=all&timeZone=Europe/Berlin', headers={'authorization': f'Bearer {jwt}'})
        t = time.monotonic()
        body = urllib.request.urlopen(r, timeout=120).read()
        lat.append((time.monotonic() - t) * 1000)
    sampling[0] = False
    th.join()
    time.sleep(1)
    after = rss_kb()
    hwm = rss_kb('VmHWM')
    s = json.loads(body)
    log.flush()
    m = re.search(r'usage: counted (\d+) stored messages in (\d+) ms', open(os.path.join(home, 'hapid.log')).read())
    lat.sort()
    med = (lat[4] + lat[5]) / 2
    print(f"| backfill | {m.group(2) if m else '?'} ms for {m.group(1) if m else '?'} messages (start to first /health: {startup*1000:.0f} ms) |")
    print(f"| RSS before / peak during / after the 10 calls | {before/1024:.1f} / {peak[0]/1024:.1f} / {after/1024:.1f} MiB (VmHWM {hwm/1024:.1f} MiB, includes the backfill) |")
    print(f"| GET /api/usage/summary?range=all&timeZone=Europe/Berlin | median {med:.1f} ms (min {lat[0]:.1f}, max {lat[-1]:.1f}) over 10; {len(body)} bytes |")
    print(f"| answer | {s['totals']['requests']} requests, {s['totals']['sessions']} sessions, {len(s['daily'])} days, {s['totals']['totalTokens']} tokens |")
finally:
    proc.terminate()
    proc.wait(10)
