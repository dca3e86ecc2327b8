"""The processes of a fault-bed run: one etcd in the root namespace (listening on the root's bridge
address, so every node namespace reaches it; its data under the run's directory) and the nodes,
`strata serve` processes each in its node's namespace (`ip netns exec NS strata serve --etcd ETCD --node nI
--address IP:7401 --internode-port 7501 --initial-nodes 3 --cluster-name NAME --data-dir DIR`, or with
`--cluster FILE` in the legacy mode; `ip netns exec` execs, so the process id is the node's). Only these
processes are ever signalled, by their id."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

import strata

from netbed import Topology

CLIENT_PORT = 7401
INTERNODE_PORT = 7501
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380


class Etcd:
    """One etcd member in the root namespace on the root's bridge address (unique to the run), with its
    data directory under the run's directory. `kill9` + `start` restarts it on the same data."""

    def __init__(self, host: str, workdir: str):
        self.endpoint = f"{host}:{ETCD_CLIENT_PORT}"
        self.host = host
        self.data_dir = os.path.join(workdir, "etcd")
        self.log_path = os.path.join(workdir, "etcd.log")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, seconds: float = 30) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        client, peer = f"http://{self.endpoint}", f"http://{self.host}:{ETCD_PEER_PORT}"
        log = open(self.log_path, "a")
        log.write(f"\n==== start {self.starts} at {time.strftime('%H:%M:%S')} ====\n")
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen(
            ["etcd", "--name", "faultbed", "--data-dir", self.data_dir, "--listen-client-urls", client,
             "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"faultbed={peer}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + seconds
        while True:
            with open(self.log_path) as f:
                f.seek(offset)
                if "ready to serve client requests" in f.read():
                    return
            if self.proc.poll() is not None or time.time() > deadline:
                with open(self.log_path) as f:
                    tail = f.read()[-3000:]
                raise RuntimeError(f"etcd did not start (exit {self.proc.poll()}); log:\n{tail}")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        """SIGCONT + SIGTERM, SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill9()


class Node:
    def __init__(self, i: int, binary: str, topo: Topology, workdir: str, cluster_file: str | None = None,
                 etcd: str | None = None, cluster_name: str = "strata"):
        self.i = i
        self.id = f"n{i}"
        self.binary = binary
        self.topo = topo
        self.cluster_file = cluster_file
        self.etcd = etcd
        self.cluster_name = cluster_name
        self.data_dir = os.path.join(workdir, f"data-{self.id}")
        self.log_path = os.path.join(workdir, f"{self.id}.log")
        self.address = f"{topo.ip(i)}:{CLIENT_PORT}"
        self.internode_address = f"{topo.ip(i)}:{INTERNODE_PORT}"
        self.proc: subprocess.Popen | None = None
        self.stopped = False  # SIGSTOPped
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"\n==== start {self.starts} at {time.strftime('%H:%M:%S')} ====\n")
        log.flush()
        if self.etcd:
            where = ["--etcd", self.etcd, "--address", self.address, "--internode-port", str(INTERNODE_PORT),
                     "--initial-nodes", str(self.topo.n), "--replication-factor", "3",
                     "--cluster-name", self.cluster_name, "--repair-interval", "0"]
        else:
            where = ["--cluster", self.cluster_file]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.ns(self.i), self.binary, "serve", *where,
             "--node", self.id, "--data-dir", self.data_dir],
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        log.close()
        self._ready = threading.Event()
        proc = self.proc

        def reader():
            for line in proc.stdout:
                if re.search(r"listening on (\S+)", line):
                    self._ready.set()
            self._ready.set()

        threading.Thread(target=reader, daemon=True).start()

    def wait_ready(self, seconds: float = 60) -> None:
        if not self._ready.wait(seconds) or self.proc.poll() is not None:
            with open(self.log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f"node {self.id} did not start (exit {self.proc.poll()}); log:\n{tail}")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.stopped = False

    def sigstop(self) -> None:
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def sigcont(self) -> None:
        self.signal(signal.SIGCONT)
        self.stopped = False

    def stop(self) -> None:
        """SIGTERM (after SIGCONT), SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.sigcont()
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill9()


class Cluster:
    """With `etcd` (HOST:PORT): the nodes keep their metadata there, under /strata/`name`/ (a new name per
    scenario, so each scenario forms a new cluster). Without: the legacy cluster file (registry on n1)."""

    def __init__(self, binary: str, topo: Topology, workdir: str, etcd: str | None = None, name: str = "strata"):
        self.topo = topo
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.cluster_file = None
        if not etcd:
            self.cluster_file = os.path.join(workdir, "cluster.yaml")
            with open(self.cluster_file, "w") as f:
                f.write("epoch: 1\nreplication_factor: 3\nnodes:\n" + "".join(
                    f"  - id: n{i}\n    address: {topo.ip(i)}:{CLIENT_PORT}\n    internode_port: {INTERNODE_PORT}\n"
                    for i in range(1, topo.n + 1)))
        self.nodes = [Node(i, binary, topo, workdir, self.cluster_file, etcd, name) for i in range(1, topo.n + 1)]

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def start(self, seconds: float = 60) -> None:
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready(seconds)
        self.wait_connected(seconds)

    def wait_connected(self, seconds: float = 30) -> None:
        """Every node answers GetStatus and sees every node reachable."""
        deadline = time.time() + seconds
        for address in self.addresses:
            with strata.Client(address, timeout=3) as c:
                while True:
                    try:
                        s = c.status()
                        if len(s.cluster_nodes) == len(self.nodes) and all(x.reachable for x in s.cluster_nodes):
                            break
                    except strata.StrataError:
                        pass
                    if time.time() > deadline:
                        raise RuntimeError(f"node {address} does not see {len(self.nodes)} reachable nodes")
                    time.sleep(0.3)

    def apply(self, group: strata.FeatureGroup, seconds: float = 30) -> None:
        """Applies through n1, then waits until every node lists the group."""
        deadline = time.time() + seconds
        with strata.Client(self.addresses[0], timeout=5) as c:
            while True:
                try:
                    c.apply(group)
                    break
                except (strata.Unavailable, strata.DeadlineExceeded):
                    if time.time() > deadline:
                        raise
                    time.sleep(0.3)
        for address in self.addresses:
            with strata.Client(address, timeout=5) as c:
                while group.name not in {g.spec.name for g in c.list_feature_groups()}:
                    if time.time() > deadline:
                        raise RuntimeError(f"{address} never listed {group.name}")
                    time.sleep(0.2)

    def stop(self) -> None:
        for n in self.nodes:
            try:
                n.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                n.kill9()
