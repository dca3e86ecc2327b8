#!/usr/bin/env python3
"""Point-in-time join benchmark: Strata vs DuckDB ASOF JOIN vs polars join_asof, on the same data.

Usage (normally through benchmarks/bench-join.sh, which installs duckdb/polars and builds a release binary):
    python3 benchmarks/bench_join.py --strata PATH_TO_RELEASE_STRATA [--entities 100000] [--rows-per-entity 20]
                                  [--labels 1000000] [--repeat 3] [--seed 42] [--features 20] [--json FILE]

Workload "medium" (the defaults): 100k entities x 20 history rows (2M rows, unsorted event times over
90 days, about 1% late corrections: rows appended at the end of the file that repeat an existing
(entity, event_timestamp) with a later created_timestamp), 20 features (12 FLOAT, 7 INT, 1 STRING,
a few nulls), 1M labels (uniform over the entities plus ~1% unknown ones, times from 5 days before the
history to 1 day after it, unsorted).

Measured in one run on the same generated data:
  - ingest: `strata ingest` wall time and rows/s (reported separately, not part of the join);
  - Strata: `strata join --labels ... --features 'bench:*' --discard` wall time, end to end (labels read
    and streamed by the client, joined rows received and decoded, not written), after the node has built
    the group's history image in the background; then the same with `--out FILE` (CSV written), and once
    right after a restart (the export builds the image first); server peak RSS (VmHWM of the server
    before the join - it includes the ingest - and after it, plus the peak during the join alone, measured
    by resetting the high-water mark through /proc/PID/clear_refs when the kernel allows it); client peak
    RSS (/usr/bin/time -v, else getrusage(RUSAGE_CHILDREN));
  - DuckDB: data loaded into in-memory tables first; timed = one `CREATE TABLE r AS ...` that reduces the
    history to one row per (entity, event) by the greatest (created_timestamp, file row) and ASOF LEFT
    JOINs the labels to it (exact semantics); separate subprocess, peak RSS of that process;
  - polars: data loaded into DataFrames first; timed = the same tie-break reduction, sorting, and
    `join_asof(by=entity, strategy=backward)`; separate subprocess, peak RSS of that process.
  - Strata through the Python SDK (clients/python/src of this checkout), what a Python user ends up
    holding: `client.get_historical_features(labels, "bench:*").to_arrow()` with the labels as a pyarrow
    Table in memory, and `.to_df()` with the labels as a pandas DataFrame in memory (entity_id,
    label_timestamp as UTC datetimes, label). Each in its own long-lived Python process that loaded the
    labels and connected its `strata.Client` before the timing (and ran a 100-label warm-up export);
    timed = the call until the Arrow table / DataFrame is returned; peak RSS of that process.
  - First export right after the ingest: for each of `--discard`, SDK `to_arrow()` and SDK `to_df()`, and
    each of --repeat rounds, a fresh node, the same `strata ingest`, and the export started the moment
    the ingest returned (the node has not built the history image yet: it builds it once writes have
    paused for 1 s, or the export builds it). The SDK process is started, loaded and connected before the
    ingest and told to go when it returns.
Peers do not restore the label input order (Strata does); that only favours the peers.
With --verify (default) the results are compared value by value after the timing (not timed): Strata's
CSV, the SDK's Arrow table and DataFrame (with the image, and from the first round right after the
ingest) against DuckDB's and polars'.
Results: a markdown table (median of --repeat runs) and the command that reproduces it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "Differential"))
from strata_node import Server  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import vm_kb_file  # noqa: E402

N_FLOAT, N_INT, N_STRING = 12, 7, 1
FEATURES = ([(f"f{i:02d}", "FLOAT") for i in range(N_FLOAT)] + [(f"i{i:02d}", "INT") for i in range(N_INT)]
            + [(f"s{i:02d}", "STRING") for i in range(N_STRING)])
GROUP = "bench"


def set_feature_count(n: int):
    """--features N: the same mix scaled (20 -> 12 FLOAT, 7 INT, 1 STRING; 10 -> 6, 3, 1)."""
    global N_FLOAT, N_INT, N_STRING, FEATURES
    N_STRING = 1
    N_INT = round((n - 1) * 7 / 19)
    N_FLOAT = n - N_INT - N_STRING
    FEATURES = ([(f"f{i:02d}", "FLOAT") for i in range(N_FLOAT)] + [(f"i{i:02d}", "INT") for i in range(N_INT)]
                + [(f"s{i:02d}", "STRING") for i in range(N_STRING)])
DAY = 86400


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# Data generation (numpy + polars; seeded)
# ----------------------------------------------------------------------------------------------------
def generate(args, tmp: str) -> dict:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(args.seed)
    n_ent, per, n_lab = args.entities, args.rows_per_entity, args.labels
    n = n_ent * per
    end = int(time.time()) // 3600 * 3600 - 3 * DAY
    start = end - 90 * DAY
    ent = np.repeat(np.arange(n_ent, dtype=np.int64), per)
    ev = rng.integers(start, end, size=n, dtype=np.int64)
    cr = ev + rng.integers(0, 3600, size=n, dtype=np.int64)
    # ~1% late corrections: repeat another row's (entity, event) of the same entity with a later created.
    n_corr = n // 100
    corr = rng.choice(n, size=n_corr, replace=False)
    src = ent[corr] * per + rng.integers(0, per, size=n_corr)
    ev[corr] = ev[src]
    cr[corr] = cr[src] + rng.integers(1, DAY, size=n_corr)
    order = rng.permutation(n)
    is_corr = np.zeros(n, dtype=bool)
    is_corr[corr] = True
    order = np.concatenate([order[~is_corr[order]], order[is_corr[order]]])  # corrections at the end
    cols = {"entity_id": None, "event_timestamp": ev[order], "created_timestamp": cr[order]}
    for name, dtype in FEATURES:
        if dtype == "FLOAT":
            s = pl.Series(name, np.round(rng.normal(100.0, 50.0, size=n), 4))
        elif dtype == "INT":
            s = pl.Series(name, rng.integers(-1_000_000, 1_000_000, size=n, dtype=np.int64))
        else:
            s = ("cat" + pl.Series(name, rng.integers(0, 1000, size=n)).cast(pl.Utf8)).alias(name)
        if name in ("f00", "i00", "s00"):  # ~2% nulls in a few features
            null_mask = pl.Series(rng.random(n) < 0.02)
            s = pl.select(pl.when(null_mask).then(None).otherwise(s).alias(name)).to_series()
        cols[name] = s.gather(order)
    ent_ord = ent[order]
    cols["entity_id"] = "u" + pl.Series(ent_ord).cast(pl.Utf8)
    hist = pl.DataFrame(cols)
    hist_csv = os.path.join(tmp, "history.csv")
    hist.write_csv(hist_csv)
    hist.with_row_index("row_no").with_columns(pl.col("row_no").cast(pl.Int64)).rename(
        {"event_timestamp": "ev", "created_timestamp": "cr"}).write_parquet(os.path.join(tmp, "history.parquet"))

    lab_ent = rng.integers(0, int(n_ent * 1.01) + 1, size=n_lab)  # ~1% unknown entities
    lab_ts = rng.integers(start - 5 * DAY, end + DAY, size=n_lab, dtype=np.int64)
    labels = pl.DataFrame({
        "entity_id": "u" + pl.Series(lab_ent).cast(pl.Utf8),
        "label_timestamp": lab_ts,
        "label": rng.integers(0, 2, size=n_lab),
    })
    lab_csv = os.path.join(tmp, "labels.csv")
    labels.write_csv(lab_csv)
    labels.with_row_index("lid").with_columns(pl.col("lid").cast(pl.Int64)).rename(
        {"label_timestamp": "ts"}).write_parquet(os.path.join(tmp, "labels.parquet"))
    return {"rows": n, "corrections": n_corr, "labels": n_lab, "history_csv": hist_csv, "labels_csv": lab_csv,
            "history_mb": os.path.getsize(hist_csv) / 1e6, "labels_mb": os.path.getsize(lab_csv) / 1e6}


# ----------------------------------------------------------------------------------------------------
# Peers (each run in its own subprocess: `bench_join.py --peer duckdb|polars --data DIR`)
# ----------------------------------------------------------------------------------------------------
def rss_self_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def vm_kb(pid, field: str) -> int | None:
    """A kB field of /proc/PID/status (VmRSS, VmHWM), or None."""
    return vm_kb_file(f"/proc/{pid}/status", field)


def peer_duckdb(data: str, repeat: int, out: str | None, exact: bool) -> dict:
    import duckdb
    con = duckdb.connect()
    con.execute(f"CREATE TABLE h AS SELECT * FROM read_parquet('{data}/history.parquet')")
    con.execute(f"CREATE TABLE labels AS SELECT * FROM read_parquet('{data}/labels.parquet')")
    loaded_kb = vm_kb("self", "VmHWM")
    feats = ", ".join(f"w.{n}" for n, _ in FEATURES)
    if exact:
        # One row per (entity, event): greatest created, then the later file row; then ASOF.
        # (arg_max over the row number, not over the feature columns: arg_max skips NULL arguments.
        # Measured slightly faster than QUALIFY row_number() OVER (...) = 1 on the medium workload.)
        q = f"""
            WITH k AS (SELECT arg_max(row_no, (cr, row_no)) AS row_no FROM h GROUP BY entity_id, ev),
                 w AS (SELECT h.* FROM h SEMI JOIN k USING (row_no))
            SELECT l.lid, l.entity_id, l.ts, l.label, w.ev, {feats}
            FROM labels l ASOF LEFT JOIN w ON l.entity_id = w.entity_id AND w.ev <= l.ts"""
    else:
        q = f"""
            SELECT l.lid, l.entity_id, l.ts, l.label, w.ev, {feats}
            FROM labels l ASOF LEFT JOIN h w ON l.entity_id = w.entity_id AND w.ev <= l.ts"""
    times = []
    for _ in range(repeat):
        con.execute("DROP TABLE IF EXISTS r")
        t = time.perf_counter()
        con.execute(f"CREATE TABLE r AS {q}")
        times.append(time.perf_counter() - t)
    n = con.execute("SELECT count(*) FROM r").fetchone()[0]
    peak_kb = rss_self_kb()
    if out:
        con.execute(f"COPY (SELECT * FROM r ORDER BY lid) TO '{out}' (FORMAT parquet)")
    return {"times": times, "rows": n, "peak_kb": peak_kb, "loaded_kb": loaded_kb,
            "version": duckdb.__version__}


def peer_polars(data: str, repeat: int, out: str | None) -> dict:
    import warnings
    import polars as pl
    warnings.filterwarnings("ignore", message="Sortedness of columns cannot be checked")
    h = pl.read_parquet(f"{data}/history.parquet")
    labels = pl.read_parquet(f"{data}/labels.parquet")
    loaded_kb = vm_kb("self", "VmHWM")
    times = []
    r = None
    for _ in range(repeat):
        r = None
        t = time.perf_counter()
        # One row per (entity, event): the last in (created, file row) order; then join_asof.
        w = h.sort(["cr", "row_no"]).unique(subset=["entity_id", "ev"], keep="last").sort("ev")
        r = labels.sort("ts").join_asof(w.drop(["row_no", "cr"]), left_on="ts", right_on="ev",
                                         by="entity_id", strategy="backward")
        times.append(time.perf_counter() - t)
        del w
    peak_kb = rss_self_kb()
    if out:
        r.sort("lid").write_parquet(out)
    return {"times": times, "rows": r.height, "peak_kb": peak_kb, "loaded_kb": loaded_kb,
            "version": pl.__version__}


def run_peer(kind: str, data: str, repeat: int, out: str | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--peer", kind, "--data", data, "--repeat", str(repeat),
           "--features", str(len(FEATURES))]
    if out:
        cmd += ["--peer-out", out]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{kind} peer failed:\n{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------
# Strata through the Python SDK: a worker process per mode (`bench_join.py --peer sdk-arrow|sdk-df
# --data DIR --server ADDR`), driven line by line over stdin/stdout so that the timed call can start at
# a moment the parent chooses (right after an ingest returns) with the labels already in memory.
# ----------------------------------------------------------------------------------------------------
SDK_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients", "python", "src")
SDK_INPUT = {
    "sdk-arrow": "labels as a pyarrow Table in memory (entity_id string, label_timestamp timestamp[s, UTC], label int64)",
    "sdk-df": "labels as a pandas DataFrame in memory (entity_id str, label_timestamp datetime64[s, UTC], label int64)",
}


def sdk_labels(data: str, mode: str):
    """The labels as a user would hold them: a pyarrow Table (to_arrow) or a pandas DataFrame (to_df)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    lab = pq.read_table(f"{data}/labels.parquet")  # lid, entity_id, ts, label
    table = pa.table({"entity_id": lab["entity_id"],
                      "label_timestamp": lab["ts"].cast(pa.timestamp("s", tz="UTC")),
                      "label": lab["label"]})
    return table if mode == "sdk-arrow" else table.to_pandas()


