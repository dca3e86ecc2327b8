#!/usr/bin/env python3
"""Streams and windowed aggregates (issue 15): push throughput, event-to-visible latency, online lookups of
aggregates against plain features, and exports of aggregates against DuckDB, in one run on the same data.

Normally started by benchmarks/bench-streaming.sh (which installs packages and builds the binaries):
    python3 benchmarks/bench_streaming.py --strata BIN [--events N] [--labels N] [--entities N] [--quick]
    python3 benchmarks/bench_streaming.py --render benchmarks/results/X-streaming.json

One Strata node (`strata serve --port 0`, its own data directory) holds everything:
  1. push throughput: the same P events (4 fields) pushed into a fresh stream per run, through the Python
     SDK (`client.push(stream, DataFrame, batch_rows=10000)`, the DataFrame in memory) and through the CLI
     (`strata push --stream S FILE.csv --batch-rows 10000`), interleaved, median of --rounds;
  2. the E events loaded into stream `ev` (SDK, Arrow table; reported as information), the plain group
     `plain` (6 features, the same entities) with `strata ingest`;
  3. online lookups, 100 entities x the 6 aggregates of `agg` (count/sum/avg over 1h and 30d) against 100
     entities x the 6 features of `plain`, C client strata-bench, interleaved rounds, medians of p50/p99;
  4. export: L labels x the 6 aggregates with the SDK (`get_historical_features(df, "agg:*").to_df()`,
     labels as a pandas DataFrame in memory) against DuckDB window functions over the same events and
     labels held in memory tables; each in its own long-lived process, interleaved rounds; all values
     compared with DuckDB's and a sample of labels with a direct computation from the events;
  5. event-to-visible latency: a pusher process sends batches of 100 events at a steady rate (10k
     events/s: one `session.send` per batch over one push session, `client.push_session("ev")`, opened
     before the warm-up: the stream is looked up and the PushEvents call opened once, not per batch;
     `send` returns without waiting for the answer, at most 8 batches unanswered, every answer checked
     at the end; each batch carries one event of a probe entity) while a reader process polls
     `get_online_features` for the probe's count aggregate; per batch, the time from just before the
     send call to the return of the first lookup that sees its event.
Processes started here are stopped on exit (also on Ctrl-C or failure). Method: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "Tests", "Differential"))  # strata_node.py
SDK_SRC = os.path.join(ROOT, "clients", "python", "src")
sys.path.insert(0, SDK_SRC)  # the SDK of this checkout
from bench_common import STARTED, cpu_seconds, forget, git, log, machine, run, stop_all, wait_quiet  # noqa: E402

DAY = 86400
FIELDS = [("amount", "FLOAT"), ("qty", "INT"), ("category", "STRING"), ("score", "FLOAT")]
# The 6 aggregates of group `agg` (name, function, window seconds) and the plain group's 6 features.
AGGS = [("n_1h", "count", 3600), ("sum_1h", "sum", 3600), ("avg_1h", "avg", 3600),
        ("n_30d", "count", 30 * DAY), ("sum_30d", "sum", 30 * DAY), ("avg_30d", "avg", 30 * DAY)]
PLAIN = [("n_1h", "INT"), ("sum_1h", "FLOAT"), ("avg_1h", "FLOAT"), ("n_30d", "INT"), ("sum_30d", "FLOAT"),
         ("avg_30d", "FLOAT")]
GOALS = dict(push_events_per_s=500_000, visible_p99_ms=100, agg_vs_plain=1.5, export_vs_duckdb=1.0)
PUSH_BATCH_ROWS = 10_000  # the node's default --max-rows-per-batch: the largest batch it accepts
PROBE_GROUP = 100  # latency: batches whose probe event goes to the same probe entity
CBENCH = os.path.join(ROOT, "clients", "c", "build", "strata-bench")


class Worker:
    """A Python worker process of this script (`--worker KIND ...`), driven by one command per line on stdin;
    it answers each with one JSON line on stdout."""

    def __init__(self, kind: str, *args: str):
        self.kind = kind
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", kind, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        STARTED.append(self)
        self.ready = self.read()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.kind} ended (exit {self.proc.wait()})")
        return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.read()

    def send(self, cmd: str):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        forget(self)


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(int(len(xs) * p), len(xs) - 1)] if xs else None  # strata-bench's index


# ------------------------------------------------------------------------------------------------
# Data (seeded)
# ------------------------------------------------------------------------------------------------
def skewed_entities(rng, n_ent: int, size: int):
    """Entity indices drawn with Zipf-like weights (rank^-0.8); ranks assigned to ids by a permutation, so
    the busiest entities are spread over u0..uN-1 (the ids the C client draws uniformly)."""
    import numpy as np
    w = 1.0 / np.arange(1, n_ent + 1, dtype=np.float64) ** 0.8
    perm = rng.permutation(n_ent)
    return perm[rng.choice(n_ent, size=size, p=w / w.sum())]


def generate(work: str, a, now: int) -> dict:
    import numpy as np
    import polars as pl
    rng = np.random.default_rng(a.seed)
    n, n_ent = a.events, a.entities
    start = now - 35 * DAY
    ent = skewed_entities(rng, n_ent, n)
    t = rng.integers(start, now, size=n, dtype=np.int64)
    order = np.argsort(t, kind="stable")  # a stream's backlog arrives in event-time order
    ev = pl.DataFrame({
        "entity_id": "u" + pl.Series(ent[order]).cast(pl.Utf8),
        "t": t[order],
        "amount": np.round(rng.gamma(2.0, 25.0, size=n), 2),
        "qty": rng.integers(1, 10, size=n, dtype=np.int64),
        "category": "c" + pl.Series(rng.integers(0, 100, size=n)).cast(pl.Utf8),
        "score": np.round(rng.random(n), 4),
    })
    ev.write_parquet(os.path.join(work, "events.parquet"))
    lab = pl.DataFrame({"lid": np.arange(a.labels, dtype=np.int64),
                        "entity_id": "u" + pl.Series(skewed_entities(rng, n_ent, a.labels)).cast(pl.Utf8),
                        "t": rng.integers(now - 30 * DAY, now, size=a.labels, dtype=np.int64)})
    lab.write_parquet(os.path.join(work, "labels.parquet"))
    # The push-throughput events: P of the same shape (a seeded sample, event-time order), CSV for the CLI.
    p = min(a.push_events, n)
    idx = np.sort(rng.choice(n, size=p, replace=False))
    push = ev[idx].rename({"t": "event_timestamp"})
    push_csv = os.path.join(work, "push.csv")
    push.write_csv(push_csv)
    push.write_parquet(os.path.join(work, "push.parquet"))
    # The plain group: one row per entity, 6 features typed like the aggregates.
    plain = pl.DataFrame({"entity_id": "u" + pl.Series(np.arange(n_ent)).cast(pl.Utf8),
                          "event_timestamp": np.full(n_ent, now - 3600, dtype=np.int64),
                          "n_1h": rng.integers(0, 20, size=n_ent), "sum_1h": np.round(rng.gamma(2, 50, n_ent), 2),
                          "avg_1h": np.round(rng.gamma(2, 25, n_ent), 4),
                          "n_30d": rng.integers(0, 2000, size=n_ent), "sum_30d": np.round(rng.gamma(2, 5000, n_ent), 2),
                          "avg_30d": np.round(rng.gamma(2, 25, n_ent), 4)})
    plain_csv = os.path.join(work, "plain.csv")
    plain.write_csv(plain_csv)
    per = ev.group_by("entity_id").len()
    return {"events": n, "labels": a.labels, "push_events": p, "push_csv": push_csv, "plain_csv": plain_csv,
            "entities_with_events": per.height, "max_events_per_entity": int(per["len"].max()),
            "median_events_per_entity": float(per["len"].median()), "now": now, "start": start,
            "push_csv_mb": os.path.getsize(push_csv) / 1e6}


def definitions(path: str, push_streams: list[str]):
    def stream(name):
        s = f"  - name: {name}\n    entity_type: USER\n    fields:\n"
        return s + "".join(f"      - {{name: {n}, dtype: {d}}}\n" for n, d in FIELDS)

    def aggs(name, over):
        s = f"  - name: {name}\n    stream: {over}\n    entity_type: USER\n    features:\n"
        return s + "".join(f"      - {{name: {n}, field: amount, function: {fn}, window: {w // 3600}h}}\n"
                           for n, fn, w in AGGS)

    with open(path, "w") as f:
        f.write("streams:\n" + stream("ev") + "".join(stream(s) for s in push_streams))
        f.write("groups:\n" + aggs("agg", "ev"))
        # The latency probe: a count and the latest marker of the probe entity.
        f.write("  - name: probe\n    stream: ev\n    entity_type: USER\n    features:\n"
                "      - {name: n_1h, field: amount, function: count, window: 1h}\n"
                "      - {name: last_marker, field: category, function: last, window: 1h}\n")
        for s in push_streams:  # each throughput stream has the same aggregates, like a real one
            f.write(aggs(s + "_agg", s))
        f.write("  - name: plain\n    entity_type: USER\n    features:\n")
        f.write("".join(f"      - {{name: {n}, dtype: {d}}}\n" for n, d in PLAIN))


# ------------------------------------------------------------------------------------------------
# 1. Push throughput
# ------------------------------------------------------------------------------------------------
def push_throughput(binary, node, data, work, rounds) -> dict:
    import pandas as pd
    import strata
    df = pd.read_parquet(os.path.join(work, "push.parquet"))
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], unit="s", utc=True)
    client = strata.Client(node.address, timeout=None)
    client.status()
    out = {"sdk": [], "cli": []}
    for k in range(rounds):
        wait_quiet(node)
        t = time.perf_counter()
        r = client.push(f"push_sdk_{k}", df, batch_rows=PUSH_BATCH_ROWS, progress=False)
        s = time.perf_counter() - t
        out["sdk"].append({"s": s, "events": r.events_written, "batches": r.batches, "events_per_s": r.events_written / s})
        log(f"push round {k + 1}, SDK: {r.events_written:,} events in {s:.2f} s = {r.events_written / s:,.0f} events/s")
        wait_quiet(node)
        t = time.perf_counter()
        p = run([binary, "push", "--stream", f"push_cli_{k}", data["push_csv"], "--batch-rows", str(PUSH_BATCH_ROWS),
                 "--server", node.address])
        s = time.perf_counter() - t
        summary = (p.stdout + p.stderr).strip().splitlines()[-1]
        ev = data["push_events"]
        out["cli"].append({"s": s, "events": ev, "events_per_s": ev / s, "summary": summary})
        log(f"push round {k + 1}, CLI: {ev:,} events in {s:.2f} s = {ev / s:,.0f} events/s ({summary})")
    client.close()
    for kind in ("sdk", "cli"):
        out[kind + "_median"] = statistics.median(x["events_per_s"] for x in out[kind])
    if any(x["events"] != data["push_events"] for x in out["sdk"]):
        out["error"] = "the SDK's push wrote a different number of events than sent"
    return out


def load_events(node, work) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import strata
    t = pq.read_table(os.path.join(work, "events.parquet"))
    t = t.set_column(t.schema.get_field_index("t"), "event_timestamp",
                     t["t"].cast(pa.timestamp("s", tz="UTC")))
    client = strata.Client(node.address, timeout=None)
    t0 = time.perf_counter()
    r = client.push("ev", t, batch_rows=PUSH_BATCH_ROWS, progress=False)
    s = time.perf_counter() - t0
    client.close()
    log(f"loaded {r.events_written:,} events into ev in {s:.1f} s = {r.events_written / s:,.0f} events/s (SDK, Arrow table)")
    return {"events": r.events_written, "s": s, "events_per_s": r.events_written / s, "late_events": r.late_events}


# ------------------------------------------------------------------------------------------------
# 3. Online lookups: aggregates vs plain features (C client)
# ------------------------------------------------------------------------------------------------
def row_cache(node) -> dict:
    """The node's aggregate row cache counters (GetStatus): rows held, hits and misses since its start."""
    import strata

    with strata.Client(node.address, timeout=30) as c:
        s = c.status()
    return {"rows": s.aggregate_row_cache_rows, "hits": s.aggregate_row_cache_hits, "misses": s.aggregate_row_cache_misses}


