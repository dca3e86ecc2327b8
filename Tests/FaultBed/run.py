#!/usr/bin/env python3
"""The fault bed: a 3-node RF-3 Strata cluster of real `strata serve` processes, each in its own network
namespace behind a bridge, its metadata in one etcd in the root namespace (or, with --cluster-file, the
legacy cluster file), under write/read/export load from the root namespace, while one fault at a time is
injected, or the membership changes (a 4th node n4 joins and leaves, is killed mid-transfer, replaces a
dead node); an operation ledger (JSONL) and the checks C1-C11 afterwards (see README.md).

  Tests/FaultBed/run.py --short [--strata BIN] [--seed N] [--scenarios F1,F12] [--cluster-file] [--keep]
  Tests/FaultBed/run.py --long  ...

Exit codes: 0 every check held; 1 a check failed; 2 the harness failed; 77 SKIPPED (not root, or
`ip netns add` refused, or ip/nft/etcd missing): never a pass.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

EXIT_SKIPPED = 77

from netbed import Skip, Topology, preflight  # noqa: E402

# Membership scenarios (F7, F8, F13): every node runs with --cleanup-grace `grace` and --stream-mb-per-s
# `stream_mb` (F8: `f8_stream_mb`; F8 kills, in order, the nodes `f8_kills`), `seeded` entities are written once (ALL) before the load and readers look
# `read_seeded` of them up in every lookup; a change not over after `change_timeout` s fails C10; the copies
# the added node holds must be a share of all copies within `moved_band`.
MEMBERSHIP_PARAMS = dict(grace=3, stream_mb=0.05, f8_stream_mb=0.02, seeded=2000, read_seeded=20,
                         change_timeout=120, moved_band=(0.15, 0.35), f8_down=3, f13_down=3)
PROFILES = {
    # seconds; F1: cycles x (down, up)
    "short": dict(baseline=6, post=14, converge=30, repeat=1, f1_cycles=3, f1_down=3, f1_up=3, f3=10, f4=10, f5=20, f12=10,
                  **MEMBERSHIP_PARAMS, f8_kills=("target", "source")),
    "long": dict(baseline=10, post=20, converge=30, repeat=3, f1_cycles=8, f1_down=5, f1_up=5, f3=20, f4=20, f5=60, f12=20,
                 **{**MEMBERSHIP_PARAMS, "f8_stream_mb": 0.01}, f8_kills=("target", "source", "driver")),
}
SCENARIOS = {
    "F1": "kill -9 one node, restart it after a few seconds (several times)",
    "F3": "SIGSTOP one node, SIGCONT after a pause",
    "F4": "partition one node from the other nodes (nft bridge rule), then heal",
    "F5": "30% packet loss in and out of one node, then heal",
    "F12": "etcd down (SIGSTOP or kill -9, then SIGCONT or restart) under load; a registry change meanwhile",
    "F7": "scale out 3 -> 4 (n4 with --join) and back (remove-node n4) under load",
    "F8": "scale out 3 -> 4; kill -9 the receiving node n4 mid-transfer, then a source (long: then the driver); the change resumes",
    "F13": "kill -9 one node for good, replace-node it with n4 under load",
}
CHECKS = ["C1 lost ack", "C2 phantom", "C3 duplicate/corrupt row", "C4 online = max", "C5 export oracle",
          "C5-live export missed an ack", "C6 liveness", "C7 replica convergence", "C8 etcd outage",
          "C9 readable", "C10 membership change", "C11 placement"]


class Stop(BaseException):
    pass


def _on_signal(signum, frame):
    raise Stop(f"signal {signum}")


def default_binary() -> str | None:
    if os.environ.get("STRATA_BIN"):
        return os.environ["STRATA_BIN"]
    root = os.path.dirname(os.path.dirname(HERE))
    try:
        out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=root, capture_output=True, text=True,
                             timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return os.path.join(out, "strata") if out else None


# -- faults: each runs the fault and returns the time (ledger clock) it was healed ----------------------
def fault_f1(ctx) -> float:
    heal = 0.0
    for k in range(ctx.p["f1_cycles"]):
        victim = ctx.rng.choice(ctx.cluster.nodes)
        ctx.led.event(f"kill -9 {victim.id}", node=victim.id)
        t0 = ctx.led.t()
        victim.kill9()
        time.sleep(ctx.p["f1_down"])
        heal = ctx.led.t()
        ctx.led.event(f"restart {victim.id}", node=victim.id)
        victim.start()
        victim.wait_ready()
        ctx.led.faulted.append([victim.address, t0, ctx.led.t()])  # down until it listens again
        ctx.led.event(f"{victim.id} listening")
        if k + 1 < ctx.p["f1_cycles"]:
            time.sleep(ctx.p["f1_up"])
    return heal


def fault_f3(ctx) -> float:
    victim = ctx.rng.choice(ctx.cluster.nodes)
    ctx.led.event(f"SIGSTOP {victim.id}", node=victim.id)
    t0 = ctx.led.t()
    victim.sigstop()
    time.sleep(ctx.p["f3"])
    heal = ctx.led.t()
    ctx.led.faulted.append([victim.address, t0, heal])
    victim.sigcont()
    ctx.led.event(f"SIGCONT {victim.id}")
    return heal


def fault_f4(ctx) -> float:
    victim = ctx.rng.choice(ctx.cluster.nodes)
    ctx.led.event(f"partition {victim.id} from the other nodes", node=victim.id)
    t0 = ctx.led.t()
    ctx.topo.partition(victim.i)
    time.sleep(ctx.p["f4"])
    heal = ctx.led.t()
    ctx.led.faulted.append([victim.address, t0, heal])
    ctx.topo.heal()
    ctx.led.event("healed")
    return heal


def fault_f5(ctx) -> float:
    victim = ctx.rng.choice(ctx.cluster.nodes)
    ctx.led.event(f"30% loss on {victim.id}", node=victim.id)
    t0 = ctx.led.t()
    ctx.topo.loss(victim.i, 30)
    time.sleep(ctx.p["f5"])
    heal = ctx.led.t()
    ctx.led.faulted.append([victim.address, t0, heal])
    ctx.topo.heal()
    ctx.led.event("healed")
    return heal


def fault_f12(ctx) -> float:
    """etcd stopped for p["f12"] s. Halfway through, a registry change (apply of a new group through a random
    node): it must fail UNAVAILABLE naming etcd. After etcd is back, the same apply is retried until it
    succeeds (at most 30 s), and right after it returns every node must list the new group. The outcome
    goes to ctx.f12 for check_f12; the load's own errors are checked there too."""
    import strata
    how = ["SIGSTOP", "kill -9"][(ctx.seed + ctx.rep) % 2]  # odd seeds kill in the short run; the long run does both
    etcd = ctx.etcd
    group = strata.FeatureGroup(f"{ctx.group}_new", [strata.Feature("n", "INT")])
    out = ctx.f12 = {"how": how, "during": None, "after": None, "listed": {}}
    ctx.led.event(f"{how} etcd")
    t0 = ctx.led.t()
    if how == "SIGSTOP":
        etcd.signal(signal.SIGSTOP)
    else:
        etcd.kill9()
    time.sleep(ctx.p["f12"] / 4)  # early enough that the apply ends (at most ~5 s) before etcd is back
    node = ctx.rng.choice(ctx.cluster.nodes)
    a = ctx.led.t()
    ctx.led.event(f"apply {group.name} through {node.id} (etcd down)")
    try:
        with strata.Client(node.address, timeout=20) as c:
            c.apply(group)
        out["during"] = {"node": node.id, "result": "ok", "seconds": round(ctx.led.t() - a, 2)}
    except strata.StrataError as e:
        out["during"] = {"node": node.id, "result": e.code.name, "error_node": e.node, "reason": e.reason,
                         "message": e.message[:300], "seconds": round(ctx.led.t() - a, 2)}
    ctx.led.event(f"apply during the outage: {out['during']}")
    time.sleep(max(0.0, t0 + ctx.p["f12"] - ctx.led.t()))
    heal = ctx.led.t()
    if how == "SIGSTOP":
        etcd.signal(signal.SIGCONT)
        ctx.led.event("SIGCONT etcd")
    else:
        etcd.start()
        ctx.led.event("etcd restarted (ready)")
    attempts, last = 0, ""
    while ctx.led.t() < heal + 30:
        node = ctx.rng.choice(ctx.cluster.nodes)
        attempts += 1
        try:
            with strata.Client(node.address, timeout=20) as c:
                c.apply(group)
            out["after"] = {"node": node.id, "attempts": attempts, "ok_after_heal_s": round(ctx.led.t() - heal, 2)}
            break
        except strata.StrataError as e:
            last = f"{node.id}: {e.code.name} node={e.node}: {e.message[:200]}"
            time.sleep(0.5)
    if out["after"] is None:
        out["after"] = {"attempts": attempts, "last_error": last}
    else:
        # Right after the apply returned, then every 0.1 s until every node lists the group (15 s at most).
        # The apply waits only for the nodes holding a lease in etcd; one whose lease expired while etcd
        # was down loads the registry when it reconnects (docs/cluster.md).
        done = ctx.led.t()
        out["listed_after_s"] = {}
        pending = {n.id: n for n in ctx.cluster.nodes}
        while pending and ctx.led.t() < done + 15:
            for n in list(pending.values()):
                try:
                    with strata.Client(n.address, timeout=5) as c:
                        listed = group.name in {g.spec.name for g in c.list_feature_groups()}
                except strata.StrataError as e:
                    listed = f"{e.code.name}: {e.message[:200]}"
                out["listed"].setdefault(n.id, listed)  # the first answer: right after the apply
                if listed is True:
                    out["listed_after_s"][n.id] = round(ctx.led.t() - done, 2)
                    del pending[n.id]
            time.sleep(0.1)
    ctx.led.event(f"apply after the outage: {out['after']}; listed right after: {out['listed']}; "
                  f"listed after (s): {out.get('listed_after_s')}")
    return heal


