"""The SDK against a 3-node cluster with replication factor 3: with one node killed (-9), writes,
lookups (ONE and QUORUM) and point-in-time exports through a client that knows the other nodes go on,
and the answers are complete."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest

import strata
from conftest import NodeProcess, _free_ports

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def replicated(strata_bin, tmp_path):
    ports = _free_ports(6)
    config = tmp_path / "rf3.yaml"
    config.write_text("epoch: 1\nreplication_factor: 3\nnodes:\n" + "".join(
        f"  - id: n{i + 1}\n    address: 127.0.0.1:{ports[i]}\n    internode_port: {ports[3 + i]}\n" for i in range(3)))
    nodes = [NodeProcess(strata_bin, ["--cluster", str(config), "--node", f"n{i + 1}", "--data-dir", str(tmp_path / f"d{i + 1}")],
                         str(tmp_path / f"n{i + 1}.log"), f"n{i + 1}") for i in range(3)]
    try:
        for n in nodes:
            n.wait_ready()
        deadline = time.time() + 30
        for n in nodes:
            with strata.Client(n.address, timeout=5) as c:
                while not (len(c.status().cluster_nodes) == 3 and all(x.reachable for x in c.status().cluster_nodes)):
                    if time.time() > deadline:
                        raise RuntimeError("the replicated cluster did not connect")
                    time.sleep(0.1)
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def test_one_node_killed_writes_lookups_and_exports_go_on(replicated):
    n1, n2, n3 = replicated
    ids = [f"u{i}" for i in range(60)]
    with strata.Client([n3.address, n1.address, n2.address], timeout=10) as c:
        c.apply(strata.FeatureGroup("scores", [strata.Feature("x", "INT")]))
        first = c.write("scores", pd.DataFrame({"entity_id": ids, "event_timestamp": [NOW - dt.timedelta(hours=2)] * 60,
                                                "x": range(60)}), consistency="ALL", progress=False)
        assert (first.replicas_acknowledged, first.replication_factor) == (3, 3)
        n3.proc.kill()  # kill -9 of the node the client talks to
        n3.proc.wait()
        # The client moves on to the next address; QUORUM is reached with the two live replicas.
        second = c.write("scores", pd.DataFrame({"entity_id": ids, "event_timestamp": [NOW - dt.timedelta(hours=1)] * 60,
                                                 "x": [1000 + i for i in range(60)]}), progress=False)
        assert (second.rows_written, second.replicas_acknowledged) == (60, 2)
        for level in (None, "QUORUM"):
            got = c.get_online_features(["scores:x"], ids, consistency=level)
            assert got.values["scores:x"] == [1000 + i for i in range(60)], level
        labels = pd.DataFrame({"entity_id": ids * 2,
                               "label_timestamp": [NOW - dt.timedelta(minutes=90)] * 60 + [NOW] * 60})
        df = c.get_historical_features(labels, ["scores:x"], progress=False).to_df()
        assert df["scores:x"].tolist() == list(range(60)) + [1000 + i for i in range(60)]
        with pytest.raises(strata.Unavailable) as e:
            c.get_online_features(["scores:x"], ids[:5], consistency="ALL")
        assert e.value.node == "n3", e.value