def lookup_run(node, group: str, n_ent: int, requests: int, warmup: int, seed: int) -> dict:
    """One strata-bench run: `requests` lookups of 100 random entities x `group:*`, one at a time."""
    return json.loads(run([CBENCH, "--server", node.address, "--features", f"{group}:*", "--entities", str(n_ent),
                           "--batch", "100", "--requests", str(requests), "--warmup", str(warmup), "--seed", str(seed),
                           "--json"]).stdout.strip().splitlines()[-1])


def summarize(res: dict):
    """Medians of the runs' p50/p99 per kind, errors, and the aggregates / plain ratios, into `res`."""
    res["median"] = {g: {q: statistics.median(x[q] for x in res[g]) for q in ("p50_us", "p99_us")} for g in ("agg", "plain")}
    res["errors"] = sum(x.get("errors", 0) for g in ("agg", "plain") for x in res[g])
    m = res["median"]
    res["ratio"] = {q: m["agg"][q] / m["plain"][q] for q in ("p50_us", "p99_us")}


def lookups(node, n_ent, cfg) -> dict:
    """First a pass of 5 x entities/100 requests of each kind (ids drawn at random: it looks up about 99% of
    the entities at least once; its figures are those of a node whose aggregate row cache starts empty),
    then the measured rounds. Each run draws its own ids (its own seed)."""
    res = {"agg": [], "plain": []}
    first = {}
    for gi, g in enumerate(("plain", "agg")):
        first[g] = lookup_run(node, g, n_ent, max(100, 5 * n_ent // 100), 0, 900 + gi)
    res["first_pass"] = first
    res["row_cache"] = {"after first pass": row_cache(node)}
    log(f"first pass ({first['agg']['requests']} requests): plain p50/p99 "
        f"{first['plain']['p50_us']}/{first['plain']['p99_us']} µs, aggregates {first['agg']['p50_us']}/{first['agg']['p99_us']} µs")
    for k in range(cfg["rounds"]):
        wait_quiet(node)
        for gi, g in enumerate(("plain", "agg")):
            res[g].append(lookup_run(node, g, n_ent, cfg["lookup_requests"], cfg["lookup_warmup"], 1000 + 10 * k + gi))
        log(f"lookup round {k + 1}: 100 entities, plain p50/p99 {res['plain'][-1]['p50_us']}/{res['plain'][-1]['p99_us']} µs, "
            f"aggregates {res['agg'][-1]['p50_us']}/{res['agg'][-1]['p99_us']} µs")
    res["row_cache"]["after the rounds"] = row_cache(node)
    before, after = res["row_cache"]["after first pass"], res["row_cache"]["after the rounds"]
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    res["row_cache"]["rounds"] = {"hits": hits, "misses": misses, "hit_ratio": hits / max(1, hits + misses)}
    log(f"aggregate row cache during the rounds: {hits} hits, {misses} misses")
    summarize(res)
    res["first_pass_ratio"] = {q: first["agg"][q] / first["plain"][q] for q in ("p50_us", "p99_us")}
    return res


def worker_spread_pusher(address: str, rate: float, batch: int, entities: int, seed: int):
    """Pushes `batch`-event batches at `rate` events/s to stream ev, over the entities u0..u<entities - 1>
    drawn uniformly, event time now (after every label of the export), until told to stop."""
    import select
    import numpy as np
    import pandas as pd
    import strata
    client = strata.Client(address, timeout=None)
    rng = np.random.default_rng(seed)
    session = client.push_session("ev")

    def frame():
        return pd.DataFrame({"entity_id": [f"u{i}" for i in rng.integers(0, entities, size=batch)],
                             "event_timestamp": pd.to_datetime(np.full(batch, int(time.time() * 1e6)), unit="us", utc=True),
                             "amount": np.round(rng.gamma(2.0, 25.0, size=batch), 2),
                             "qty": rng.integers(1, 10, size=batch),
                             "category": [f"c{i}" for i in rng.integers(0, 100, size=batch)],
                             "score": np.round(rng.random(batch), 4)})

    session.push(frame())  # imports, the channel, the session's call
    answer({"ready": True})
    sys.stdin.readline()  # go
    pending, interval_ns = [], int(batch / rate * 1e9)
    t0 = time.monotonic_ns()
    k = 0
    while not select.select([sys.stdin], [], [], 0)[0]:
        df = frame()
        wait = t0 + k * interval_ns - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        pending.append(session.send(df))
        k += 1
    sys.stdin.readline()  # stop
    session.flush()
    s = (time.monotonic_ns() - t0) / 1e9
    session.close()
    written = sum(p.result().events_written for p in pending)
    answer({"events": k * batch, "events_written": written, "events_per_s": k * batch / s})
    sys.stdin.readline()


def lookups_while_pushing(node, n_ent, cfg, seed) -> dict:
    """The lookups of part 3 (row cache on) while events of the same entities stream in: a pusher sends
    10k events/s in 100-event batches over all the entities; after 5 s of it, plain and aggregate runs
    alternate (2 each). A pushed event makes its entity's cached row stale, so these lookups compute most
    rows, from the stream's history image and the events stored since its scan (held beside it)."""
    wait_quiet(node)
    pusher = Worker("spread_pusher", node.address, str(cfg["rate"]), "100", str(n_ent), str(seed))
    res = {"agg": [], "plain": [], "rate": cfg["rate"]}
    try:
        pusher.send("go")
        time.sleep(5)
        for k in range(2):
            for gi, g in enumerate(("plain", "agg")):
                res[g].append(lookup_run(node, g, n_ent, cfg["lookup_requests"], cfg["lookup_warmup"], 2000 + 10 * k + gi))
            log(f"lookups while pushing, round {k + 1}: plain p50/p99 {res['plain'][-1]['p50_us']}/{res['plain'][-1]['p99_us']} µs, "
                f"aggregates {res['agg'][-1]['p50_us']}/{res['agg'][-1]['p99_us']} µs")
        p = pusher.ask("stop")
    finally:
        pusher.stop()
    if p["events_written"] != p["events"]:
        raise RuntimeError(f"the pusher sent {p['events']} events; the node acknowledged {p['events_written']} as written")
    res["pushed_events_per_s"] = p["events_per_s"]
    summarize(res)
    log(f"lookups while pushing {p['events_per_s']:,.0f} events/s: aggregates / plain p50 {res['ratio']['p50_us']:.2f}x, "
        f"p99 {res['ratio']['p99_us']:.2f}x")
    return res


# ------------------------------------------------------------------------------------------------
# 4. Export: SDK vs DuckDB
# ------------------------------------------------------------------------------------------------
def duckdb_query() -> str:
    """The 6 aggregates at each label's time: window functions over the union of events and labels,
    partitioned by entity, ordered by time (integer seconds). A window of W seconds covers
    T - W < t <= T: RANGE BETWEEN W-1 PRECEDING AND CURRENT ROW (CURRENT ROW includes every row at T)."""
    fn = {"count": "COUNT(amount) OVER w{w}", "sum": "COALESCE(SUM(amount) OVER w{w}, 0)", "avg": "AVG(amount) OVER w{w}"}
    cols = ", ".join(f"{fn[f].format(w=w)} AS {n}" for n, f, w in AGGS)
    wins = ", ".join(f"w{w} AS (PARTITION BY entity_id ORDER BY t RANGE BETWEEN {w - 1} PRECEDING AND CURRENT ROW)"
                     for w in sorted({w for _, _, w in AGGS}))
    return f"""
        SELECT lid, entity_id, t, {', '.join(n for n, _, _ in AGGS)} FROM (
          SELECT lid, entity_id, t, {cols}
          FROM (SELECT entity_id, t, amount, NULL::BIGINT AS lid FROM ev
                UNION ALL SELECT entity_id, t, NULL::DOUBLE, lid FROM labels)
          WINDOW {wins})
        WHERE lid IS NOT NULL"""


def worker_duckdb(work: str):
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE TABLE ev AS SELECT entity_id, t, amount, qty, category, score FROM read_parquet('{work}/events.parquet')")
    con.execute(f"CREATE TABLE labels AS SELECT lid, entity_id, t FROM read_parquet('{work}/labels.parquet')")
    q = duckdb_query()
    answer({"ready": True, "version": duckdb.__version__, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]})
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "go":
            con.execute("DROP TABLE IF EXISTS r")
            t = time.perf_counter()
            c = time.process_time()
            con.execute(f"CREATE TABLE r AS {q}")
            s = time.perf_counter() - t
            answer({"s": s, "cpu_s": time.process_time() - c, "rows": con.execute("SELECT count(*) FROM r").fetchone()[0]})
        elif cmd[0] == "save":
            con.execute(f"COPY (SELECT * FROM r ORDER BY lid) TO '{cmd[1]}' (FORMAT parquet)")
            answer({"saved": cmd[1]})
        elif cmd[0] == "quit":
            break


def worker_sdk_export(work: str, address: str):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import strata
    lab = pq.read_table(f"{work}/labels.parquet")
    labels = pa.table({"entity_id": lab["entity_id"], "label_timestamp": lab["t"].cast(pa.timestamp("s", tz="UTC")),
                       "lid": lab["lid"]}).to_pandas()
    client = strata.Client(address, timeout=None)
    client.status(timeout=30)
    client.get_historical_features(labels.iloc[:100], "agg:*", progress=False).to_df()  # warm-up
    answer({"ready": True, "grpcio": __import__("grpc").__version__, "pandas": pd.__version__})
    last = None
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "go":
            last = None
            t = time.perf_counter()
            c = time.process_time()
            last = client.get_historical_features(labels, "agg:*", progress=False).to_df()
            s = time.perf_counter() - t
            answer({"s": s, "cpu_s": time.process_time() - c, "rows": len(last)})
        elif cmd[0] == "save":
            out = last[["lid", "entity_id"] + [f"agg:{n}" for n, _, _ in AGGS]].rename(
                columns={f"agg:{n}": n for n, _, _ in AGGS})
            pa.Table.from_pandas(out, preserve_index=False).to_pandas()  # types check
            out.to_parquet(cmd[1], index=False)
            answer({"saved": cmd[1]})
        elif cmd[0] == "quit":
            break


def images_line(binary, node) -> str:
    out = run([binary, "status", "--server", node.address]).stdout
    return next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("history images:")), "not reported")


