#!/usr/bin/env python3
"""Strata's benchmark suite: online latency and throughput, ingest, export, memory and a CPU profile,
beside the transport floor, Redis, DuckDB and polars, in one run on the same data.

Normally started by benchmarks/bench-suite.sh (which installs packages and builds the binaries):
    python3 benchmarks/bench_suite.py --strata BIN [small|medium|all] [--quick] [--out-dir benchmarks/results]

Every timing is measured in this run; latencies are the median over --rounds interleaved rounds of each
round's p50/p99, ratios are taken between figures measured side by side. benchmarks/README.md has the
method. Processes started here (strata nodes, redis-server, load generators, perf) are stopped on exit,
also on Ctrl-C or failure.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Differential"))  # strata_node.py
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))  # the SDK of this checkout
from strata_node import Server  # noqa: E402
from bench_common import (STARTED, cpu_seconds, forget, git, log, machine, popen, run, run_json, stop_all,  # noqa: E402
                          wait_quiet)
from bench_join import vm_kb  # noqa: E402  (this folder is on the path: the script's own)

CBUILD = os.path.join(ROOT, "clients", "c", "build")
CBENCH, CWRITE, RBENCH = (os.path.join(CBUILD, n) for n in ("strata-bench", "strata-write-bench", "redis-bench"))

WORKLOADS = {  # the shapes of the point-in-time issue
    "small": dict(entities=10_000, features=10, rows_per_entity=10, labels=100_000),
    "medium": dict(entities=100_000, features=20, rows_per_entity=20, labels=1_000_000),
}
# The online group: the lookup shape is 1 or 100 entities x these 10 features.
ONLINE = [("f0", "FLOAT"), ("f1", "FLOAT"), ("f2", "FLOAT"), ("f3", "FLOAT"), ("i0", "INT"), ("i1", "INT"),
          ("i2", "INT"), ("s0", "STRING"), ("s1", "STRING"), ("s2", "STRING")]
FEATURE_NAMES = ",".join(n for n, _ in ONLINE)
TYPE_LETTERS = "".join(t[0] for _, t in ONLINE)
GOALS = dict(p99_1_us=600, floor_ratio=1.3, p99_100_us=1500, rps_1=15_000, entities_per_s_100=300_000,
             interference=2.0, ingest_values_per_s=1_000_000, memory_mb=500)

# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------
def start_node(binary: str, work: str, name: str) -> Server:
    s = Server(binary, os.path.join(work, name), os.path.join(work, name + ".log"))
    STARTED.append(s)
    log(f"strata node {name} on {s.address} (pid {s.proc.pid})")
    return s


def stop_node(s: Server):
    s.stop()
    forget(s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_py_setup() -> dict:
    """redis-py as its users install it (`redis[hiredis]`): fails loudly when redis-py would parse replies
    in pure Python. Versions are read at run time."""
    import redis
    import redis.utils
    try:
        import hiredis
    except ImportError:
        hiredis = None
    if hiredis is None or not redis.utils.HIREDIS_AVAILABLE:
        raise SystemExit("error: redis-py runs without its hiredis parser (redis.utils.HIREDIS_AVAILABLE is False); "
                         "install the pinned `redis[hiredis]` (source dev/python-env.sh benchmarks/requirements.txt)")
    hv = getattr(hiredis, "__version__", "?")
    return {"redis_py": redis.__version__, "hiredis_py": hv, "label": f"redis-py {redis.__version__} + hiredis {hv}"}


def check_hiredis_parser(r) -> str:
    """The parser class of a live connection of client `r`: must be redis-py's hiredis parser."""
    conn = r.connection_pool.get_connection()
    try:
        conn.connect()
        parser = type(conn._parser)
        name = f"{parser.__module__}.{parser.__qualname__}"
    finally:
        r.connection_pool.release(conn)
    if "hiredis" not in name.lower():
        raise SystemExit(f"error: redis-py's connection uses {name}, not the hiredis parser")
    return name


