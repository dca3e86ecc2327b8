#!/usr/bin/env python3
"""Differential test of Strata's windowed stream aggregates against DuckDB.

Usage:
    python3 Tests/Differential/agg_differential.py --strata PATH_TO_STRATA_BINARY
        [--events 1000000] [--labels 100000] [--entities 20000] [--seed N] [--mutate NAME]

What it does:
  1. Generates seeded data (the seed is printed; numpy's generator, so a seed gives the same data on
     every machine): one stream `agg_ev` (qty INT, amount FLOAT, tag STRING, each with nulls) and
     >= 1M events by default over ~40 days for ~20k entities with Zipf-skewed activity (the busiest
     entity has ~2% of the events, the quietest ~5). Event times are on a minute grid (many on the
     exact minute, some at :30) with ~25% of events copied from the entity's neighbouring event
     (exact ties of event time, some of created time too) and ~6% placed exactly one window (5m, 1h, 1d, 7d, 30d) after
     the entity's neighbouring event, so that an event sits exactly on the excluded edge
     `T - window` of a label at the later event. `amount` is a positive number with two decimals
     (0.01 to 999.99).
     Two pushes with the Python SDK (`client.push`): the main push (95%, in event-time order with a
     random jitter of up to 6 h, so that many events are late and ties are in random order) carries
     explicit created times (event time + 0, 1 s, 1 h or up to 2 days: frequent (event, created)
     ties, resolved by write order); the second, late push (5%: events older than the entity's
     latest, half of them with exactly the event time of a main-push event of the same entity, with
     other values) has no created column, so the node stamps its clock at commit.
     Labels (>= 100k; entities chosen uniformly, 3% by activity): exact event times, event time +
     window (the edge: that event is out), +-1 us around both, random times, entities that have no
     events. Half carry `known_at`: mostly a time after every main-push created time and before the
     late push (the late push is then invisible), else exactly the created time of a main-push event
     of the entity (that event in, later created ones out) or one microsecond before it.
  2. Starts its own `strata serve --port 0` on a temporary data directory, applies the stream and
     one aggregate group over it:
        cnt_1h count 1h | cnt_30d count 30d | cnt_5m count 5m | qty_sum_1d sum(qty) 1d (default 7,
        which an empty window must NOT use: sum is 0, PRESENT) | amt_sum_7d sum(amount) 7d |
        amt_avg_1h avg(amount) 1h (default -1.0) | qty_min_1d, qty_max_1d min/max(qty) 1d (no
        default) | tag_last_30d last(tag) 30d (default "none")
     pushes both parts (times printed) and exports `agg:*` with statuses via
     `client.get_historical_features` (time printed).
  3. Computes the expected values in DuckDB with one range join over the largest window,
        labels JOIN events ON entity AND event > label - 30d AND event <= label
                              [AND created <= known_at when the label has one]
     and `FILTER (WHERE event > label - W)` per window, grouped by label; `last` is
     `arg_max(tag, (event, created, write order)) FILTER (tag IS NOT NULL)`.
     The ordering of `last` is unambiguous by design: created times of the main push are chosen
     here; the late push's created times come from the node's clock at commit, which is after every
     main-push created time (those are all >= 3 days in the past) and non-decreasing over the push,
     so they are modelled as +infinity, ordered among themselves by write order. Write ids follow
     the push order (one node, one PushEvents call, a batch's ids a consecutive block), so write
     order = the row's position in the pushes.
  4. Compares every label, every feature, value and status: counts, INT sums, min and max exactly,
     strings exactly. FLOAT: Strata sums exactly, then rounds once (avg: exact sum / count, rounded
     once). The expected side reproduces that exactly: every amount (a double >= 0.01) is an integer
     multiple of 2^-60, so DuckDB sums the integers amount * 2^60 as HUGEINT (exact) and Python's
     correctly rounded int / int division gives sum = N / 2^60 and avg = N / (count * 2^60); those
     must be equal to Strata's doubles bit for bit. In addition, DuckDB's plain double SUM
     (accumulation in double, in DuckDB's order) must be within 1e-12 relative error of Strata's
     value (a 7-day window holds at most ~4k terms, all positive: the worst-case error bound of naive
     summation, (n - 1) * 2^-53, is then < 5e-13; the run prints the largest error seen).
     Also prints how often the edges were hit (label-event pairs with the event exactly at T, exactly
     at T - window, created exactly at known_at; events tied on event time / event and created time)
     and the times of the pushes, the export and DuckDB. Prints
        agg-differential: N events, M labels, K values, 0 mismatches (seed S)
     or the first 10 mismatches (with the entity's events in the window) and exits 1. The server is
     always stopped.

`--mutate NAME` deliberately corrupts the *expected* computation (e.g. counts the event exactly on
the window's lower edge) to check that the test notices; such a run must fail.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

from strata_node import Server, clean_up, report

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))

try:
    import duckdb
    import numpy as np
    import pyarrow as pa
except ImportError as e:  # pragma: no cover
    sys.exit(f"agg_differential: needs duckdb, numpy and pyarrow (dev/python-env.sh "
             f"Tests/Differential/requirements.txt clients/python/requirements-test.txt): {e}")
import strata  # noqa: E402  (the SDK from this repository)

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WINDOWS = {"5m": 5 * MINUTE, "1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
MAX_W = WINDOWS["30d"]
INF_CREATED = 1 << 62  # the late push's created times (the node's clock): after everything else

STREAM = "agg_ev"
GROUP = "agg"
# (name, field, function, window, default)
FEATURES = [
    ("cnt_1h", "amount", "count", "1h", None),
    ("cnt_30d", "tag", "count", "30d", None),
    ("cnt_5m", "qty", "count", "5m", None),
    ("qty_sum_1d", "qty", "sum", "1d", 7),
    ("amt_sum_7d", "amount", "sum", "7d", None),
    ("amt_avg_1h", "amount", "avg", "1h", -1.0),
    ("qty_min_1d", "qty", "min", "1d", None),
    ("qty_max_1d", "qty", "max", "1d", None),
    ("tag_last_30d", "tag", "last", "30d", "none"),
]

MUTATIONS = {
    "none": "no corruption",
    "edge-inclusive": "count the event exactly at T - window (event >= T - W)",
    "end-exclusive": "drop the event exactly at T (event < T)",
    "ignore-known-at": "ignore known_at (count events created after it)",
    "last-no-created": "order `last` by (event time, write order), ignoring created time",
    "last-with-nulls": "let `last` pick an event whose tag is null",
    "empty-sum-default": "an empty window's sum takes the feature's default (DEFAULTED)",
    "known-at-strict": "use created < known_at instead of created <= known_at",
    "naive-float-sum": "expect DuckDB's double-accumulated sum/avg bit for bit instead of the exact sum rounded once",
}

TAGS = ["alpha", "beta", "gamma", "delta", "Zürich", "São Paulo", "東京", "emoji 🚀", "a,b", 'say "hi"',
        " padded ", "tab\there", "line\nbreak", "0", "null", "NULL", "-", "", "x" * 40] + [f"t{i}" for i in range(30)]


# ----------------------------------------------------------------------------------------------------
# Data generation
# ----------------------------------------------------------------------------------------------------
def generate(seed: int, n_events: int, n_labels: int, n_entities: int, now_us: int):
    rng = np.random.default_rng(seed)
    start_us = (now_us // MINUTE) * MINUTE - 75 * DAY  # events: [start, start + 40d] (+30d edges)
    span_min = 40 * 24 * 60
    n_late = n_events // 20
    n_main = n_events - n_late

    # Skewed activity: Zipf-like weights over a random permutation of the entities.
    w = 1.0 / (np.arange(n_entities) + 8.0) ** 1.05
    p = np.empty(n_entities)
    p[rng.permutation(n_entities)] = w / w.sum()

    # Main push.
    ent = rng.choice(n_entities, size=n_main, p=p).astype(np.int64)
    minute = rng.integers(0, span_min, n_main)
    k = rng.random(n_main)
    offset = np.where(k < 0.55, 0, np.where(k < 0.65, 30 * US, rng.integers(0, MINUTE, n_main)))
    ev = start_us + minute * MINUTE + offset
    # Ties and edges against the entity's neighbouring event (in entity order).
    order = np.argsort(ent, kind="stable")
    es, vs = ent[order], ev[order]
    same = np.zeros(n_main, dtype=bool)
    same[1:] = es[1:] == es[:-1]
    k = rng.random(n_main)
    prev = np.empty_like(vs)
    prev[1:] = vs[:-1]
    prev[0] = vs[0]
    tie = same & (k < 0.25)
    edge = same & (k >= 0.25) & (k < 0.31)
    wlist = np.array(list(WINDOWS.values()), dtype=np.int64)
    new_vs = vs.copy()
    new_vs[tie] = prev[tie]
    new_vs[edge] = prev[edge] + wlist[rng.integers(0, len(wlist), edge.sum())]
    ev[order] = new_vs
    # Push order: by event time plus a random jitter of up to 6 hours (the node ingests in-order events
    # faster; the jitter still makes many events late within the main push and orders ties randomly).
    perm = np.argsort(ev + rng.integers(0, 6 * HOUR, n_main), kind="stable")
    ent, ev = ent[perm], ev[perm]
    k = rng.random(n_main)
    delay = np.where(k < 0.4, 0, np.where(k < 0.5, US, np.where(k < 0.65, HOUR, rng.integers(0, 2 * DAY, n_main))))
    cr = ev + delay
    # Ties of (event, created) where events tie: copy the delay too (copied events have delay 0 often).
    c1 = int(cr.max())  # every main-push created time is <= c1

    # Late push: older events; half repeat (entity, event time) of a main event with other values.
    src = rng.integers(0, n_main, n_late)
    k = rng.random(n_late)
    late_ent = ent[src].copy()
    late_ev = np.where(k < 0.5, ev[src], start_us + rng.integers(0, span_min * MINUTE, n_late))
    late_ev = np.minimum(late_ev, ev[src])  # never after the main event it was drawn from

    all_ent = np.concatenate([ent, late_ent])
    all_ev = np.concatenate([ev, late_ev])
    all_cr = np.concatenate([cr, np.full(n_late, INF_CREATED, dtype=np.int64)])
    n = n_events
    qty = rng.integers(-1000, 100_001, n)
    qty_null = rng.random(n) < 0.05
    cents = rng.integers(1, 100_000, n)
    amount = cents / 100.0  # the double nearest to the two-decimal value
    amount_null = rng.random(n) < 0.05
    tag_idx = rng.integers(0, len(TAGS), n)
    tag_null = rng.random(n) < 0.15

    # Labels.
    ent_order = np.argsort(all_ent, kind="stable")
    sorted_ent = all_ent[ent_order]
    has = np.unique(all_ent)
    lo = np.searchsorted(sorted_ent, has, side="left")
    hi = np.searchsorted(sorted_ent, has, side="right")
    L = n_labels
    kind = rng.random(L)
    # The event a label is built around: an entity chosen uniformly (97%) or by activity (3%: ~5M
    # label-event pairs in the 30-day windows; 10% would make ~13M and cost a debug node ~15% more
    # export time, which is mostly per label, ~0.7 ms).
    pick = rng.integers(0, len(has), L)
    j_uniform = ent_order[lo[pick] + (rng.random(L) * (hi[pick] - lo[pick])).astype(np.int64)]
    j_weighted = rng.integers(0, n, L)
    j = np.where(rng.random(L) < 0.97, j_uniform, j_weighted)
    l_ent = all_ent[j].copy()
    base = all_ev[j]
    wpick = wlist[rng.integers(0, len(wlist), L)]
    pm1 = np.where(rng.random(L) < 0.5, -1, 1)
    t = np.where(kind < 0.30, base,                                    # exactly an event time
        np.where(kind < 0.50, base + wpick,                            # that event on the excluded edge
        np.where(kind < 0.56, base + wpick + pm1,                      # +-1 us around the edge
        np.where(kind < 0.62, base + pm1,                              # +-1 us around the event
        start_us - DAY + rng.integers(0, 72 * DAY, L)))))              # random time
    # Entities without events (ids never pushed): 4% of the labels.
    ghost = rng.random(L) < 0.04
    l_ent[ghost] = n_entities + rng.integers(0, 1000, ghost.sum())
    # known_at for half of the labels.
    with_ka = rng.random(L) < 0.5
    k = rng.random(L)
    between = c1 + 1 + rng.integers(0, max(1, now_us - HOUR - c1 - 1), L)  # after the main push, before the late one
    j_main = j < n_main
    ka = np.where(k < 0.7, between,
         np.where(k < 0.85, np.where(j_main, all_cr[j], between),         # exactly a created time
                  np.where(j_main, all_cr[j] - 1, between)))              # just before it
    ka_t = np.where(with_ka, ka, 0)
    return {
        "start_us": start_us, "c1": c1, "n_main": n_main, "n_late": n_late,
        "ent": all_ent, "ev": all_ev, "cr": all_cr,
        "qty": qty, "qty_null": qty_null, "amount": amount, "amount_null": amount_null,
        "tag_idx": tag_idx, "tag_null": tag_null,
        "l_ent": l_ent, "l_t": t, "l_ka": ka_t, "l_has_ka": with_ka,
    }


def entity_ids(idx: np.ndarray) -> pa.Array:
    return pa.array(np.char.add("u", idx.astype(str)).astype(object), type=pa.string())


def ts_array(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(us, type=pa.timestamp("us", tz="UTC"), mask=mask)


def push_tables(d) -> tuple[pa.Table, pa.Table]:
    tags = np.array(TAGS, dtype=object)
    n_main = d["n_main"]
    cols = {
        "entity_id": entity_ids(d["ent"]),
        "event_timestamp": ts_array(d["ev"]),
        "qty": pa.array(d["qty"], type=pa.int64(), mask=d["qty_null"]),
        "amount": pa.array(d["amount"], type=pa.float64(), mask=d["amount_null"]),
        "tag": pa.array(tags[d["tag_idx"]], type=pa.string(), mask=d["tag_null"]),
    }
    full = pa.table(cols)
    main = full.slice(0, n_main).append_column("created_timestamp", ts_array(d["cr"][:n_main]))
    late = full.slice(n_main)  # no created column: the node's clock at commit
    return main, late


def labels_table(d) -> pa.Table:
    L = len(d["l_t"])
    return pa.table({
        "lid": pa.array(np.arange(L, dtype=np.int64)),
        "entity_id": entity_ids(d["l_ent"]),
        "label_timestamp": ts_array(d["l_t"]),
        "known_at": ts_array(d["l_ka"], mask=~d["l_has_ka"]),
    })


# ----------------------------------------------------------------------------------------------------
# Expected result in DuckDB
# ----------------------------------------------------------------------------------------------------
def fixed_point(amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """amount = m * 2^s / 2^60 exactly, with m an int64 (53-bit mantissa) and 0 <= s < 63."""
    mant, exp = np.frexp(amount)  # amount = mant * 2^exp, 0.5 <= mant < 1
    m = (mant * 2.0 ** 53).astype(np.int64)
    s = exp.astype(np.int64) - 53 + 60
    if (s < 0).any() or (s > 62).any():
        raise RuntimeError("an amount is not a multiple of 2^-60")
    if not np.array_equal(np.ldexp(m.astype(np.float64), (s - 60).astype(np.int32)), amount):
        raise RuntimeError("fixed-point decomposition is not exact")
    return m, s


def expected(d, mutate: str, tmp: str):
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute(f"SET temp_directory = '{tmp}/duck'")
    n = len(d["ev"])
    m, s = fixed_point(d["amount"])
    tags = np.array(TAGS, dtype=object)
    events = pa.table({
        "row_no": pa.array(np.arange(n, dtype=np.int64)),  # push order = write order
        "ent": pa.array(d["ent"]),
        "ev": pa.array(d["ev"]),
        "cr": pa.array(d["cr"]),
        "qty": pa.array(d["qty"], mask=d["qty_null"]),
        "amount": pa.array(d["amount"], mask=d["amount_null"]),
        "am": pa.array(m, mask=d["amount_null"]),
        "ap": pa.array(np.int64(1) << s, mask=d["amount_null"]),  # amount = am * ap / 2^60
        "tag": pa.array(tags[d["tag_idx"]], type=pa.string(), mask=d["tag_null"]),
    })
    L = len(d["l_t"])
    labels = pa.table({
        "lid": pa.array(np.arange(L, dtype=np.int64)),
        "ent": pa.array(d["l_ent"]),
        "t": pa.array(d["l_t"]),
        "ka": pa.array(d["l_ka"], mask=~d["l_has_ka"]),
    })
    con.register("events_arrow", events)
    con.register("labels_arrow", labels)
    con.execute("CREATE TABLE events AS SELECT *, CAST(am AS HUGEINT) * ap AS afx FROM events_arrow")
    con.execute("CREATE TABLE labels AS SELECT * FROM labels_arrow")
    lo = ">=" if mutate == "edge-inclusive" else ">"
    hi = "<" if mutate == "end-exclusive" else "<="
    ka = {"ignore-known-at": "", "known-at-strict": "AND (l.ka IS NULL OR e.cr < l.ka)"}.get(
        mutate, "AND (l.ka IS NULL OR e.cr <= l.ka)")
    last_key = "(e.ev, e.row_no)" if mutate == "last-no-created" else "(e.ev, e.cr, e.row_no)"
    # DuckDB's arg_max itself skips rows whose first argument is NULL; arg_max_null does not.
    last_fn = "arg_max_null" if mutate == "last-with-nulls" else "arg_max"
    last_filter = "" if mutate == "last-with-nulls" else "FILTER (WHERE e.tag IS NOT NULL)"

    def win(w: str) -> str:
        return f"e.ev {lo} l.t - {WINDOWS[w]}"

    con.execute(f"""
        CREATE TABLE agg AS
        SELECT l.lid,
          count(*) FILTER (WHERE {win('1h')}) AS cnt_1h,
          count(*) AS cnt_30d,
          count(*) FILTER (WHERE {win('5m')}) AS cnt_5m,
          sum(e.qty) FILTER (WHERE {win('1d')}) AS qty_sum_1d,
          count(e.qty) FILTER (WHERE {win('1d')}) AS qty_n_1d,
          sum(e.afx) FILTER (WHERE {win('7d')}) AS amt_fx_7d,
          sum(e.amount) FILTER (WHERE {win('7d')}) AS amt_dbl_7d,
          sum(e.afx) FILTER (WHERE {win('1h')}) AS amt_fx_1h,
          sum(e.amount) FILTER (WHERE {win('1h')}) AS amt_dbl_1h,
          count(e.amount) FILTER (WHERE {win('1h')}) AS amt_n_1h,
          min(e.qty) FILTER (WHERE {win('1d')}) AS qty_min_1d,
          max(e.qty) FILTER (WHERE {win('1d')}) AS qty_max_1d,
          {last_fn}(e.tag, {last_key}) {last_filter} AS tag_last_30d,
          count(*) AS join_rows
        FROM labels l JOIN events e
          ON e.ent = l.ent AND e.ev {lo} l.t - {MAX_W} AND e.ev {hi} l.t {ka}
        GROUP BY l.lid""")
    rows = con.execute("""
        SELECT l.lid, coalesce(a.cnt_1h, 0), coalesce(a.cnt_30d, 0), coalesce(a.cnt_5m, 0),
               a.qty_sum_1d, a.amt_fx_7d, a.amt_dbl_7d, a.amt_fx_1h, a.amt_dbl_1h, coalesce(a.amt_n_1h, 0),
               a.qty_min_1d, a.qty_max_1d, a.tag_last_30d
        FROM labels l LEFT JOIN agg a USING (lid) ORDER BY l.lid""").fetchall()
    join_rows = con.execute("SELECT coalesce(sum(join_rows), 0) FROM agg").fetchone()[0]
    # How often the edges are exercised: (label, event) pairs with the event exactly at T, exactly at
    # T - W for one of the windows, created exactly at known_at; events sharing (entity, event time)
    # and (entity, event time, created time) with another event.
    edges = " OR ".join(f"e.ev = l.t - {w}" for w in WINDOWS.values())
    coverage = con.execute(f"""
        SELECT count(*) FILTER (WHERE e.ev = l.t), count(*) FILTER (WHERE {edges}),
               count(*) FILTER (WHERE e.cr = l.ka)
        FROM labels l JOIN events e ON e.ent = l.ent AND e.ev >= l.t - {MAX_W} AND e.ev <= l.t""").fetchone()
    ties = con.execute("""
        SELECT (SELECT coalesce(sum(c), 0) FROM (SELECT count(*) AS c FROM events GROUP BY ent, ev HAVING c > 1)),
               (SELECT coalesce(sum(c), 0) FROM (SELECT count(*) AS c FROM events GROUP BY ent, ev, cr HAVING c > 1))
        """).fetchone()
    stats = {"join_rows": int(join_rows), "at_t": coverage[0], "at_edge": coverage[1], "at_known_at": coverage[2],
             "ev_ties": int(ties[0]), "ev_cr_ties": int(ties[1])}
    con.close()
    defaults = {name: default for (name, _, _, _, default) in FEATURES}
    out = []  # per label: {feature: (value, status, double-accumulated reference or None)}
    for (lid, c1h, c30d, c5m, qsum, fx7, dbl7, fx1h, dbl1h, n1h, qmin, qmax, last) in rows:
        r = {
            "cnt_1h": (c1h, "PRESENT", None),
            "cnt_30d": (c30d, "PRESENT", None),
            "cnt_5m": (c5m, "PRESENT", None),
        }
        if qsum is None and mutate == "empty-sum-default":
            r["qty_sum_1d"] = (defaults["qty_sum_1d"], "DEFAULTED", None)
        else:
            r["qty_sum_1d"] = (int(qsum or 0), "PRESENT", None)
        if mutate == "naive-float-sum":
            r["amt_sum_7d"] = (dbl7 or 0.0, "PRESENT", dbl7 or 0.0)
        else:
            r["amt_sum_7d"] = ((int(fx7) / (1 << 60)) if fx7 is not None else 0.0, "PRESENT", dbl7 or 0.0)
        if n1h and mutate == "naive-float-sum":
            r["amt_avg_1h"] = (dbl1h / n1h, "PRESENT", dbl1h / n1h)
        elif n1h:
            r["amt_avg_1h"] = (int(fx1h) / (n1h << 60), "PRESENT", dbl1h / n1h)
        else:
            r["amt_avg_1h"] = (defaults["amt_avg_1h"], "DEFAULTED", None)
        r["qty_min_1d"] = (qmin, "PRESENT", None) if qmin is not None else (None, "MISSING", None)
        r["qty_max_1d"] = (qmax, "PRESENT", None) if qmax is not None else (None, "MISSING", None)
        r["tag_last_30d"] = (last, "PRESENT", None) if last is not None else (defaults["tag_last_30d"], "DEFAULTED", None)
        out.append(r)
    return out, stats


# ----------------------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------------------
def same(got, want) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        return isinstance(got, float) and isinstance(want, float) and got == want
    return type(got) is type(want) and got == want


def describe_events(d, ent: int, t: int, ka: int | None, n_main: int, limit: int = 12) -> str:
    """The entity's events in (t - 30d - 1us, t + 1us] with created time and write order."""
    sel = np.nonzero((d["ent"] == ent) & (d["ev"] >= t - MAX_W - 1) & (d["ev"] <= t + 1))[0]
    sel = sel[np.lexsort((sel, d["cr"][sel], d["ev"][sel]))][::-1]
    lines = []
    for i in sel[:limit]:
        cr = "late push (node clock)" if i >= n_main else f"created {int(d['cr'][i])}"
        if ka is not None and int(d["cr"][i]) > ka:
            cr += " (after known_at)"
        qty = None if d["qty_null"][i] else int(d["qty"][i])
        amount = None if d["amount_null"][i] else float(d["amount"][i])
        tag = None if d["tag_null"][i] else TAGS[d["tag_idx"][i]]
        lines.append(f"      write #{i}: event {int(d['ev'][i])} (T{int(d['ev'][i]) - t:+d} us), {cr}, "
                     f"qty={qty}, amount={amount}, tag={tag!r}")
    more = f" (latest {limit} of {len(sel)} shown)" if len(sel) > limit else ""
    return f"    events of the entity with T - 30d <= event <= T + 1 us{more}:\n" + "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strata", required=True, help="path to the strata binary")
    ap.add_argument("--events", type=int, default=1_000_000, help="events pushed (default 1000000)")
    ap.add_argument("--labels", type=int, default=100_000, help="label rows (default 100000)")
    ap.add_argument("--entities", type=int, default=20_000, help="entities with events (default 20000)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--batch-rows", type=int, default=10_000, help="client.push batch_rows (default 10000)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--mutate", choices=sorted(MUTATIONS), default="none",
                    help="corrupt the expected computation to check that the test fails: "
                         + "; ".join(f"{k}: {v}" for k, v in MUTATIONS.items()))
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 31)
    binary = os.path.abspath(args.strata)
    print(f"agg-differential: seed {seed} (rerun with --seed {seed}), {args.events} events, {args.labels} labels, "
          f"strata {binary}", flush=True)
    t0 = time.monotonic()
    now_us = int(time.time()) * US

    tmp = tempfile.mkdtemp(prefix="strata-aggdiff-")
    server = None
    try:
        d = generate(seed, args.events, args.labels, args.entities, now_us)
        main_tbl, late_tbl = push_tables(d)
        label_tbl = labels_table(d)
        t_gen = time.monotonic()

        server = Server(binary, os.path.join(tmp, "data"), os.path.join(tmp, "node.log"))
        client = strata.Client(server.address, timeout=60)
        client.apply([
            strata.Stream(STREAM, [strata.Field("qty", "INT"), strata.Field("amount", "FLOAT"),
                                   strata.Field("tag", "STRING")], entity="USER"),
            strata.AggregateGroup(GROUP, stream=STREAM, entity="USER", features=[
                strata.Aggregate(name, field, fn, window, default=default)
                for (name, field, fn, window, default) in FEATURES]),
        ])
        t_apply = time.monotonic()
        r1 = client.push(STREAM, main_tbl, batch_rows=args.batch_rows, progress=False)
        t_push1 = time.monotonic()
        if time.time() * US <= d["c1"]:
            raise RuntimeError("clock: the late push would not be after every main-push created time")
        r2 = client.push(STREAM, late_tbl, batch_rows=args.batch_rows, progress=False)
        t_push2 = time.monotonic()
        if r1.events_written != main_tbl.num_rows or r2.events_written != late_tbl.num_rows:
            raise RuntimeError(f"push: {r1.events_written} + {r2.events_written} events written, "
                               f"{main_tbl.num_rows} + {late_tbl.num_rows} sent")
        job = client.get_historical_features(label_tbl, [f"{GROUP}:*"], with_status=True, progress=False)
        got = job.to_arrow()
        t_export = time.monotonic()
        client.close()
        server.stop()
        server = None

        exp, stats = expected(d, args.mutate, tmp)
        t_exp = time.monotonic()

        # Compare.
        mismatches: list[str] = []
        n_mismatch = 0
        max_rel = 0.0
        status_counts: dict[str, int] = {}
        L = len(exp)
        names = [f[0] for f in FEATURES]
        if got.num_rows != L:
            n_mismatch += 1
            mismatches.append(f"row count: got {got.num_rows}, want {L}")
        if got.column("lid").to_pylist() != list(range(L)):
            n_mismatch += 1
            mismatches.append("label rows not passed through in input order")
        cols = {}
        for name in names:
            col = f"{GROUP}:{name}"
            if col not in got.column_names or col + "__status" not in got.column_names:
                n_mismatch += 1
                mismatches.append(f"column {col} (or its status) missing: got {got.column_names}")
                continue
            cols[name] = (got.column(col).to_pylist(), [str(s) for s in got.column(col + "__status").to_pylist()])
        for i in range(min(L, got.num_rows)):
            for name in cols:
                want_v, want_s, ref = exp[i][name]
                got_v, got_s = cols[name][0][i], cols[name][1][i]
                status_counts[want_s] = status_counts.get(want_s, 0) + 1
                ok = same(got_v, want_v) and got_s == want_s
                rel = None
                if ref is not None and isinstance(got_v, float):
                    rel = abs(got_v - ref) / abs(ref) if ref else abs(got_v)
                    max_rel = max(max_rel, rel)
                    ok = ok and rel < 1e-12
                if not ok:
                    n_mismatch += 1
                    if len(mismatches) < 10:
                        ent, t = int(d["l_ent"][i]), int(d["l_t"][i])
                        ka = int(d["l_ka"][i]) if d["l_has_ka"][i] else None
                        extra = f" (duckdb double sum {ref!r}, relative error {rel:.3g})" if rel is not None else ""
                        msg = (f"label {i}: entity 'u{ent}', label_timestamp {t} us, known_at {ka}: {GROUP}:{name}: "
                               f"strata {got_v!r} {got_s}, duckdb {want_v!r} {want_s}{extra}")
                        if len(mismatches) < 3:
                            msg += "\n" + describe_events(d, ent, t, ka, d["n_main"])
                        mismatches.append(msg)
        t_cmp = time.monotonic()
        n_values = L * len(names)
        print(f"  events: {d['n_main']} in the main push ({r1.batches} batches, {r1.late_events} late), "
              f"{d['n_late']} in the late push ({r2.batches} batches, {r2.late_events} late); "
              f"{len(np.unique(d['ent']))} entities; labels with known_at {int(d['l_has_ka'].sum())}; "
              f"label x event pairs in the 30d windows {stats['join_rows']}")
        print(f"  edges: label-event pairs with event = T {stats['at_t']}, event = T - window {stats['at_edge']}, "
              f"created = known_at {stats['at_known_at']}; events sharing (entity, event time) {stats['ev_ties']}, "
              f"(entity, event time, created time) {stats['ev_cr_ties']}")
        print(f"  expected statuses: {', '.join(f'{k} {v}' for k, v in sorted(status_counts.items()))}; "
              f"max relative error of Strata's FLOAT vs DuckDB's double sum {max_rel:.3g}")
        print(f"  times: generate {t_gen - t0:.1f}s, serve+apply {t_apply - t_gen:.1f}s, "
              f"push {t_push1 - t_apply:.1f}s ({d['n_main'] / (t_push1 - t_apply):,.0f} events/s) + late push "
              f"{t_push2 - t_push1:.1f}s, export {t_export - t_push2:.1f}s ({L / (t_export - t_push2):,.0f} labels/s), "
              f"duckdb {t_exp - t_export:.1f}s, compare {t_cmp - t_exp:.1f}s, total {t_cmp - t0:.1f}s")
        if args.mutate != "none":
            print(f"  (expected computation deliberately corrupted: --mutate {args.mutate})")
        args.keep = args.keep or n_mismatch > 0  # the data of a failed run stays for a look
        return report("agg-differential", f"{len(d['ev'])} events, {L} labels, {n_values} values, "
                      f"{n_mismatch} mismatches (seed {seed})", mismatches)
    finally:
        clean_up(server, tmp, args.keep)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, strata.StrataError) as e:
        print(f"agg-differential: error: {e}", file=sys.stderr)
        sys.exit(2)