def export(binary, node, work, data, cfg) -> dict:
    wait_quiet(node)
    sdk = Worker("sdk-export", work, node.address)
    duck = Worker("duckdb", work)
    res = {"sdk": [], "duckdb": [], "duckdb_version": duck.ready["version"], "duckdb_threads": duck.ready["threads"],
           "sdk_versions": sdk.ready, "images_before": images_line(binary, node)}
    try:
        for k in range(cfg["rounds"]):
            wait_quiet(node)
            c0 = cpu_seconds(node.proc.pid)
            r = sdk.ask("go")
            r["server_cpu_s"] = cpu_seconds(node.proc.pid) - c0
            if r["rows"] != data["labels"]:
                raise RuntimeError(f"SDK export: {r['rows']} rows for {data['labels']} labels")
            res["sdk"].append(r)
            # The node idle for DuckDB's round too (its background work after an export would slow
            # DuckDB down and flatter Strata); its CPU during the round is recorded to show it.
            wait_quiet(node)
            c0 = cpu_seconds(node.proc.pid)
            d = duck.ask("go")
            d["node_cpu_s"] = cpu_seconds(node.proc.pid) - c0
            if d["rows"] != data["labels"]:
                raise RuntimeError(f"DuckDB: {d['rows']} rows for {data['labels']} labels")
            res["duckdb"].append(d)
            log(f"export round {k + 1}: SDK to_df() {r['s']:.2f} s (node CPU {r['server_cpu_s']:.1f} s, Python {r['cpu_s']:.1f} s), "
                f"DuckDB {d['s']:.2f} s")
        res["images_after"] = images_line(binary, node)
        sp, dp = os.path.join(work, "sdk.parquet"), os.path.join(work, "duckdb.parquet")
        sdk.ask(f"save {sp}")
        duck.ask(f"save {dp}")
    finally:
        sdk.stop()
        duck.stop()
    res["median_s"] = {k: statistics.median(x["s"] for x in res[k]) for k in ("sdk", "duckdb")}
    res["ratio"] = res["median_s"]["sdk"] / res["median_s"]["duckdb"]
    res["verify"] = verify(work, sp, dp, cfg["verify_sample"])
    log("verify: " + res["verify"]["summary"])
    return res


