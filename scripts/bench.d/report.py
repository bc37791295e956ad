#!/usr/bin/env python3
"""Turn scripts/bench's results (JSON lines) into Markdown, an SVG bar chart and a
terminal summary.

    report.py RESULTS.jsonl OUT.md OUT.svg
"""
import json
import re
import statistics
import sys
from collections import defaultdict

src, out_md, out_svg = sys.argv[1:4]
meta, limits, servers, results, crashes, stderr_text, canary, enginelogs, skips = {}, [], {}, [], [], "", None, [], []
for line in open(src):
    line = line.strip()
    if not line:
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    kind = r.get("kind")
    if kind == "meta":
        meta.update({k: v for k, v in r.items() if k != "kind"})
    elif kind == "limit":
        limits.append(r)
    elif kind == "server":
        servers[r["server"]] = r
    elif kind == "crash":
        crashes.append(r)
    elif kind == "enginelog":
        enginelogs.append(r)
    elif kind == "skip":
        skips.append(r)
    elif kind == "canary":
        canary = r
    elif kind == "stderr":
        stderr_text = r["text"]
    elif "op" in r:
        results.append(r)

order = meta.get("servers", "").split() or sorted({r["server"] for r in results})
SS, SSNF, VGW, S3R, WEED, CEIL = "smartstorage", "smartstorage-nofsync", "versitygw", "s3rver", "seaweedfs", "ceiling"
# smartstorage-nofsync is the like-for-like twin of the peers that do not fsync
# (versitygw, seaweedfs); the ceiling row gets its own table below
RATIOS = [(SS, VGW), (SS, S3R), (SSNF, VGW), (SSNF, WEED)]
RATIOS = [(a, b) for a, b in RATIOS if a in order and b in order]
COLORS = {SS: "#1f77b4", SSNF: "#7fb3e0", VGW: "#ff7f0e", S3R: "#2ca02c", WEED: "#d62728", CEIL: "#7f7f7f"}

groups = defaultdict(list)  # (server, op, size, conc) -> [result]
for r in results:
    groups[(r["server"], r["op"], r["size"], r["conc"])].append(r)


def med(v):
    return statistics.median(v) if v else None


def fmt(v, nd=None):
    if v is None:
        return "–"
    if v == 0:
        return "0"
    if nd is None:
        nd = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{nd}f}"


def size_name(n):
    return {4096: "4 KiB", 1048576: "1 MiB", 268435456: "256 MiB"}.get(n, f"{n} B")


# rows of the main tables: (label, op, size, conc, unit)
ROWS = []
for size in (4096, 1048576):
    unit = "op/s" if size <= 65536 else "MiB/s"
    for op, name in (("put", "PUT"), ("get", "GET"), ("mixed", "mixed")):
        concs = sorted({k[3] for k in groups if k[1] == op and k[2] == size})
        for c in concs:
            ROWS.append((f"{name} {size_name(size)} c={c}", op, size, c, unit))
for op, name in (("bigput", "PUT"), ("bigget", "GET")):
    sizes = sorted({k[2] for k in groups if k[1] == op})
    for size in sizes:
        reads = f", read {meta['biggets']}× per run" if op == "bigget" and meta.get("biggets", "1") != "1" else ""
        ROWS.append((f"{name} {size_name(size)} (one object{reads})", op, size, 1, "MiB/s"))


def values(server, op, size, conc, field):
    return [r[field] for r in groups.get((server, op, size, conc), []) if r.get("ops", 0) > 0 or field == "errors"]


def tput(server, row):
    _, op, size, conc, unit = row
    return values(server, op, size, conc, "ops_per_s" if unit == "op/s" else "mib_per_s")


def cell(v):
    if not v:
        return "–"
    if len(v) == 1:
        return f"**{fmt(v[0])}** (n=1)"
    return f"**{fmt(med(v))}** ({fmt(min(v))}–{fmt(max(v))})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


