"""The node's limits (GetStatus.limits): the SDK reads them and sizes its write batches to fit."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import strata
from conftest import NodeProcess

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def small_node(strata_bin, tmp_path_factory):
    """A node that accepts at most 100 rows per batch and 1 MiB per message."""
    d = tmp_path_factory.mktemp("small-limits")
    p = NodeProcess(strata_bin, ["--port", "0", "--data-dir", str(d / "data"), "--max-rows-per-batch", "100",
                                 "--max-request-bytes", str(1 << 20), "--max-entities-per-lookup", "50"],
                    str(d / "node.log"), "small-limits")
    try:
        p.wait_ready()
        yield p
    finally:
        p.stop()


def test_status_reports_the_limits_and_online_rows(small_node):
    client = strata.Client(small_node.address)
    limits = client.status().limits
    assert limits == strata.NodeLimits(max_rows_per_batch=100, max_request_bytes=1 << 20,
                                       max_entities_per_lookup=50, max_labels_per_message=limits.max_labels_per_message)
    assert limits.max_labels_per_message > 0


def test_writes_are_cut_to_the_node_batch_limit(small_node):
    client = strata.Client(small_node.address)
    client.apply(strata.FeatureGroup("limited", [strata.Feature("x", "INT")]))
    n = 1_050
    df = pd.DataFrame({"entity_id": [f"e{i}" for i in range(n)], "event_timestamp": [NOW] * n, "x": list(range(n))})
    result = client.write("limited", df, batch_size=5000)  # more than the node accepts: the SDK cuts it
    assert result.rows_written == n
    assert result.batches == 11
    status = client.status()
    assert status.online_rows == n
    got = client.get_online_features(["limited:x"], ["e0", "e1049"]).to_dict()
    assert list(got["limited:x"]) == [0, 1049]
