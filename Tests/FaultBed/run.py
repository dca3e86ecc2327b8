#!/usr/bin/env python3
"""The fault bed: a 3-node RF-3 Strata cluster of real `strata serve` processes, each in its own network
namespace behind a bridge, under write/read/export load from the root namespace, while one fault at a
time is injected; an operation ledger (JSONL) and the checks C1-C6 afterwards (see README.md).

  Tests/FaultBed/run.py --short [--strata BIN] [--seed N] [--scenarios F1,F4] [--keep]
  Tests/FaultBed/run.py --long  ...

Exit codes: 0 every check held; 1 a check failed; 2 the harness failed; 77 SKIPPED (not root, or
`ip netns add` refused, or ip/nft missing): never a pass.
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
    "short": dict(baseline=6, post=14, converge=30, repeat=1, f1_cycles=3, f1_down=3, f1_up=3, f3=10, f4=10, f5=20),
    "long": dict(baseline=10, post=20, converge=30, repeat=3, f1_cycles=8, f1_down=5, f1_up=5, f3=20, f4=20, f5=60),
}
SCENARIOS = {
    "F1": "kill -9 one node, restart it after a few seconds (several times)",
    "F3": "SIGSTOP one node, SIGCONT after a pause",
    "F4": "partition one node from the other nodes (nft bridge rule), then heal",
    "F5": "30% packet loss in and out of one node, then heal",
}
CHECKS = ["C1 lost ack", "C2 phantom", "C3 duplicate/corrupt row", "C4 online = max", "C5 export oracle",
          "C5-live export missed an ack", "C6 liveness", "C7 replica convergence"]


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


FAULTS = {"F1": fault_f1, "F3": fault_f3, "F4": fault_f4, "F5": fault_f5}


class Ctx:
    pass


def run_scenario(name: str, rep: int, seed: int, p: dict, topo: Topology, binary: str, workdir: str) -> dict:
    import strata
    from checker import Oracle, check_live, converge, liveness, stats
    from cluster import Cluster
    from load import Ledger, Load

    rng = random.Random(f"{seed}-{name}-{rep}")
    sdir = os.path.join(workdir, f"{name}-{rep}")
    print(f"\n== {name} #{rep}: {SCENARIOS[name]} (seed {seed}; files in {sdir})", flush=True)
    topo.heal()
    cluster = Cluster(binary, topo, sdir)
    ctx = Ctx()
    ctx.cluster, ctx.topo, ctx.rng, ctx.p = cluster, topo, rng, p
    load = None
    try:
        cluster.start()
        group = strata.FeatureGroup(f"fb_{name.lower()}_{rep}", [strata.Feature("v", "INT"), strata.Feature("s", "STRING")])
        cluster.apply(group)
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
        time.sleep(p["post"])
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
            "final": info, "liveness": c6info, "rows_total": rows_total, "expected_rows": expected_rows,
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
    ap.add_argument("--scenarios", default="F1,F3,F4,F5", help="comma-separated subset of F1,F3,F4,F5")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (ledgers, logs, data) on success")
    args = ap.parse_args()
    p = PROFILES["long" if args.long else "short"]
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for n in names:
        if n not in FAULTS:
            ap.error(f"unknown scenario {n}; known: {', '.join(FAULTS)}")
    try:
        preflight()
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
          f"scenarios {','.join(names)}, binary {binary}", flush=True)
    workdir = tempfile.mkdtemp(prefix="strata-faultbed-")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    topo = Topology(3)
    results, failed = [], False
    code = 0
    try:
        try:
            topo.setup()
        except Skip as e:
            print(f"fault bed SKIPPED: {e}", flush=True)
            return EXIT_SKIPPED
        print(f"network: namespaces {topo.prefix}_*, nodes {topo.ip(1)}..{topo.ip(3)}, load generator {topo.root_ip}")
        for rep in range(1, p["repeat"] + 1):
            for name in names:
                results.append(run_scenario(name, rep, seed, p, topo, binary, workdir))
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
        errors = topo.teardown()
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
