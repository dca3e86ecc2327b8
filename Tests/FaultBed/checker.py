"""The checks of a scenario, from its ledger and from reads through every node after the fault healed.

Order of rows: every row of an entity has an event time no other row of that entity has, so the winner
order (event time, created time, write id) is the event time. A write op is one batch: it is stored
atomically on each replica, so an `info` op counts as applied when any of its values was ever seen.

C1 lost ack: an ok row is missing where it must be the answer (export at its own event time; online
   when it is the entity's newest).
C2 phantom: a value from a `fail` write, or one that was never sent (or under another entity).
C3 duplicate/corrupt row: a returned row whose other feature (s) or event time is not the one that value
   was written with (a copy of a row elsewhere in time, or columns mixed between rows).
C4 online = max: through each node, each entity's online row is the newest of ok ∪ applied info.
C5 export oracle: through each node, the point-in-time answer at every label equals the oracle built
   from ok ∪ applied info (labels: each row's event time, 1 µs before it, and random times).
C6 liveness: no failed or timed-out operation that started 10 s or more after the heal.
C7 replica convergence: each replica, read alone (its internode Shard.GetHistorical, which never fans
   out), stores every ok row and every applied info row (a point-in-time read at the row's own event time
   returns it). Replicas that missed writes while down, stopped or cut off get them from the
   coordinators' hints; until hints are replayed, C1-C5 can still hold (exports merge 2 of 3 replicas)
   while a replica lacks rows.
Also during the load (live): reads and exports never return a phantom or corrupt row, and an export
never misses a QUORUM-acknowledged write that completed before the export started (exports read 2 of 3
replicas: exact with one node down or stale).
"""
from __future__ import annotations

import bisect
import collections
import random
import time

import strata

from load import Ledger, Row, export, online, replica_export, values_of