def verify(work: str, sdk_pq: str, duck_pq: str, sample: int) -> dict:
    """All labels: Strata against DuckDB; a seeded sample of labels: both against the aggregates computed
    directly from the events (a join on the entity and a filter T - W < t <= T)."""
    import numpy as np
    import polars as pl
    names = [n for n, _, _ in AGGS]
    s = pl.read_parquet(sdk_pq).sort("lid")
    d = pl.read_parquet(duck_pq).sort("lid")
    problems = []

    def compare(a: pl.DataFrame, b: pl.DataFrame, what: str) -> int:
        j = a.select(["lid"] + names).join(b.select(["lid"] + names), on="lid", how="full", suffix="_b", coalesce=True)
        bad = 0
        for n in names:
            x = j[n].cast(pl.Float64).fill_nan(None)
            y = j[n + "_b"].cast(pl.Float64).fill_nan(None)
            both_missing = x.is_null() & y.is_null()
            diff = (x - y).abs()
            tol = pl.Series(np.maximum(np.abs(x.fill_null(0).to_numpy()), 1.0) * 1e-9)
            ok = both_missing | (x.is_not_null() & y.is_not_null() & (diff <= tol)).fill_null(False)
            nbad = int((~ok).sum())
            if nbad:
                bad += nbad
                i = int(np.argmax(~ok.to_numpy()))
                problems.append(f"{what}: {n}: {nbad} labels differ, e.g. lid {j['lid'][i]}: {x[i]} vs {y[i]}")
        return bad

    if s.height != d.height:
        problems.append(f"rows: Strata {s.height}, DuckDB {d.height}")
    compare(s, d, "Strata vs DuckDB")
    # Direct computation for a sample.
    rng = np.random.default_rng(7)
    lab = pl.read_parquet(f"{work}/labels.parquet")
    pick = lab[np.sort(rng.choice(lab.height, size=min(sample, lab.height), replace=False))]
    ev = pl.read_parquet(f"{work}/events.parquet", columns=["entity_id", "t", "amount"])
    j = pick.join(ev.rename({"t": "et"}), on="entity_id", how="left")
    aggs = []
    for n, f, w in AGGS:
        inw = (pl.col("et") > pl.col("t") - w) & (pl.col("et") <= pl.col("t"))
        v = pl.when(inw).then(pl.col("amount"))
        aggs.append({"count": v.count(), "sum": v.sum(), "avg": v.mean()}[f].alias(n))
    ref = j.group_by("lid").agg(aggs)
    bad_ref = compare(s.filter(pl.col("lid").is_in(pick["lid"].implode())), ref, "Strata vs direct")
    bad_ref += compare(d.filter(pl.col("lid").is_in(pick["lid"].implode())), ref, "DuckDB vs direct")
    ok = not problems
    summary = (f"Strata and DuckDB agree on all {s.height:,} labels x {len(names)} aggregates; both agree with a direct "
               f"computation from the events on a sample of {pick.height:,} labels" if ok else
               "VALUES DIFFER: " + "; ".join(problems[:6]))
    return {"ok": ok, "labels_compared": s.height, "sample": pick.height, "problems": problems[:20], "summary": summary,
            "relative_tolerance": 1e-9}


