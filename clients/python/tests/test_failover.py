"""A client given several node addresses: unary calls move on from an address where no node answers;
streams are not re-sent; an error caused by a node behind the one called never moves the client."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import strata
from conftest import _free_ports

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def group(client, unique):
    g = unique("failover")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    return g


def _dead_address() -> str:
    """A loopback address where nothing listens."""
    return f"127.0.0.1:{_free_ports(1)[0]}"


def test_unary_calls_move_to_the_next_address(node, group):
    dead = _dead_address()
    with strata.Client([dead, node.address], timeout=5) as c:
        assert c.address == dead
        assert c.status().rows_written >= 0  # answered by the second address
        assert c.address == node.address
        got = c.get_online_features([f"{group}:x"], ["nobody"])
        assert len(got.to_df()) == 1
        assert c.address == node.address  # stays on the address that answered


def test_comma_separated_addresses_and_environment(node, monkeypatch):
    dead = _dead_address()
    monkeypatch.setenv("STRATA_SERVER", f"{dead},{node.address}")
    with strata.Client(timeout=5) as c:
        assert c.addresses == [dead, node.address]
        c.list_feature_groups()
        assert c.address == node.address


def test_every_address_dead_names_them_all():
    a, b = _dead_address(), _dead_address()
    with strata.Client(f"{a},{b}", timeout=5) as c:
        with pytest.raises(strata.Unavailable) as e:
            c.status()
    assert a in e.value.message and b in e.value.message, e.value.message


def test_bad_address_in_the_list_is_invalid_argument():
    with pytest.raises(strata.InvalidArgument, match="host:port"):
        strata.Client(["127.0.0.1:7400", "nonsense"])
    with pytest.raises(strata.InvalidArgument, match="no node address"):
        strata.Client([" ", ""])


def test_a_stream_is_not_resent_but_the_next_call_moves_on(node, group):
    dead = _dead_address()
    labels = pd.DataFrame({"entity_id": ["f1", "f2"], "label_timestamp": [NOW, NOW]})
    with strata.Client([dead, node.address], timeout=5) as c:
        with pytest.raises(strata.Unavailable) as e:
            c.get_historical_features(labels, [f"{group}:x"], progress=False).to_df()
        assert dead in e.value.message and e.value.node is None
        assert c.address == node.address
        assert len(c.get_historical_features(labels, [f"{group}:x"], progress=False).to_df()) == 2
