#!/usr/bin/env python3
"""The fault bed: a 3-node RF-3 Strata cluster of real `strata serve` processes, each in its own network
namespace behind a bridge, its metadata in one etcd in the root namespace (or, with --cluster-file, the
legacy cluster file), under write/read/export load from the root namespace, while one fault at a time is
injected; an operation ledger (JSONL) and the checks C1-C8 afterwards (see README.md).

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

PROFILES = {
    # seconds; F1: cycles x (down, up)
    "short": dict(baseline=6, post=14, converge=30, repeat=1, f1_cycles=3, f1_down=3, f1_up=3, f3=10, f4=10, f5=20, f12=10),
    "long": dict(baseline=10, post=20, converge=30, repeat=3, f1_cycles=8, f1_down=5, f1_up=5, f3=20, f4=20, f5=60, f12=20),
}
SCENARIOS = {
    "F1": "kill -9 one node, restart it after a few seconds (several times)",
    "F3": "SIGSTOP one node, SIGCONT after a pause",
    "F4": "partition one node from the other nodes (nft bridge rule), then heal",
    "F5": "30% packet loss in and out of one node, then heal",
    "F12": "etcd down (SIGSTOP or kill -9, then SIGCONT or restart) under load; a registry change meanwhile",
}
CHECKS = ["C1 lost ack", "C2 phantom", "C3 duplicate/corrupt row", "C4 online = max", "C5 export oracle",
          "C5-live export missed an ack", "C6 liveness", "C7 replica convergence", "C8 etcd outage"]


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


FAULTS = {"F1": fault_f1, "F3": fault_f3, "F4": fault_f4, "F5": fault_f5, "F12": fault_f12}


class Ctx:
    pass


def run_scenario(name: str, rep: int, seed: int, p: dict, topo: Topology, binary: str, workdir: str,
                 etcd) -> dict:
    import strata
    from checker import Oracle, check_live, converge, liveness, stats
    from cluster import Cluster
    from load import Ledger, Load

    rng = random.Random(f"{seed}-{name}-{rep}")
    sdir = os.path.join(workdir, f"{name}-{rep}")
    print(f"\n== {name} #{rep}: {SCENARIOS[name]} (seed {seed}; files in {sdir})", flush=True)
    topo.heal()
    cluster = Cluster(binary, topo, sdir, etcd=etcd.endpoint if etcd else None, name=f"fb-{name.lower()}-{rep}")
    ctx = Ctx()
    ctx.cluster, ctx.topo, ctx.rng, ctx.p, ctx.etcd = cluster, topo, rng, p, etcd
    ctx.seed, ctx.rep = seed, rep
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
        final, info = converge(oracle, nodes, group.name, rng, p["converge"])
        c6, c6info = liveness(led, heal_t, end_t)
        if name == "F12":
            c8 = check_f12(led, ctx.f12)
            c6.count.update(c8.count)
            c6.examples.update(c8.examples)
        rows_total = {}
        for a in cluster.addresses:
            try:
                with strata.Client(a, timeout=10) as c:
                    s = c.status()
                    rows_total[s.node_id] = sum(g.rows_total for g in s.groups if g.group == group.name)
            except strata.StrataError as e:
                rows_total[a] = str(e)[:100]
        expected_rows = sum(len(w.rows) for w in led.writes if oracle.counts(w.rows[0]))
        windows = {"baseline": (0, fault_t), "fault": (fault_t, heal_t), "after heal": (heal_t, end_t)}
        load_stats = stats(led, windows)
        result = {
            "scenario": name, "rep": rep, "seed": seed, "dir": sdir, "events": led.events,
            "stats": load_stats,
            "violations": {k: live.count.get(k, 0) + final.count.get(k, 0) + c6.count.get(k, 0) for k in CHECKS},
            "examples": {k: live.examples.get(k, []) + final.examples.get(k, []) + c6.examples.get(k, [])
                         for k in set(live.examples) | set(final.examples) | set(c6.examples)},
            "subtypes": {k: v for k, v in (live.count + final.count).items() if k not in CHECKS},
            "final": info, "etcd_outage": getattr(ctx, "f12", None), "liveness": c6info, "rows_total": rows_total, "expected_rows": expected_rows,
            "info_ops": sum(1 for w in led.writes if w.result == "info"),
            "info_applied": len(oracle.applied),
            "load_crashes": crashes,
        }
        with open(os.path.join(sdir, "result.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        report(result)
        return result
    finally:
        if load is not None:
            load.stop()
        cluster.stop()
        if etcd is not None and etcd.proc is not None and etcd.proc.poll() is not None:
            etcd.start()  # killed by F12 and not restarted (interrupted): the next scenario needs it


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
          f"(distinct rows expected {r['expected_rows']}); QUORUM online diagnostics {fin['diag'] or 'ok'}")
    if r.get("etcd_outage"):
        print(f"   etcd outage: {r['etcd_outage']}")
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
    ap.add_argument("--scenarios", help="comma-separated subset of F1,F3,F4,F5,F12 (default: all; F12 needs etcd)")
    ap.add_argument("--cluster-file", action="store_true",
                    help="legacy mode: the nodes read a cluster file (registry on n1) instead of using etcd")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (ledgers, logs, data) on success")
    args = ap.parse_args()
    p = PROFILES["long" if args.long else "short"]
    default = [n for n in FAULTS if n != "F12" or not args.cluster_file]
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()] if args.scenarios else default
    for n in names:
        if n not in FAULTS:
            ap.error(f"unknown scenario {n}; known: {', '.join(FAULTS)}")
        if n == "F12" and args.cluster_file:
            ap.error("F12 (etcd down) needs etcd: drop --cluster-file")
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
    topo = Topology(3)
    etcd = None
    results, failed = [], False
    code = 0
    try:
        try:
            topo.setup()
        except Skip as e:
            print(f"fault bed SKIPPED: {e}", flush=True)
            return EXIT_SKIPPED
        print(f"network: namespaces {topo.prefix}_*, nodes {topo.ip(1)}..{topo.ip(3)}, load generator {topo.root_ip}")
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
        print(f"{r['scenario']} #{r['rep']}: writes {ops['write']}, reads {ops['read']}, exports {ops['export']}; "
              + ("all checks held" if not sum(v.values()) else
                 "FAILED " + ", ".join(f"{k} x{n}" for k, n in v.items() if n)))
    if failed or args.keep:
        print(f"run directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