# ------------------------------------------------------------------------------------------------
# 5. Event-to-visible latency
# ------------------------------------------------------------------------------------------------
def worker_pusher(address: str, rate: float, batch: int, seconds: float, probe: str, seed: int):
    import numpy as np
    import pandas as pd
    import strata
    client = strata.Client(address, timeout=None)
    rng = np.random.default_rng(seed)
    names = np.array([f"live{i}" for i in range(1000)], dtype=object)

    def frame(k: int):
        now = time.time()
        ids = names[rng.integers(0, len(names), size=batch - 1)].tolist() + [f"{probe}-{k // PROBE_GROUP}"]
        cat = [f"c{i}" for i in rng.integers(0, 100, size=batch - 1)] + [f"m{k}"]
        return pd.DataFrame({"entity_id": ids,
                             "event_timestamp": pd.to_datetime(np.full(batch, int(now * 1e6)), unit="us", utc=True),
                             "amount": np.round(rng.gamma(2.0, 25.0, size=batch), 2),
                             "qty": rng.integers(1, 10, size=batch), "category": cat,
                             "score": np.round(rng.random(batch), 4)})

    # Every batch over one push session: one stream lookup and one PushEvents call for the whole run. Opened
    # before the warm-up, so that the warm-up also warms the session's call.
    session = client.push_session("ev")
    warm = frame(0)
    warm["entity_id"] = "warmup"
    for _ in range(3):  # imports, the channel, the session's call, the SDK's first-call paths
        session.push(warm)
    answer({"ready": True})
    sys.stdin.readline()  # go
    n = int(seconds * rate / batch)
    interval_ns = int(batch / rate * 1e9)
    # A producer keeps batches in flight: `session.send` returns once the batch is handed to the call (it
    # waits only while 8 batches are unanswered), so the schedule does not wait for each answer. The
    # answers are checked at the end (`flush`): every batch must have been acknowledged.
    sends, pending = [], []
    t0 = time.monotonic_ns()
    deadline = t0 + int(2 * seconds * 1e9)  # a node that cannot keep up: stop at twice the planned time
    for k in range(n):
        if time.monotonic_ns() > deadline:
            break
        df = frame(k)
        due = t0 + k * interval_ns
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        s = time.monotonic_ns()
        pending.append(session.send(df))
        sends.append(s)
    last_send = time.monotonic_ns()
    session.flush()
    flushed = time.monotonic_ns()
    session.close()  # an open call would keep the node from stopping
    written = sum(p.result().events_written for p in pending)
    elapsed = (last_send - t0) / 1e9
    answer({"sends": sends, "batches": len(sends), "planned_batches": n, "events": len(sends) * batch,
            "events_written": written, "elapsed_s": elapsed, "events_per_s": len(sends) * batch / elapsed,
            "flush_ms": (flushed - last_send) / 1e6})
    sys.stdin.readline()


def worker_reader(address: str, probe: str, poll_ms: float):
    """Batch k's probe event goes to entity `<probe>-<k // PROBE_GROUP>` (so that no probe entity holds more
    than PROBE_GROUP events and the lookup stays as cheap at the end as at the start). `seen` = batches
    visible so far; each poll reads the probe entity of batch `seen` and the next one."""
    import strata
    client = strata.Client(address, timeout=None)
    feats = ["probe:n_1h", "probe:last_marker"]
    for _ in range(20):
        v = client.get_online_features(feats, [f"{probe}-0", f"{probe}-1"]).values
    answer({"ready": True, "base": v["probe:n_1h"][0] + v["probe:n_1h"][1]})
    sys.stdin.readline()  # go
    import select
    changes, polls, durations = [], 0, []
    seen = 0
    while True:
        g = seen // PROBE_GROUP
        t = time.monotonic_ns()
        v = client.get_online_features(feats, [f"{probe}-{g}", f"{probe}-{g + 1}"]).values
        r = time.monotonic_ns()
        polls += 1
        durations.append(r - t)
        c0, c1 = v["probe:n_1h"]
        n = g * PROBE_GROUP + c0 + (c1 if c0 >= PROBE_GROUP else 0)
        if n != seen:
            marker = v["probe:last_marker"][1 if c0 >= PROBE_GROUP and c1 else 0]
            changes.append([r, n, marker])
            seen = n
        if select.select([sys.stdin], [], [], poll_ms / 1000)[0]:
            sys.stdin.readline()
            break
    answer({"changes": changes, "polls": polls, "poll_p50_us": pct(durations, 0.5) / 1e3,
            "poll_p99_us": pct(durations, 0.99) / 1e3})
    sys.stdin.readline()


def latency(node, cfg, seed) -> dict:
    wait_quiet(node)
    probe = f"probe-{int(time.time())}"
    reader = Worker("reader", node.address, probe, str(cfg["poll_ms"]))
    pusher = Worker("pusher", node.address, str(cfg["rate"]), str(cfg["latency_batch"]), str(cfg["latency_seconds"]),
                    probe, str(seed))
    try:
        base = reader.ready["base"] or 0
        if base:
            raise RuntimeError(f"the probe entities {probe}-0/1 already hold {base} events")
        reader.send("go")
        time.sleep(0.2)
        p = pusher.ask("go")
        time.sleep(1.0)
        r = reader.ask("stop")
    finally:
        pusher.stop()
        reader.stop()
    changes = r["changes"]
    if p["events_written"] != p["events"]:
        raise RuntimeError(f"the pusher sent {p['events']} events; the node acknowledged {p['events_written']} as written")
    vis, unseen, marker_ok = [], 0, 0
    dump_path, dump = os.environ.get("STRATA_BENCH_DUMP"), []
    ci = 0
    warm = cfg["latency_warmup_batches"]
    for k, s in enumerate(p["sends"]):
        while ci < len(changes) and changes[ci][1] - base < k + 1:
            ci += 1
        if k < warm:
            continue
        if ci == len(changes):
            unseen += 1
            continue
        vis.append((changes[ci][0] - s) / 1e6)
        if dump_path:
            dump.append([(s - p["sends"][0]) / 1e9, vis[-1]])
        marker_ok += changes[ci][2] == f"m{changes[ci][1] - base - 1}"
    if dump_path:
        with open(dump_path, "w") as f:
            json.dump(dump, f)
    res = {"target_events_per_s": cfg["rate"], "batch": cfg["latency_batch"], "pusher": "push_session.send",
           "achieved_events_per_s": p["events_per_s"],
           "batches": p["batches"], "samples": len(vis), "warmup_batches": warm, "unseen": unseen,
           "marker_consistent": marker_ok, "polls": r["polls"], "poll_p50_us": r["poll_p50_us"], "poll_p99_us": r["poll_p99_us"],
           "poll_interval_ms": cfg["poll_ms"],
           "visible_ms": {"p50": pct(vis, 0.5), "p90": pct(vis, 0.9), "p99": pct(vis, 0.99), "max": max(vis) if vis else None},
           "flush_ms": p["flush_ms"]}
    log(f"latency: {res['samples']} samples at {res['achieved_events_per_s']:,.0f} events/s; visible p50 "
        f"{res['visible_ms']['p50']:.1f} ms, p99 {res['visible_ms']['p99']:.1f} ms; the last answers "
        f"{res['flush_ms']:.1f} ms after the last send; {unseen} never seen")
    return res


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def met(ok) -> str:
    return "**met**" if ok else "**missed**"