def check_f12(led, out: dict):
    """C8: the load saw no error at all (no node is faulty: only etcd is down), the apply during the outage
    failed UNAVAILABLE naming etcd (ErrorInfo node "etcd"), the apply after it succeeded within 30 s, and
    every node listed the new group within 15 s of that apply returning. (Whether each listed it at once
    is reported, not checked: a node whose lease expired during the outage is not waited for.)"""
    from checker import Findings
    f = Findings()
    ops = [(w.t0, w.t1, "write", w.result, w.error, w.node) for w in led.writes if not w.invalid] + \
          [(r["t0"], r["t1"], r["kind"], r["result"], r.get("error", ""), r["node"]) for r in led.reads + led.exports]
    for op in sorted(op for op in ops if op[3] != "ok"):
        f.add("C8 etcd outage", f"{op[2]} via {op[5]} at t={op[0]:.1f}-{op[1]:.1f}s: {op[3]} {op[4][:200]}")
    d = out.get("during") or {}
    if not (d.get("result") == "UNAVAILABLE" and d.get("error_node") == "etcd"):
        f.add("C8 etcd outage", f"apply during the outage did not fail UNAVAILABLE naming etcd: {d}")
    a = out.get("after") or {}
    if "ok_after_heal_s" not in a:
        f.add("C8 etcd outage", f"apply after etcd came back never succeeded in 30 s: {a}")
    for node, listed in out.get("listed", {}).items():
        if node not in out.get("listed_after_s", {}):
            f.add("C8 etcd outage", f"{node} did not list the new group within 15 s after the apply returned "
                                    f"(first answer: {listed})")
    return f


