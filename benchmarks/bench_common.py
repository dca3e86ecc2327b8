"""What the benchmark scripts (bench_suite.py, bench_streaming.py) share: logging, the registry of
processes they start (all stopped at exit, also on Ctrl-C or failure), running commands, per-process CPU
time, waiting for a node to go quiet, and the machine and commit a result was measured on."""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Everything to stop at exit: objects with a stop() method (strata_node.Server, worker processes) and
# subprocess.Popen objects (a Popen started with graceful=True gets SIGINT, the others SIGTERM).
STARTED: list = []


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def stop_all():
    """Stops every registered process, the most recently started first."""
    while STARTED:
        p = STARTED.pop()
        try:
            if hasattr(p, "stop"):
                p.stop()
            elif p.poll() is None:
                # bench_join.py stops its own node in a `finally`: SIGINT lets it run.
                p.send_signal(signal.SIGINT if getattr(p, "graceful", False) else signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        except Exception as e:  # keep stopping the others
            log(f"while stopping a process: {e}")


def popen(cmd, graceful=False, **kw) -> subprocess.Popen:
    """subprocess.Popen, registered to be stopped at exit."""
    p = subprocess.Popen(cmd, **kw)
    p.graceful = graceful
    STARTED.append(p)
    return p


def forget(p):
    """Unregisters a process that was stopped by its owner."""
    if p in STARTED:
        STARTED.remove(p)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Runs a command to its end; raises with the tail of its output when it fails."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def run_json(cmd) -> dict:
    """Runs a command whose last line of output is a JSON object."""
    return json.loads(run(cmd).stdout.strip().splitlines()[-1])


def cpu_seconds(pid) -> float:
    """utime + stime of a process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(node, timeout=60.0) -> float:
    """Waits until the node used under 5% of a core over 0.5 s (background image and tile builds, flushes
    and compactions done), so that an idle figure is idle. Returns the seconds waited."""
    t = time.perf_counter()
    prev = cpu_seconds(node.proc.pid)
    while time.perf_counter() - t < timeout:
        time.sleep(0.5)
        cur = cpu_seconds(node.proc.pid)
        if cur - prev < 0.025:
            return time.perf_counter() - t
        prev = cur
    log(f"node still busy after {timeout:.0f} s; measuring anyway")
    return time.perf_counter() - t


def vm_kb_file(path, field):
    """The kB value of `field:` in a /proc file such as /proc/meminfo, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem_kb = vm_kb_file("/proc/meminfo", "MemTotal")
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "memory_gib": round((mem_kb or 0) / 1024 / 1024, 1), "python": platform.python_version()}


def git(*args) -> str:
    return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True).stdout.strip()