def goals(r: dict) -> list[list[str]]:
    G = r["goals"]
    rows = []
    pu = r.get("push")
    if pu and "sdk_median" in pu:
        for k, label in (("sdk", "Python SDK `client.push`"), ("cli", "CLI `strata push` (CSV)")):
            rows.append([f">= {G['push_events_per_s'] / 1000:,.0f}k events/s into one node, acknowledged: {label}",
                         f"{pu[k + '_median']:,.0f} events/s", met(pu[k + "_median"] >= G["push_events_per_s"])])
    la = r.get("latency")
    if la and "visible_ms" in la:
        rate_ok = la["achieved_events_per_s"] >= 0.95 * la["target_events_per_s"]
        ok = la["visible_ms"]["p99"] is not None and la["visible_ms"]["p99"] <= G["visible_p99_ms"] and rate_ok
        rows.append([f"event-to-visible p99 <= {G['visible_p99_ms']} ms at a steady {la['target_events_per_s'] / 1000:g}k events/s",
                     f"p99 {la['visible_ms']['p99']:.1f} ms at {la['achieved_events_per_s']:,.0f} events/s"
                     + ("" if rate_ok else " (target rate not reached)"), met(ok)])
    lo = r.get("lookups")
    if lo and "ratio" in lo:
        rows.append([f"100 entities x 6 aggregates within {G['agg_vs_plain']}x of 6 plain features (p50 and p99), "
                     "after a first pass over the entities (the aggregate row cache holds their rows)",
                     f"p50 {lo['ratio']['p50_us']:.2f}x, p99 {lo['ratio']['p99_us']:.2f}x",
                     met(lo["ratio"]["p50_us"] <= G["agg_vs_plain"] and lo["ratio"]["p99_us"] <= G["agg_vs_plain"])])
    if lo and "first_pass_ratio" in lo:
        fr = lo["first_pass_ratio"]
        rows.append(["the same during the first pass (the cache starts empty and fills)",
                     f"p50 {fr['p50_us']:.2f}x, p99 {fr['p99_us']:.2f}x",
                     met(fr["p50_us"] <= G["agg_vs_plain"] and fr["p99_us"] <= G["agg_vs_plain"])])
    lu = r.get("lookups_uncached")
    if lu and "ratio" in lu:
        rows.append([f"the same with the aggregate row cache off (`--aggregate-row-cache 0`: every lookup computes its rows)",
                     f"p50 {lu['ratio']['p50_us']:.2f}x, p99 {lu['ratio']['p99_us']:.2f}x",
                     met(lu["ratio"]["p50_us"] <= G["agg_vs_plain"] and lu["ratio"]["p99_us"] <= G["agg_vs_plain"])])
    lp = r.get("lookups_pushing")
    if lp and "ratio" in lp:
        rows.append([f"the same (cache on) while {lp['pushed_events_per_s'] / 1000:,.1f}k events/s of the same entities are pushed",
                     f"p50 {lp['ratio']['p50_us']:.2f}x, p99 {lp['ratio']['p99_us']:.2f}x",
                     met(lp["ratio"]["p50_us"] <= G["agg_vs_plain"] and lp["ratio"]["p99_us"] <= G["agg_vs_plain"])])
    ex = r.get("export")
    if ex and "ratio" in ex:
        rows.append(["export of labels x 6 aggregates faster than DuckDB in memory, end to end (values verified)",
                     f"{ex['ratio']:.2f}x DuckDB's time" + ("" if ex["verify"]["ok"] else ", VALUES DIFFER"),
                     met(ex["ratio"] < G["export_vs_duckdb"] and ex["verify"]["ok"])])
    return rows


def runs(xs: list, key: str, digits: int = 2) -> str:
    return ", ".join(f"{x[key]:.{digits}f}" for x in xs)