# -- membership changes (docs/scale-out.md): F7 grow and shrink, F8 kills mid-transfer, F13 replace --------
class ChangeWatch:
    """Follows a membership change from a thread: ChangeMembership STATUS through the first running node
    that answers, every 0.2 s, until no change is in progress and the ring's members are `members`, or
    `seconds` pass. Phase transitions go to the ledger. `result()`: {"done", "t_done", "epoch", "phases":
    {phase: t first seen}, "rows_received"/"mb_received": {target: max seen}, "drivers"}; `last`: the
    latest answer."""

    def __init__(self, ctx, members: list[str], what: str, seconds: float):
        import threading
        self.ctx, self.members, self.what, self.seconds = ctx, set(members), what, seconds
        self.out = {"what": what, "done": False, "phases": {}, "rows_received": {}, "mb_received": {}, "drivers": []}
        self.last = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch {what}", daemon=True)
        self.thread.start()

    def _ask(self):
        from cluster import membership
        for n in list(self.ctx.cluster.made):
            if n.running() and not n.stopped:
                try:
                    return membership(n.address, timeout=2)
                except Exception:  # noqa: BLE001 - ask the next node
                    continue
        return None

    def _run(self):
        led, out = self.ctx.led, self.out
        t0 = led.t()
        try:
            while led.t() < t0 + self.seconds and not self.ctx.stopping:
                r = self._ask()
                if r is not None:
                    self.last = r
                    if r.HasField("change"):
                        c = r.change
                        if c.phase not in out["phases"]:
                            out["phases"][c.phase] = round(led.t(), 2)
                            led.event(f"{self.what}: phase {c.phase}, driven by {c.driver or '-'}")
                        if c.driver and (not out["drivers"] or out["drivers"][-1] != c.driver):
                            out["drivers"].append(c.driver)
                        for tr in c.transfers:
                            out["rows_received"][tr.target] = max(out["rows_received"].get(tr.target, 0), tr.rows_received)
                            out["mb_received"][tr.target] = round(max(out["mb_received"].get(tr.target, 0),
                                                                      tr.bytes_received / 1048576), 3)
                    elif set(r.members) == self.members:
                        out.update(done=True, t_done=round(led.t(), 2), epoch=r.ring_epoch, members=list(r.members))
                        led.event(f"{self.what}: done, ring epoch {r.ring_epoch}: {', '.join(r.members)}")
                        return
                time.sleep(0.2)
            out["last"] = str(self.last)[:1500]
            led.event(f"{self.what}: NOT done after {self.seconds} s: {str(self.last)[:300]}")
            self.ctx.problems.append(f"{self.what}: the change was not over after {self.seconds} s "
                                     f"(last status: {str(self.last)[:600]})")
        finally:
            self.finished.set()

    def result(self) -> dict:
        self.finished.wait()
        return self.out

    def transfer(self, target: str):
        """(phase, RangeTransfer of `target`) in the latest answer, or (None, None)."""
        r = self.last
        if r is None or not r.HasField("change"):
            return None, None
        return r.change.phase, next((t for t in r.change.transfers if t.target == target), None)


def wait_streaming(ctx, watch: ChangeWatch, target: str, seconds: float = 30, after_us: int = 0):
    """Waits until `target`'s transfer is streaming, not done, with rows received (and updated after
    `after_us`, wall clock µs). Returns the transfer, or None."""
    t0 = ctx.led.t()
    while ctx.led.t() < t0 + seconds and not watch.finished.is_set():
        phase, tr = watch.transfer(target)
        if phase == "streaming" and tr is not None and not tr.done and tr.rows_received > 0 \
                and tr.updated_at_micros > after_us:
            return tr
        time.sleep(0.05)
    return None


def start_member(ctx, node, join: bool) -> None:
    ctx.led.event(f"start {node.id}{' --join' if join else ''}", node=node.id)
    node.start(join=join)
    node.wait_ready()
    ctx.led.event(f"{node.id} listening; the load sends to it too")
    ctx.load.set_addresses(ctx.load.addresses + [node.address])


