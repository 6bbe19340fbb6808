#!/usr/bin/env python3
"""The table of benches/floor/run.sh: each hapid figure beside its floor from the same run.

Reads results.jsonl (one JSON object per measured run, from benches/load and floor store)
and prints Markdown: medians over the repetitions, the ratio (median of the per-repetition
ratios hapid / floor), the target of issue 18, and the noise (other processes' CPU during
the hapid and the floor runs, in cores; the machine has `cpus` of them).
"""
import json
import statistics
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = {}
for r in rows:
    if r.get("meta"):
        meta.update(r)
runs = [r for r in rows if not r.get("meta")]


def pick(scenario, target):
    return sorted((r for r in runs if r["scenario"] == scenario and r["target"] == target), key=lambda r: r["rep"])


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, d=1):
    return "n/a" if x is None else f"{x:,.{d}f}".replace(",", " ")


def per_rep(xs):
    return " / ".join(f(x, 1) for x in xs)


out = []
out.append(
    f"Run {meta.get('when', '?')} at {meta.get('rev', '?')}, hub `{meta.get('hapid_bin', '?')}`, "
    f"{meta.get('cpus', '?')} CPUs; load average {meta.get('load_start', '?')} at the start, "
    f"{meta.get('load_end', '?')} at the end. Medians of {len(pick('list', 'hapid'))} fresh hubs; "
    "ratio = median of the per-repetition ratios. Noise = other processes' CPU during the runs "
    "(machine busy time minus hub and client), in cores, hapid runs / floor runs.\n"
)
out.append("| figure | hapid | floor | hapid ÷ floor | target | per rep (hapid) | noise, cores | client CPU |")
out.append("|---|---:|---:|---:|---|---|---|---|")


def row(label, scen, key, floor_scen=None, floor_key=None, d=1, target="", client=True, ratio=True):
    h = pick(scen, "hapid")
    fl = pick(floor_scen or scen, "floor")
    hv = [r.get(key) for r in h]
    fv = [r.get(floor_key or key) for r in fl]
    ratios = [a / b for a, b in zip(hv, fv) if a is not None and b]
    noise = f"{f(med(r['noise_cores'] for r in h), 2)} / {f(med(r['noise_cores'] for r in fl), 2)}"
    cl = ""
    if client and h and "self_us_per_unit" in h[0]:
        cl = f"{f(med(r['self_us_per_unit'] for r in h), 1)} µs/unit, {f(med(100 * r['self_cores'] for r in h), 0)}% of a core"
    out.append(
        f"| {label} | {f(med(hv), d)} | {f(med(fv), d)} | {f(med(ratios), 2) + '×' if ratio and ratios else '—'} "
        f"| {target} | {per_rep(hv)} | {noise} | {cl} |"
    )


row("GET /api/sessions: hub CPU per request, µs", "list", "hub_us_per_unit", target="≤ 2× floor")
row("GET /api/sessions: requests/s (10 conns)", "list", "req_per_s", d=0, client=False)
row("GET /api/sessions: latency p99, ms", "list", "p99_ms", d=2, client=False)
row("Ingest, durable acks: hub CPU per message, µs", "ingest", "hub_us_per_unit", "store", "cpu_us_per_msg", target="≤ 25 µs")
row("Ingest: messages/s", "ingest", "msg_per_s", "store", "msg_per_s", d=0, client=False)
row("SSE delivery (1000 streams): hub CPU per delivery, µs", "fanout", "hub_us_per_unit", d=2, target="≤ 2× floor")
row("CLI message → last of 1000 SSE streams, p50, ms", "fanout", "last_p50_ms", d=2, client=False)
row("CLI message → last of 1000 SSE streams, p99, ms", "fanout", "last_p99_ms", d=2, target="p99 ≤ 5 ms", client=False)
row("CLI message → each SSE stream, p99, ms", "fanout", "each_p99_ms", d=2, client=False)
row("10 000 SSE streams held: hub RSS, MiB", "hold", "rss_mib", d=1, target="≤ 32 MB", client=False)
row("10 000 SSE streams: hub CPU per stream opened, µs", "hold", "hub_us_per_unit", d=1)

h = pick("list", "hapid")
ing = pick("ingest", "hapid")
st = pick("store", "floor")
fan = pick("fanout", "hapid")
hold = pick("hold", "hapid")
out.append("")
if h:
    out.append(f"GET /api/sessions body: {h[0]['body_bytes']} B (the floor answers as many).")
if ing:
    out.append(
        f"Ingest: {ing[0]['sockets']} sockets × {ing[0]['messages'] // ing[0]['sockets']} messages of "
        f"{ing[0]['payload_bytes']} B, window {ing[0]['window']}, acks `{ing[0]['ack']}`; hapid committed "
        f"{f(med(r['msgs_per_commit'] for r in ing), 1)} messages per transaction (median), and the store floor "
        f"committed every {', '.join(str(r['batch']) for r in st)} messages."
    )
if fan:
    miss = sum(r["missing"] for r in fan)
    out.append(
        f"Fan-out: {fan[0]['streams']} streams × {fan[0]['messages']} messages, SSE frame {fan[0]['frame_bytes']} B; "
        f"{miss} deliveries missing; every delivery p50 {f(med(r['each_p50_ms'] for r in fan), 2)} ms."
    )
if hold:
    out.append(
        f"Hold: {'/'.join(str(r['still_open']) for r in hold)} of {hold[0]['streams']} streams still open when read; "
        f"hub idle RSS {f(med(r['idle_rss_kib'] / 1024 for r in hold), 1)} MiB; "
        f"{f(med(r['bytes_per_stream'] for r in hold), 0)} B per stream; client RSS "
        f"{f(med(r['self_rss_kib'] / 1024 for r in hold), 1)} MiB."
    )
print("\n".join(out))