def percentile(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Oracle:
    def __init__(self, ledger: Ledger):
        self.led = ledger
        self.status = {w.op: w.result for w in ledger.writes}
        self.applied: set[int] = set()  # info ops seen applied somewhere
        by_entity: dict[str, list[Row]] = collections.defaultdict(list)
        for w in ledger.writes:
            for r in w.rows:
                by_entity[r.entity].append(r)
        self.rows = {e: sorted(rs, key=lambda r: r.event_us) for e, rs in by_entity.items()}
        self.events = {e: [r.event_us for r in rs] for e, rs in self.rows.items()}

    def note_seen(self, v) -> None:
        if v is None:
            return
        r = self.led.rows_by_value.get(v)
        if r is not None and self.status.get(r.op) == "info":
            self.applied.add(r.op)

    def counts(self, r: Row) -> bool:
        s = self.status[r.op]
        return s == "ok" or (s == "info" and r.op in self.applied)

    def expected(self, entity: str, t: int | None, only_ok: bool = False, done_before: float | None = None):
        """The newest counted row of `entity` with event <= t (t None = any): ok ∪ applied info, or only ok
        rows (of writes that completed before `done_before`)."""
        rows = self.rows.get(entity, [])
        hi = len(rows) if t is None else bisect.bisect_right(self.events.get(entity, []), t)
        for r in reversed(rows[:hi]):
            if only_ok:
                w = self.led.write_by_op[r.op]
                if w.result == "ok" and (done_before is None or w.t1 < done_before):
                    return r
            elif self.counts(r):
                return r
        return None


class Findings:
    """Violations by check, each with a few examples."""

    def __init__(self):
        self.count: collections.Counter = collections.Counter()
        self.examples: dict[str, list[str]] = collections.defaultdict(list)

    def add(self, check: str, text: str) -> None:
        self.count[check] += 1
        if len(self.examples[check]) < 5:
            self.examples[check].append(text)

    def total(self, prefix: str = "") -> int:
        return sum(v for k, v in self.count.items() if k.startswith(prefix))


def _row_text(led: Ledger, r: Row | None) -> str:
    if r is None:
        return "none"
    w = led.write_by_op[r.op]
    return f"v={r.value} (op {r.op} {w.result} via {w.node} t={w.t0:.1f}-{w.t1:.1f}s, event {r.event_us})"


def check_value(o: Oracle, f: Findings, where: str, entity: str, t: int | None, v, s, ev) -> Row | None:
    """C2/C3 for one returned value; returns its row (None for null or a phantom)."""
    if v is None:
        return None
    r = o.led.rows_by_value.get(v)
    if r is None or r.entity != entity:
        f.add("C2 phantom", f"{where}: {entity}@{t}: v={v} was never written to {entity}")
        return None
    if o.status.get(r.op) == "fail":
        f.add("C2 phantom", f"{where}: {entity}@{t}: {_row_text(o.led, r)} is from a write that failed")
        return None
    op, k = values_of(v)
    if s != f"{op}.{k}" or (ev is not None and ev != r.event_us):
        f.add("C3 duplicate/corrupt row", f"{where}: {entity}@{t}: v={v} with s={s!r}, event {ev}; written: "
                                          f"s={op}.{k}, event {r.event_us}")
    if t is not None and r.event_us > t:
        f.add("C5 export oracle", f"{where}: {entity}@{t}: {_row_text(o.led, r)} is after the label time")
    return r


def check_live(o: Oracle) -> Findings:
    """Reads and exports during the load."""
    f = Findings()
    led = o.led
    for rec in led.reads + led.exports:
        if rec["result"] == "ok":
            for v in rec["v"]:
                o.note_seen(v)
    for rec in led.reads:
        if rec["result"] != "ok":
            continue
        for e, v, s in zip(rec["entities"], rec["v"], rec["s"]):
            r = check_value(o, f, f"live read via {rec['node']} t={rec['t0']:.1f}s", e, None, v, s, None)
            if r is not None and led.write_by_op[r.op].t0 > rec["t1"]:
                f.add("C2 phantom", f"live read t={rec['t0']:.1f}-{rec['t1']:.1f}: {e}: {_row_text(led, r)} "
                                    "was written after the read ended")
    for rec in led.exports:
        if rec["result"] != "ok":
            continue
        where = f"live export via {rec['node']} t={rec['t0']:.1f}s"
        for e, t, v, s, ev in zip(rec["entities"], rec["times"], rec["v"], rec["s"], rec["ev"]):
            r = check_value(o, f, where, e, t, v, s, ev)
            must = o.expected(e, t, only_ok=True, done_before=rec["t0"])
            if must is not None and (r is None or r.event_us < must.event_us):
                f.add("C5-live export missed an ack", f"{where}: {e}@{t}: got {_row_text(led, r)}, but "
                                                      f"{_row_text(led, must)} was acknowledged before")
    return f


def final_round(o: Oracle, nodes: list[tuple[str, str, str]], group: str, rng: random.Random,
                timeout: float = 30, owners=None, epoch: int = 1) -> tuple[Findings, dict]:
    """C1-C5 through every node, C7 on every replica; `nodes`: (id, client address, internode address).
    `owners(entity)`: the node ids that must hold the entity (default: every node); `epoch`: the ring
    epoch the replica reads claim."""
    led = o.led
    addresses = [a for _, a, _ in nodes]
    entities = sorted(o.rows)
    labels_e, labels_t = [], []
    for e, rows in o.rows.items():
        for r in rows:
            labels_e.append(e)
            labels_t.append(r.event_us)
            if o.status[r.op] == "ok":
                labels_e.append(e)
                labels_t.append(r.event_us - 1)
    all_events = [r.event_us for rows in o.rows.values() for r in rows] or [0]
    lo, hi = min(all_events), max(all_events)
    for _ in range(500):
        labels_e.append(rng.choice(entities))
        labels_t.append(rng.randrange(lo - 1_000_000, hi + 1_000_000))
    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for a in addresses:
        with strata.Client(a, timeout=timeout) as c:
            try:
                answers[a] = {
                    "online": online(c, group, entities, timeout),
                    "export": export(c, group, labels_e, labels_t, timeout),
                }
            except strata.StrataError as e:
                errors[a] = f"{e.code.name}: {e.message[:300]}"
                continue
            try:  # a diagnostic: where ONE reads are stale, does QUORUM see the newest row?
                answers[a]["online_quorum"] = online(c, group, entities, timeout, consistency=2)
            except strata.Unimplemented:
                pass
            except strata.StrataError as e:
                errors[a] = f"online QUORUM: {e.code.name}: {e.message[:300]}"
    for ans in answers.values():
        for part in ans.values():
            for v in part[0]:
                o.note_seen(v)
    f = Findings()
    for a, msg in errors.items():
        f.add("C1 lost ack", f"via {a}: the final reads failed: {msg}")
    diag = collections.Counter()
    for a, ans in answers.items():
        for kind in [k for k in ("online", "online_quorum") if k in ans]:
            check = "C4 online = max" if kind == "online" else "diag online QUORUM != max"
            vs, ss, evs = ans[kind]
            for e, v, s, ev in zip(entities, vs, ss, evs):
                where = f"{kind} via {a}"
                r = check_value(o, f, where, e, None, v, s, ev)
                want = o.expected(e, None)
                if (r is None) != (want is None) or (r is not None and r.value != want.value):
                    ok_max = o.expected(e, None, only_ok=True)
                    missed_ack = ok_max is not None and (r is None or r.event_us < ok_max.event_us)
                    text = f"{where}: {e}: got {_row_text(led, r)}, expected {_row_text(led, want)}"
                    if kind == "online":
                        f.add(check + (" (an ok write missing)" if missed_ack else " (an info write on some replicas only)"), text)
                        if missed_ack:
                            f.add("C1 lost ack", text)
                    else:
                        diag[check] += 1
        vs, ss, evs = ans["export"]
        for e, t, v, s, ev in zip(labels_e, labels_t, vs, ss, evs):
            where = f"export via {a}"
            r = check_value(o, f, where, e, t, v, s, ev)
            want = o.expected(e, t)
            if (r is None) != (want is None) or (r is not None and r.value != want.value):
                ok_max = o.expected(e, t, only_ok=True)
                missed_ack = ok_max is not None and (r is None or r.event_us < ok_max.event_us)
                text = f"{where}: {e}@{t}: got {_row_text(led, r)}, expected {_row_text(led, want)}"
                f.add("C5 export oracle" + (" (an ok write missing)" if missed_ack else " (an info write on some replicas only)"), text)
                if missed_ack:
                    f.add("C1 lost ack", text)
    # C7: each replica alone, at every row's own event time.
    rows = [r for rs in o.rows.values() for r in rs]
    missing: dict[str, dict] = {}
    for node_id, _, internode in nodes:
        mine = [r for r in rows if owners is None or node_id in owners(r.entity)]
        try:
            vs, ss, evs = replica_export(internode, group, [r.entity for r in mine], [r.event_us for r in mine],
                                         timeout, epoch=epoch)
        except strata.StrataError as e:
            f.add("C7 replica convergence", f"{node_id}: could not be read: {e.message[:300]}")
            continue
        lacking = []
        for r, v, s_, ev in zip(mine, vs, ss, evs):
            got = check_value(o, f, f"replica {node_id}", r.entity, r.event_us, v, s_, ev)
            if o.counts(r) and (got is None or got.value != r.value):
                lacking.append(r)
        if lacking:
            ts = [led.write_by_op[r.op].t0 for r in lacking]
            ok_rows = sum(1 for r in lacking if o.status[r.op] == "ok")
            # When were the lacking writes sent, against the times this node had the fault?
            address = [a for n, a, _ in nodes if n == node_id][0]
            spans = sorted((a, b) for n, a, b in led.faulted if n == address)
            ops = {r.op for r in lacking}

            def during(op):
                # The write was in flight at some moment of the fault, or acknowledged less than 1 s
                # before it began (the coordinator acknowledges at quorum; its send to the third
                # replica goes on after that).
                w = led.write_by_op[op]
                return any(w.t0 <= b and w.t1 >= a - 1.0 for a, b in spans)

            lag = max((led.write_by_op[w].t0 - max((b for a, b in spans if b <= led.write_by_op[w].t0), default=0.0)
                       for w in ops if not during(w)), default=None)
            missing[node_id] = {"rows": len(lacking), "ok_rows": ok_rows, "writes": len(ops),
                                "written_t": [round(min(ts), 1), round(max(ts), 1)],
                                "fault_spans": [[round(a, 1), round(b, 1)] for a, b in spans],
                                "writes_sent_during_fault": sum(1 for w in ops if during(w)),
                                "latest_after_fault_end_s": None if lag is None else round(lag, 2)}
            for r in lacking:
                f.add("C7 replica convergence", f"replica {node_id} lacks {_row_text(led, r)} of {r.entity}")
    return f, {"labels": len(labels_e), "entities": len(entities), "errors": errors, "diag": dict(diag),
               "replica_missing": missing}


def converge(o: Oracle, nodes: list[tuple[str, str, str]], group: str, rng: random.Random, seconds: float = 30,
             owners=None, epoch: int = 1):
    """Final rounds until one finds nothing or `seconds` pass; (findings of the last round, info)."""
    started = time.monotonic()
    rounds = 0
    while True:
        rounds += 1
        f, info = final_round(o, nodes, group, rng, owners=owners, epoch=epoch)
        elapsed = time.monotonic() - started
        if f.total() == 0 or elapsed > seconds:
            info.update(rounds=rounds, converged=f.total() == 0, seconds=round(elapsed, 1))
            return f, info
        time.sleep(2)


def liveness(led: Ledger, heal_t: float, end_t: float, window: float = 10.0) -> tuple[Findings, dict]:
    """C6: operations started >= heal + window must all succeed (except writes built to be refused)."""
    f = Findings()
    ops = [(w.t0, w.t1, "write", w.result, w.error, w.node) for w in led.writes if not w.invalid] + \
          [(r["t0"], r["t1"], r["kind"], r["result"], r.get("error", ""), r["node"]) for r in led.reads + led.exports]
    after = [op for op in ops if op[0] >= heal_t]
    bad_after = [op for op in after if op[3] != "ok"]
    last_bad = max((op[1] for op in bad_after), default=None)
    for op in bad_after:
        if op[0] >= heal_t + window:
            f.add("C6 liveness", f"{op[2]} via {op[5]} at t={op[0]:.1f}s ({op[0] - heal_t:.1f}s after heal): "
                                 f"{op[3]} {op[4][:200]}")
    checked = [op for op in after if op[0] >= heal_t + window]
    return f, {"last_error_after_heal_s": None if last_bad is None else round(last_bad - heal_t, 1),
               "ops_checked": len(checked), "window_s": round(end_t - heal_t - window, 1)}


def stats(led: Ledger, windows: dict[str, tuple[float, float]]) -> dict:
    """Per window and kind: ops, ok/fail/info, p50/p99/max latency (ms) of ok ops. The
    window "fault, healthy coordinator" has the ops of the fault window sent to a node without the fault."""
    ops = [("write", w.t0, w.t1, w.result, w.node, w.error) for w in led.writes if not w.invalid] + \
          [(r["kind"], r["t0"], r["t1"], r["result"], r["node"], r.get("error", "")) for r in led.reads + led.exports]

    def faulty(node: str, t0: float, t1: float) -> bool:
        return any(n == node and t0 < b and t1 > a for n, a, b in led.faulted)

    out = {}
    fa, fb = windows["fault"]
    slow = [op for op in ops if op[1] < fb and op[2] >= fa and not faulty(op[4], op[1], op[2])
            and (op[3] != "ok" or op[2] - op[1] > 2.0)]
    out["slow or failed via a healthy coordinator during the fault"] = [
        f"{op[0]} via {op[4]} t={op[1]:.1f}-{op[2]:.1f}s ({op[2] - op[1]:.2f} s) {op[3]} {op[5][:160]}" for op in slow]
    for name, (a, b) in list(windows.items()) + [("fault, healthy coordinator", windows["fault"])]:
        per = {}
        for kind in ("write", "read", "export"):
            # Each op in one window: baseline = ended before the fault; fault = overlapped it; after
            # heal = started after the heal.
            if name == "baseline":
                sel = [op for op in ops if op[0] == kind and op[2] < b]
            elif name == "after heal":
                sel = [op for op in ops if op[0] == kind and op[1] >= a]
            else:
                sel = [op for op in ops if op[0] == kind and op[1] < b and op[2] >= a]
            if name.startswith("fault, "):
                sel = [op for op in sel if not faulty(op[4], op[1], op[2])]
            c = collections.Counter(op[3] for op in sel)
            lat = [(op[2] - op[1]) * 1000 for op in sel if op[3] == "ok"]
            per[kind] = {"ops": len(sel), "ok": c["ok"], "fail": c["fail"], "info": c["info"],
                         "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat, default=None)}
        out[name] = per
    return out


# -- membership changes (F7, F8, F13) -----------------------------------------------------------------------
def check_readable(o: Oracle, seeded: set[str], spans: list[tuple[float, float]], settle: float = 1.0):
    """C9: no ok online read (live) answers MISSING for an entity that has an ok write completed `settle` s
    or more before the read began; and a seeded entity (one write at ALL before the load, never written
    again) is always answered with exactly its value. Reads that overlap a membership change (`spans`) are
    counted apart, to show the check covered the change."""
    f = Findings()
    led = o.led
    first_ok: dict[str, float] = {}
    for w in led.writes:
        if w.result == "ok":
            for r in w.rows:
                first_ok[r.entity] = min(first_ok.get(r.entity, w.t1), w.t1)
    checked = {"reads": 0, "entity_reads": 0, "seeded_entity_reads": 0, "reads_during_change": 0,
               "entity_reads_during_change": 0}
    for rec in led.reads:
        if rec["result"] != "ok":
            continue
        during = any(rec["t0"] < b and rec["t1"] > a for a, b in spans)
        checked["reads"] += 1
        checked["reads_during_change"] += during
        for e, v in zip(rec["entities"], rec["v"]):
            checked["entity_reads"] += 1
            checked["entity_reads_during_change"] += during
            where = f"live read via {rec['node']} t={rec['t0']:.1f}-{rec['t1']:.1f}s{' (during a change)' if during else ''}"
            if e in seeded:
                checked["seeded_entity_reads"] += 1
                want = o.expected(e, None, only_ok=True)
                if v is None or want is None or v != want.value:
                    r = led.rows_by_value.get(v) if v is not None else None
                    f.add("C9 readable", f"{where}: seeded {e}: got {'MISSING' if v is None else _row_text(led, r)}, "
                                         f"its value is {_row_text(led, want)}")
            elif v is None and first_ok.get(e, float("inf")) <= rec["t0"] - settle:
                f.add("C9 readable", f"{where}: {e}: MISSING, but it had an ok write at t={first_ok[e]:.1f}s")
    return f, checked


def holdings(nodes: list[tuple[str, str, str]], group: str, entities: list[str], at_us: int, epoch: int,
             timeout: float = 30) -> dict[str, set[str] | str]:
    """Per node, the entities its replica alone holds any row of (a point-in-time read at `at_us`, after
    every row's event time), or the error text."""
    out: dict[str, set[str] | str] = {}
    for node_id, _, internode in nodes:
        try:
            vs, _, _ = replica_export(internode, group, entities, [at_us] * len(entities), timeout, epoch=epoch)
            out[node_id] = {e for e, v in zip(entities, vs) if v is not None}
        except strata.StrataError as e:
            out[node_id] = e.message[:300]
    return out


def check_placement(held: dict, owners, entities: list[str], f: Findings, when: str) -> dict:
    """C11: each node holds exactly the entities the ring gives it (`owners(entity)`: node ids), no entity is
    held by no node. Returns per node: held, owned, extra (held, not owned), lacking (owned, not held)."""
    info = {}
    for node_id, h in held.items():
        if isinstance(h, str):
            f.add("C11 placement", f"{when}: {node_id} could not be read: {h}")
            continue
        own = {e for e in entities if node_id in owners(e)}
        extra, lacking = sorted(h - own), sorted(own - h)
        info[node_id] = {"held": len(h), "owned": len(own), "extra": len(extra), "lacking": len(lacking)}
        if extra:
            f.add("C11 placement", f"{when}: {node_id} still holds {len(extra)} entities it does not own, e.g. {extra[:5]}")
        if lacking:
            f.add("C11 placement", f"{when}: {node_id} lacks {len(lacking)} entities it owns, e.g. {lacking[:5]}")
    nobody = [e for e in entities if not any(not isinstance(h, str) and e in h for h in held.values())]
    if nobody:
        f.add("C11 placement", f"{when}: {len(nobody)} entities held by no node, e.g. {nobody[:5]}")
    return info