def placement_check(ctx, members: list[str], epoch: int, when: str) -> dict:
    """C11 now: every member's replica alone holds exactly the entities the ring of `members` gives it
    (of the entities with an ok write completed before now)."""
    import strata
    from checker import check_placement, holdings
    from load import now_us
    from ring import Ring
    ring = Ring(members)
    t = ctx.led.t()
    ents = sorted({r.entity for w in list(ctx.led.writes) if w.result == "ok" and w.t1 < t for r in w.rows})
    nodes = [(n.id, n.address, n.internode_address) for n in ctx.cluster.nodes]
    held = holdings(nodes, ctx.group, ents, now_us(), epoch)
    info = check_placement(held, lambda e: ring.owners(e, 3), ents, ctx.findings, when)
    copies = len(ents) * min(3, len(members))
    out = {"when": when, "t": round(t, 1), "entities": len(ents), "per_node": info,
           "ring_share": {m: round(ring.share(m), 4) for m in ring.nodes}}
    held_n = {k: len(v) for k, v in held.items() if not isinstance(v, str)}
    out["copies_share"] = {k: round(v / copies, 4) for k, v in held_n.items()}
    try:  # history rows per node (GetStatus), as one node sees them
        with strata.Client(ctx.cluster.nodes[0].address, timeout=5) as cl:
            rows = {x.node_id: x.rows_total for x in cl.status().cluster_nodes}
        out["rows_total"] = rows
        out["rows_share"] = {k: round(v / max(1, sum(rows.values())), 4) for k, v in rows.items()}
    except strata.StrataError as e:
        out["rows_total"] = str(e)[:200]
    ctx.led.event(f"placement {when}: entities {len(ents)}, held per node {held_n}, "
                  f"per node {info}")
    return out


def moved_share_check(ctx, placement: dict, new: str) -> None:
    """C10 (a): after the add, the copies the new node holds are about 1/N of all copies (RF 3: 3/4 of the
    entities on 4 nodes); fail outside [lo, hi]."""
    lo, hi = ctx.p["moved_band"]
    share = placement["copies_share"].get(new)
    placement["moved_copies_share"] = share
    if share is None or not lo <= share <= hi:
        ctx.problems.append(f"moved keys: {new} holds {share} of the entity copies after the add "
                            f"(expected about 1/4, band [{lo}, {hi}])")


def fault_f7(ctx) -> float:
    """Grow 3 -> 4 (n4 with --join), then shrink back (remove-node n4) under load."""
    from cluster import cli
    c = ctx.cluster
    old = [n.id for n in c.nodes]
    n4 = ctx.n4 = c.spare(4)
    t_start = ctx.led.t()
    watch = ChangeWatch(ctx, old + ["n4"], "add n4", ctx.p["change_timeout"])
    start_member(ctx, n4, join=True)
    add = watch.result()
    ctx.changes.append([t_start, add.get("t_done", ctx.led.t())])
    ctx.membership["add"] = add
    if not add["done"]:
        return ctx.led.t()
    c.nodes = c.nodes + [n4]
    placed = placement_check(ctx, old + ["n4"], add["epoch"], "after the add")
    moved_share_check(ctx, placed, "n4")
    ctx.membership["placement after add"] = placed
    # Shrink: clients stop using n4 first (it is being decommissioned), then it is removed.
    ctx.load.set_addresses([n.address for n in c.nodes if n.id != "n4"])
    time.sleep(0.5)
    t_remove = ctx.led.t()
    ctx.led.event("strata cluster remove-node n4")
    r = cli(ctx.binary, ["cluster", "remove-node", "n4"], server=c.nodes[0].address)
    ctx.membership["remove-node"] = (r.stdout + r.stderr).strip()[:1000]
    if r.returncode != 0:
        ctx.problems.append(f"remove-node n4 failed ({r.returncode}): {r.stdout} {r.stderr}")
        return ctx.led.t()
    c.nodes = [n for n in c.nodes if n.id != "n4"]
    remove = ChangeWatch(ctx, old, "remove n4", ctx.p["change_timeout"]).result()
    ctx.membership["remove"] = remove
    deadline = time.time() + 30
    while n4.running() and time.time() < deadline:
        time.sleep(0.1)
    stopped_t = ctx.led.t()
    ctx.changes.append([t_remove, max(stopped_t, remove.get("t_done", 0))])
    if n4.running():
        ctx.problems.append("n4 still runs 30 s after its removal was over")
        ctx.led.event("n4 still running after its removal")
    else:
        ctx.membership["n4 exit"] = n4.proc.returncode
        ctx.led.event(f"n4 stopped by itself (exit {n4.proc.returncode})")
    return stopped_t


