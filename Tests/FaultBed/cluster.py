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
    """`initial_nodes`: the cluster size it forms with (`--initial-nodes`, for the nodes that create the
    cluster); None for a node added later. `serve_args`: more `strata serve` flags."""

    def __init__(self, i: int, binary: str, topo: Topology, workdir: str, cluster_file: str | None = None,
                 etcd: str | None = None, cluster_name: str = "strata", initial_nodes: int | None = 3,
                 serve_args: list[str] | None = None):
        self.i = i
        self.initial_nodes = initial_nodes
        self.serve_args = list(serve_args or [])
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

    def start(self, join: bool = False) -> None:
        """`join`: `strata serve --join` (a node that is not a member yet adds itself)."""
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"\n==== start {self.starts} at {time.strftime('%H:%M:%S')}{' (--join)' if join else ''} ====\n")
        log.flush()
        if self.etcd:
            where = ["--etcd", self.etcd, "--address", self.address, "--internode-port", str(INTERNODE_PORT),
                     "--replication-factor", "3", "--cluster-name", self.cluster_name, "--repair-interval", "0"]
            if self.initial_nodes is not None:
                where += ["--initial-nodes", str(self.initial_nodes)]
            if join:
                where.append("--join")
        else:
            where = ["--cluster", self.cluster_file]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.ns(self.i), self.binary, "serve", *where, *self.serve_args,
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

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
    scenario, so each scenario forms a new cluster). Without: the legacy cluster file (registry on n1).

    `nodes` are the members (n1..n`size` at first; the membership scenarios change the list); `spare(i)`
    makes node i of the topology (not started, not a member); `stop` stops every node made."""

    def __init__(self, binary: str, topo: Topology, workdir: str, etcd: str | None = None, name: str = "strata",
                 size: int = 3, serve_args: list[str] | None = None):
        self.topo = topo
        self.workdir = workdir
        self.binary, self.etcd, self.name, self.serve_args = binary, etcd, name, list(serve_args or [])
        os.makedirs(workdir, exist_ok=True)
        self.cluster_file = None
        if not etcd:
            self.cluster_file = os.path.join(workdir, "cluster.yaml")
            with open(self.cluster_file, "w") as f:
                f.write("epoch: 1\nreplication_factor: 3\nnodes:\n" + "".join(
                    f"  - id: n{i}\n    address: {topo.ip(i)}:{CLIENT_PORT}\n    internode_port: {INTERNODE_PORT}\n"
                    for i in range(1, size + 1)))
        self.nodes = [Node(i, binary, topo, workdir, self.cluster_file, etcd, name, size, serve_args)
                      for i in range(1, size + 1)]
        self.made = list(self.nodes)

    def spare(self, i: int) -> Node:
        """Node i (a namespace of the topology), made for a membership change: no --initial-nodes."""
        assert self.etcd, "membership changes need etcd"
        n = Node(i, self.binary, self.topo, self.workdir, None, self.etcd, self.name, None, self.serve_args)
        self.made.append(n)
        return n

    def node(self, node_id: str) -> Node:
        return next(n for n in self.made if n.id == node_id)

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
        for n in self.made:
            try:
                n.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                n.kill9()


def membership(address: str, timeout: float = 5):
    """The ring and the membership change in progress as node `address` sees it
    (`FeatureStore.ChangeMembership`, action STATUS): a ChangeMembershipResponse."""
    from strata._proto import feature_store_pb2 as fs
    with strata.Client(address, timeout=timeout) as c:
        return c._unary("ChangeMembership", fs.ChangeMembershipRequest(action=fs.ChangeMembershipRequest.STATUS),
                        timeout)


def cli(binary: str, args: list[str], server: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`strata ARGS --server SERVER` from the root namespace (it reaches every node's address)."""
    return subprocess.run([binary, *args, "--server", server], capture_output=True, text=True, timeout=timeout)
