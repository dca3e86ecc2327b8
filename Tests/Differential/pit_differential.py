#!/usr/bin/env python3
"""Differential test of Strata's point-in-time join against DuckDB's ASOF JOIN.

Usage:
    python3 Tests/Differential/pit_differential.py --strata PATH_TO_STRATA_BINARY [--labels 100000] [--seed N]

What it does:
  1. Generates seeded data (the seed is printed): two feature groups
       pit_ttl    max_age 7d, INT/FLOAT/STRING features, most with defaults, one without
       pit_plain  no max_age, INT/FLOAT/STRING features, one with a default
     with event times on a whole-hour grid over 60 days (ending two days before now), so that equal event
     times are frequent, created timestamps with frequent ties (resolved by write order), late
     corrections appended at the end of the file and in a second file ingested afterwards (same event +
     later created, same event + same created, same event + *earlier* created (must lose), older events,
     corrections of corrections), null cells, non-ASCII / quoted entity ids and strings, and timestamps in
     every accepted format (RFC 3339 with Z / offsets / fractions, epoch s / ms / us).
     Labels (>= 100k by default): exact event times, +-1 us around them, the max-age boundary, random
     times, times before the first event, unknown entities, entities present in only one group, and
     duplicate label rows.
  2. Starts its own `strata serve --port 0` on a temporary data directory, applies the definitions,
     ingests the CSV files and runs `strata join --with-status` for both groups.
  3. Computes the expected result in DuckDB: the history is first reduced to one row per
     (entity, event_timestamp) keeping the greatest (created_timestamp, file row number), then
     `ASOF LEFT JOIN ... ON entity AND event <= label`, then max age, defaults and statuses in SQL.
  4. Compares every row, every pass-through column, every value (floats parsed as floats, compared
     exactly) and every status. Prints
        pit-differential: N labels, M features, 0 mismatches (seed S)
     or the first 10 mismatches and exits 1. The server is always stopped.

`--mutate NAME` deliberately corrupts the *expected* computation (e.g. drops the created_timestamp
tie-break) to check that the test notices; such a run must fail.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import os
import random
import subprocess
import sys
import tempfile
import time

from strata_node import Server, clean_up, report

try:
    import duckdb
    import polars as pl
except ImportError as e:  # pragma: no cover
    sys.exit(f"pit_differential: needs duckdb and polars (pip install duckdb polars): {e}")

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# ----------------------------------------------------------------------------------------------------
# Feature groups. default=None means "no default".
# ----------------------------------------------------------------------------------------------------
GROUPS = [
    {
        "name": "pit_ttl",
        "max_age_us": 7 * DAY,
        "max_age_text": "7d",
        "features": [
            ("clicks", "INT", 0),
            ("score", "FLOAT", 1.5),
            ("segment", "STRING", "none"),
            ("ratio", "FLOAT", None),
        ],
    },
    {
        "name": "pit_plain",
        "max_age_us": None,
        "max_age_text": None,
        "features": [
            ("count", "INT", None),
            ("amount", "FLOAT", -1.0),
            ("city", "STRING", None),
        ],
    },
]

MUTATIONS = {
    "none": "no corruption",
    "drop-created": "ignore created_timestamp when event times tie (write order only)",
    "drop-write-order": "ignore write order when (event, created) tie (first written wins)",
    "strict-asof": "use event < label instead of event <= label",
    "max-age-inclusive": "treat event == label - max_age as expired",
    "arg-max-nulls": "use arg_max per feature column (silently skips nulls)",
}


def ts_text(rng: random.Random, us: int) -> str:
    """One timestamp in a randomly chosen accepted format (all denote exactly `us`)."""
    choices = ["rfc_z", "us"]
    if us % 1000 == 0:
        choices.append("ms")
    if us % US == 0:
        choices += ["s", "s"]
    choices += ["rfc_off", "rfc_space"]
    kind = rng.choice(choices)
    if kind == "s":
        return str(us // US)
    if kind == "ms":
        return str(us // 1000)
    if kind == "us":
        return str(us)
    d = EPOCH + dt.timedelta(microseconds=us)
    if kind == "rfc_z":
        body, suffix, sep = d, "Z", "T"
    else:
        off_h = rng.choice([-5, 1, 2, 9])
        off_m = rng.choice([0, 30]) if off_h in (9, -5) else 0
        off = dt.timedelta(hours=off_h, minutes=off_m if off_h > 0 else -off_m)
        body = d + off
        sign = "+" if off >= dt.timedelta(0) else "-"
        a = abs(off)
        suffix = f"{sign}{a.seconds // 3600:02d}:{(a.seconds % 3600) // 60:02d}"
        sep = "T" if kind == "rfc_off" else " "
    s = body.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if body.microsecond:
        s += "." + f"{body.microsecond:06d}".rstrip("0")
    elif rng.random() < 0.1:
        s += ".000"
    return s + suffix


def gen_float(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.3:
        return round(rng.uniform(-1000, 1000), 2)
    if r < 0.5:
        return float(rng.randint(-50, 50))  # printed by Strata as "40.0"
    if r < 0.7:
        return rng.uniform(-1, 1) * 10 ** rng.randint(-12, 18)  # full precision, exponents
    if r < 0.75:
        return rng.choice([0.1, 1e-05, 123456789012345678.0, 2.0 ** 60, -0.5, 1e15, 1e16, 5e-324])
    return rng.random() * 100


def float_text(rng: random.Random, x: float) -> str:
    t = repr(x)
    if x == int(x) and abs(x) < 1e15 and not (x == 0 and math.copysign(1.0, x) < 0) and rng.random() < 0.3:
        # Integer-looking text for a FLOAT column. Not for -0.0: str(int(-0.0)) is "0", which would
        # hand Strata +0.0 while the expected side keeps -0.0 (seed 398492237 found it).
        t = str(int(x))
    return t


def gen_int(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.7:
        return rng.randint(-1000, 100000)
    if r < 0.9:
        return rng.randint(-(2 ** 63), 2 ** 63 - 1)
    return rng.choice([0, -1, 2 ** 63 - 1, -(2 ** 63), 2 ** 53 + 1])


STRINGS = ["alpha", "beta", "gamma", "Zürich", "São Paulo", "a,b", 'say "hi"', "x y z", " padded ",
           "東京", "emoji 🚀", "semi;colon", "tab\there", "line\nbreak", "0", "null", "NULL", "-"]


def gen_value(rng: random.Random, dtype: str):
    if rng.random() < 0.12:
        return None
    if dtype == "INT":
        return gen_int(rng)
    if dtype == "FLOAT":
        return gen_float(rng)
    if rng.random() < 0.5:
        return rng.choice(STRINGS)
    return f"s{rng.randint(0, 999)}"


def value_text(rng: random.Random, dtype: str, v) -> str:
    if v is None:
        return ""
    if dtype == "FLOAT":
        return float_text(rng, v)
    return str(v)


# ----------------------------------------------------------------------------------------------------
# Data generation
# ----------------------------------------------------------------------------------------------------
def entity_name(i: int) -> str:
    if i % 997 == 5:
        return f"usér-{i}"  # non-ASCII id
    if i % 1009 == 7:
        return f"u-{i},x"  # id that needs CSV quoting
    return f"e{i}"


def generate(seed: int, n_labels: int, n_entities: int, end_us: int, tmp: str):
    rng = random.Random(seed)
    start_us = end_us - 60 * DAY
    hours = 60 * 24
    all_entities = [entity_name(i) for i in range(n_entities)]
    # Entities in each group: most in both, some in only one, some in neither (unknown to Strata).
    in_ttl = set(rng.sample(range(n_entities), int(n_entities * 0.85)))
    in_plain = set(rng.sample(range(n_entities), int(n_entities * 0.85)))
    membership = [in_ttl, in_plain]

    splits = []  # per group: rows before this index go to the first file, the rest to the second
    histories = []  # per group: list of dict rows in file order (row_no = index)
    events_by_entity = []  # per group: entity -> sorted event list
    for gi, g in enumerate(GROUPS):
        feats = g["features"]
        rows = []
        for i in sorted(membership[gi]):
            e = all_entities[i]
            # A small set of distinct event hours per entity: many rows share an event time.
            n_hours = rng.randint(1, 6)
            ev_hours = rng.sample(range(hours), n_hours)
            n_rows = rng.randint(1, 10)
            for _ in range(n_rows):
                ev = start_us + rng.choice(ev_hours) * HOUR
                cr = ev + rng.choice([0, 0, 0, HOUR, HOUR, 2 * HOUR, 1500 * 1000])  # frequent ties
                vals = [gen_value(rng, dtype) for (_, dtype, _) in feats]
                rows.append((e, ev, cr, vals))
        rng.shuffle(rows)  # unsorted event times, random write order
        # Late corrections appended at the end of the file (the second half in a second file, ingested
        # after the first); a correction may correct an earlier correction.
        n_corr = len(rows) // 8
        for _ in range(n_corr):
            e, ev, cr, _vals = rng.choice(rows)
            kind = rng.random()
            if kind < 0.35:
                ncr = cr + rng.choice([1, US, 3 * HOUR])  # same event, later created: supersedes
                nev = ev
            elif kind < 0.6:
                nev, ncr = ev, cr  # same event and created: later write wins
            elif kind < 0.75:
                nev, ncr = ev, cr - rng.choice([1, HOUR])  # same event, earlier created: must lose
            else:
                nev = ev - rng.randint(1, 72) * HOUR  # an older event arriving late
                nev = max(nev, start_us)
                ncr = ev + 5 * HOUR
            vals = [gen_value(rng, dtype) for (_, dtype, _) in feats]
            rows.append((e, nev, ncr, vals))
        histories.append(rows)
        splits.append(len(rows) - n_corr // 2)
        ev_map: dict[str, list[int]] = {}
        for (e, ev, _, _) in rows:
            ev_map.setdefault(e, []).append(ev)
        for k in ev_map:
            ev_map[k].sort()
        events_by_entity.append(ev_map)

    # Write the Strata CSV files (mixed timestamp formats) and the canonical parquet files for DuckDB.
    paths = []
    for gi, g in enumerate(GROUPS):
        feats = g["features"]
        group_paths = []
        for part, chunk in enumerate((histories[gi][:splits[gi]], histories[gi][splits[gi]:])):
            path = os.path.join(tmp, f"{g['name']}.{part}.csv")
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["entity_id", "event_timestamp", "created_timestamp"] + [n for (n, _, _) in feats])
                for (e, ev, cr, vals) in chunk:
                    w.writerow([e, ts_text(rng, ev), ts_text(rng, cr)]
                               + [value_text(rng, dtype, v) for (v, (_, dtype, _)) in zip(vals, feats)])
            group_paths.append(path)
        paths.append(group_paths)
        cols = {
            "row_no": list(range(len(histories[gi]))),
            "entity_id": [r[0] for r in histories[gi]],
            "ev": [r[1] for r in histories[gi]],
            "cr": [r[2] for r in histories[gi]],
        }
        schema = {"row_no": pl.Int64, "entity_id": pl.Utf8, "ev": pl.Int64, "cr": pl.Int64}
        for fi, (n, dtype, _) in enumerate(feats):
            cols[n] = [r[3][fi] for r in histories[gi]]
            schema[n] = {"INT": pl.Int64, "FLOAT": pl.Float64, "STRING": pl.Utf8}[dtype]
        pl.DataFrame(cols, schema=schema).write_parquet(os.path.join(tmp, f"{g['name']}.parquet"))

    # Labels.
    ttl_max_age = GROUPS[0]["max_age_us"]
    known = sorted(in_ttl | in_plain)
    labels = []  # (entity, ts_us, ts_text, y)
    while len(labels) < n_labels:
        r = rng.random()
        gi = rng.randrange(2)
        if r < 0.13 and labels:
            labels.append(rng.choice(labels[-5000:]))  # duplicate label row (same text too)
            continue
        if r < 0.18:
            e = f"unknown{rng.randrange(10 ** 6)}" if rng.random() < 0.5 else all_entities[rng.randrange(n_entities)]
            ts = start_us + rng.randrange(62 * DAY)
        elif r < 0.23:
            e = all_entities[rng.choice(known)]
            evs = events_by_entity[gi].get(e) or events_by_entity[1 - gi].get(e)
            first = evs[0]
            ts = first - rng.choice([1, US, HOUR, rng.randrange(1, 30 * DAY)])  # before the first event
        else:
            e = all_entities[rng.choice(known)]
            evs = events_by_entity[gi].get(e) or events_by_entity[1 - gi].get(e)
            ev = rng.choice(evs)
            k = rng.random()
            if k < 0.35:
                ts = ev  # exactly an event time
            elif k < 0.5:
                ts = ev + rng.choice([-1, 1])
            elif k < 0.65:
                ts = ev + ttl_max_age + rng.choice([-1, 0, 0, 1, US])  # max-age boundary
            elif k < 0.8:
                ts = ev + rng.randrange(0, 10 * DAY)
            else:
                ts = start_us + rng.randrange(61 * DAY)
        labels.append((e, ts, ts_text(rng, ts), rng.randrange(2)))
    labels = labels[:n_labels]
    label_path = os.path.join(tmp, "labels.csv")
    with open(label_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["entity_id", "label_timestamp", "y", "note"])
        for i, (e, _, tt, y) in enumerate(labels):
            w.writerow([e, tt, y, "n,ote" if y else ""])
    pl.DataFrame(
        {"lid": list(range(len(labels))), "entity_id": [l[0] for l in labels], "ts": [l[1] for l in labels]},
        schema={"lid": pl.Int64, "entity_id": pl.Utf8, "ts": pl.Int64},
    ).write_parquet(os.path.join(tmp, "labels.parquet"))
    n_hist = [len(h) for h in histories]
    return paths, label_path, labels, n_hist


def defs_yaml() -> str:
    out = ["groups:"]
    for g in GROUPS:
        out.append(f"  - name: {g['name']}")
        out.append("    entity_type: USER")
        if g["max_age_text"]:
            out.append(f"    max_age: {g['max_age_text']}")
        out.append("    features:")
        for (n, dtype, default) in g["features"]:
            out.append(f"      - name: {n}")
            out.append(f"        dtype: {dtype}")
            if default is not None:
                d = f'"{default}"' if dtype == "STRING" else repr(default)
                out.append(f"        default: {d}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------------
# Expected result in DuckDB
# ----------------------------------------------------------------------------------------------------
def sql_literal(dtype: str, v) -> str:
    if v is None:
        return "NULL"
    if dtype == "STRING":
        return "'" + str(v).replace("'", "''") + "'"
    if dtype == "FLOAT":
        return f"CAST('{v!r}' AS DOUBLE)"
    return f"CAST({int(v)} AS BIGINT)"


def expected(tmp: str, mutate: str):
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute(f"CREATE TABLE labels AS SELECT * FROM read_parquet('{tmp}/labels.parquet')")
    select_cols = ["l.lid"]
    for g in GROUPS:
        name = g["name"]
        feats = g["features"]
        con.execute(f"CREATE TABLE h_{name} AS SELECT * FROM read_parquet('{tmp}/{name}.parquet')")
        # 1. One row per (entity, event): the greatest (created, write order).
        if mutate == "drop-created":
            key = "row_no"
        elif mutate == "drop-write-order":
            key = "struct_pack(c := cr, r := -row_no)"
        else:
            key = "struct_pack(c := cr, r := row_no)"
        if mutate == "arg-max-nulls":
            # Classic mistake: arg_max skips rows whose argument is NULL.
            aggs = ", ".join(f"arg_max({n}, {key}) AS {n}" for (n, _, _) in feats)
            con.execute(f"""
                CREATE TABLE w_{name} AS
                SELECT entity_id, ev, {aggs}, 0 AS row_no
                FROM h_{name} GROUP BY entity_id, ev""")
        else:
            con.execute(f"""
                CREATE TABLE w_{name} AS
                SELECT h.* FROM h_{name} h
                JOIN (SELECT arg_max(row_no, {key}) AS row_no FROM h_{name} GROUP BY entity_id, ev) k
                  USING (row_no)""")
        # 2. ASOF join on entity and event <= label time.
        cmp = "<" if mutate == "strict-asof" else "<="
        feat_cols = ", ".join(f"w.{n}" for (n, _, _) in feats)
        con.execute(f"""
            CREATE TABLE j_{name} AS
            SELECT l.lid, l.ts, w.ev, w.row_no IS NOT NULL AS found, {feat_cols}
            FROM labels l ASOF LEFT JOIN w_{name} w
              ON l.entity_id = w.entity_id AND w.ev {cmp} l.ts""")
        # 3. Max age, defaults, statuses.
        if g["max_age_us"] is not None:
            op = "<=" if mutate == "max-age-inclusive" else "<"
            expired = f"(found AND ev {op} ts - {g['max_age_us']})"
        else:
            expired = "FALSE"
        parts = []
        for (n, dtype, default) in feats:
            d = sql_literal(dtype, default)
            absent = "'DEFAULTED'" if default is not None else "'MISSING'"
            parts.append(f"""
                CASE WHEN {expired} THEN {d}
                     WHEN NOT found OR {n} IS NULL THEN {d}
                     ELSE {n} END AS "{name}:{n}",
                CASE WHEN {expired} THEN 'EXPIRED'
                     WHEN NOT found OR {n} IS NULL THEN {absent}
                     ELSE 'PRESENT' END AS "{name}:{n}__status" """)
            select_cols += [f'"{name}"."{name}:{n}"', f'"{name}"."{name}:{n}__status"']
        con.execute(f'CREATE TABLE "{name}" AS SELECT lid, {",".join(parts)} FROM j_{name}')
    joins = " ".join(f'JOIN "{g["name"]}" USING (lid)' for g in GROUPS)
    cols = ", ".join(c.replace("l.lid", "lid") for c in select_cols)
    rows = con.execute(f"SELECT {cols} FROM labels l {joins} ORDER BY lid").fetchall()
    con.close()
    return rows


# ----------------------------------------------------------------------------------------------------
# Strata
# ----------------------------------------------------------------------------------------------------
def run(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return (p.stdout + p.stderr).strip()


def parse_cell(dtype: str, text: str):
    if text == "":
        return None
    if dtype == "INT":
        return int(text)
    if dtype == "FLOAT":
        return float(text)
    return text


def same(a, b) -> bool:
    """Exact equality; floats must be equal as doubles (including the sign of zero), ints as ints."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return type(a) is type(b) and a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strata", required=True, help="path to the strata binary")
    ap.add_argument("--labels", type=int, default=100_000, help="label rows (default 100000)")
    ap.add_argument("--entities", type=int, default=6000, help="entity universe (default 6000; ~5100 per group)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--chunk-size", type=int, default=None, help="strata join --chunk-size (default: the CLI's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--mutate", choices=sorted(MUTATIONS), default="none",
                    help="corrupt the expected computation to check that the test fails: "
                         + "; ".join(f"{k}: {v}" for k, v in MUTATIONS.items()))
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 31)
    binary = os.path.abspath(args.strata)
    print(f"pit-differential: seed {seed} (rerun with --seed {seed}), {args.labels} labels, strata {binary}",
          flush=True)
    t0 = time.monotonic()
    now_us = int(time.time()) * US
    end_us = (now_us // HOUR) * HOUR - 2 * DAY

    tmp = tempfile.mkdtemp(prefix="strata-pitdiff-")
    server = None
    try:
        hist_paths, label_path, labels, n_hist = generate(seed, args.labels, args.entities, end_us, tmp)
        t_gen = time.monotonic()
        defs = os.path.join(tmp, "defs.yaml")
        with open(defs, "w") as f:
            f.write(defs_yaml())
        server = Server(binary, os.path.join(tmp, "data"), os.path.join(tmp, "node.log"))
        srv = ["--server", server.address]
        run([binary, "apply", defs] + srv)
        for g, group_paths in zip(GROUPS, hist_paths):
            for path in group_paths:  # the main file, then the file of later corrections
                run([binary, "ingest", "--group", g["name"], path] + srv)
        t_ing = time.monotonic()
        out_path = os.path.join(tmp, "out.csv")
        refs = ",".join(f"{g['name']}:*" for g in GROUPS)
        join_cmd = [binary, "join", "--labels", label_path, "--features", refs, "--out", out_path, "--with-status"]
        if args.chunk_size:
            join_cmd += ["--chunk-size", str(args.chunk_size)]
        run(join_cmd + srv)
        t_join = time.monotonic()
        server.stop()
        server = None

        exp = expected(tmp, args.mutate)
        t_exp = time.monotonic()

        # Compare.
        feat_specs = [(f"{g['name']}:{n}", dtype) for g in GROUPS for (n, dtype, _) in g["features"]]
        mismatches: list[str] = []
        n_mismatch = 0

        def bad(msg):
            nonlocal n_mismatch
            n_mismatch += 1
            if len(mismatches) < 10:
                mismatches.append(msg)

        with open(label_path, newline="", encoding="utf-8") as f:
            label_rows = list(csv.reader(f))[1:]
        with open(out_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            out_rows = list(reader)
        want_header = ["entity_id", "label_timestamp", "y", "note"]
        want_cols = set(want_header) | {c for (c, _) in feat_specs} | {c + "__status" for (c, _) in feat_specs}
        if header[:4] != want_header or set(header) != want_cols or len(header) != len(want_cols):
            bad(f"header: got {header}, want the label columns {want_header} then {sorted(want_cols - set(want_header))}")
        idx = {c: i for i, c in enumerate(header)}
        if len(out_rows) != len(labels):
            bad(f"row count: got {len(out_rows)}, want {len(labels)}")
        status_counts: dict[str, int] = {}
        for i in range(min(len(out_rows), len(labels))):
            got = out_rows[i]
            if len(got) != len(header):
                bad(f"row {i}: {len(got)} fields, header has {len(header)}")
                continue
            if got[:4] != label_rows[i]:
                bad(f"row {i}: label columns {got[:4]} != input {label_rows[i]}")
            e_row = exp[i]
            if e_row[0] != i:
                bad(f"row {i}: expected-row id {e_row[0]}")
            for k, (col, dtype) in enumerate(feat_specs):
                want_v, want_s = e_row[1 + 2 * k], e_row[2 + 2 * k]
                got_text, got_s = got[idx.get(col, 0)], got[idx.get(col + "__status", 0)]
                status_counts[want_s] = status_counts.get(want_s, 0) + 1
                try:
                    got_v = parse_cell(dtype, got_text)
                except ValueError:
                    got_v = f"<unparseable {got_text!r}>"
                if not same(got_v, want_v) or got_s != want_s:
                    e, ts_us, tt, _ = labels[i]
                    bad(f"row {i} (entity {e!r}, label_timestamp {tt} = {ts_us} us) {col}: "
                        f"strata {got_text!r} {got_s}, duckdb {want_v!r} {want_s}")
        t_cmp = time.monotonic()
        n_feat = len(feat_specs)
        hist = ", ".join(f"{g['name']} {n}" for g, n in zip(GROUPS, n_hist))
        print(f"  history rows: {hist}; "
              f"expected statuses: {', '.join(f'{k} {v}' for k, v in sorted(status_counts.items()))}")
        print(f"  times: generate {t_gen - t0:.1f}s, serve+apply+ingest {t_ing - t_gen:.1f}s, "
              f"strata join {t_join - t_ing:.1f}s, duckdb {t_exp - t_join:.1f}s, compare {t_cmp - t_exp:.1f}s")
        if args.mutate != "none":
            print(f"  (expected computation deliberately corrupted: --mutate {args.mutate})")
        args.keep = args.keep or n_mismatch > 0  # the data of a failed run stays for a look
        return report("pit-differential", f"{len(labels)} labels, {n_feat} features, {n_mismatch} mismatches "
                      f"(seed {seed})", mismatches)
    finally:
        clean_up(server, tmp, args.keep)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"pit-differential: error: {e}", file=sys.stderr)
        sys.exit(2)