def fault_f8(ctx) -> float:
    """Grow 3 -> 4; kill -9 the receiving node n4 in the middle of its transfer, restart it; then kill -9 a
    source of the transfer (a random one), restart it; in the long run then the node driving the change;
    each only while n4's transfer is streaming (rows received, not done). The change must resume and
    finish."""
    from load import now_us
    c = ctx.cluster
    old = [n.id for n in c.nodes]
    n4 = ctx.n4 = c.spare(4)
    t_start = ctx.led.t()
    watch = ChangeWatch(ctx, old + ["n4"], "add n4", ctx.p["change_timeout"])
    start_member(ctx, n4, join=True)
    kills = ctx.membership["kills"] = []
    heal, restarted_us = 0.0, 0
    for victim_kind in ctx.p["f8_kills"]:
        tr = wait_streaming(ctx, watch, "n4", 30, after_us=restarted_us)
        if tr is None:
            ctx.problems.append(f"kill of the {victim_kind}: n4's transfer was not streaming (with rows received, "
                                f"not done) within 30 s, so the kill did not land mid-transfer")
            ctx.led.event(f"n4 not streaming: no kill of the {victim_kind}")
            continue
        if victim_kind == "target":
            victim = n4
        elif victim_kind == "source":
            victim = c.node(ctx.rng.choice(sorted(tr.sources)))
        else:
            driver = watch.last.change.driver if watch.last is not None and watch.last.HasField("change") else ""
            if not driver:
                ctx.problems.append("kill of the driver: no node was driving the change")
                continue
            victim = c.node(driver)
        state = (f"n4 had {tr.rows_received} rows, {tr.buckets_done}/{tr.buckets_total} buckets, "
                 f"sources done {tr.sources_done}/{len(tr.sources)}")
        ctx.led.event(f"kill -9 {victim.id} (the {victim_kind}; {state})", node=victim.id)
        t0 = ctx.led.t()
        victim.kill9()
        time.sleep(ctx.p["f8_down"])
        heal = ctx.led.t()
        ctx.led.event(f"restart {victim.id}", node=victim.id)
        victim.start(join=False)
        victim.wait_ready()
        restarted_us = now_us()
        ctx.led.faulted.append([victim.address, t0, ctx.led.t()])
        ctx.led.event(f"{victim.id} listening")
        kills.append({"victim": victim.id, "kind": victim_kind, "t": round(t0, 2), "rows_received_before": tr.rows_received,
                      "buckets": f"{tr.buckets_done}/{tr.buckets_total}"})
    add = watch.result()
    ctx.membership["add"] = add
    ctx.changes.append([t_start, add.get("t_done", ctx.led.t())])
    if add["done"]:
        c.nodes = c.nodes + [n4]
        placed = placement_check(ctx, old + ["n4"], add["epoch"], "after the add")
        moved_share_check(ctx, placed, "n4")
        ctx.membership["placement after add"] = placed
    return max(heal, ctx.led.t())


def fault_f13(ctx) -> float:
    """kill -9 a random node for good; replace-node it with n4 (started without --join), under load."""
    from cluster import INTERNODE_PORT, cli
    c = ctx.cluster
    victim = ctx.rng.choice(c.nodes)
    survivors = [n for n in c.nodes if n is not victim]
    ctx.led.event(f"kill -9 {victim.id} for good; the load stops sending to it", node=victim.id)
    t0 = ctx.led.t()
    victim.kill9()
    ctx.load.set_addresses([n.address for n in survivors])
    c.nodes = survivors
    time.sleep(ctx.p["f13_down"])
    n4 = ctx.n4 = c.spare(4)
    ctx.led.event(f"strata cluster replace-node {victim.id} --with n4")
    t_start = ctx.led.t()
    r = cli(ctx.binary, ["cluster", "replace-node", victim.id, "--with", "n4", "--address", n4.address,
                         "--internode-port", str(INTERNODE_PORT)], server=ctx.rng.choice(survivors).address)
    ctx.membership["replace-node"] = (r.stdout + r.stderr).strip()[:1000]
    ctx.membership["victim"] = victim.id
    if r.returncode != 0:
        ctx.problems.append(f"replace-node {victim.id} failed ({r.returncode}): {r.stdout} {r.stderr}")
        ctx.led.faulted.append([victim.address, t0, ctx.led.t()])
        return ctx.led.t()
    watch = ChangeWatch(ctx, [n.id for n in survivors] + ["n4"], f"replace {victim.id} with n4", ctx.p["change_timeout"])
    start_member(ctx, n4, join=False)
    rep = watch.result()
    ctx.membership["replace"] = rep
    done = rep.get("t_done", ctx.led.t())
    ctx.changes.append([t_start, done])
    ctx.led.faulted.append([victim.address, t0, done])
    if rep["done"]:
        c.nodes = survivors + [n4]
    return done


FAULTS = {"F1": fault_f1, "F3": fault_f3, "F4": fault_f4, "F5": fault_f5, "F12": fault_f12,
          "F7": fault_f7, "F8": fault_f8, "F13": fault_f13}
MEMBERSHIP = {"F7", "F8", "F13"}
LONG_ONLY = {"F13"}  # left out of --short (CI): F13 alone takes about 75 s, 30 s of it waiting for the dead source


class Ctx:
    pass


