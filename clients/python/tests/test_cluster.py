"""The SDK against a real 3-node cluster: any node serves the whole API, and every answer equals the
single node's for the same data (written through one node, read through the others)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import strata
from test_large import DAY, US, make_history, make_labels, to_write_frame

ROWS = 20_000
LABELS = 20_000


def test_cluster_answers_equal_single_node(node, cluster, unique):
    g = unique("clustered")
    definition = strata.FeatureGroup(g, [
        strata.Feature("count", "INT", default=0),
        strata.Feature("amount", "FLOAT"),
        strata.Feature("city", "STRING"),
    ], max_age="7d")
    n1, n2, n3 = cluster.addresses
    now_us = int(time.time()) * US
    history = make_history(21, ROWS, 2_000, now_us)
    labels = make_labels(22, LABELS, 2_000, now_us)
    labels_in = pd.DataFrame({"entity_id": labels["entity_id"],
                              "label_timestamp": pd.to_datetime(labels["t_us"], unit="us", utc=True),
                              "row": np.arange(LABELS)})
    refs = [f"{g}:*"]
    ids = [f"e{i}" for i in range(0, 2_100, 3)]

    with strata.Client(node.address) as single, strata.Client(n2) as via_n2, strata.Client(n3) as via_n3, \
            strata.Client(n1) as via_n1:
        single.apply(definition)
        # Apply on a non-leader: it is forwarded to the leader and pushed to every node.
        assert via_n3.apply(definition)[0].outcome == "CREATED"
        assert via_n1.apply(definition)[0].outcome == "UNCHANGED"
        assert single.write(g, to_write_frame(history), progress=False).rows_written == ROWS
        assert via_n2.write(g, to_write_frame(history), progress=False).rows_written == ROWS

        # The rows are spread over the three nodes, and every node sees the whole ring.
        status = via_n1.status()
        assert [n.node_id for n in status.cluster_nodes] == ["n1", "n2", "n3"]
        assert status.is_cluster and status.ring_epoch == 1
        per_node = {n.node_id: n.rows_total for n in status.cluster_nodes}
        assert all(v > 0 for v in per_node.values()) and sum(per_node.values()) >= ROWS, per_node

        expected = single.get_historical_features(labels_in, refs, with_status=True, with_event_timestamps=True,
                                                  chunk_size=5_000, progress=False).to_df()
        for c in (via_n1, via_n3):
            got = c.get_historical_features(labels_in, refs, with_status=True, with_event_timestamps=True,
                                            chunk_size=5_000, progress=False).to_df()
            pd.testing.assert_frame_equal(got, expected)
        assert expected["row"].tolist() == list(range(LABELS))
        assert set(expected[f"{g}:count__status"].astype(str)) == {"PRESENT", "DEFAULTED", "EXPIRED"}

        want = single.get_online_features(refs, ids).to_df(with_status=True, with_event_timestamps=True)
        for c in (via_n1, via_n2, via_n3):
            pd.testing.assert_frame_equal(c.get_online_features(refs, ids).to_df(
                with_status=True, with_event_timestamps=True), want)
        # Once n2's lookup lanes are connected (within about a second of the nodes starting), a lookup
        # through n2 goes to the two other owners on their lanes, none over gRPC.
        deadline = time.time() + 15
        while True:
            before = via_n2.status()
            via_n2.get_online_features(refs, ids)
            after = via_n2.status()
            lanes = after.internode_lookups_on_lanes - before.internode_lookups_on_lanes
            grpc = after.internode_lookups_over_grpc - before.internode_lookups_over_grpc
            if (lanes, grpc) == (2, 0) or time.time() > deadline:
                break
            time.sleep(0.1)
        assert (lanes, grpc) == (2, 0), after
        assert "lookups sent on lookup lanes" in str(after)
        assert want[f"{g}:count__status"].astype(str).value_counts()["PRESENT"] > 100

        assert [x.qualified_name for x in via_n2.list_feature_groups() if x.name == g] == [f"{g}@1"]
        assert via_n3.get_feature_group(g).spec.max_age == 7 * DAY // US


def test_cluster_errors_are_typed(cluster):
    with strata.Client(cluster.addresses[1]) as c:
        with pytest.raises(strata.NotFound, match="no_such_group"):
            c.get_online_features(["no_such_group:x"], ["a"])
        with pytest.raises(strata.InvalidArgument):
            c.get_online_features(["not a reference"], ["a"])


def test_internode_service_is_not_on_the_client_port(cluster, unique):
    """The exploit of issue 13: one Shard/PutRegistry with an empty snapshot and generation 10^9, sent to
    a node's client port, used to freeze that node's registry. The client port no longer serves the
    Shard service (UNIMPLEMENTED), so later registry changes still reach every node."""
    import grpc
    from strata._proto import shard_pb2, shard_pb2_grpc, feature_store_pb2

    n1, n2, _ = cluster.addresses
    poison = shard_pb2.RegistrySnapshot(generation=10**9)
    with grpc.insecure_channel(n2) as channel:
        shard = shard_pb2_grpc.ShardStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            shard.PutRegistry(poison, timeout=5, metadata=[("strata-ring-epoch", "1")])
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, refused.value
        with pytest.raises(grpc.RpcError) as refused:
            shard.GetNodeStatus(feature_store_pb2.GetStatusRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, refused.value

    # The internode port serves it (to peers, with the ring epoch); a call without the epoch is refused.
    with grpc.insecure_channel(f"127.0.0.1:{cluster.internode_ports[1]}") as channel:
        shard = shard_pb2_grpc.ShardStub(channel)
        snapshot = shard.GetRegistry(shard_pb2.GetRegistryRequest(), timeout=5,
                                     metadata=[("strata-ring-epoch", "1")])
        assert snapshot.generation > 0
        with pytest.raises(grpc.RpcError) as refused:
            shard.GetRegistry(shard_pb2.GetRegistryRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value
        # The poison on the internode port itself: the snapshot is not trusted (the node pulls the
        # leader's registry instead), so it neither freezes n2 nor adds what it carries.
        from strata._proto import types_pb2
        fake = types_pb2.FeatureGroup(
            spec=types_pb2.FeatureGroupSpec(name=unique("injected"), entity_type=types_pb2.ENTITY_TYPE_USER,
                                            features=[types_pb2.FeatureSpec(name="x", dtype=types_pb2.DTYPE_INT)]),
            version=1, status=types_pb2.GROUP_STATUS_ACTIVE)
        poisoned = shard_pb2.RegistrySnapshot(generation=10**9, groups=[fake])
        shard.PutRegistry(poisoned, timeout=5, metadata=[("strata-ring-epoch", "1")])
        after = shard.GetRegistry(shard_pb2.GetRegistryRequest(), timeout=5, metadata=[("strata-ring-epoch", "1")])
        assert after.generation < 10**9 and fake.spec.name not in {g.spec.name for g in after.groups}

    # A registry change through n1 still reaches n2.
    g = unique("after_poison")
    with strata.Client(n1) as via_n1, strata.Client(n2) as via_n2:
        assert via_n1.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))[0].outcome == "CREATED"
        deadline = time.time() + 10
        while g not in {r.spec.name for r in via_n2.list_feature_groups()}:
            assert time.time() < deadline, f"n2 never listed {g}"
            time.sleep(0.1)


def test_lineage_is_replicated_with_the_registry(cluster, unique):
    s, g = unique("cls"), unique("clg")
    n1, n2, n3 = cluster.addresses
    lineage = strata.Lineage(source="warehouse.orders", transformation="SELECT 1", upstream=[s], pipeline="nightly")
    with strata.Client(n3) as via_n3, strata.Client(n1) as via_n1, strata.Client(n2) as via_n2:
        # Applied through a non-leader, the group naming a stream of the same call.
        outcomes = via_n3.apply([strata.FeatureGroup(g, [strata.Feature("n", "INT")], lineage=lineage),
                                 strata.Stream(s, [strata.Field("amount", "FLOAT")])])
        assert [r.outcome for r in outcomes] == ["CREATED", "CREATED"]
        for via in (via_n1, via_n2, via_n3):
            deadline = time.time() + 10
            while True:  # every node adopts the leader's registry (pushed, or fetched within seconds)
                try:
                    got = via.get_feature_group(g).lineage
                    break
                except strata.NotFound:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
            assert got == lineage
        with pytest.raises(strata.NotFound, match="not a registered group or stream"):
            via_n2.apply(strata.FeatureGroup(unique("clx"), [strata.Feature("n", "INT")], lineage={"upstream": [unique("no")]}))