def render(r: dict) -> str:
    started = dt.datetime.fromisoformat(r["started"])
    m, d, cfg = r["machine"], r["data"], r["config"]
    L = [f"## Strata streaming benchmark: {started:%Y-%m-%d %H:%M} UTC, commit {r['commit']}"
         f"{' (uncommitted changes)' if r['dirty'] else ''}{' (--quick)' if r['quick'] else ''}", "",
         f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, loopback; load average "
         f"{r['loadavg_start_end'][0][0]:.2f} at the start, {r['loadavg_start_end'][1][0]:.2f} at the end. `{r['strata_version']}`"
         f" (`{os.path.basename(r['strata_binary'])}`). One node; clients on the same {m['cpus']} CPUs. Run time {r['seconds'] / 60:.1f} min.", "",
         f"Data (seed {r['seed']}): {d['events']:,} events (amount FLOAT, qty INT, category STRING, score FLOAT) over "
         f"{d['entities']:,} entities, skewed (Zipf-like, rank^-0.8: {d['entities_with_events']:,} entities with events, median "
         f"{d['median_events_per_entity']:g}, max {d['max_events_per_entity']:,} events per entity), event times uniform over "
         f"the 35 days up to the start; {d['labels']:,} labels (entities with the same skew, times over the last 30 days). "
         "Aggregates (group `agg` over stream `ev`): count, sum, avg of amount over 1h and over 30d.", ""]
    L += ["### Goals", "", "| goal | measured | |", "|---|---:|---|"]
    L += ["| " + " | ".join(g) + " |" for g in goals(r)]
    L.append("")
    pu = r.get("push")
    if pu and "sdk" in pu:
        L += [f"### 1. Push throughput: {d['push_events']:,} events per run, each into a fresh stream (with the 6 aggregates "
              f"defined over it), batches of {PUSH_BATCH_ROWS:,} (the node's maximum), acknowledged; median of "
              f"{len(pu['sdk'])} interleaved runs", "",
              "| client | events/s (median) | runs (s) |", "|---|---:|---|",
              f"| Python SDK `client.push(stream, df, batch_rows={PUSH_BATCH_ROWS})`, a pandas DataFrame in memory | "
              f"{pu['sdk_median']:,.0f} | {runs(pu['sdk'], 's')} |",
              f"| CLI `strata push --stream S push.csv --batch-rows {PUSH_BATCH_ROWS}` ({d['push_csv_mb']:.1f} MB CSV, process wall time) | "
              f"{pu['cli_median']:,.0f} | {runs(pu['cli'], 's')} |", "",
              f"CLI / SDK: {pu['cli_median'] / pu['sdk_median']:.2f}x. Not part of the goal: loading the {d['events']:,} events "
              f"into `ev` (SDK, an Arrow table, one run, into a growing stream): {r['load']['events_per_s']:,.0f} events/s.", ""]
    la = r.get("latency")
    if la and "visible_ms" in la:
        v = la["visible_ms"]
        # Results before "pusher" was recorded came from one `client.push` (a new call) per batch; those
        # of "push_session" from one `session.push` per batch (each waiting for its answer); since
        # "push_session.send", batches are sent without waiting for answers (a producer's pipeline).
        mode = la.get("pusher")
        how = {"push_session.send": "one `session.send` per batch over one push session, which returns without "
                                    "waiting for the answer (at most 8 unanswered); every answer checked at the end",
               "push_session": "one `session.push` per batch over one push session, each waiting for its answer"
               }.get(mode, "one `client.push` per batch")
        send_call = "`session.send`" if mode == "push_session.send" else "`session.push`" if mode == "push_session" else "`client.push`"
        L += [f"### 2. Event-to-visible latency at {la['target_events_per_s']:,.0f} events/s", "",
              f"A pusher process sends batches of {la['batch']} events ({how}, pandas DataFrame; "
              f"{la['batch'] - 1} events of 1,000 live entities and one of a probe entity with a unique marker, a new probe "
              f"entity every {PROBE_GROUP} batches) on a fixed "
              f"schedule; achieved {la['achieved_events_per_s']:,.0f} events/s over {la['batches']:,} batches. A reader process "
              f"polls `get_online_features(['probe:n_1h', 'probe:last_marker'], [current probe, next probe])` every {la['poll_interval_ms']:g} ms "
              f"(lookup p50 {la['poll_p50_us']:.0f} µs, {la['polls']:,} polls). Visible = from just before the {send_call} call to the "
              f"return of the first lookup whose count includes the batch's probe event (CLOCK_MONOTONIC in both processes); "
              f"the first {la['warmup_batches']} batches are not counted.", "",
              "| ms | p50 | p90 | p99 | max |", "|---|---:|---:|---:|---:|",
              f"| event to visible ({la['samples']:,} samples) | {v['p50']:.1f} | {v['p90']:.1f} | {v['p99']:.1f} | {v['max']:.1f} |"]
        if "ack_ms" in la:
            a = la["ack_ms"]
            L.append(f"| send to acknowledgement ({send_call} returns) | {a['p50']:.1f} | {a['p90']:.1f} | {a['p99']:.1f} | {a['max']:.1f} |")
        L.append("")
        if "flush_ms" in la:
            L += [f"The last batch's answer arrived {la['flush_ms']:.1f} ms after its send returned; the node acknowledged "
                  f"every event sent.", ""]
        L += [
              f"Batches never seen by the reader: {la['unseen']}. The `last` marker matched the count at {la['marker_consistent']:,} "
              f"of {la['samples']:,} first sightings.", ""]
    lo = r.get("lookups")
    if lo and "median" in lo:
        mm = lo["median"]
        L += [f"### 3. Online lookup, 100 entities per request, C client strata-bench, one request at a time; median over "
              f"{len(lo['agg'])} interleaved rounds of each round's p50 / p99 ({cfg['lookup_requests']:,} requests per run, ids "
              f"drawn uniformly from u0..u{d['entities'] - 1})", "",
              "| lookup (µs) | p50 | p99 |", "|---|---:|---:|",
              f"| 6 plain features (`plain:*`, 2 INT + 4 FLOAT, one row per entity) | {mm['plain']['p50_us']:.0f} | {mm['plain']['p99_us']:.0f} |",
              f"| 6 aggregates (`agg:*`: count/sum/avg over 1h and 30d) | {mm['agg']['p50_us']:.0f} | {mm['agg']['p99_us']:.0f} |",
              f"| aggregates / plain | {lo['ratio']['p50_us']:.2f}x | {lo['ratio']['p99_us']:.2f}x |"]
        fp = lo.get("first_pass")
        if fp:
            L += [f"| first pass (before the rounds; the cache starts empty): 6 plain features | {fp['plain']['p50_us']:.0f} | {fp['plain']['p99_us']:.0f} |",
                  f"| first pass: 6 aggregates | {fp['agg']['p50_us']:.0f} | {fp['agg']['p99_us']:.0f} |",
                  f"| aggregates / plain, first pass | {lo['first_pass_ratio']['p50_us']:.2f}x | {lo['first_pass_ratio']['p99_us']:.2f}x |"]
        lu = r.get("lookups_uncached")
        if lu and "median" in lu:
            mu = lu["median"]
            L += [f"| node restarted with `--aggregate-row-cache 0`: 6 plain features | {mu['plain']['p50_us']:.0f} | {mu['plain']['p99_us']:.0f} |",
                  f"| node restarted with `--aggregate-row-cache 0`: 6 aggregates | {mu['agg']['p50_us']:.0f} | {mu['agg']['p99_us']:.0f} |",
                  f"| aggregates / plain, cache off | {lu['ratio']['p50_us']:.2f}x | {lu['ratio']['p99_us']:.2f}x |"]
        lp = r.get("lookups_pushing")
        if lp and "median" in lp:
            mp = lp["median"]
            L += [f"| while {lp['pushed_events_per_s']:,.0f} events/s of the same entities are pushed (cache on): 6 plain features | {mp['plain']['p50_us']:.0f} | {mp['plain']['p99_us']:.0f} |",
                  f"| while pushing: 6 aggregates | {mp['agg']['p50_us']:.0f} | {mp['agg']['p99_us']:.0f} |",
                  f"| aggregates / plain, while pushing | {lp['ratio']['p50_us']:.2f}x | {lp['ratio']['p99_us']:.2f}x |"]
        per_round = ", ".join(f"{x['p50_us']:.0f}" for x in lo["agg"])
        n_first = max(100, 5 * d["entities"] // 100)
        L += ["", "With the cache on (the default), an entity's row is computed on its first lookup and then served from the "
              "node's aggregate row cache until a new event of the entity is stored or an event leaves a window. Before the "
              f"rounds, a first pass of {n_first:,} requests of each kind (random ids: about 99% of the entities looked up at "
              "least once) measures lookups while the cache fills; the rounds then measure a node that has served its "
              f"entities before (aggregate p50 per round: {per_round} µs). Every run draws its own ids (its own seed). "
              "With the cache off, every lookup computes its rows: from the stream's events in memory (its history image, "
              "built at start) for entities whose windows hold at most 4,096 events, from the stored tiles and edge events "
              "in RocksDB for the others."
              + (f" The row cache answered {lo['row_cache']['rounds']['hits']:,} aggregate rows of the rounds and missed "
                 f"{lo['row_cache']['rounds']['misses']:,} (entities not looked up before, or whose row changed: an event "
                 "left a window)." if "row_cache" in lo else "")
              + (" While pushing: after the export, a pusher (Python SDK, one push session) sends 100-event batches at "
                 f"{lp['rate']:,.0f} events/s over all the entities (event time now) from 5 s before the first run to the end "
                 "of the last (2 runs of each kind, alternating); a pushed event makes its entity's cached row stale, so most "
                 "rows are computed, from the history image and the events stored since its scan (held beside it in memory)."
                 if lp and "median" in lp else ""), "",
              f"Errors: {lo['errors']}" + (f", cache off {lu['errors']}" if lu and "errors" in lu else "")
              + (f", while pushing {lp['errors']}" if lp and "errors" in lp else "") + ".", ""]
    ex = r.get("export")
    if ex and "median_s" in ex:
        ms = ex["median_s"]
        n = d["labels"]
        L += [f"### 4. Export: {n:,} labels x 6 aggregates over {d['events']:,} events, median of {len(ex['sdk'])} interleaved rounds", "",
              "| system | seconds | labels/s | ratio to DuckDB |", "|---|---:|---:|---:|",
              f"| Strata, Python SDK `get_historical_features(labels_df, 'agg:*').to_df()` (labels a pandas DataFrame in memory, "
              f"a DataFrame returned) | {ms['sdk']:.2f} | {n / ms['sdk']:,.0f} | {ex['ratio']:.2f}x |",
              f"| DuckDB {ex['duckdb_version']} ({ex['duckdb_threads']} threads), window functions over events UNION labels in "
              f"memory tables, `CREATE TABLE r AS` | {ms['duckdb']:.2f} | {n / ms['duckdb']:,.0f} | 1.00x |", "",
              f"Runs: SDK {runs(ex['sdk'], 's')} s (node CPU "
              f"{runs(ex['sdk'], 'server_cpu_s', 1)} s, Python CPU {runs(ex['sdk'], 'cpu_s', 1)} s); "
              f"DuckDB {runs(ex['duckdb'], 's')} s"
              + (f" (the Strata node's CPU meanwhile {runs(ex['duckdb'], 'node_cpu_s', 1)} s: each round starts "
                 "once the node is idle)" if all("node_cpu_s" in x for x in ex["duckdb"]) else "")
              + ". DuckDB does not restore the label order (Strata does). "
              f"The node's history images (`strata status`) before the first round: {ex.get('images_before', 'n/a')}; "
              f"after the last: {ex.get('images_after', 'n/a')}. Exports read a stream's events from its image (built by "
              "the first export of at least 10,000 labels after a restart, or in the background after writes), so when "
              f"there was none before, round 1 ({ex['sdk'][0]['s']:.2f} s, {ex['sdk'][0]['s'] / ex['duckdb'][0]['s']:.2f}x "
              "DuckDB's round 1) includes building it; DuckDB's times do not include loading its tables either. "
              f"Verification: {ex['verify']['summary']} (relative tolerance {ex['verify']['relative_tolerance']:g}).", ""]
    for k in ("push", "load", "lookups", "export", "latency"):
        if isinstance(r.get(k), dict) and "error" in r[k]:
            L.append(f"{k}: ERROR {r[k]['error']}")
    cmd = " ".join(["benchmarks/bench-streaming.sh"] + r.get("args", []))
    L.append(f"Reproduce: `{cmd}`" +
             " (method: benchmarks/README.md, Streaming; sizes: --events, --labels, --entities, --push-events).")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------------------------------------
def config(a) -> dict:
    if a.quick:
        c = dict(rounds=3, lookup_requests=300, lookup_warmup=50, latency_seconds=10, verify_sample=300)
    else:
        c = dict(rounds=3, lookup_requests=1000, lookup_warmup=100, latency_seconds=30, verify_sample=1000)
    if a.rounds:
        c["rounds"] = a.rounds
    c.update(rate=a.rate, latency_batch=100, poll_ms=1.0, latency_warmup_batches=20)
    return c


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind, args = sys.argv[2], sys.argv[3:]
        if kind == "duckdb":
            worker_duckdb(*args)
        elif kind == "sdk-export":
            worker_sdk_export(*args)
        elif kind == "pusher":
            worker_pusher(args[0], float(args[1]), int(args[2]), float(args[3]), args[4], int(args[5]))
        elif kind == "reader":
            worker_reader(args[0], args[1], float(args[2]))
        elif kind == "spread_pusher":
            worker_spread_pusher(args[0], float(args[1]), int(args[2]), int(args[3]), int(args[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strata", help="strata binary (release for real figures)")
    ap.add_argument("--events", type=int, help="events in the stream (default 10M; --quick 200k)")
    ap.add_argument("--labels", type=int, help="labels of the export (default 1M; --quick 20k)")
    ap.add_argument("--entities", type=int, help="entities (default 100k; --quick 10k)")
    ap.add_argument("--push-events", type=int, help="events per push-throughput run (default 1M; --quick 20k)")
    ap.add_argument("--rate", type=float, default=10_000, help="events/s of the latency pusher (default 10000)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds of push, lookups and export (default 3)")
    ap.add_argument("--quick", action="store_true", help="a small smoke run (about 1-2 minutes with a release build)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    ap.add_argument("--skip", default="", help="comma-separated parts not to measure: push, lookups, export, latency")
    ap.add_argument("--render", metavar="JSON", help="print the markdown of a saved results file and exit")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            print(render(json.load(f)))
        return 0
    if not a.strata:
        ap.error("--strata is required")
    if not os.access(CBENCH, os.X_OK):
        ap.error(f"{CBENCH} is missing: make -C clients/c build/strata-bench")
    q = a.quick
    a.events = a.events or (200_000 if q else 10_000_000)
    a.labels = a.labels or (20_000 if q else 1_000_000)
    a.entities = a.entities or (10_000 if q else 100_000)
    a.push_events = a.push_events or (20_000 if q else 1_000_000)
    binary = os.path.abspath(a.strata)
    from strata_node import Server
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = config(a)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    work = tempfile.mkdtemp(prefix="strata-streaming-")
    r = {"started": started.isoformat(timespec="seconds"), "commit": git("rev-parse", "--short", "HEAD"),
         "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "strata_binary": binary,
         "strata_version": run([binary, "--version"]).stdout.strip(), "machine": machine(), "quick": q, "seed": a.seed,
         "config": cfg, "goals": GOALS,
         "args": [x for i, x in enumerate(sys.argv[1:]) if x not in ("--strata", "--out-dir")
                  and (i == 0 or sys.argv[i] not in ("--strata", "--out-dir"))]}
    try:
        log(f"generating {a.events:,} events, {a.labels:,} labels, {a.entities:,} entities in {work}")
        now = int(time.time()) - 60
        data = generate(work, a, now)
        data["entities"] = a.entities
        r["data"] = data
        node = Server(binary, os.path.join(work, "node"), os.path.join(work, "node.log"))
        STARTED.append(node)
        log(f"strata node on {node.address} (pid {node.proc.pid})")
        streams = [f"push_{k}_{i}" for i in range(cfg["rounds"]) for k in ("sdk", "cli")]
        definitions(os.path.join(work, "defs.yaml"), streams)
        run([binary, "apply", os.path.join(work, "defs.yaml"), "--server", node.address])
        skip = set(filter(None, a.skip.split(",")))
        r["skipped"] = sorted(skip)
        if "push" not in skip:
            r["push"] = push_throughput(binary, node, data, work, cfg["rounds"])
        r["load"] = load_events(node, work)
        run([binary, "ingest", "--group", "plain", data["plain_csv"], "--server", node.address])
        if "lookups" not in skip:
            r["lookups"] = lookups(node, a.entities, cfg)
            # The same lookups with the node's aggregate row cache off: every one reads tiles and events.
            node_dir = os.path.join(work, "node")
            node.stop()
            node = Server(binary, node_dir, os.path.join(work, "node-nocache.log"), extra_args=["--aggregate-row-cache", "0"])
            STARTED.append(node)
            log("lookups again with --aggregate-row-cache 0")
            r["lookups_uncached"] = lookups(node, a.entities, cfg)
            node.stop()
            node = Server(binary, node_dir, os.path.join(work, "node-2.log"))
            STARTED.append(node)
        if "export" not in skip:
            r["export"] = export(binary, node, work, data, cfg)
        if "lookups" not in skip:  # after the export: its pushed events lie after every label's time anyway
            r["lookups_pushing"] = lookups_while_pushing(node, a.entities, cfg, a.seed)
        if "latency" not in skip:
            r["latency"] = latency(node, cfg, a.seed)
    finally:
        stop_all()
        if os.environ.get("STRATA_BENCH_KEEP"):
            log(f"kept {work}")
        else:
            subprocess.run(["rm", "-rf", work])
    r["seconds"] = time.perf_counter() - t0
    r["loadavg_start_end"] = [load0, os.getloadavg()]
    os.makedirs(a.out_dir, exist_ok=True)
    stem = os.path.join(a.out_dir, f"{started:%Y-%m-%d-%H%M}-{r['commit'] or 'nocommit'}-streaming")
    with open(stem + ".json", "w") as f:  # first, so that a failure in the report loses no figure
        json.dump(r, f, indent=1, default=str)
    md = render(r)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {stem}.md and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