def run_scenario(name: str, rep: int, seed: int, p: dict, topo: Topology, binary: str, workdir: str,
                 etcd) -> dict:
    import strata
    from checker import Findings, Oracle, check_live, check_placement, check_readable, converge, holdings, liveness, stats
    from cluster import Cluster
    from load import Ledger, Load, now_us
    from ring import Ring

    rng = random.Random(f"{seed}-{name}-{rep}")
    started = time.monotonic()
    sdir = os.path.join(workdir, f"{name}-{rep}")
    print(f"\n== {name} #{rep}: {SCENARIOS[name]} (seed {seed}; files in {sdir})", flush=True)
    topo.heal()
    changes = name in MEMBERSHIP
    serve_args = []
    if changes:
        mb = p["f8_stream_mb"] if name == "F8" else p["stream_mb"]
        serve_args = ["--cleanup-grace", str(p["grace"]), "--stream-mb-per-s", str(mb)]
    cluster = Cluster(binary, topo, sdir, etcd=etcd.endpoint if etcd else None, name=f"fb-{name.lower()}-{rep}",
                      serve_args=serve_args)
    ctx = Ctx()
    ctx.cluster, ctx.topo, ctx.rng, ctx.p, ctx.etcd = cluster, topo, rng, p, etcd
    ctx.seed, ctx.rep, ctx.binary = seed, rep, binary
    ctx.n4, ctx.stopping, ctx.known = None, False, []
    ctx.changes, ctx.problems, ctx.membership, ctx.findings = [], [], {}, Findings()
    load = None
    try:
        cluster.start()
        group = strata.FeatureGroup(f"fb_{name.lower()}_{rep}", [strata.Feature("v", "INT"), strata.Feature("s", "STRING")])
        cluster.apply(group)
        ctx.group = group.name
        led = Ledger(os.path.join(sdir, "ledger.jsonl"), time.monotonic())
        ctx.led = led
        entities = [f"e{k}" for k in range(50)]
        load = Load(led, cluster.addresses, group.name, entities, rng)
        ctx.load = load
        if changes:
            load.seed_entities([f"s{k}" for k in range(p["seeded"])])
            load.read_seeded = p["read_seeded"]
            led.event(f"seeded {p['seeded']} entities (one row each, ALL)")
        load.start()
        time.sleep(p["baseline"])
        fault_t = led.t()
        load.fault_entities([f"f{k}" for k in range(20)])
        heal_t = FAULTS[name](ctx)
        load.fault_entities([])
        time.sleep(max(0.0, heal_t + p["post"] - led.t()))
        end_t = led.t()
        led.event("load stops")
        load.stop()
        crashes, load = load.crashes, None
        led.close()
        oracle = Oracle(led)
        live = check_live(oracle)
        nodes = [(n.id, n.address, n.internode_address) for n in cluster.nodes]
        members = [n.id for n in cluster.nodes]
        ring = Ring(members)
        epoch = 1
        if etcd is not None:
            with strata.Client(cluster.addresses[0], timeout=10) as c:
                epoch = c.status().ring_epoch
        final, info = converge(oracle, nodes, group.name, rng, p["converge"],
                               owners=lambda e: ring.owners(e, 3), epoch=epoch)
        c6, c6info = liveness(led, heal_t, end_t)
        if name == "F12":
            c8 = check_f12(led, ctx.f12)
            c6.count.update(c8.count)
            c6.examples.update(c8.examples)
        c9, c9info = check_readable(oracle, set(ctx.load.seeded), ctx.changes)
        if changes:
            # C11 at the end: each member holds exactly the entities the final ring gives it.
            ents = sorted(e for e, rows in oracle.rows.items() if any(oracle.counts(r) for r in rows))
            held = holdings(nodes, group.name, ents, now_us(), epoch)
            ctx.membership["placement at the end"] = check_placement(
                held, lambda e: ring.owners(e, 3), ents, ctx.findings, "at the end")
            check_membership(ctx, led, name)
        for k, v in list(ctx.findings.count.items()):
            c9.count[k] += v
            c9.examples[k] += ctx.findings.examples[k]
        for text in ctx.problems:
            c9.add("C10 membership change", text)
        c6.count.update(c9.count)
        for k, ex in c9.examples.items():
            c6.examples[k] = c6.examples.get(k, []) + ex
        rows_total = {}
        for a in cluster.addresses:
            try:
                with strata.Client(a, timeout=10) as c:
                    s = c.status()
                    rows_total[s.node_id] = sum(g.rows_total for g in s.groups if g.group == group.name)
            except strata.StrataError as e:
                rows_total[a] = str(e)[:100]
        expected_rows = sum(len(w.rows) for w in led.writes if oracle.counts(w.rows[0]))
        # The distinct rows each member should hold by the ring (every node, with 3 members).
        rows_by_ring = {}
        for w in led.writes:
            if oracle.counts(w.rows[0]):
                for r in w.rows:
                    for m in ring.owners(r.entity, 3):
                        rows_by_ring[m] = rows_by_ring.get(m, 0) + 1
        windows = {"baseline": (0, fault_t), "fault": (fault_t, heal_t), "after heal": (heal_t, end_t)}
        load_stats = stats(led, windows)
        result = {
            "scenario": name, "rep": rep, "seed": seed, "dir": sdir, "events": led.events,
            "stats": load_stats,
            "violations": {k: live.count.get(k, 0) + final.count.get(k, 0) + c6.count.get(k, 0) for k in CHECKS},
            "examples": {k: live.examples.get(k, []) + final.examples.get(k, []) + c6.examples.get(k, [])
                         for k in set(live.examples) | set(final.examples) | set(c6.examples)},
            "subtypes": {k: v for k, v in (live.count + final.count).items() if k not in CHECKS},
            "final": info, "etcd_outage": getattr(ctx, "f12", None), "liveness": c6info, "rows_total": rows_total, "expected_rows": expected_rows, "rows_by_ring": rows_by_ring,
            "readable": c9info, "membership": ctx.membership or None, "known_issues": ctx.known, "members": members, "ring_epoch": epoch,
            "info_ops": sum(1 for w in led.writes if w.result == "info"),
            "info_applied": len(oracle.applied),
            "load_crashes": crashes,
        }
        result["seconds"] = round(time.monotonic() - started, 1)  # the scenario, from start to checks done
        with open(os.path.join(sdir, "result.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        report(result)
        return result
    finally:
        ctx.stopping = True
        if load is not None:
            load.stop()
        cluster.stop()
        if etcd is not None and etcd.proc is not None and etcd.proc.poll() is not None:
            etcd.start()  # killed by F12 and not restarted (interrupted): the next scenario needs it


# Failures of the load during a change in F7 that come from a known Strata bug: reported (as "known issue"
# in the output and result.json), not failed, so that CI stays usable until it is fixed. Delete the entry
# when it is. Each: (name, op kind, a text the error contains).
KNOWN_ISSUES: list[tuple[str, str, str]] = [
    # (description, operation kind, text of its error): failures during an F7 change reported apart
    # instead of failing C10. Empty: the one listed here (lookups failing "the lookup lane to nX closed"
    # when their coordinator switched views, 5 of 15 runs) is fixed: a replaced view's lanes stay open
    # until the lookups begun under it finished (ClusterTopology.install).
]


def check_membership(ctx, led, name: str) -> None:
    """C10, beyond what the faults recorded (changes over in time, n4 stopped, moved share): in F7, where no
    node is faulty, every operation of the load that overlaps a change succeeds (failures matching
    KNOWN_ISSUES are reported apart)."""
    if name != "F7":
        return
    ops = [(w.t0, w.t1, "write", w.result, w.error, w.node) for w in led.writes if not w.invalid] + \
          [(r["t0"], r["t1"], r["kind"], r["result"], r.get("error", ""), r["node"]) for r in led.reads + led.exports]
    bad = sorted(op for op in ops if op[3] != "ok" and any(op[0] < b and op[1] > a for a, b in ctx.changes))
    for op in bad:
        text = f"{op[2]} via {op[5]} at t={op[0]:.1f}-{op[1]:.1f}s during a change: {op[3]} {op[4][:200]}"
        known = next((k for k, kind, needle in KNOWN_ISSUES if op[2] == kind and needle in op[4]), None)
        if known:
            ctx.known.append(f"{known}: {text}")
        else:
            ctx.problems.append(text)


def fmt(x) -> str:
    return "-" if x is None else f"{x:.0f}"


def report(r: dict) -> None:
    print(f"-- {r['scenario']} #{r['rep']} results")
    for window, per in r["stats"].items():
        if isinstance(per, list):
            if per:
                print(f"   {window}: {len(per)}")
                for x in per[:6]:
                    print(f"     {x}")
            continue
        parts = []
        for kind, s in per.items():
            parts.append(f"{kind} {s['ops']} (ok {s['ok']}/fail {s['fail']}/info {s['info']}) "
                         f"p50/p99/max {fmt(s['p50'])}/{fmt(s['p99'])}/{fmt(s['max'])} ms")
        print(f"   {window}: " + "; ".join(parts))
    fin = r["final"]
    if fin.get("replica_missing"):
        print(f"   replicas lacking rows (C7): {fin['replica_missing']}")
    print(f"   final reads: {fin['labels']} labels x {len(r['rows_total'])} nodes, rounds {fin['rounds']}, "
          f"{'converged' if fin['converged'] else 'NOT converged'} after {fin['seconds']} s; info writes "
          f"{r['info_ops']} ({r['info_applied']} seen applied); rows_total per node {r['rows_total']} "
          f"(distinct rows expected {r['expected_rows']}, per node by the ring {r['rows_by_ring']}); QUORUM online diagnostics {fin['diag'] or 'ok'}")
    if r.get("etcd_outage"):
        print(f"   etcd outage: {r['etcd_outage']}")
    m = r.get("membership")
    if m:
        for k in ("add", "remove", "replace"):
            if k in m:
                c = m[k]
                print(f"   {k}: {'done at ' + str(c.get('t_done')) + ' s' if c['done'] else 'NOT DONE'}, phases first seen "
                      f"{c['phases']}, rows received {c['rows_received']}, MB {c['mb_received']}")
        for k in ("kills", "victim", "n4 exit"):
            if k in m:
                print(f"   {k}: {m[k]}")
        for k in ("placement after add",):
            if k in m:
                pl = m[k]
                print(f"   {k}: {pl['entities']} entities; copies share per node {pl['copies_share']}; "
                      f"moved (n4) {pl.get('moved_copies_share')}; per node {pl['per_node']}; history rows per "
                      f"node {pl.get('rows_total')} (shares {pl.get('rows_share')})")
        if "placement at the end" in m:
            print(f"   placement at the end (ring {r['members']}, epoch {r['ring_epoch']}): {m['placement at the end']}")
    if r.get("readable"):
        print(f"   C9 reads checked: {r['readable']}")
    for k in r.get("known_issues") or []:
        print(f"   KNOWN STRATA ISSUE (reported, not failed): {k}")
    lv = r["liveness"]
    print(f"   after heal: last error {lv['last_error_after_heal_s']} s after heal; {lv['ops_checked']} ops "
          f"checked in the {lv['window_s']} s from heal+10 s")
    line = "   checks: " + "  ".join(f"{k.split(' ')[0]}={'ok' if v == 0 else v}" for k, v in r["violations"].items())
    print(line)
    for k, v in r["subtypes"].items():
        print(f"     {k}: {v}")
    for k, ex in sorted(r["examples"].items()):
        for e in ex[:3]:
            print(f"     {k}: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="every scenario once, about 3 minutes (default)")
    mode.add_argument("--long", action="store_true", help="longer faults, each scenario repeated")
    ap.add_argument("--strata", help="strata binary (default: $STRATA_BIN, else `swift build --show-bin-path`/strata)")
    ap.add_argument("--seed", type=int, help="replay a run: the seed it printed")
    ap.add_argument("--scenarios", help="comma-separated subset of " + ",".join(FAULTS) +
                    " (default: all of the profile; F12, F7, F8, F13 need etcd)")
    ap.add_argument("--cluster-file", action="store_true",
                    help="legacy mode: the nodes read a cluster file (registry on n1) instead of using etcd")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (ledgers, logs, data) on success")
    args = ap.parse_args()
    p = PROFILES["long" if args.long else "short"]
    etcd_only = {"F12"} | MEMBERSHIP
    default = [n for n in FAULTS if (n not in etcd_only or not args.cluster_file)
               and (args.long or n not in LONG_ONLY)]
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()] if args.scenarios else default
    for n in names:
        if n not in FAULTS:
            ap.error(f"unknown scenario {n}; known: {', '.join(FAULTS)}")
        if n in etcd_only and args.cluster_file:
            ap.error(f"{n} needs etcd: drop --cluster-file")
    try:
        preflight()
        if not args.cluster_file and shutil.which("etcd") is None:
            raise Skip("'etcd' not found (apt-get install etcd-server; dev/install-deps.sh installs it), "
                       "or run the legacy mode with --cluster-file")
    except Skip as e:
        print(f"fault bed SKIPPED: {e}", flush=True)
        return EXIT_SKIPPED
    binary = args.strata or default_binary()
    if not binary or not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"fault bed: no strata binary ({binary!r}); pass --strata or set STRATA_BIN", file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 9)
    print(f"fault bed: {'long' if args.long else 'short'} run, seed {seed} (replay: --seed {seed}), "
          f"scenarios {','.join(names)}, {'cluster file' if args.cluster_file else 'etcd'} mode, binary {binary}",
          flush=True)
    workdir = tempfile.mkdtemp(prefix="strata-faultbed-")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    topo = Topology(4)  # n4: the node the membership scenarios add (or the replacement)
    etcd = None
    results, failed = [], False
    code = 0
    try:
        try:
            topo.setup()
        except Skip as e:
            print(f"fault bed SKIPPED: {e}", flush=True)
            return EXIT_SKIPPED
        print(f"network: namespaces {topo.prefix}_*, nodes {topo.ip(1)}..{topo.ip(3)} (and {topo.ip(4)} for n4), "
              f"load generator {topo.root_ip}")
        if not args.cluster_file:
            from cluster import Etcd
            etcd = Etcd(topo.root_ip, workdir)
            etcd.start()
            print(f"etcd: {etcd.endpoint} (pid {etcd.proc.pid}, data in {etcd.data_dir})")
        for rep in range(1, p["repeat"] + 1):
            for name in names:
                results.append(run_scenario(name, rep, seed, p, topo, binary, workdir, etcd))
        failed = any(sum(r["violations"].values()) for r in results)
        code = 1 if failed else 0
        if any(r["load_crashes"] for r in results):
            for r in results:
                for c in r["load_crashes"]:
                    print(f"load thread crashed in {r['scenario']}: {c}", file=sys.stderr)
            code, failed = 2, True
    except (KeyboardInterrupt, Stop) as e:
        print(f"\nfault bed interrupted ({str(e) or 'Ctrl-C'}); cleaning up", flush=True)
        code = 130
        failed = True
    except Exception:
        import traceback
        traceback.print_exc()
        code, failed = 2, True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        errors = []
        if etcd is not None:
            try:
                etcd.stop()
            except Exception as e:  # noqa: BLE001 - go on tearing the network down
                errors.append(f"etcd stop: {e}")
        errors += topo.teardown()
        if errors:
            print("cleanup errors: " + "; ".join(errors), file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print("\n== summary (seed %d)" % seed)
    for r in results:
        v = r["violations"]
        s = r["stats"]
        ops = {k: sum(s[n][k]["ops"] for n in ("baseline", "fault", "after heal")) for k in ("write", "read", "export")}
        print(f"{r['scenario']} #{r['rep']} ({r['seconds']:.0f} s): writes {ops['write']}, reads {ops['read']}, "
              f"exports {ops['export']}; "
              + ("all checks held" if not sum(v.values()) else
                 "FAILED " + ", ".join(f"{k} x{n}" for k, n in v.items() if n)))
    if failed or args.keep:
        print(f"run directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