md = []
w = md.append
w("# smartstorage benchmark")
w("")
w(f"- date: {meta.get('date', '?')}; mode: {meta.get('mode', '?')}; each cell: median of {meta.get('reps', '?')} runs of {meta.get('duration', '?')} (min–max in brackets); total runtime {meta.get('runtime_s', '?')} s")
w(f"- machine: {meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}), {meta.get('mem', '?')} memory, Linux {meta.get('kernel', '?')}, disk {meta.get('fs', '?')}")
w(f"- engine: {meta.get('engine_version', '?')} at commit {meta.get('commit', '?')}")
w(f"- load generator: scripts/bench.d/s3load (Go {meta.get('go', '?')}, SigV4, keep-alive, payload hashes precomputed), on the same 2 cores as the server; node {meta.get('node', '?')}")
w(f"- `sync` before each measured phase: {'yes' if meta.get('sync', '1') == '1' else 'no (QUICK)'}")
w(f"- load average at start {meta.get('load_start', '?')}, at end {meta.get('load_end', '?')} (other work shares this machine; see *other cores* below)")
w("")
w("MinIO and warp are AGPL-3.0, and this workplace's package notes mark AGPL modules \"not to use\", so the MinIO-class comparisons are **Versity S3 Gateway** "
  "(Go, single node, posix backend) and **SeaweedFS** (Go, `weed server`: master, volume server, filer and S3 gateway in one process), "
  "and the load comes from s3load, which reports in warp's terms. "
  "`smartstorage-nofsync` is the same engine with `--no-fsync`, the like-for-like durability match for the others (none of them fsyncs)."
  + (" `ceiling` is no storage server: a minimal hyper server (scripts/bench.d/ceiling) that drops PUT bodies and answers GETs with "
     "zeros from one static buffer, without checking signatures; it is the upper bound of HTTP/1.1 with s3load on this machine." if CEIL in order else ""))
w("")
w("## Servers and durability")
w("")
w("| server | durability (as run) | command |")
w("| --- | --- | --- |")
for s in order:
    sv = servers.get(s, {})
    w(f"| {s} | {sv.get('durability', '?')} | `{sv.get('cmd', '?').strip()}` |")
w("")
if skips:
    by_why = defaultdict(list)
    for k in skips:
        by_why[(k["server"], k["why"])].append(k["phase"])
    w("Phases a server sat out (blank cells below): " + "; ".join(f"**{srv}**: {', '.join(ph)} ({why})" for (srv, why), ph in by_why.items()) + ".")
    w("")
w("## Machine limits")
w("")
w("| what | value | how |")
w("| --- | ---: | --- |")
for l in limits:
    w(f"| {l['name']} | {fmt(l['value'])} {l['unit']} | {l['how']} |")
w("")
w("## Throughput")
w("")
w("4 KiB rows in operations/s, 1 MiB and 256 MiB rows in MiB/s (mixed: 45% GET, 30% HEAD, 15% PUT, 10% DELETE, all operations counted). "
  "Ratios compare medians; above 1 means smartstorage is faster. *foreign CPU*: median cores (of 2) busy with work other than "
  "the measured server and s3load during that row's runs (other jobs on this shared machine, kernel threads, interrupts); "
  "rows with high values were measured under competition.")
w("")
hdr = "| workload | unit | " + " | ".join(order) + " | " + "".join(f"{a}/{b} | " for a, b in RATIOS) + "foreign CPU |"
w(hdr)
w("|" + " --- |" * 2 + " ---: |" * (len(order) + len(RATIOS) + 1))
for row in ROWS:
    cells = [cell(tput(s, row)) for s in order]
    rs = [ratio(med(tput(a, row)), med(tput(b, row))) for a, b in RATIOS]
    fc = [r["other_cores"] for s in order for r in groups.get((s, row[1], row[2], row[3]), []) if "other_cores" in r]
    w(f"| {row[0]} | {row[4]} | " + " | ".join(cells) + " | " + "".join(f"{x} | " for x in rs) + f"{fmt(med(fc), 2)} |")