def c_hiredis_version() -> str:
    """The libhiredis that clients/c/build/redis-bench is compiled against (from its header)."""
    for inc in ("/usr/include/hiredis/hiredis.h", "/usr/local/include/hiredis/hiredis.h"):
        try:
            text = open(inc).read()
        except OSError:
            continue
        v = [re.search(rf"#define HIREDIS_{k} (\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
        if all(v):
            return ".".join(m.group(1) for m in v)
    return "?"


def redis_server_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v=(\S+)", out)
    return m.group(1) if m else "?"


def start_redis(work: str):
    port = free_port()
    p = popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", work], stdout=open(os.path.join(work, "redis.log"), "w"), stderr=subprocess.STDOUT,
              start_new_session=True)
    import redis
    r = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    log(f"redis-server on 127.0.0.1:{port} (pid {p.pid})")
    return p, port, r


def images(binary: str, addr: str) -> tuple[int, int, int]:
    """(held, MiB, built since start) from `strata status`."""
    out = run([binary, "status", "--server", addr]).stdout
    m = re.search(r"history images: (\d+) held, (\d+) MiB, (\d+) built", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def wait_image(binary: str, addr: str, built_before: int, timeout=300) -> float:
    t = time.perf_counter()
    while images(binary, addr)[2] <= built_before:
        if time.perf_counter() - t > timeout:
            raise RuntimeError(f"no history image built within {timeout} s")
        time.sleep(0.2)
    return time.perf_counter() - t


# ------------------------------------------------------------------------------------------------
# Data (seeded)
# ------------------------------------------------------------------------------------------------
def generate(work: str, w: dict, seed: int) -> dict:
    """The online group's history (entities x rows_per_entity rows, 10 features, hourly, in the past) as
    CSV, its latest row per entity (for Redis), and labels over the same entities."""
    import numpy as np
    import polars as pl
    rng = np.random.default_rng(seed)
    n_ent, per, n_lab = w["entities"], w["rows_per_entity"], w["labels"]
    now = int(time.time())
    base = now - (per + 2) * 3600
    rows = n_ent * per
    k = np.repeat(np.arange(per, dtype=np.int64), n_ent)  # round-major: every entity's row 0, then row 1...
    ent = np.tile(np.arange(n_ent, dtype=np.int64), per)
    cols = {"entity_id": "u" + pl.Series(ent).cast(pl.Utf8),
            "event_timestamp": base + k * 3600 + rng.integers(0, 3600, size=rows)}
    for name, dtype in ONLINE:
        if dtype == "FLOAT":
            cols[name] = np.round(rng.normal(100.0, 50.0, size=rows), 4)
        elif dtype == "INT":
            cols[name] = rng.integers(-1_000_000, 1_000_000, size=rows, dtype=np.int64)
        else:
            cols[name] = "cat" + pl.Series(rng.integers(0, 1000, size=rows)).cast(pl.Utf8)
    hist = pl.DataFrame(cols)
    hist_csv = os.path.join(work, "online.csv")
    hist.write_csv(hist_csv)
    latest = hist.tail(n_ent)  # row per-1 of every entity: the online value
    labels = pl.DataFrame({"entity_id": "u" + pl.Series(rng.integers(0, n_ent, size=n_lab)).cast(pl.Utf8),
                           "label_timestamp": rng.integers(base, now, size=n_lab)})
    lab_csv = os.path.join(work, "labels.csv")
    labels.write_csv(lab_csv)
    defs = os.path.join(work, "defs.yaml")
    with open(defs, "w") as f:
        f.write("groups:\n")
        for g in ("online", "stream"):
            f.write(f"  - name: {g}\n    features:\n")
            for n, d in ONLINE:
                f.write(f"      - {{name: {n}, dtype: {d}}}\n")
    return {"history_csv": hist_csv, "labels_csv": lab_csv, "defs": defs, "rows": rows, "latest": latest}


def splitmix_ids(n_ids: int, count: int, seed: int = 42) -> list[str]:
    """The ids strata-bench and redis-bench draw (SplitMix64, same seed), for the Python loops."""
    out, s, m = [], seed, (1 << 64) - 1
    for _ in range(count):
        s = (s + 0x9E3779B97F4A7C15) & m
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(f"u{(z ^ (z >> 31)) % n_ids}")
    return out


def load_online(binary: str, node: Server, data: dict) -> dict:
    run([binary, "apply", data["defs"], "--server", node.address])
    t = time.perf_counter()
    out = run([binary, "ingest", "--group", "online", data["history_csv"], "--server", node.address])
    s = time.perf_counter() - t
    res = {"client": "strata ingest (CLI, CSV)", "rows": data["rows"], "seconds": s,
           "rows_per_s": data["rows"] / s, "values_per_s": data["rows"] * len(ONLINE) / s,
           "summary": (out.stdout + out.stderr).strip().splitlines()[-1]}
    log(f"CLI ingest: {data['rows']:,} rows in {s:.1f} s = {res['values_per_s']:,.0f} values/s")
    return res


def load_redis(r, latest) -> None:
    names = [n for n, _ in ONLINE]
    pipe = r.pipeline(transaction=False)
    for i, row in enumerate(latest.iter_rows(named=True)):
        pipe.hset(row["entity_id"], mapping={n: row[n] for n in names})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------
def cbench(addr, batch=None, n_ids=0, requests=5000, warmup=500, concurrency=1, connections=1) -> dict:
    cmd = [CBENCH, "--server", addr, "--requests", str(requests), "--warmup", str(warmup),
           "--concurrency", str(concurrency), "--connections", str(connections), "--json"]
    cmd += ["--ping"] if batch is None else ["--features", "online:*", "--entities", str(n_ids), "--batch", str(batch)]
    return run_json(cmd)


def rbench(port, batch, n_ids, requests, warmup) -> dict:
    return run_json([RBENCH, "--port", str(port), "--batch", str(batch), "--entities", str(n_ids),
                     "--requests", str(requests), "--warmup", str(warmup), "--json"])


def pct(xs: list[float]) -> dict:
    xs = sorted(xs)
    n = len(xs)
    at = lambda p: xs[min(int(n * p), n - 1)]  # noqa: E731  (strata-bench's index)
    return {"p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99), "max_us": xs[-1], "requests": n}


def py_loop(call, ids: list[str], batch: int, warmup: int) -> dict:
    lat = []
    n = len(ids) // batch
    for i in range(n):
        chunk = ids[i * batch:(i + 1) * batch]
        t = time.perf_counter()
        call(chunk)
        if i >= warmup:
            lat.append((time.perf_counter() - t) * 1e6)
    return pct(lat)


def same_value(a, b) -> bool:
    if b is None or a is None:
        return False
    if str(a) == b:
        return True
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return False


def latency(node: Server, rport: int, r, n_ids: int, cfg: dict) -> dict:
    """Interleaved rounds: C strata-bench (Ping, 1, 100) and C hiredis (1, 100 pipelined); then the Python
    SDK (1, 100) and redis-py (1, 100), one request at a time."""
    import strata
    client = strata.Client(node.address)
    res = {k: [] for k in ("ping", "c1", "c100", "redis1", "redis100", "py1", "py100", "pyredis1", "pyredis100")}
    req1, req100, w = cfg["requests_1"], cfg["requests_100"], cfg["warmup"]
    pr1, pr100, pw = cfg["py_requests_1"], cfg["py_requests_100"], cfg["py_warmup"]

    def sdk(chunk):
        client.get_online_features(["online:*"], chunk)

    def rpy(chunk):
        if len(chunk) == 1:
            r.hgetall(chunk[0])
        else:
            p = r.pipeline(transaction=False)
            for k in chunk:
                p.hgetall(k)
            p.execute()

    ids1 = splitmix_ids(n_ids, pr1 + pw, seed=42)
    ids100 = splitmix_ids(n_ids, (pr100 + pw) * 100, seed=43)
    # A check that every client reads the same values: one entity, all ten features.
    probe = client.get_online_features(["online:*"], ["u1"]).to_dict()
    rprobe = {k.decode(): v.decode() for k, v in r.hgetall("u1").items()}
    same = all(same_value(probe[f"online:{n}"][0], rprobe.get(n)) for n, _ in ONLINE)
    for k in range(cfg["rounds"]):
        wait_quiet(node)
        res["ping"].append(cbench(node.address, None, requests=req1, warmup=w))
        res["c1"].append(cbench(node.address, 1, n_ids, requests=req1, warmup=w))
        res["c100"].append(cbench(node.address, 100, n_ids, requests=req100, warmup=w))
        res["redis1"].append(rbench(rport, 1, n_ids, req1, w))
        res["redis100"].append(rbench(rport, 100, n_ids, req100, w))
        res["py1"].append(py_loop(sdk, ids1, 1, pw))
        res["py100"].append(py_loop(sdk, ids100, 100, pw))
        res["pyredis1"].append(py_loop(rpy, ids1, 1, pw))
        res["pyredis100"].append(py_loop(rpy, ids100, 100, pw))
        log(f"latency round {k + 1}: ping p50 {res['ping'][-1]['p50_us']} µs, 1 entity {res['c1'][-1]['p50_us']}, "
            f"100 entities {res['c100'][-1]['p50_us']}, redis {res['redis1'][-1]['p50_us']} / {res['redis100'][-1]['p50_us']}, "
            f"python {res['py1'][-1]['p50_us']:.0f} / {res['py100'][-1]['p50_us']:.0f}")
    client.close()
    errors = sum(x.get("errors", 0) for k in ("ping", "c1", "c100", "redis1", "redis100") for x in res[k])
    med = {k: {q: statistics.median(x[q] for x in v) for q in ("p50_us", "p99_us")} for k, v in res.items()}
    return {"runs": res, "median": med, "errors": errors, "same_values_strata_redis": same,
            "versions": {"grpcio": __import__("grpc").__version__}}


def throughput(node: Server, n_ids: int, cfg: dict) -> dict:
    """Requests/s with 16 and 64 requests in flight over 1 and 2 connections, both shapes."""
    out = []
    for rnd in range(cfg["rounds"]):
        wait_quiet(node)
        for batch in (1, 100):
            for conc, conns in ((16, 1), (64, 1), (64, 2)):
                req = cfg["tput_requests_1"] if batch == 1 else cfg["tput_requests_100"]
                j = cbench(node.address, batch, n_ids, requests=req, warmup=req // 10, concurrency=conc,
                           connections=conns)
                out.append({"round": rnd, "batch": batch, "concurrency": conc, "connections": conns,
                            "requests_per_s": j["requests_per_s"], "p50_us": j["p50_us"], "p99_us": j["p99_us"],
                            "errors": j["errors"], "client_cpu_us_per_request": j["client_cpu_us_per_request"]})
    best = {}
    for batch in (1, 100):
        cfgs = {}
        for x in out:
            if x["batch"] == batch:
                cfgs.setdefault((x["concurrency"], x["connections"]), []).append(x["requests_per_s"])
        meds = {k: statistics.median(v) for k, v in cfgs.items()}
        (conc, conns), rps = max(meds.items(), key=lambda kv: kv[1])
        best[batch] = {"concurrency": conc, "connections": conns, "requests_per_s": rps,
                       "entities_per_s": rps * batch, "all": {f"{c}x{n}": v for (c, n), v in meds.items()}}
        log(f"throughput, {batch} entities: best {rps:,.0f} requests/s at {conc} in flight on {conns} connection(s)")
    return {"runs": out, "best": best}


def ingest_c(node: Server, cfg: dict) -> dict:
    """Feature values/s from one C client (streaming writer, batches of 5000), acknowledged: median of runs
    into the `stream` group (fresh entities w0.., later event times each run, so every row is new)."""
    runs = []
    rows = cfg["ingest_rows"]
    for k in range(cfg["rounds"]):
        start_us = (int(time.time()) - 30 * 86400 + k * 86400) * 1_000_000
        j = run_json([CWRITE, "--server", node.address, "--group", "stream", "--features", FEATURE_NAMES,
                      "--types", TYPE_LETTERS, "--rows", str(rows), "--entities", str(min(rows, 100_000)),
                      "--pattern", "w%d", "--start-us", str(start_us), "--step-us", "1000000", "--seed", str(k), "--json"])
        runs.append(j)
        log(f"C ingest run {k + 1}: {j['rows']:,} rows, {j['values_per_s']:,.0f} values/s")
    return {"runs": runs, "values_per_s": statistics.median(r["values_per_s"] for r in runs),
            "rows_per_s": statistics.median(r["rows_per_s"] for r in runs)}


class Background:
    """Runs a command back to back until stopped; counts completed runs."""

    def __init__(self, make_cmd):
        self.make_cmd, self.stop_flag, self.done, self.proc = make_cmd, threading.Event(), 0, None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        i = 0
        while not self.stop_flag.is_set():
            self.proc = popen(self.make_cmd(i), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rc = self.proc.wait()
            forget(self.proc)
            if rc == 0 and not self.stop_flag.is_set():
                self.done += 1
            i += 1

    def stop(self):
        self.stop_flag.set()
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
        self.thread.join()


def interference(binary: str, node: Server, n_ids: int, data: dict, cfg: dict) -> dict:
    """1-entity p50/p99 (C client) idle, while an ingest stream runs (C writer into `stream`, back to back),
    and while exports of the workload's labels run back to back (`strata join --discard`); interleaved
    rounds, each loaded run beside its own idle run."""
    out = {"idle": [], "ingest": [], "export": [], "ingest_runs": 0, "export_runs": 0}
    req = cfg["interference_requests"]

    def writer(i):
        start_us = (int(time.time()) - 10 * 86400) * 1_000_000
        return [CWRITE, "--server", node.address, "--group", "stream", "--features", FEATURE_NAMES, "--types",
                TYPE_LETTERS, "--rows", "200000", "--entities", "100000", "--pattern", "x%d", "--start-us",
                str(start_us + i * 10_000_000), "--step-us", "1000000", "--seed", str(100 + i)]

    def export(_):
        return [binary, "join", "--labels", data["labels_csv"], "--features", "online:*", "--discard",
                "--server", node.address]

    for k in range(cfg["rounds"]):
        for kind, make in (("ingest", writer), ("export", export)):
            wait_quiet(node)
            out["idle"].append(cbench(node.address, 1, n_ids, requests=req, warmup=200))
            bg = Background(make)
            time.sleep(1.0)
            try:
                out[kind].append(cbench(node.address, 1, n_ids, requests=req, warmup=200))
            finally:
                bg.stop()
            out[kind + "_runs"] += bg.done
            log(f"interference round {k + 1}: idle p99 {out['idle'][-1]['p99_us']} µs, during {kind} "
                f"p99 {out[kind][-1]['p99_us']} µs ({bg.done} complete {kind} runs meanwhile)")
    med = {k: {q: statistics.median(x[q] for x in out[k]) for q in ("p50_us", "p99_us")}
           for k in ("idle", "ingest", "export")}
    out["median"] = med
    out["ratio_p99"] = {k: med[k]["p99_us"] / med["idle"]["p99_us"] for k in ("ingest", "export")}
    out["ratio_p50"] = {k: med[k]["p50_us"] / med["idle"]["p50_us"] for k in ("ingest", "export")}
    return out


def export_vs_peers(binary: str, w: dict, work: str, cfg: dict) -> dict:
    """benchmarks/bench_join.py for the workload's shape (own node, own data): Strata vs DuckDB vs polars."""
    js = os.path.join(work, "join.json")
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "bench_join.py"), "--strata", binary,
           "--entities", str(w["entities"]), "--rows-per-entity", str(w["rows_per_entity"]),
           "--labels", str(w["labels"]), "--features", str(w["features"]), "--repeat", str(cfg["rounds"]),
           "--no-inexact", "--json", js]
    log("export: " + " ".join(cmd[1:]))
    p = popen(cmd, graceful=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    forget(p)
    with open(os.path.join(work, "bench_join.log"), "w") as f:
        f.write(err + "\n" + out)
    if p.returncode not in (0, 1) or not os.path.exists(js):
        raise RuntimeError(f"bench_join.py failed ({p.returncode}):\n{err[-3000:]}")
    with open(js) as f:
        res = json.load(f)
    res["table"] = out.strip()
    return res


def memory(binary: str, work: str, cfg: dict) -> dict:
    """RSS of a fresh node after 1M entities x 10 features (one row each: online + history) were written
    by the C client; then once the node built the history image; then after a 1M-label export."""
    import numpy as np
    n = cfg["memory_entities"]
    node = start_node(binary, work, "memnode")
    try:
        defs = os.path.join(work, "memdefs.yaml")
        with open(defs, "w") as f:
            f.write("groups:\n  - name: mem\n    features:\n" + "".join(f"      - {{name: {a}, dtype: {b}}}\n" for a, b in ONLINE))
        run([binary, "apply", defs, "--server", node.address])
        pid = node.proc.pid
        res = {"entities": n, "features": len(ONLINE), "rss_start_kb": vm_kb(pid, "VmRSS")}
        w = run_json([CWRITE, "--server", node.address, "--group", "mem", "--features", FEATURE_NAMES, "--types",
                      TYPE_LETTERS, "--rows", str(n), "--entities", str(n), "--batch-rows", "10000", "--json"])
        held, mib, built0 = images(binary, node.address)
        res.update(load=w, rss_after_load_kb=vm_kb(pid, "VmRSS"), hwm_after_load_kb=vm_kb(pid, "VmHWM"),
                   images_held_after_load=held)
        time.sleep(0.5)
        held, mib, built = images(binary, node.address)
        if built == built0:
            wait_image(binary, node.address, built0)
        time.sleep(0.5)
        held, mib, _ = images(binary, node.address)
        res.update(rss_with_image_kb=vm_kb(pid, "VmRSS"), hwm_with_image_kb=vm_kb(pid, "VmHWM"), image_mib=mib)
        rng = np.random.default_rng(5)
        labels = os.path.join(work, "memlabels.csv")
        now = int(time.time())
        with open(labels, "w") as f:
            f.write("entity_id,label_timestamp\n")
            for e, t in zip(rng.integers(0, n, size=n), rng.integers(now - 86400, now, size=n)):
                f.write(f"u{e},{t}\n")
        run([binary, "join", "--labels", labels, "--features", "mem:*", "--discard", "--server", node.address])
        time.sleep(1.0)
        res.update(rss_after_export_kb=vm_kb(pid, "VmRSS"), hwm_after_export_kb=vm_kb(pid, "VmHWM"),
                   export_labels=n, disk_mb=dir_mb(os.path.join(work, "memnode")))
        log(f"memory: RSS {res['rss_after_load_kb'] / 1024:.0f} MiB after load (images held: {res['images_held_after_load']}), "
            f"{res['rss_with_image_kb'] / 1024:.0f} MiB with the image ({mib} MiB), "
            f"{res['rss_after_export_kb'] / 1024:.0f} MiB after an export")
        return res
    finally:
        stop_node(node)


def dir_mb(path: str) -> float:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total / 1e6


# --- Profile -------------------------------------------------------------------------------------
# Each sample is attributed to the innermost user-space frame that belongs to a known component.
CATEGORIES = [
    ("storage lookup", re.compile(r"rocksdb|StrataRocksDB|StrataStorage")),
    ("protobuf decode (request)", re.compile(r"ProtobufDeserializer|BinaryDecod|decodeMessage|decodeSingular|decodeRepeated|merge")),
    ("protobuf encode (response)", re.compile(r"ProtobufSerializer|BinaryEncod|serializedBytes|serializedDataSize|traverse")),
    ("Strata service (refs, validation, proto mapping)", re.compile(r"StrataGRPC|StrataCore|StrataServer|StrataProto")),
    ("transport (NIO, HTTP/2, grpc-swift, socket syscalls)", re.compile(r"NIO|GRPC|HTTP2|epoll|sendmsg|recvmsg|writev|readv|\bread\b|\bwrite\b|libc_write|libc_read")),
    ("task scheduling (Swift concurrency, dispatch, futex)", re.compile(r"swift_job_run|swift_task|swift::AsyncTask|dispatch|futex|sem_|pthread_cond|runJobInEstablished")),
]
OTHER = "other (Swift runtime, malloc, unattributed)"


def classify(frames: list[str]) -> str:
    user = [f for f in frames if not f.startswith("k:")]
    for f in user:  # leaf to root
        for name, rx in CATEGORIES:
            if rx.search(f):
                return name
    return OTHER if user else "kernel (no user stack)"


def profile(node: Server, n_ids: int, work: str, cfg: dict) -> dict:
    """perf record -e cpu-clock -g on the node while strata-bench runs Ping, 1 and 100 entities (one call at
    a time); CPU per request by component."""
    if not shutil_which("perf"):
        return {"error": "perf not installed (Debian package linux-perf)"}
    out = {}
    for name, batch in (("ping", None), ("1 entity", 1), ("100 entities", 100)):
        req = cfg["profile_requests"] if batch != 100 else cfg["profile_requests"] // 3
        # Calibration without perf: the node's CPU per request from /proc/PID/stat.
        wait_quiet(node)
        c0 = cpu_seconds(node.proc.pid)
        cbench(node.address, batch, n_ids, requests=req, warmup=0)
        proc_us = (cpu_seconds(node.proc.pid) - c0) * 1e6 / req
        wait_quiet(node)
        data = os.path.join(work, f"perf-{name.replace(' ', '')}.data")
        p = popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-p", str(node.proc.pid), "-o", data],
                  stdout=subprocess.DEVNULL, stderr=open(data + ".err", "w"))
        time.sleep(0.5)
        j = cbench(node.address, batch, n_ids, requests=req, warmup=0)
        p.send_signal(signal.SIGINT)
        p.wait(60)
        forget(p)
        if not os.path.exists(data) or os.path.getsize(data) == 0:
            return {"error": "perf record failed: " + open(data + ".err").read()[-500:]}
        script = subprocess.run(["perf", "script", "-i", data, "-F", "period,ip,sym"], capture_output=True, text=True)
        totals: dict[str, int] = {}
        kernel_leaf = 0
        total = 0
        for block in script.stdout.split("\n\n"):
            lines = [l.strip() for l in block.strip().splitlines() if l.strip()]
            if not lines:
                continue
            try:
                period = int(lines[0].split()[0])
            except ValueError:
                continue
            frames = []
            for l in lines[1:]:
                parts = l.split(None, 1)
                ip, sym = parts[0], parts[1] if len(parts) > 1 else "?"
                frames.append(("k:" if ip.startswith("ffffffff") else "") + sym)
            if frames and frames[0].startswith("k:"):
                kernel_leaf += period
            c = classify(frames)
            totals[c] = totals.get(c, 0) + period
            total += period
        per_req = {k: v / 1000 / req for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
        out[name] = {"requests": req, "server_cpu_us_per_request": total / 1000 / req, "proc_cpu_us_per_request": proc_us,
                     "split_us_per_request": per_req, "kernel_leaf_share": kernel_leaf / total if total else 0,
                     "client_p50_us": j["p50_us"]}
        os.remove(data)
        log(f"profile {name}: {total / 1000 / req:.0f} µs server CPU per request")
    return out


def shutil_which(cmd):
    import shutil
    return shutil.which(cmd)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def fmt(x, digits=0):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def met(ok) -> str:
    return "**met**" if ok else "**missed**"


def report_workload(name: str, w: dict, r: dict, redis_setup: dict | None = None) -> list[str]:
    L = []
    lat, tp = r["latency"]["median"], r["throughput"]["best"]
    L.append(f"### Workload {name}: {w['entities']:,} entities x {w['rows_per_entity']} history rows, "
             f"online group of {len(ONLINE)} features (4 FLOAT, 3 INT, 3 STRING), {w['labels']:,} labels")
    L.append("")
    L.append(f"Online, one request at a time, median over {r['cfg']['rounds']} interleaved rounds of each round's "
             f"p50 / p99 (µs); C clients: {r['cfg']['requests_1']:,} requests per run (100-entity: "
             f"{r['cfg']['requests_100']:,}), Python: {r['cfg']['py_requests_1']:,} ({r['cfg']['py_requests_100']:,}).")
    L.append("")
    setup = redis_setup or {}
    c_label = (setup.get("c") or {}).get("label", "C redis-bench + hiredis")
    py_label = (setup.get("python") or {}).get("label", "redis-py (parser not recorded)")
    server = setup.get("server")
    L.append(f"C clients (Strata: `strata-bench`, nghttp2 + protobuf-c; Redis: {c_label}"
             f"{f', redis-server {server}' if server else ''}):")
    L.append("")
    L.append(f"| lookup (p50 / p99, µs) | Strata, C client | transport floor (Ping), C | Redis HGETALL, {c_label} | Strata / Redis |")
    L.append("|---|---:|---:|---:|---:|")
    shapes = (("1 entity x 10 features", "c1", "redis1", "py1", "pyredis1"),
              ("100 entities x 10 features (Redis: 100 HGETALLs pipelined)", "c100", "redis100", "py100", "pyredis100"))
    for shape, c, rk, _, _ in shapes:
        floor = f"{lat['ping']['p50_us']:.0f} / {lat['ping']['p99_us']:.0f}" if c == "c1" else ""
        L.append(f"| {shape} | {lat[c]['p50_us']:.0f} / {lat[c]['p99_us']:.0f} | {floor} | "
                 f"{lat[rk]['p50_us']:.0f} / {lat[rk]['p99_us']:.0f} | "
                 f"{lat[c]['p50_us'] / lat[rk]['p50_us']:.2f}x / {lat[c]['p99_us'] / lat[rk]['p99_us']:.2f}x |")
    L.append("")
    parser = r.get("redis_py_parser")
    L.append(f"Python clients, one call at a time in a `time.perf_counter` loop (Strata: `strata.Client.get_online_features`; "
             f"Redis: {py_label}{f', parser `{parser}`' if parser else ''}, `hgetall` / a non-transactional pipeline):")
    L.append("")
    L.append(f"| lookup (p50 / p99, µs) | Strata, Python SDK | Redis HGETALL, {py_label} | Strata / Redis |")
    L.append("|---|---:|---:|---:|")
    for shape, _, _, py, pr in shapes:
        L.append(f"| {shape} | {lat[py]['p50_us']:.0f} / {lat[py]['p99_us']:.0f} | {lat[pr]['p50_us']:.0f} / {lat[pr]['p99_us']:.0f} | "
                 f"{lat[py]['p50_us'] / lat[pr]['p50_us']:.2f}x / {lat[py]['p99_us'] / lat[pr]['p99_us']:.2f}x |")
    L.append("")
    L.append(f"1 entity vs the floor: p50 {lat['c1']['p50_us'] / lat['ping']['p50_us']:.2f}x, "
             f"p99 {lat['c1']['p99_us'] / lat['ping']['p99_us']:.2f}x. Errors in the C runs: {r['latency']['errors']}. "
             f"Strata and Redis hold the same values (checked on u1): {r['latency']['same_values_strata_redis']}.")
    L.append("")
    L.append("| measurement | figure |")
    L.append("|---|---:|")
    for b in (1, 100):
        t = tp[b]
        alls = ", ".join(f"{k}: {v:,.0f}" for k, v in t["all"].items())
        L.append(f"| throughput, {b} entit{'y' if b == 1 else 'ies'} per request (best of in-flight x connections: {alls} req/s) | "
                 f"{t['requests_per_s']:,.0f} requests/s = {t['entities_per_s']:,.0f} entity lookups/s ({t['concurrency']} in flight, {t['connections']} conn.) |")
    ing = r["ingest_c"]
    L.append(f"| ingest, C streaming writer (batches of 5000, acknowledged), median of {len(ing['runs'])} x {ing['runs'][0]['rows']:,} rows | "
             f"{ing['values_per_s']:,.0f} values/s ({ing['rows_per_s']:,.0f} rows/s) |")
    cli = r["ingest_cli"]
    L.append(f"| ingest, `strata ingest` CSV (CLI parses the CSV; one run, the {cli['rows']:,}-row load) | "
             f"{cli['values_per_s']:,.0f} values/s ({cli['rows_per_s']:,.0f} rows/s) |")
    it = r["interference"]
    m = it["median"]
    L.append(f"| online 1-entity p50 / p99, idle, beside each loaded run (µs; {len(it['idle'])} runs) | {m['idle']['p50_us']:.0f} / {m['idle']['p99_us']:.0f} |")
    L.append(f"| ... while an ingest stream runs (C writer, 200k-row streams back to back) | "
             f"{m['ingest']['p50_us']:.0f} / {m['ingest']['p99_us']:.0f} (p99 {it['ratio_p99']['ingest']:.2f}x idle) |")
    L.append(f"| ... while `strata join --discard` exports of {w['labels']:,} labels run back to back ({it['export_runs']} completed) | "
             f"{m['export']['p50_us']:.0f} / {m['export']['p99_us']:.0f} (p99 {it['ratio_p99']['export']:.2f}x idle) |")
    L.append("")
    ex = r.get("export")
    if ex and "error" not in ex:
        L.append(f"Point-in-time export, `benchmarks/bench_join.py` ({ex['workload']['entities']:,} entities x "
                 f"{ex['workload']['rows_per_entity']} rows, {ex['workload']['features']} features, "
                 f"{ex['workload']['labels']:,} labels, median of {ex['workload']['repeat']}; its own node and data):")
        L.append("")
        L.append("\n".join(l for l in ex["table"].splitlines() if l.startswith("|")))
        L.append("")
        md = ex["median_s"]
        fastest = min(md["duckdb"], md["polars"])
        names = {"strata_discard": "`--discard`", "strata_csv": "CSV", "sdk_arrow": "SDK `to_arrow()`",
                 "sdk_df": "SDK `to_df()`", "discard_after_ingest": "`--discard` right after the ingest",
                 "sdk_arrow_after_ingest": "SDK `to_arrow()` right after the ingest",
                 "sdk_df_after_ingest": "SDK `to_df()` right after the ingest"}
        L.append("Strata / fastest peer (" + ("DuckDB" if md["duckdb"] <= md["polars"] else "polars") + f", {fastest:.2f} s): "
                 + ", ".join(f"{label} {md[k] / fastest:.2f}x" for k, label in names.items() if k in md)
                 + f". Values verified against both peers: {ex['verified']}"
                 + (f" ({', '.join(ex['verified_outputs'])})" if ex.get("verified_outputs") else "") + ".")
        for line in ex["table"].splitlines():
            if line.startswith(("SDK setup:", "Ingest (separate)", "VERIFY")):
                L.append("")
                L.append(line)
    else:
        L.append(f"Point-in-time export: not measured ({(ex or {}).get('error', 'skipped')}).")
    L.append("")
    pf = r.get("profile")
    if pf and "error" not in pf:
        cats = [c for c, _ in CATEGORIES] + [OTHER, "kernel (no user stack)"]
        shapes = ("ping", "1 entity", "100 entities")
        L.append("Server CPU per request by component, one request at a time: share of the node's perf cpu-clock samples "
                 "x the node's CPU per request measured without perf (/proc/PID/stat), µs (share). Method and limits: "
                 "benchmarks/README.md.")
        L.append("")
        L.append("| component | Ping (transport floor) | 1 entity x 10 features | 100 entities x 10 features |")
        L.append("|---|---:|---:|---:|")
        for c in cats:
            cells = []
            for sh in shapes:
                v, tot = pf[sh]["split_us_per_request"].get(c, 0), pf[sh]["server_cpu_us_per_request"]
                share = v / tot if tot else 0
                cells.append(f"{share * pf[sh]['proc_cpu_us_per_request']:,.1f} ({share * 100:.0f}%)")
            if any(pf[sh]["split_us_per_request"].get(c) for sh in shapes):
                L.append(f"| {c} | " + " | ".join(cells) + " |")
        L.append("| **node CPU per request (/proc/PID/stat, no perf)** | " + " | ".join(fmt(pf[sh]["proc_cpu_us_per_request"], 1) for sh in shapes) + " |")
        L.append("| (with perf attached, from the samples) | " + " | ".join(fmt(pf[sh]["server_cpu_us_per_request"], 1) for sh in shapes) + " |")
        L.append("| (share of samples in the kernel) | " + " | ".join(f"{pf[sh]['kernel_leaf_share'] * 100:.0f}%" for sh in shapes) + " |")
    else:
        L.append(f"Profile: not measured ({(pf or {}).get('error', 'skipped')}).")
    L.append("")
    return L


def goals(r: dict, mem: dict | None) -> list[list[str]]:
    lat, tp, it = r["latency"]["median"], r["throughput"]["best"], r["interference"]
    G = GOALS
    fr50 = lat["c1"]["p50_us"] / lat["ping"]["p50_us"]
    fr99 = lat["c1"]["p99_us"] / lat["ping"]["p99_us"]
    rows = [
        ["1 entity: p99 <= 0.6 ms", f"p99 {lat['c1']['p99_us']:.0f} µs", met(lat["c1"]["p99_us"] <= G["p99_1_us"])],
        ["1 entity: within 1.3x of the transport floor (p50 and p99)", f"p50 {fr50:.2f}x, p99 {fr99:.2f}x",
         met(fr50 <= G["floor_ratio"] and fr99 <= G["floor_ratio"])],
        ["100 entities: p99 <= 1.5 ms", f"p99 {lat['c100']['p99_us']:.0f} µs", met(lat["c100"]["p99_us"] <= G["p99_100_us"])],
        [">= 15k single-entity lookups/s", f"{tp[1]['requests_per_s']:,.0f}/s", met(tp[1]["requests_per_s"] >= G["rps_1"])],
        [">= 300k entity lookups/s in batches of 100", f"{tp[100]['entities_per_s']:,.0f}/s",
         met(tp[100]["entities_per_s"] >= G["entities_per_s_100"])],
        ["online p99 during ingest <= 2x idle", f"{it['ratio_p99']['ingest']:.2f}x", met(it["ratio_p99"]["ingest"] <= G["interference"])],
        ["online p99 during export <= 2x idle", f"{it['ratio_p99']['export']:.2f}x", met(it["ratio_p99"]["export"] <= G["interference"])],
        [">= 1M feature values/s into one node, acknowledged (C client)", f"{r['ingest_c']['values_per_s']:,.0f}/s",
         met(r["ingest_c"]["values_per_s"] >= G["ingest_values_per_s"])],
    ]
    if mem and "error" not in mem:
        mb = mem["rss_after_load_kb"] / 1024
        rows.append([f"{mem['entities'] / 1e6:g}M entities x 10 features (online + history) < 500 MB RSS (after the load, "
                     f"{mem['images_held_after_load']} history images held)", f"{mb:,.0f} MiB "
                     f"({mem['rss_with_image_kb'] / 1024:,.0f} MiB with its history image)", met(mb * 1.048576 < G["memory_mb"])])
    return rows


# ------------------------------------------------------------------------------------------------
def config(quick: bool) -> dict:
    if quick:
        return dict(rounds=2, requests_1=2000, requests_100=500, warmup=200, py_requests_1=500, py_requests_100=200,
                    py_warmup=50, tput_requests_1=5000, tput_requests_100=500, ingest_rows=200_000,
                    interference_requests=2000, profile_requests=3000, memory_entities=1_000_000)
    return dict(rounds=3, requests_1=5000, requests_100=2000, warmup=500, py_requests_1=2000, py_requests_100=500,
                py_warmup=200, tput_requests_1=20000, tput_requests_100=2000, ingest_rows=1_000_000,
                interference_requests=5000, profile_requests=6000, memory_entities=1_000_000)


def run_workload(binary: str, name: str, w: dict, cfg: dict, work: str, args) -> dict:
    log(f"=== workload {name}: {w}")
    d = os.path.join(work, name)
    os.makedirs(d)
    data = generate(d, w, seed=args.seed)
    res = {"workload": w, "cfg": cfg}
    node = start_node(binary, d, "node")
    rproc, rport, r = start_redis(d)
    try:
        res["redis_py_parser"] = check_hiredis_parser(r)
        log(f"redis-py parser: {res['redis_py_parser']}")
        res["ingest_cli"] = load_online(binary, node, data)
        load_redis(r, data["latest"])
        res["redis_used_memory_mb"] = r.info("memory")["used_memory"] / 1e6
        t = wait_image(binary, node.address, 0)
        log(f"history image of `online` built {t:.1f} s after the load")
        res["latency"] = latency(node, rport, r, w["entities"], cfg)
        res["throughput"] = throughput(node, w["entities"], cfg)
        res["ingest_c"] = ingest_c(node, cfg)
        res["interference"] = interference(binary, node, w["entities"], data, cfg)
        try:
            res["profile"] = profile(node, w["entities"], d, cfg) if not args.no_profile else {"error": "--no-profile"}
        except Exception as e:  # the profile is optional: say why it is missing
            res["profile"] = {"error": str(e)[:300]}
    finally:
        stop_node(node)
        r.close()
        rproc.terminate()
        rproc.wait(10)
        forget(rproc)
    if args.no_export:
        res["export"] = {"error": "--no-export"}
    else:
        res["export"] = export_vs_peers(binary, w, d, cfg)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", nargs="?", choices=["small", "medium", "all"],
                    help="default: all (small with --quick)")
    ap.add_argument("--strata", help="release strata binary")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and requests (a smoke test of a few minutes)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks/results"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-export", action="store_true", help="skip the export comparison (bench_join.py)")
    ap.add_argument("--no-profile", action="store_true", help="skip the perf profile")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1M-entity memory measurement")
    ap.add_argument("--render", metavar="JSON", help="print the markdown of a saved results file and exit")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            print(render(json.load(f)))
        return 0
    if not args.strata:
        ap.error("--strata is required")
    binary = os.path.abspath(args.strata)
    for exe in (CBENCH, CWRITE, RBENCH):
        if not os.access(exe, os.X_OK):
            ap.error(f"{exe} is missing: make -C clients/c all build/redis-bench")
    redis_py = redis_py_setup()  # before anything starts: no figure without hiredis
    log(f"Python Redis client: {redis_py['label']}")
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = config(args.quick)
    args.workload = args.workload or ("small" if args.quick else "all")
    names = ["small", "medium"] if args.workload == "all" else [args.workload]
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    work = tempfile.mkdtemp(prefix="strata-suite-")
    results = {"started": started.isoformat(timespec="seconds"), "commit": git("rev-parse", "--short", "HEAD"),
               "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
               "strata_version": run([binary, "--version"]).stdout.strip(), "machine": machine(), "quick": args.quick,
               "config": cfg, "goals": GOALS, "workloads": {},
               "redis_setup": {"python": redis_py,
                               "c": {"hiredis": c_hiredis_version(),
                                     "label": f"C redis-bench + hiredis {c_hiredis_version()}"},
                               "server": redis_server_version()}}
    try:
        for n in names:
            results["workloads"][n] = run_workload(binary, n, WORKLOADS[n], cfg, work, args)
        results["memory"] = {"error": "--no-memory"} if args.no_memory else memory(binary, work, cfg)
    finally:
        stop_all()
        subprocess.run(["rm", "-rf", work])
    results["seconds"] = time.perf_counter() - t0
    results["loadavg_start_end"] = [load0, os.getloadavg()]
    results["workload_arg"] = args.workload
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"{started:%Y-%m-%d-%H%M}-{results['commit'] or 'nocommit'}")
    with open(stem + ".json", "w") as f:  # first, so that a failure in the report loses no figure
        json.dump(results, f, indent=1, default=str)
    md = render(results)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {stem}.md and {stem}.json")
    return 0


