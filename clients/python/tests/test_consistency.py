"""`Client.write(consistency=...)`: sent as WriteFeaturesRequest.consistency; the result carries the
replicas that acknowledged and the replication factor; an unknown level is refused before sending."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import strata
from strata._proto import feature_store_pb2 as fs
from strata.client import _parse_consistency

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _frame(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"e{i}" for i in range(n)],
                         "event_timestamp": [NOW - dt.timedelta(seconds=i) for i in range(n)],
                         "x": pd.array(range(n), dtype="Int64")})


def test_every_level_is_accepted_on_a_single_node(client, unique):
    g = unique("consistency")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    for level in (None, "ONE", "QUORUM", "ALL", "quorum"):
        r = client.write(g, _frame(), consistency=level, progress=False)
        assert r.rows_written == 3
        assert (r.replicas_acknowledged, r.replication_factor) == (1, 1), (level, r)
    assert client.get_online_features([f"{g}:x"], ["e2"]).values[f"{g}:x"] == [2]


def test_an_invalid_level_raises_before_sending(unique):
    # No node listens at this address: the error must come from the SDK, before any call.
    with strata.Client("127.0.0.1:9", timeout=1) as c:
        for bad in ("TWO", "", "LOCAL_QUORUM", 2):
            with pytest.raises(ValueError, match="consistency") as e:
                c.write(unique("never"), _frame(), consistency=bad, progress=False)
            assert isinstance(e.value, strata.InvalidArgument)


def test_levels_map_onto_the_enum():
    assert _parse_consistency(None) == fs.CONSISTENCY_DEFAULT
    assert [_parse_consistency(x) for x in ("ONE", "QUORUM", "ALL")] == [1, 2, 3]


def test_the_level_is_sent(client, unique, monkeypatch):
    """Every write message (the node reads the first) carries the level; None leaves it unset."""
    g = unique("consistency_wire")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    seen = []
    from strata import client as client_module
    original = client_module._WritePlan.message

    def spy(self, batch, first_row):
        message = original(self, batch, first_row)
        seen.append(fs.WriteFeaturesRequest.FromString(message).consistency)
        return message

    monkeypatch.setattr(client_module._WritePlan, "message", spy)
    client.write(g, _frame(), consistency="ALL", progress=False)
    client.write(g, _frame(), progress=False)
    assert seen == [fs.CONSISTENCY_ALL, fs.CONSISTENCY_DEFAULT]


def test_lookups_take_a_consistency(client, unique):
    g = unique("read_consistency")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    client.write(g, _frame(), progress=False)
    for level in (None, "ONE", "QUORUM", "ALL", "all"):
        assert client.get_online_features([f"{g}:x"], ["e0", "e2"], consistency=level).values[f"{g}:x"] == [0, 2]
    with strata.Client("127.0.0.1:9", timeout=1) as c:
        with pytest.raises(ValueError, match="consistency must be 'ONE', 'QUORUM' or 'ALL'"):
            c.get_online_features([f"{g}:x"], ["e0"], consistency="EACH_QUORUM")