w("")
# the engine as a fraction of the ceiling row
CEIL_ORDER = {("get", 4096): 0, ("put", 4096): 1, ("get", 1048576): 2, ("bigput", None): 3, ("bigget", None): 4}


def ceil_place(r):
    return CEIL_ORDER.get((r[1], None if r[1].startswith("big") else r[2]))


CEIL_ROWS = sorted((r for r in ROWS if ceil_place(r) is not None), key=lambda r: (ceil_place(r), r[3]))
ceil_cols = [s for s in (SS, SSNF) if s in order]
if CEIL in order and ceil_cols and any(tput(CEIL, r) for r in CEIL_ROWS):
    w("## Ceiling")
    w("")
    w("smartstorage's medians as a fraction of the `ceiling` row's (a hyper server that stores nothing and checks no signature, "
      "measured in the same interleaved runs): how much of what HTTP/1.1 and s3load allow on this machine the engine reaches. "
      "The engine's own value in brackets. Server, s3load and the kernel's loopback copies share 2 cores, so where the client and "
      "the copies bound both (1 MiB GETs) the fraction nears 1 and can pass it by run-to-run noise; the engine's cost per request "
      "then shows in *CPU s/GiB* under Server resources, beside the ceiling's. For one 256 MiB object the ceiling is what s3load "
      "can send (PUT: the ceiling discards the body unhashed) and receive (GET: from memory) on this machine.")
    w("")
    w("| workload | unit | ceiling | " + " | ".join(f"{s} / ceiling" for s in ceil_cols) + " |")
    w("| --- | --- | ---: |" + " ---: |" * len(ceil_cols))
    for row in CEIL_ROWS:
        c = med(tput(CEIL, row))
        if c is None:  # a run from before the ceiling took that phase
            continue
        cs = []
        for s in ceil_cols:
            v = med(tput(s, row))
            cs.append("–" if v is None or not c else f"**{v / c:.2f}** ({fmt(v)})")
        w(f"| {row[0]} | {row[4]} | {cell(tput(CEIL, row))} | " + " | ".join(cs) + " |")
    w("")
w("## Latency (ms, median of the runs' p50 / p99)")
w("")
w("| workload | " + " | ".join(order) + " |")
w("| --- |" + " ---: |" * len(order))
for row in ROWS:
    cs = []
    for s in order:
        p50 = values(s, row[1], row[2], row[3], "p50_ms")
        p99 = values(s, row[1], row[2], row[3], "p99_ms")
        cs.append(f"{fmt(med(p50))} / {fmt(med(p99))}" if p50 else "–")
    w(f"| {row[0]} | " + " | ".join(cs) + " |")
w("")
w("## Server resources")
w("")
w("Peak RSS: the server's VmHWM during the measured phase (reset through /proc/PID/clear_refs before it), highest of the runs, MiB. "
  "CPU: the server's utime+stime during the phase per GiB of object data moved (PUT + GET bodies), median of the runs. "
  "For 4 KiB objects CPU per GiB is dominated by per-request cost, so CPU ms per 1000 ops is given too."
  + (" cluster3x2: CPU is the sum over its three engine processes, RSS the sum of their peaks." if "cluster3x2" in order else ""))
w("")
w("| workload | " + " | ".join(f"{s} RSS MiB" for s in order) + " | " + " | ".join(f"{s} CPU s/GiB" for s in order) + " | " + " | ".join(f"{s} CPU ms/kop" for s in order) + " |")
w("| --- |" + " ---: |" * (3 * len(order)))
for row in ROWS:
    rss, cpu, kop = [], [], []
    for s in order:
        g = [r for r in groups.get((s, row[1], row[2], row[3]), []) if r.get("ops", 0) > 0]
        rs = [r["peak_rss_kib"] for r in g if r.get("peak_rss_kib", 0) > 0]
        rss.append(fmt(max(rs) / 1024) if rs else "–")
        cs = [r["cpu_s_per_gib"] for r in g if r.get("cpu_s_per_gib", 0) > 0]
        cpu.append(fmt(med(cs)) if cs else "–")
        ks = [r["cpu_s"] * 1e6 / r["ops"] for r in g if r.get("ops", 0) > 0 and "cpu_s" in r and row[1] not in ("bigput", "bigget")]
        kop.append(fmt(med(ks)) if ks else "–")
    w(f"| {row[0]} | " + " | ".join(rss + cpu + kop) + " |")
