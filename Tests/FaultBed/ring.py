"""Where the cluster places an entity: a Python copy of the documented placement functions
(Sources/StrataCore/EntityToken.swift and HashRing.swift; ReplicaPlacement without zones is the ring's
owners). The fault bed's membership scenarios use it to know which node must hold which entity.
`python3 ring.py` checks it against the golden vectors of EntityTokenTests and HashRingTests."""
from __future__ import annotations

import bisect

M64 = (1 << 64) - 1
VIRTUAL_NODES = 1024  # HashRing.defaultVirtualNodes (what `strata serve --etcd` uses)


def token(entity_id: str) -> int:
    """EntityToken.of: FNV-1a 64 over the UTF-8 bytes, then MurmurHash3's fmix64."""
    h = 0xcbf29ce484222325
    for b in entity_id.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001b3) & M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & M64
    h ^= h >> 33
    return h


def vnode_position(node: str, index: int) -> int:
    z = (token(node) + ((index + 1) * 0x9E3779B97F4A7C15)) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Ring:
    def __init__(self, nodes: list[str], virtual_nodes: int = VIRTUAL_NODES):
        self.nodes = sorted(nodes, key=lambda n: n.encode("utf-8"))
        points = sorted((vnode_position(n, i), k) for k, n in enumerate(self.nodes) for i in range(virtual_nodes))
        self.positions = [p for p, _ in points]
        self.owner_index = [k for _, k in points]

    def owners(self, entity_id: str, replicas: int = 3) -> list[str]:
        """The distinct nodes met walking the ring from the entity's token, primary first."""
        wanted = min(replicas, len(self.nodes))
        v = bisect.bisect_left(self.positions, token(entity_id))
        if v == len(self.positions):
            v = 0
        found: list[int] = []
        while len(found) < wanted:
            k = self.owner_index[v]
            if k not in found:
                found.append(k)
            v = (v + 1) % len(self.positions)
        return [self.nodes[k] for k in found]

    def share(self, node: str) -> float:
        """Fraction of the token space whose primary owner is `node`."""
        k = self.nodes.index(node)
        ps, total = self.positions, 0
        if self.owner_index[0] == k:
            total += ps[0] + 1 + (M64 - ps[-1])
        for v in range(1, len(ps)):
            if self.owner_index[v] == k and ps[v] > ps[v - 1]:
                total += ps[v] - ps[v - 1]
        return total / 2 ** 64


if __name__ == "__main__":
    assert token("") == 0xefd01f60ba992926 and token("user_42") == 0x9d55e35debc8bcaf
    assert token("\u00fcn\u00efc\u00f8d\u00e9") == 0xc4b3c4ebf61bc14d
    r = Ring(["n3", "n1", "n2"])
    golden = {"": ["n3", "n1", "n2"], "a": ["n1", "n2", "n3"], "u1": ["n3", "n2", "n1"],
              "user_42": ["n1", "n3", "n2"], "user_43": ["n3", "n1", "n2"], "item:9001": ["n3", "n2", "n1"],
              "session/7f3a": ["n1", "n3", "n2"], "e\u0301": ["n2", "n1", "n3"], "n1": ["n2", "n3", "n1"],
              "x" * 10_000: ["n1", "n2", "n3"]}
    for e, want in golden.items():
        assert r.owners(e, 3) == want, (e[:20], r.owners(e, 3), want)
    assert r.positions[0] == 0x00278dc166971ad8 and r.positions[-1] == 0xffec_ff24_c78f_3102
    assert abs(r.share("n1") - 0.32624790172019646) < 1e-12
    assert abs(r.share("n2") - 0.3400865933341631) < 1e-12
    print("ring.py: golden vectors agree")
