"""The network of a fault-bed run: a "switch" namespace with a bridge, one namespace per node joined to
the bridge by a veth pair (10.232.X.i/24), and a veth from the root namespace into the bridge
(10.232.X.254) for the load generator. Faults are nft rules in the switch namespace's bridge family
(nothing changes inside a node's namespace). Every name carries the run's prefix; `teardown` deletes
everything the run made, and only that."""
from __future__ import annotations

import os
import random
import shutil
import subprocess


class Skip(Exception):
    """The machine cannot host the fault bed (not root, no `ip netns`, no nft): the run is SKIPPED."""


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def preflight() -> None:
    """Raises Skip naming what is missing."""
    if os.geteuid() != 0:
        raise Skip("not root: network namespaces, veths and nft rules need root (run as root, or skip)")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            raise Skip(f"'{tool}' not found (apt-get install {'iproute2' if tool == 'ip' else 'nftables'}; "
                       "dev/install-deps.sh installs both)")


class Topology:
    def __init__(self, nodes: int, prefix: str | None = None):
        self.n = nodes
        self.prefix = prefix or f"fb{random.randrange(16 ** 5):05x}"
        self.switch = f"{self.prefix}_sw"
        self.octet = self._free_octet()
        self.made_ns: list[str] = []
        self.root_veth = f"{self.prefix}vr"
        self.made_root_veth = False

    # -- names ----------------------------------------------------------------------------------------
    def ns(self, i: int) -> str:
        """Namespace of node i (1-based)."""
        return f"{self.prefix}_n{i}"

    def ip(self, i: int) -> str:
        return f"10.232.{self.octet}.{i}"

    @property
    def root_ip(self) -> str:
        return f"10.232.{self.octet}.254"

    def port(self, i: int) -> str:
        """The switch-side veth of node i (the name nft rules match)."""
        return f"{self.prefix}b{i}"

    @staticmethod
    def _free_octet() -> int:
        """A 10.232.X.0/24 that no interface of the root namespace uses (runs may overlap)."""
        used = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
        free = [x for x in range(1, 250) if f"10.232.{x}." not in used]
        if not free:
            raise RuntimeError("no free 10.232.X.0/24 subnet")
        return random.SystemRandom().choice(free)

    # -- set up / tear down ---------------------------------------------------------------------------
    def setup(self) -> None:
        p = _run(["ip", "netns", "add", self.switch], check=False)
        if p.returncode != 0:
            raise Skip(f"'ip netns add' was refused: {p.stderr.strip()}")
        self.made_ns.append(self.switch)
        sw = ["ip", "-n", self.switch]
        _run(sw + ["link", "add", "br0", "type", "bridge"])
        _run(sw + ["link", "set", "br0", "up"])
        _run(sw + ["link", "set", "lo", "up"])
        for i in range(1, self.n + 1):
            ns, v, b = self.ns(i), f"{self.prefix}v{i}", self.port(i)
            _run(["ip", "netns", "add", ns])
            self.made_ns.append(ns)
            _run(["ip", "link", "add", v, "type", "veth", "peer", "name", b])
            _run(["ip", "link", "set", v, "netns", ns])
            _run(["ip", "link", "set", b, "netns", self.switch])
            _run(sw + ["link", "set", b, "master", "br0", "up"])
            _run(["ip", "-n", ns, "link", "set", v, "name", "eth0"])
            _run(["ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        rb = f"{self.prefix}br"
        _run(["ip", "link", "add", self.root_veth, "type", "veth", "peer", "name", rb])
        self.made_root_veth = True
        _run(["ip", "link", "set", rb, "netns", self.switch])
        _run(sw + ["link", "set", rb, "master", "br0", "up"])
        _run(["ip", "addr", "add", f"{self.root_ip}/24", "dev", self.root_veth])
        _run(["ip", "link", "set", self.root_veth, "up"])
        # The fault table: one forward chain in the bridge family of the switch namespace.
        self.nft("add table bridge fault")
        self.nft("add chain bridge fault cut { type filter hook forward priority 0 ; }")

    def teardown(self) -> list[str]:
        """Deletes what this run made; returns the errors (empty = clean)."""
        errors = []
        if self.made_root_veth:
            p = _run(["ip", "link", "del", self.root_veth], check=False)
            if p.returncode != 0 and "Cannot find" not in p.stderr:
                errors.append(p.stderr.strip())
            self.made_root_veth = False
        for ns in reversed(self.made_ns):
            p = _run(["ip", "netns", "del", ns], check=False)
            if p.returncode != 0:
                errors.append(f"ip netns del {ns}: {p.stderr.strip()}")
        self.made_ns.clear()
        return errors

    # -- faults ---------------------------------------------------------------------------------------
    def nft(self, command: str) -> None:
        _run(["ip", "netns", "exec", self.switch, "nft", *command.split()])

    def heal(self) -> None:
        self.nft("flush chain bridge fault cut")

    def partition(self, i: int) -> None:
        """Node i cannot reach the other nodes, nor they it; the load generator still reaches every node."""
        for j in range(1, self.n + 1):
            if j != i:
                self.nft(f"add rule bridge fault cut iifname {self.port(i)} oifname {self.port(j)} drop")
                self.nft(f"add rule bridge fault cut iifname {self.port(j)} oifname {self.port(i)} drop")

    def loss(self, i: int, percent: int) -> None:
        """Drops `percent` % of the frames into and out of node i (each direction independently)."""
        self.nft(f"add rule bridge fault cut iifname {self.port(i)} numgen random mod 100 < {percent} drop")
        self.nft(f"add rule bridge fault cut oifname {self.port(i)} numgen random mod 100 < {percent} drop")
