"""A `strata serve` process for the scripts (pit_differential.py, bench_join.py): started on a free
loopback port with its own data directory, stopped with SIGTERM."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading


class Server:
    def __init__(self, binary: str, data_dir: str, log_path: str, extra_args=()):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", data_dir, *extra_args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        self.address = None
        ready = threading.Event()

        def reader():
            for line in self.proc.stdout:
                m = re.search(r"listening on (\S+)", line)
                if m and self.address is None:
                    self.address = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(60) or self.address is None:
            self.stop()
            raise RuntimeError(f"strata serve did not start; see {log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def reset_hwm(self) -> bool:
        """Resets VmHWM to the current RSS (Linux clear_refs value 5); False if not allowed."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


def report(tool: str, summary: str, first_mismatches: list[str]) -> int:
    """Prints a differential run's verdict (`tool: summary`) and its first mismatches; the exit code: 1 when
    there were mismatches, else 0."""
    print(f"{tool}: {summary}")
    if not first_mismatches:
        return 0
    print("first mismatches:")
    for m in first_mismatches:
        print("  " + m)
    return 1


def clean_up(server: Server | None, tmp: str, keep: bool):
    """Stops the node and removes the run's directory, unless asked to keep it (then says where it is)."""
    if server is not None:
        server.stop()
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif os.path.isdir(tmp):
        print(f"  data in {tmp}")
