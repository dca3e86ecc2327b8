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
Peers do not restore the label input order (Strata does); that only favours the peers.
With --verify (default) the three results are compared value by value after the timing (not timed).
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
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


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
def verify(strata_csv: str, duck_pq: str, polars_pq: str) -> list[str]:
    import polars as pl
    overrides = {f"{GROUP}:{n}": {"FLOAT": pl.Float64, "INT": pl.Int64, "STRING": pl.Utf8}[d] for n, d in FEATURES}
    overrides.update({"entity_id": pl.Utf8, "label_timestamp": pl.Int64, "label": pl.Int64})
    s = pl.read_csv(strata_csv, schema_overrides=overrides, infer_schema_length=0)
    s = s.rename({f"{GROUP}:{n}": n for n, _ in FEATURES}).rename({"label_timestamp": "ts"})
    cols = ["entity_id", "ts", "label"] + [n for n, _ in FEATURES]
    s = s.select(cols)
    problems = []
    for name, path in (("duckdb", duck_pq), ("polars", polars_pq)):
        o = pl.read_parquet(path).select(cols)
        if o.height != s.height:
            problems.append(f"strata has {s.height} rows, {name} {o.height}")
            continue
        for c in cols:
            a, b = s.get_column(c), o.get_column(c).cast(s.get_column(c).dtype)
            diff = ~((a == b).fill_null(False) | (a.is_null() & b.is_null()))
            nd = int(diff.sum())
            if nd:
                i = int(diff.arg_max())
                problems.append(f"{c}: {nd} rows differ between strata and {name}; first at label row {i}: "
                                f"strata {a[i]!r}, {name} {b[i]!r} (entity {s['entity_id'][i]}, ts {s['ts'][i]})")
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
                    help="skip the (untimed) value-by-value comparison of the three results")
    ap.add_argument("--no-inexact", dest="inexact", action="store_false",
                    help="skip the informational DuckDB run without the created_timestamp tie-break")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # Internal: peer subprocesses.
    ap.add_argument("--peer", choices=["duckdb", "duckdb-inexact", "polars"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--peer-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.features < 3:
        ap.error("--features must be at least 3")
    set_feature_count(args.features)

    if args.peer:
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
    repro = (f"benchmarks/bench-join.sh {' '.join(flags)}   (or: python3 benchmarks/bench_join.py --strata "
             f"{shlex.quote(binary)} {' '.join(flags)})")

    tmp = tempfile.mkdtemp(prefix="strata-benchjoin-")
    server = None
    try:
        t = time.perf_counter()
        info = generate(args, tmp)
        log(f"generated {info['rows']:,} history rows ({info['corrections']:,} late corrections, "
            f"{info['history_mb']:.0f} MB CSV) and {info['labels']:,} labels ({info['labels_mb']:.0f} MB) "
            f"in {time.perf_counter() - t:.1f}s; seed {args.seed}; data in {tmp}")

        # --- Strata: serve, apply, ingest (timed separately), join.
        server = Server(binary, os.path.join(tmp, "data"), os.path.join(tmp, "node.log"))
        srv = ["--server", server.address]
        defs = os.path.join(tmp, "defs.yaml")
        with open(defs, "w") as f:
            f.write(defs_yaml())
        subprocess.run([binary, "apply", defs] + srv, check=True, capture_output=True)
        ingest_s, _, ingest_out, _ = timed_client([binary, "ingest", "--group", GROUP, info["history_csv"]] + srv)
        log(f"ingest: {ingest_out.splitlines()[-1] if ingest_out else ''} (wall {ingest_s:.1f}s)")

        # The node builds the group's history image in the background once writes pause; wait for it
        # (the cold run below measures an export that has to build it first).
        t = time.perf_counter()
        while images_built(binary, srv) < 1:
            if time.perf_counter() - t > 300:
                raise RuntimeError("the node built no history image within 300 s of the ingest")
            time.sleep(0.2)
        log(f"history image ready {time.perf_counter() - t:.1f}s after the ingest returned")

        strata_runs = []
        csv_runs = []
        out_csv = os.path.join(tmp, "strata_out.csv")
        base = [binary, "join", "--labels", info["labels_csv"], "--features", f"{GROUP}:*"] + srv
        base += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
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

        # --- Peers, each in its own process.
        duck_pq = os.path.join(tmp, "duckdb.parquet") if args.verify else None
        pol_pq = os.path.join(tmp, "polars.parquet") if args.verify else None
        duck = run_peer("duckdb", tmp, args.repeat, duck_pq)
        log(f"duckdb {duck['version']}: " + ", ".join(f"{x:.2f}s" for x in duck["times"]))
        pol = run_peer("polars", tmp, args.repeat, pol_pq)
        log(f"polars {pol['version']}: " + ", ".join(f"{x:.2f}s" for x in pol["times"]))
        duck_inexact = run_peer("duckdb-inexact", tmp, args.repeat, None) if args.inexact else None

        problems = verify(out_csv, duck_pq, pol_pq) if args.verify else None

        # --- Report.
        n = info["labels"]
        s_med = statistics.median(r["s"] for r in strata_runs)
        d_med = statistics.median(duck["times"])
        p_med = statistics.median(pol["times"])
        fastest = min(d_med, p_med)
        client_kb = max((r["client_kb"] or 0) for r in strata_runs) or None
        join_peak = max((r["join_peak_kb"] or 0) for r in strata_runs) or None
        hwm_before = strata_runs[0]["hwm_before_kb"]
        c_med = statistics.median(r["s"] for r in csv_runs)
        csv_client_kb = max((r["client_kb"] or 0) for r in csv_runs) or None
        rows = [
            ("Strata end to end, rows received (`strata join --discard`)", s_med,
             f"server {fmt_mib(join_peak)} during join; VmHWM {fmt_mib(hwm_before)} before join "
             f"(incl. ingest), {fmt_mib(hwm_total)} after; client {fmt_mib(client_kb)}"),
            ("Strata end to end, written to CSV (`strata join --out`)", c_med, f"client {fmt_mib(csv_client_kb)}"),
            ("Strata right after a restart, `--discard` (builds the history image first; one run)", cold_s,
             f"server VmHWM {fmt_mib(cold_hwm)}"),
            (f"DuckDB {duck['version']} ASOF JOIN + created tie-break (in memory)", d_med,
             f"{fmt_mib(duck['peak_kb'])} (process; {fmt_mib(duck['loaded_kb'])} after load)"),
            (f"polars {pol['version']} join_asof + created tie-break (in memory)", p_med,
             f"{fmt_mib(pol['peak_kb'])} (process; {fmt_mib(pol['loaded_kb'])} after load)"),
        ]
        if duck_inexact:
            di = statistics.median(duck_inexact["times"])
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
        print(f"Ingest (separate): {info['rows']:,} rows in {ingest_s:.1f}s = {info['rows'] / ingest_s:,.0f} rows/s "
              f"(wall of `strata ingest`; CLI summary: {ingest_out.splitlines()[-1] if ingest_out else 'n/a'})")
        mid = sorted(strata_runs, key=lambda r: r["s"])[len(strata_runs) // 2]
        if mid["server_cpu"] is not None:
            print(f"Strata CPU in the median run ({mid['s']:.2f}s wall): server {mid['server_cpu']:.1f}s, "
                  f"client {mid['client_cpu']:.1f}s (user+system; {os.cpu_count()} CPUs)")
        runs = lambda xs: ", ".join(f"{x:.2f}s" for x in xs)  # noqa: E731
        mid = sorted(csv_runs, key=lambda r: r["s"])[len(csv_runs) // 2]
        if mid["server_cpu"] is not None:
            print(f"Strata CPU in the median CSV run ({mid['s']:.2f}s wall): server {mid['server_cpu']:.1f}s, "
                  f"client {mid['client_cpu']:.1f}s")
        print(f"Strata runs: {runs(r['s'] for r in strata_runs)} (received), {runs(r['s'] for r in csv_runs)} (CSV); DuckDB runs: {runs(duck['times'])}; "
              f"polars runs: {runs(pol['times'])}")
        if problems is not None:
            if problems:
                print("VERIFY: results differ:")
                for p in problems[:20]:
                    print("  " + p)
            else:
                print(f"Verify: Strata, DuckDB and polars agree on all {n:,} rows x {len(FEATURES)} features.")
        print(f"Reproduce: {repro}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({
                    "workload": {"entities": args.entities, "rows_per_entity": args.rows_per_entity,
                                 "history_rows": info["rows"], "corrections": info["corrections"],
                                 "features": len(FEATURES), "labels": n, "repeat": args.repeat, "seed": args.seed},
                    "strata_discard_s": [r["s"] for r in strata_runs], "strata_csv_s": [r["s"] for r in csv_runs],
                    "strata_cold_s": cold_s, "duckdb_s": duck["times"], "polars_s": pol["times"],
                    "duckdb_inexact_s": duck_inexact["times"] if duck_inexact else None,
                    "duckdb_version": duck["version"], "polars_version": pol["version"],
                    "median_s": {"strata_discard": s_med, "strata_csv": c_med, "duckdb": d_med, "polars": p_med},
                    "server_join_peak_kb": join_peak, "server_hwm_total_kb": hwm_total, "client_peak_kb": client_kb,
                    "duckdb_peak_kb": duck["peak_kb"], "polars_peak_kb": pol["peak_kb"],
                    "ingest_s": ingest_s, "ingest_rows_per_s": info["rows"] / ingest_s,
                    "verified": None if problems is None else not problems, "problems": problems,
                    "reproduce": repro}, f, indent=1)
        return 1 if problems else 0
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