def render(results: dict) -> str:
    """The markdown report of a results dict (also from a saved JSON: --render FILE)."""
    for wl in results["workloads"].values():  # JSON turns int keys into strings
        wl["throughput"]["best"] = {int(k): v for k, v in wl["throughput"]["best"].items()}
    names = list(results["workloads"])
    started = dt.datetime.fromisoformat(results["started"])
    quick = results["quick"]
    load0 = results["loadavg_start_end"][0]
    # --- Markdown
    m = results["machine"]
    goal_wl = names[-1]
    L = [f"## Strata benchmark suite: {started:%Y-%m-%d %H:%M} UTC, commit {results['commit']}"
         f"{' (uncommitted changes)' if results['dirty'] else ''}{' (--quick)' if quick else ''}", "",
         f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, loopback; "
         f"load average {load0[0]:.2f} at the start, {results['loadavg_start_end'][1][0]:.2f} at the end. "
         f"`{results['strata_version']}`. Server, clients and load generators share the {m['cpus']} CPUs. "
         f"Suite time {results['seconds'] / 60:.1f} min.", ""]
    L.append(f"### Goals (workload {goal_wl}; memory: its own 1M-entity node)")
    L.append("")
    L.append("| goal | measured | |")
    L.append("|---|---:|---|")
    for g in goals(results["workloads"][goal_wl], results.get("memory")):
        L.append("| " + " | ".join(g) + " |")
    L.append("")
    for n in names:
        L += report_workload(n, WORKLOADS[n], results["workloads"][n], results.get("redis_setup"))
    mem = results.get("memory")
    if mem and "error" not in mem:
        L.append(f"### Memory: {mem['entities']:,} entities x {mem['features']} features, one row each (online + history), fresh node")
        L.append("")
        L.append("| when | VmRSS | VmHWM |")
        L.append("|---|---:|---:|")
        L.append(f"| after the load ({mem['load']['values_per_s']:,.0f} values/s, C writer, batches of 10000; "
                 f"history images held: {mem['images_held_after_load']}) | {mem['rss_after_load_kb'] / 1024:,.0f} MiB | {mem['hwm_after_load_kb'] / 1024:,.0f} MiB |")
        L.append(f"| once the background history image is built ({mem['image_mib']} MiB image) | "
                 f"{mem['rss_with_image_kb'] / 1024:,.0f} MiB | {mem['hwm_with_image_kb'] / 1024:,.0f} MiB |")
        L.append(f"| after an export of {mem['export_labels']:,} labels | {mem['rss_after_export_kb'] / 1024:,.0f} MiB | "
                 f"{mem['hwm_after_export_kb'] / 1024:,.0f} MiB |")
        L.append("")
        L.append(f"The goal is checked against the RSS after the load (online + history as stored); the history "
                 f"image is an export cache bounded by `--history-image-mb`. Data directory: {mem['disk_mb']:,.0f} MB.")
    else:
        L.append(f"Memory: not measured ({(mem or {}).get('error')}).")
    L.append("")
    L.append(f"Reproduce: `benchmarks/bench-suite.sh {results.get('workload_arg', ' '.join(names))}{' --quick' if quick else ''}` "
             "(method: benchmarks/README.md).")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