w("")

# HTTPS and the TS module, beside their plain-HTTP twins
extra = meta.get("extra_servers", "").split()
if extra:
    # the plain twins as measured again in this phase, between the extras (older runs: the main phase's)
    def twin(s):
        return s + "@extras" if any(k[0] == s + "@extras" for k in groups) else s
    cols = [SSNF] * (SSNF in order) + [s for s in extra if s.startswith("smartstorage")] + [VGW] * (VGW in order) + [s for s in extra if not s.startswith("smartstorage")]
    xr = [r for r in ROWS if (r[3] == 16 and r[1] in ("put", "get")) or r[1] in ("bigput", "bigget")]
    pairs = [(a, b) for a, b in (("smartstorage-tls", "versitygw-tls"), ("smartstorage-tls", SSNF), ("smartstorage-ts", SSNF),
                                 ("smartstorage-sse-s3", SSNF), ("smartstorage-sse-c", SSNF)) if a in cols and b in cols]
    w("## HTTPS, the TypeScript module and server-side encryption")
    w("")
    w("The same rows over HTTPS (one certificate made with openssl for 127.0.0.1; s3load trusts exactly it, TLS 1.3, HTTP/1.1, "
      "keep-alive), with the engine started through the TypeScript module under Node (`scripts/bench.d/ts-launch.mjs`; the engine "
      "process it spawns is measured), and with server-side encryption: `smartstorage-sse-s3` (every PUT asks for SSE-S3, "
      "`x-amz-server-side-encryption: AES256`) and `smartstorage-sse-c` (every PUT, GET and HEAD carries SSE-C headers with one "
      "fixed customer key, over plain HTTP through `--allow-ssec-over-http`). All without fsync, like versitygw. Peak RSS in brackets, MiB.")
    w("")
    w("| workload | unit | " + " | ".join(cols) + " | " + " | ".join(f"{a}/{b}" for a, b in pairs) + " |")
    w("|" + " --- |" * 2 + " ---: |" * (len(cols) + len(pairs)))
    for row in xr:
        cs = []
        for s in cols:
            g = [r for r in groups.get((twin(s), row[1], row[2], row[3]), []) if r.get("ops", 0) > 0]
            rs = [r["peak_rss_kib"] for r in g if r.get("peak_rss_kib", 0) > 0]
            cs.append(cell(tput(twin(s), row)) + (f" ({fmt(max(rs) / 1024)})" if rs else ""))
        rs = [ratio(med(tput(twin(a), row)), med(tput(twin(b), row))) for a, b in pairs]
        w(f"| {row[0]} | {row[4]} | " + " | ".join(cs) + " | " + " | ".join(rs) + " |")
    w("")