def sdk_normalized(result):
    """An SDK result (Arrow table or DataFrame) as an Arrow table of entity_id, ts (seconds), label and the
    feature columns under their bare names, for the comparison with the peers."""
    import pyarrow as pa
    t = result if isinstance(result, pa.Table) else pa.Table.from_pandas(result, preserve_index=False)
    ts = t["label_timestamp"].cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())
    cols = {"entity_id": t["entity_id"], "ts": ts, "label": t["label"]}
    for n, _ in FEATURES:
        cols[n] = t[f"{GROUP}:{n}"]
    return pa.table(cols)


def sdk_worker(data: str, address: str, mode: str) -> int:
    """Commands on stdin, one JSON line per answer on stdout: `go` -> one timed export
    {"s", "rows", "cpu_s"}; `save PATH` -> the last result, normalized, as Parquet (not timed);
    `quit` -> {"peak_kb", versions}. Prints {"ready": true} once the labels are loaded and the client
    connected."""
    sys.path.insert(0, SDK_SRC)
    import pyarrow.parquet as pq
    import strata
    labels = sdk_labels(data, mode)
    client = strata.Client(address, timeout=None)
    client.status(timeout=30)  # the channel is connected before any timing

    def export(lab):
        job = client.get_historical_features(lab, f"{GROUP}:*", progress=False)
        return job.to_arrow() if mode == "sdk-arrow" else job.to_df()

    # A warm-up of 100 labels: imports and first-call paths of the SDK (below the node's threshold for
    # building a history image, so the node's state is unchanged).
    export(labels.slice(0, 100) if mode == "sdk-arrow" else labels.iloc[:100])
    print(json.dumps({"ready": True}), flush=True)
    last = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "go":
            last = None
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            last = export(labels)
            wall = time.perf_counter() - t
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            print(json.dumps({"s": wall, "rows": len(last),
                              "cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)}), flush=True)
        elif cmd[0] == "save":
            pq.write_table(sdk_normalized(last), cmd[1])
            print(json.dumps({"saved": cmd[1]}), flush=True)
        elif cmd[0] == "quit":
            break
    client.close()
    import grpc
    import pandas
    import pyarrow
    print(json.dumps({"peak_kb": rss_self_kb(), "versions": {
        "strata_sdk": getattr(strata, "__version__", "checkout"), "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__, "grpcio": grpc.__version__}}), flush=True)
    return 0


class SDKWorker:
    """The parent's side of a worker process."""

    def __init__(self, mode: str, data: str, address: str):
        self.mode = mode
        cmd = [sys.executable, os.path.abspath(__file__), "--peer", mode, "--data", data, "--server", address,
               "--features", str(len(FEATURES))]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._answer()  # {"ready": true}

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"the {self.mode} worker exited ({self.proc.returncode}); its error is above")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> dict:
        out = self.ask("quit")
        self.proc.stdin.close()
        self.proc.wait(60)
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ----------------------------------------------------------------------------------------------------
# Strata
# ----------------------------------------------------------------------------------------------------
def cpu_seconds(pid) -> float | None:
    """utime + stime of a process, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed_client(cmd: list[str]) -> tuple[float, int | None, str, float]:
    """Runs a client command; returns (wall seconds, peak RSS KiB, stderr+stdout, client CPU seconds)."""
    full = (["/usr/bin/time", "-v"] + cmd) if os.access("/usr/bin/time", os.X_OK) else cmd
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = ru0.ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    if p.returncode != 0:
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    peak = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if m:
        peak = int(m.group(1))
        text = p.stderr[:p.stderr.find("\tCommand being timed")]
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak = after if after > before else None  # max over all children so far: an upper bound
        text = p.stderr
    return wall, peak, (p.stdout + text).strip(), cpu


def images_built(binary: str, srv: list[str]) -> int:
    """History images built by the node since it started (from `strata status`)."""
    p = subprocess.run([binary, "status"] + srv, capture_output=True, text=True)
    m = re.search(r"history images: \d+ held, \d+ MiB, (\d+) built", p.stdout)
    return int(m.group(1)) if m else 0


def defs_yaml() -> str:
    lines = ["groups:", f"  - name: {GROUP}", "    entity_type: USER", "    features:"]
    for n, dtype in FEATURES:
        lines += [f"      - name: {n}", f"        dtype: {dtype}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------
# Verification (not timed): Strata CSV vs DuckDB vs polars, value by value
# ----------------------------------------------------------------------------------------------------
def strata_csv_frame(strata_csv: str):
    """`strata join --out` CSV as the compared columns (entity_id, ts, label, bare feature names)."""
    import polars as pl
    overrides = {f"{GROUP}:{n}": {"FLOAT": pl.Float64, "INT": pl.Int64, "STRING": pl.Utf8}[d] for n, d in FEATURES}
    overrides.update({"entity_id": pl.Utf8, "label_timestamp": pl.Int64, "label": pl.Int64})
    s = pl.read_csv(strata_csv, schema_overrides=overrides, infer_schema_length=0)
    return s.rename({f"{GROUP}:{n}": n for n, _ in FEATURES}).rename({"label_timestamp": "ts"})


def verify(stratas: dict, duck_pq: str, polars_pq: str) -> list[str]:
    """Each Strata result (name -> CSV path or normalized SDK Parquet path) against both peers, cell by cell."""
    import polars as pl
    cols = ["entity_id", "ts", "label"] + [n for n, _ in FEATURES]
    peers = {name: pl.read_parquet(path).select(cols) for name, path in (("duckdb", duck_pq), ("polars", polars_pq))}
    problems = []
    for sname, spath in stratas.items():
        s = (strata_csv_frame(spath) if spath.endswith(".csv") else pl.read_parquet(spath)).select(cols)
        for name, o in peers.items():
            if o.height != s.height:
                problems.append(f"{sname} has {s.height} rows, {name} {o.height}")
                continue
            for c in cols:
                a, b = s.get_column(c), o.get_column(c).cast(s.get_column(c).dtype)
                diff = ~((a == b).fill_null(False) | (a.is_null() & b.is_null()))
                nd = int(diff.sum())
                if nd:
                    i = int(diff.arg_max())
                    problems.append(f"{c}: {nd} rows differ between {sname} and {name}; first at label row {i}: "
                                    f"{sname} {a[i]!r}, {name} {b[i]!r} (entity {s['entity_id'][i]}, ts {s['ts'][i]})")
    return problems


# ----------------------------------------------------------------------------------------------------
def fmt_mib(kb) -> str:
    return "n/a" if kb is None else f"{kb / 1024:,.0f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strata", help="path to the (release) strata binary")
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--rows-per-entity", type=int, default=20)
    ap.add_argument("--labels", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each join; the median is reported")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--features", type=int, default=20, help="feature columns (>= 3; 20 = 12 FLOAT, 7 INT, 1 STRING)")
    ap.add_argument("--json", help="also write the figures as JSON to this file")
    ap.add_argument("--chunk-size", type=int, default=None, help="strata join --chunk-size (default: the CLI's)")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="skip the (untimed) value-by-value comparison of the results")
    ap.add_argument("--no-inexact", dest="inexact", action="store_false",
                    help="skip the informational DuckDB run without the created_timestamp tie-break")
    ap.add_argument("--no-sdk", dest="sdk", action="store_false",
                    help="skip the Python SDK exports (to_arrow, to_df)")
    ap.add_argument("--no-after-ingest", dest="after_ingest", action="store_false",
                    help="skip the first exports right after an ingest (each round ingests the history again)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # Internal: peer subprocesses.
    ap.add_argument("--peer", choices=["duckdb", "duckdb-inexact", "polars", "sdk-arrow", "sdk-df"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--peer-out", help=argparse.SUPPRESS)
    ap.add_argument("--server", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.features < 3:
        ap.error("--features must be at least 3")
    set_feature_count(args.features)

    if args.peer:
        if args.peer in SDK_INPUT:
            return sdk_worker(args.data, args.server, args.peer)
        if args.peer == "polars":
            res = peer_polars(args.data, args.repeat, args.peer_out)
        else:
            res = peer_duckdb(args.data, args.repeat, args.peer_out, exact=args.peer == "duckdb")
        print(json.dumps(res))
        return 0
    if not args.strata:
        ap.error("--strata is required")
    binary = os.path.abspath(args.strata)
    flags = ["--entities", str(args.entities), "--rows-per-entity", str(args.rows_per_entity),
             "--labels", str(args.labels), "--repeat", str(args.repeat), "--seed", str(args.seed)]
    flags += ["--features", str(args.features)] if args.features != 20 else []
    flags += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
    flags += [] if args.sdk else ["--no-sdk"]
    flags += [] if args.after_ingest else ["--no-after-ingest"]
    repro = (f"benchmarks/bench-join.sh {' '.join(flags)}   (or: python3 benchmarks/bench_join.py --strata "
             f"{shlex.quote(binary)} {' '.join(flags)})")
    sdk_modes = list(SDK_INPUT) if args.sdk else []

    tmp = tempfile.mkdtemp(prefix="strata-benchjoin-")
    server = None
    workers: list[SDKWorker] = []
    try:
        t = time.perf_counter()
        info = generate(args, tmp)
        log(f"generated {info['rows']:,} history rows ({info['corrections']:,} late corrections, "
            f"{info['history_mb']:.0f} MB CSV) and {info['labels']:,} labels ({info['labels_mb']:.0f} MB) "
            f"in {time.perf_counter() - t:.1f}s; seed {args.seed}; data in {tmp}")
        defs = os.path.join(tmp, "defs.yaml")
        with open(defs, "w") as f:
            f.write(defs_yaml())

        def fresh_node(name: str) -> tuple[Server, list[str]]:
            node = Server(binary, os.path.join(tmp, name), os.path.join(tmp, name + ".log"))
            address = ["--server", node.address]
            subprocess.run([binary, "apply", defs] + address, check=True, capture_output=True)
            return node, address

        def ingest(address: list[str]) -> tuple[float, str]:
            wall, _, out, _ = timed_client([binary, "ingest", "--group", GROUP, info["history_csv"]] + address)
            return wall, (out.splitlines()[-1] if out else "")

        def join_cmd(address: list[str]) -> list[str]:
            cmd = [binary, "join", "--labels", info["labels_csv"], "--features", f"{GROUP}:*"] + address
            return cmd + (["--chunk-size", str(args.chunk_size)] if args.chunk_size else [])

        # --- Strata: serve, apply, ingest (timed separately), join.
        server, srv = fresh_node("data")
        ingest_s, ingest_out = ingest(srv)
        ingest_runs = [ingest_s]
        log(f"ingest: {ingest_out} (wall {ingest_s:.1f}s)")

        # The node builds the group's history image in the background once writes pause; wait for it
        # (the runs right after an ingest or a restart below measure exports that come before it).
        t = time.perf_counter()
        while images_built(binary, srv) < 1:
            if time.perf_counter() - t > 300:
                raise RuntimeError("the node built no history image within 300 s of the ingest")
            time.sleep(0.2)
        image_ready_s = time.perf_counter() - t
        log(f"history image ready {image_ready_s:.1f}s after the ingest returned")

        strata_runs = []
        csv_runs = []
        sdk_runs = {m: [] for m in sdk_modes}
        out_csv = os.path.join(tmp, "strata_out.csv")
        base = join_cmd(srv)
        workers = [SDKWorker(m, tmp, server.address) for m in sdk_modes]
        for k in range(args.repeat):
            # Rows received and decoded by the client, not written (what the peers' timings cover).
            before = vm_kb(server.proc.pid, "VmHWM")
            rss_now = vm_kb(server.proc.pid, "VmRSS")
            reset = server.reset_hwm()
            cpu0 = cpu_seconds(server.proc.pid)
            wall, client_kb, out, client_cpu = timed_client(base + ["--discard"])
            cpu1 = cpu_seconds(server.proc.pid)
            during = vm_kb(server.proc.pid, "VmHWM")
            strata_runs.append({"s": wall, "client_kb": client_kb, "hwm_before_kb": before, "rss_before_kb": rss_now,
                                "join_peak_kb": during if reset else None,
                                "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                                "client_cpu": client_cpu, "summary": next((l for l in out.splitlines() if l.startswith("joined")), out.splitlines()[-1] if out else "")})
            log(f"strata join --discard run {k + 1}: {wall:.2f}s ({strata_runs[-1]['summary']})")
            # The same export written to a CSV file.
            cpu0 = cpu_seconds(server.proc.pid)
            wall, client_kb, out, client_cpu = timed_client(base + ["--out", out_csv])
            cpu1 = cpu_seconds(server.proc.pid)
            csv_runs.append({"s": wall, "client_kb": client_kb, "client_cpu": client_cpu,
                             "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0})
            log(f"strata join --out run {k + 1}: {wall:.2f}s")
            # The Python SDK, ending in an Arrow table / a pandas DataFrame.
            for wk in workers:
                cpu0 = cpu_seconds(server.proc.pid)
                r = wk.ask("go")
                cpu1 = cpu_seconds(server.proc.pid)
                if r["rows"] != info["labels"]:
                    raise RuntimeError(f"{wk.mode}: {r['rows']} rows for {info['labels']} labels")
                r["server_cpu"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
                sdk_runs[wk.mode].append(r)
                log(f"strata SDK {wk.mode} run {k + 1}: {r['s']:.2f}s (Python CPU {r['cpu_s']:.1f}s)")
        sdk_out = {}
        sdk_peak = {}
        sdk_versions = {}
        for wk in workers:
            if args.verify:
                sdk_out[wk.mode] = os.path.join(tmp, f"{wk.mode}.parquet")
                wk.ask(f"save {sdk_out[wk.mode]}")
            q = wk.close()
            sdk_peak[wk.mode], sdk_versions = q["peak_kb"], q["versions"]
        workers = []
        # VmHWM since the server started (ingest included): max of the pre-join mark and the join peaks.
        hwm_total = max([r["hwm_before_kb"] or 0 for r in strata_runs] + [r["join_peak_kb"] or 0 for r in strata_runs]
                        + [vm_kb(server.proc.pid, "VmHWM") or 0])
        server.stop()
        # Cold: a restarted node has no image; the first export builds it (one scan of the history).
        server = Server(binary, os.path.join(tmp, "data"), os.path.join(tmp, "node2.log"))
        cold_s, _, _, _ = timed_client([c if c != srv[1] else server.address for c in base] + ["--discard"])
        cold_hwm = vm_kb(server.proc.pid, "VmHWM")
        log(f"strata join --discard right after a restart (builds the image first): {cold_s:.2f}s")
        server.stop()
        server = None

        # --- The first export right after an ingest: per round and mode a fresh node, the same ingest,
        # and the export started the moment `strata ingest` returns.
        after = {m: [] for m in (["discard"] + sdk_modes if args.after_ingest else [])}
        after_out = {}
        for k in range(args.repeat if args.after_ingest else 0):
            for mode in after:
                name = f"after-{k}-{mode}"
                server, a = fresh_node(name)
                wk = SDKWorker(mode, tmp, server.address) if mode in SDK_INPUT else None
                if wk:
                    workers.append(wk)
                wall_ingest, _ = ingest(a)
                ingest_runs.append(wall_ingest)
                cpu0 = cpu_seconds(server.proc.pid)
                if wk:
                    r = wk.ask("go")
                else:
                    wall, _, _, ccpu = timed_client(join_cmd(a) + ["--discard"])
                    r = {"s": wall, "cpu_s": ccpu}
                cpu1 = cpu_seconds(server.proc.pid)
                r["server_cpu"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
                r["images_built_after"] = images_built(binary, a)
                r["ingest_s"] = wall_ingest
                after[mode].append(r)
                log(f"first export right after the ingest ({wall_ingest:.1f}s), {mode} round {k + 1}: {r['s']:.2f}s "
                    f"(history images built by then: {r['images_built_after']})")
                if wk:
                    if k == 0 and args.verify:
                        after_out[mode] = os.path.join(tmp, f"{mode}-after-ingest.parquet")
                        wk.ask(f"save {after_out[mode]}")
                    wk.close()
                    workers.remove(wk)
                server.stop()
                server = None
                shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)

        # --- Peers, each in its own process.
        duck_pq = os.path.join(tmp, "duckdb.parquet") if args.verify else None
        pol_pq = os.path.join(tmp, "polars.parquet") if args.verify else None
        duck = run_peer("duckdb", tmp, args.repeat, duck_pq)
        log(f"duckdb {duck['version']}: " + ", ".join(f"{x:.2f}s" for x in duck["times"]))
        pol = run_peer("polars", tmp, args.repeat, pol_pq)
        log(f"polars {pol['version']}: " + ", ".join(f"{x:.2f}s" for x in pol["times"]))
        duck_inexact = run_peer("duckdb-inexact", tmp, args.repeat, None) if args.inexact else None

        problems = None
        if args.verify:
            stratas = {"strata CSV": out_csv}
            stratas.update({f"SDK {m[4:]}": p for m, p in sdk_out.items()})
            stratas.update({f"SDK {m[4:]} after ingest": p for m, p in after_out.items()})
            problems = verify(stratas, duck_pq, pol_pq)
            verified_outputs = list(stratas)

        # --- Report.
        n = info["labels"]
        med = lambda xs: statistics.median(xs)  # noqa: E731
        s_med = med(r["s"] for r in strata_runs)
        d_med = med(duck["times"])
        p_med = med(pol["times"])
        fastest = min(d_med, p_med)
        client_kb = max((r["client_kb"] or 0) for r in strata_runs) or None
        join_peak = max((r["join_peak_kb"] or 0) for r in strata_runs) or None
        hwm_before = strata_runs[0]["hwm_before_kb"]
        c_med = med(r["s"] for r in csv_runs)
        csv_client_kb = max((r["client_kb"] or 0) for r in csv_runs) or None
        medians = {"strata_discard": s_med, "strata_csv": c_med, "duckdb": d_med, "polars": p_med,
                   "strata_restart_discard": cold_s}
        what = {"sdk-arrow": "`get_historical_features(...).to_arrow()`, from a pyarrow Table",
                "sdk-df": "`get_historical_features(...).to_df()`, from a pandas DataFrame"}
        rows = [
            ("Strata CLI, rows received and dropped (`strata join --discard`, labels CSV file); image built", s_med,
             f"node {fmt_mib(join_peak)} during the join; VmHWM {fmt_mib(hwm_before)} before it "
             f"(ingest and image incl.), {fmt_mib(hwm_total)} after; CLI {fmt_mib(client_kb)}"),
            ("Strata CLI, written to CSV (`strata join --out`); image built", c_med, f"CLI {fmt_mib(csv_client_kb)}"),
        ]
        for m in sdk_modes:
            medians[m.replace("-", "_")] = x = med(r["s"] for r in sdk_runs[m])
            rows.append((f"Strata Python SDK {what[m]} in memory; image built", x,
                         f"Python process {fmt_mib(sdk_peak[m])} (labels + result)"))
        for m, runs_ in after.items():
            medians[m.replace("-", "_") + "_after_ingest"] = x = med(r["s"] for r in runs_)
            label = ("Strata CLI `--discard`" if m == "discard" else f"Strata Python SDK {what[m]}")
            rows.append((f"{label}: first export right after the ingest (no image yet; fresh node per run)", x, ""))
        rows.append(("Strata CLI `--discard` right after a restart (builds the image first; one run)", cold_s,
                     f"node VmHWM {fmt_mib(cold_hwm)}"))
        rows += [
            (f"DuckDB {duck['version']} ASOF JOIN + created tie-break (in memory)", d_med,
             f"{fmt_mib(duck['peak_kb'])} (process; {fmt_mib(duck['loaded_kb'])} after load)"),
            (f"polars {pol['version']} join_asof + created tie-break (in memory)", p_med,
             f"{fmt_mib(pol['peak_kb'])} (process; {fmt_mib(pol['loaded_kb'])} after load)"),
        ]
        if duck_inexact:
            di = med(duck_inexact["times"])
            rows.append(("(info) DuckDB ASOF JOIN without tie-break, not exact", di,
                         f"{fmt_mib(duck_inexact['peak_kb'])} (process)"))
        print()
        print(f"Workload: {args.entities:,} entities x {args.rows_per_entity} rows = {info['rows']:,} history rows "
              f"({info['corrections']:,} late corrections), {len(FEATURES)} features "
              f"({N_FLOAT} FLOAT, {N_INT} INT, {N_STRING} STRING), {n:,} labels; "
              f"{os.cpu_count()} CPUs; median of {args.repeat} run(s)")
        print()
        print("| system | seconds | labels/s | peak RSS | ratio to fastest peer |")
        print("|---|---:|---:|---|---:|")
        for name, sec, rss in rows:
            print(f"| {name} | {sec:.2f} | {n / sec:,.0f} | {rss} | {sec / fastest:.2f}x |")
        print()
        ingest_med = med(ingest_runs)
        print(f"Ingest (separate): {info['rows']:,} rows, median {ingest_med:.1f}s of {len(ingest_runs)} ingest(s) = "
              f"{info['rows'] / ingest_med:,.0f} rows/s (wall of `strata ingest`; first CLI summary: {ingest_out or 'n/a'}); "
              f"history image ready {image_ready_s:.1f}s after the first ingest returned")
        mid = sorted(strata_runs, key=lambda r: r["s"])[len(strata_runs) // 2]
        if mid["server_cpu"] is not None:
            print(f"Strata CPU in the median run ({mid['s']:.2f}s wall): server {mid['server_cpu']:.1f}s, "
                  f"client {mid['client_cpu']:.1f}s (user+system; {os.cpu_count()} CPUs)")
        runs = lambda xs: ", ".join(f"{x:.2f}s" for x in xs)  # noqa: E731
        mid = sorted(csv_runs, key=lambda r: r["s"])[len(csv_runs) // 2]
        if mid["server_cpu"] is not None:
            print(f"Strata CPU in the median CSV run ({mid['s']:.2f}s wall): server {mid['server_cpu']:.1f}s, "
                  f"client {mid['client_cpu']:.1f}s")
        for m in sdk_modes:
            mid = sorted(sdk_runs[m], key=lambda r: r["s"])[len(sdk_runs[m]) // 2]
            if mid["server_cpu"] is not None:
                print(f"Strata CPU in the median SDK {m[4:]} run ({mid['s']:.2f}s wall): server {mid['server_cpu']:.1f}s, "
                      f"Python {mid['cpu_s']:.1f}s")
        print(f"Strata runs: {runs(r['s'] for r in strata_runs)} (received), {runs(r['s'] for r in csv_runs)} (CSV)"
              + "".join(f", {runs(r['s'] for r in sdk_runs[m])} (SDK {m[4:]})" for m in sdk_modes)
              + "".join(f"; right after the ingest: {runs(r['s'] for r in rs)} ({m})" for m, rs in after.items())
              + f"; DuckDB runs: {runs(duck['times'])}; polars runs: {runs(pol['times'])}")
        if sdk_modes:
            print(f"SDK setup: strata.Client of this checkout, grpcio {sdk_versions.get('grpcio')}, pyarrow "
                  f"{sdk_versions.get('pyarrow')}, pandas {sdk_versions.get('pandas')}; "
                  + "; ".join(f"{m[4:]}: {SDK_INPUT[m]}" for m in sdk_modes)
                  + "; default chunk_size, no progress bar; client connected and labels in memory before the timing")
        if problems is not None:
            if problems:
                print("VERIFY: results differ:")
                for p in problems[:20]:
                    print("  " + p)
            else:
                print(f"Verify: DuckDB and polars agree with each of {', '.join(verified_outputs)} "
                      f"on all {n:,} rows x {len(FEATURES)} features.")
        print(f"Reproduce: {repro}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({
                    "workload": {"entities": args.entities, "rows_per_entity": args.rows_per_entity,
                                 "history_rows": info["rows"], "corrections": info["corrections"],
                                 "features": len(FEATURES), "labels": n, "repeat": args.repeat, "seed": args.seed},
                    "strata_discard_s": [r["s"] for r in strata_runs], "strata_csv_s": [r["s"] for r in csv_runs],
                    "strata_cold_s": cold_s, "duckdb_s": duck["times"], "polars_s": pol["times"],
                    "strata_sdk_runs": sdk_runs, "sdk_input": {m: SDK_INPUT[m] for m in sdk_modes},
                    "sdk_peak_kb": sdk_peak, "sdk_versions": sdk_versions,
                    "after_ingest_runs": after,
                    "duckdb_inexact_s": duck_inexact["times"] if duck_inexact else None,
                    "duckdb_version": duck["version"], "polars_version": pol["version"],
                    "median_s": medians, "fastest_peer_s": fastest,
                    "ratio_to_fastest_peer": {k: v / fastest for k, v in medians.items()},
                    "server_join_peak_kb": join_peak, "server_hwm_total_kb": hwm_total, "client_peak_kb": client_kb,
                    "duckdb_peak_kb": duck["peak_kb"], "polars_peak_kb": pol["peak_kb"],
                    "ingest_s": ingest_s, "ingest_runs_s": ingest_runs, "ingest_rows_per_s": info["rows"] / ingest_med,
                    "image_ready_after_ingest_s": image_ready_s,
                    "verified": None if problems is None else not problems, "problems": problems,
                    "verified_outputs": verified_outputs if args.verify else None,
                    "reproduce": repro}, f, indent=1)
        return 1 if problems else 0
    finally:
        for wk in workers:
            wk.kill()
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