big16 = [r for r in results if r["op"] == "put" and r["size"] == 1 << 30]
if big16:
    w("## 16 concurrent 1 GiB PUTs")
    w("")
    w("16 clients each upload one 1 GiB object at once (signed payload, one PUT each). Peak RSS is the server's VmHWM over the whole phase.")
    w("")
    w("| server | objects stored | MiB/s | peak RSS MiB | CPU s/GiB | errors |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in big16:
        w(f"| {r['server']} | {r['ops']} | {fmt(r['mib_per_s'])} | {fmt(r.get('peak_rss_kib', 0) / 1024)} | {fmt(r.get('cpu_s_per_gib'))} | {r['errors']} |")
    w("")

# list / delete
w("## ListObjectsV2 and DeleteObjects")
w("")
listn = sorted({int(r.get("extra", {}).get("keys", 0)) for r in results if r["op"] == "list"})
w("Keys are 16-byte objects under one prefix. *fill*: PUT of all keys at c=16. *page*: one ListObjectsV2 call with max-keys=1000 "
  "(median of the per-run medians, min–max of those). *scan*: the full listing. *DeleteObjects*: one 1000-key request (quiet), "
  "sequential; keys/s over the whole deletion. The fill is synced to disk before the scan (as between phases), so every "
  "server deletes written files.")
w("")
w("| server | keys | fill op/s | ms per 1000-key page | full scan ms | ms per 1000-key DeleteObjects | delete keys/s | list+delete errors |")
w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for s in order:
    if True:
        fills = [r for r in results if r["server"] == s and r["op"] == "listfill"]
        lists = [r for r in results if r["server"] == s and r["op"] == "list"]
        dels = [r for r in results if r["server"] == s and r["op"] == "delete"]
        for keys in sorted({int(r["extra"].get("written", r["extra"]["keys"])) for r in lists if r.get("extra")}):
            L = [r for r in lists if r.get("extra") and int(r["extra"].get("written", r["extra"]["keys"])) == keys]
            runs = [r["rep"] for r in L]
            F = [r for r in fills if r["rep"] in runs and r["ops"] >= keys * 0.9]
            D = [r for r in dels if r["rep"] in runs]
            page = [r["p50_ms"] for r in L if r["ops"] > 0]
            scan = [r["extra"]["scan_ms"] for r in L if r["ops"] > 0]
            db = [r["p50_ms"] for r in D if r["ops"] > 0]
            dk = [r["extra"]["keys_per_s"] for r in D if r["ops"] > 0]
            errs = sum(r["errors"] for r in L + D)
            budget = " (time budget hit)" if any(r.get("extra", {}).get("budget_hit") for r in D) else ""
            w(f"| {s} | {keys:,} | {cell([r['ops_per_s'] for r in F])} | {cell(page)} | {cell(scan)} | {cell(db)} | {cell(dk)}{budget} | {errs} |")
w("")

# start-up
w("## Start-up")
w("")
w("Spawn to the first successful signed ListBuckets on an empty folder, median (min–max) of the runs, ms. "
  "For `ruststorage --management`: spawn to the `ready` line, to the `start` response (with the port), and to the first successful request.")
w("")
w("| server | mode | ready ms | start answered ms | first request OK ms | failures |")
w("| --- | --- | ---: | ---: | ---: | ---: |")
for r in results:
    if not r["op"].startswith("startup"):
        continue
    e = r.get("extra", {})

    def rng(k):
        if k + "_ms" not in e or not e.get(k + "_ms"):
            return "–"
        return f"**{fmt(e[k + '_ms'])}** ({fmt(e[k + '_min_ms'])}–{fmt(e[k + '_max_ms'])})"

    w(f"| {r['server']} | {r['op'].split('-', 1)[1]} | {rng('ready')} | {rng('started')} | {rng('first_ok')} | {r['errors']} |")
w("")
if WEED in order:
    fp = meta.get("seaweedfs_first_put_s")
    w("SeaweedFS: `weed server` starts its filer 1 s and its S3 gateway 2 s after launch (fixed sleeps in weed/command/server.go), "
      "so its start-up is at least 2 s"
      + (f"; in the load phase its first PUT took {fp} s more, while the master grew the first volumes (the bench waits for a PUT before it measures)" if fp else "")
      + ".")
    w("")

# errors
w("## Errors, crashes and noise")
w("")
errs = [r for r in results if r.get("errors")]
if crashes:
    for c in crashes:
        w(f"- **{c['server']} ended ({c.get('how', '?')})**, {c['during']}; last log lines:")
        w("")
        w("```")
        w(c["log"])
        w("```")
if canary:
    w(f"- an idle canary engine process named `ruststorage` (not under load) was also ended from outside ({canary['how']}): "
      "something on this machine ends processes by that name, so server ends above that coincide with it are not engine crashes.")
if not errs and not crashes:
    w("- no request failed and no server died.")
for e in enginelogs:
    w(f"- engine log `{e['file']}`: {e['count']} warning/error lines; most frequent (digits as N): "
      + "; ".join(f"`{t[:200]}` x{n}" for t, n in e["top"]))
by = defaultdict(lambda: [0, 0, []])
for r in errs:
    k = (r["server"], r["op"], r["size"], r["conc"])
    by[k][0] += r["errors"]
    by[k][1] += r["ops"]
    for smp in r.get("error_samples") or []:
        if smp not in by[k][2] and len(by[k][2]) < 4:
            by[k][2].append(smp)
for (s, op, size, conc), (n, ops, smp) in sorted(by.items()):
    w(f"- {s}, {op} {size_name(size)} c={conc}: {n} failed requests in {ops} operations over all runs. Samples:")
    for x in smp:
        w(f"  - `{x[:600]}`")
w("")
oc = defaultdict(list)
for r in results:
    if "other_cores" in r and r.get("pid", True):
        oc[r["server"]].append(r["other_cores"])
if oc:
    w("Machine CPU not charged to the measured server or to s3load during the measured phases (other processes on this "
      "shared machine, kernel threads such as writeback and softirq; cores of 2, median / max over the phases): "
      + "; ".join(f"{s} {fmt(med(v), 2)} / {fmt(max(v), 2)}" for s, v in oc.items() if v)
      + ". The higher it is, the more the phase competed with foreign load; compare servers within one row, not across runs.")
w("")
w("Raw results: `latest.jsonl` (one JSON line per measured phase). Chart: `latest.svg`.")
if stderr_text.strip():
    w("")
    w("s3load stderr (tail):")
    w("")
    w("```")
    w(stderr_text.strip()[-2000:])
    w("```")
open(out_md, "w").write("\n".join(md) + "\n")

# ------------------------------------------------------------------ SVG
panels = [
    ("4 KiB objects: operations/s", [r for r in ROWS if r[2] == 4096]),
    ("1 MiB objects: MiB/s", [r for r in ROWS if r[2] == 1048576]),
    ("256 MiB, one object: MiB/s", [r for r in ROWS if r[1] in ("bigput", "bigget")]),
]
panels = [p for p in panels if p[1]]
W, PH, LM, TOP = 1100, 300, 70, 70
H = TOP + len(panels) * (PH + 80) + 20
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">smartstorage and other S3 servers: median throughput ({meta.get("mode", "")}, {meta.get("date", "")})</text>']
lx = LM
for s in order:
    svg.append(f'<rect x="{lx}" y="38" width="12" height="12" fill="{COLORS.get(s, "#999")}"/>')
    svg.append(f'<text x="{lx + 16}" y="49" font-size="12">{s}</text>')
    lx += 30 + 7.5 * len(s)
svg.append(f'<text x="{lx + 10}" y="49" font-size="11" fill="#555">whiskers: min–max of the runs</text>')
y0 = TOP
for title, rows in panels:
    top = y0 + 20
    bottom = top + PH - 40
    vmax = max([max(tput(s, r) or [0]) for r in rows for s in order] + [1e-9])
    # a round axis maximum
    mag = 10 ** (len(str(int(vmax))) - 1)
    amax = next(m * mag for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= vmax)
    svg.append(f'<text x="{LM}" y="{y0 + 8}" font-size="14" font-weight="bold">{title}</text>')
    for i in range(6):
        v = amax * i / 5
        y = bottom - (bottom - top) * i / 5
        svg.append(f'<line x1="{LM}" x2="{W - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        svg.append(f'<text x="{LM - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{fmt(v)}</text>')
    gw = (W - 20 - LM) / len(rows)
    bw = min(26, (gw - 14) / max(1, len(order)))
    for gi, row in enumerate(rows):
        gx = LM + gi * gw + (gw - bw * len(order)) / 2
        for si, s in enumerate(order):
            v = tput(s, row)
            if not v:
                continue
            m = med(v)
            x = gx + si * bw
            h = (bottom - top) * m / amax
            svg.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" fill="{COLORS.get(s, "#999")}"><title>{s} {row[0]}: {fmt(m)} {row[4]}</title></rect>')
            lo, hi = min(v), max(v)
            cx = x + (bw - 2) / 2
            ylo, yhi = bottom - (bottom - top) * lo / amax, bottom - (bottom - top) * hi / amax
            svg.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{ylo:.1f}" y2="{yhi:.1f}" stroke="#333" stroke-width="1"/>')
            svg.append(f'<text x="{cx:.1f}" y="{min(bottom - h, yhi) - 3:.1f}" font-size="8" text-anchor="start" transform="rotate(-90 {cx:.1f} {min(bottom - h, yhi) - 3:.1f})">{fmt(m)}</text>')
        label = re.sub(r" \(one object.*\)", "", row[0].replace(f" {size_name(row[2])}", ""))
        svg.append(f'<text x="{LM + gi * gw + gw / 2:.1f}" y="{bottom + 16:.1f}" font-size="11" text-anchor="middle">{label}</text>')
    svg.append(f'<line x1="{LM}" x2="{W - 20}" y1="{bottom}" y2="{bottom}" stroke="#333"/>')
    y0 += PH + 80
svg.append("</svg>")
open(out_svg, "w").write("\n".join(svg) + "\n")

# ------------------------------------------------------------------ terminal summary
print()
print(f"smartstorage benchmark, {meta.get('date', '')}, {meta.get('mode', '')}, {meta.get('nproc', '?')} cores, runtime {meta.get('runtime_s', '?')} s")
colw = 16
print("workload".ljust(30) + "unit   " + "".join(s[:colw - 1].rjust(colw) for s in order) + "".join(f"{a[:5]}/{b[:6]}".rjust(16) for a, b in RATIOS))
for row in ROWS:
    line = row[0].ljust(30) + row[4].ljust(7)
    line += "".join(fmt(med(tput(s, row))).rjust(colw) for s in order)
    line += "".join(ratio(med(tput(a, row)), med(tput(b, row))).rjust(16) for a, b in RATIOS)
    print(line)
lists = defaultdict(list)
dels = defaultdict(list)
for r in results:
    if r["op"] == "list" and r["ops"] > 0:
        lists[r["server"]].append(r["p50_ms"])
    if r["op"] == "delete" and r["ops"] > 0:
        dels[r["server"]].append(r["p50_ms"])
print("ListObjectsV2 ms/1000-key page".ljust(37) + "".join(fmt(med(lists.get(s))).rjust(colw) for s in order))
print("DeleteObjects ms/1000 keys".ljust(37) + "".join(fmt(med(dels.get(s))).rjust(colw) for s in order))
st = {r["server"]: r for r in results if r["op"] == "startup-plain"}
print("start-up to first request, ms".ljust(37) + "".join(fmt(st[s]["extra"]["first_ok_ms"] if s in st else None).rjust(colw) for s in order))
if CEIL in order and ceil_cols:
    for row in CEIL_ROWS:
        c = med(tput(CEIL, row))
        if c:
            print(f"{row[0]} / ceiling".ljust(37) + "".join(
                (f"{med(tput(s, row)) / c:.2f}" if med(tput(s, row)) is not None else "–").rjust(colw) for s in ceil_cols) + f"   ({', '.join(ceil_cols)})")
nerr = sum(r.get("errors", 0) for r in results)
print(f"failed requests: {nerr} (details in {out_md}); servers that ended early: {len(crashes)}"
      + "".join(f"\n  {c['server']}: {c.get('how', '?')}, {c['during']}" for c in crashes)
      + (f"\n  the idle canary named ruststorage was ended too ({canary['how']}): outside kill by name" if canary else ""))
