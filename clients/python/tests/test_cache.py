"""The opt-in online cache (strata.OnlineCache) against a real node: freshness tiers and their TTLs,
hits and misses, expiry strictly by TTL, LRU bound, a mixed hit/miss lookup merged in request order
with one request to the node, new group versions, and threads."""
from __future__ import annotations

import datetime as dt
import random
import threading
import time

import numpy as np
import pandas as pd
import pytest

import strata
from strata import Tier, freshness_tier

UTC = dt.timezone.utc


def _now():
    return dt.datetime.now(UTC).replace(microsecond=0)


def _rows_group(name: str, refresh_interval=None) -> strata.FeatureGroup:
    return strata.FeatureGroup(name, [
        strata.Feature("a", strata.INT),
        strata.Feature("b", strata.FLOAT, default=1.5),
        strata.Feature("s", strata.STRING),
        strata.Feature("e", strata.Embedding(2)),
    ], refresh_interval=refresh_interval)


def _write(client, group, entities, a, when=None):
    t = when or _now() - dt.timedelta(minutes=1)
    client.write(group, pd.DataFrame({
        "entity_id": list(entities),
        "event_timestamp": [t] * len(entities),
        "a": pd.array(list(a), dtype="Int64"),
        "s": [f"s-{x}" for x in a],
        "e": [np.array([x, -x], dtype=np.float32) for x in a],
    }))


@pytest.fixture
def group(client, unique):
    g = unique("cache")
    client.apply(_rows_group(g))
    _write(client, g, ["e1", "e2", "e3", "e4", "e5"], [1, 2, 3, 4, 5])
    return g


def _cached_client(node, **options):
    return strata.Client(node.address, timeout=30, cache=strata.OnlineCache(**options))


# -- the tier rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("interval,kind,tier", [
    (86_400, "ROWS", Tier.BATCH), (7 * 86_400, "STREAM", Tier.BATCH), (86_400, "AGGREGATES", Tier.BATCH),
    (86_399, "ROWS", Tier.NEAR_REAL_TIME), (3_600, "ROWS", Tier.NEAR_REAL_TIME),
    (3_600, "AGGREGATES", Tier.NEAR_REAL_TIME),
    (3_599, "ROWS", Tier.STREAMING), (60, "ROWS", Tier.STREAMING), (1, "STREAM", Tier.STREAMING),
    (0, "ROWS", Tier.BATCH), (None, "ROWS", Tier.BATCH),
    (0, "STREAM", Tier.STREAMING), (None, "AGGREGATES", Tier.STREAMING),
    (0, strata.GroupKind.STREAM, Tier.STREAMING), (0, 2, Tier.STREAMING), (0, 0, Tier.BATCH),
    (0, "GROUP_KIND_AGGREGATES", Tier.STREAMING),
])
def test_freshness_tier(interval, kind, tier):
    assert freshness_tier(interval, kind) == tier


def test_freshness_tier_rejects_nonsense():
    with pytest.raises(strata.InvalidArgument):
        freshness_tier(60, "TABLE")
    with pytest.raises(strata.InvalidArgument):
        freshness_tier(-1, "ROWS")


def test_ttl_configuration():
    c = strata.OnlineCache(ttl={"streaming": 5, Tier.BATCH: 7200}, ttl_by_group={"special": 0.5})
    assert c.ttl_for("x", Tier.BATCH) == 7200
    assert c.ttl_for("x", "near_real_time") == 60  # default kept
    assert c.ttl_for("x", "streaming") == 5
    assert c.ttl_for("special", "batch") == 0.5
    d = strata.OnlineCache()
    assert (d.ttl_for("x", "batch"), d.ttl_for("x", "near_real_time"), d.ttl_for("x", "streaming")) == (3600, 60, 60)
    for bad in [dict(max_entries=0), dict(ttl={"hourly": 5}), dict(ttl={"batch": -1}),
                dict(ttl_by_group={"g": float("nan")}), dict(ttl={"batch": "1h"})]:
        with pytest.raises(strata.InvalidArgument):
            strata.OnlineCache(**bad)
    with pytest.raises(strata.InvalidArgument):
        strata.Client("127.0.0.1:1", cache=object())


def test_tiers_learned_from_the_registry(node, client, unique):
    day, hour, minute, rows, stream, aggs, nrt_stream = (
        unique("t_day"), unique("t_hour"), unique("t_min"), unique("t_rows"), unique("t_stream"), unique("t_aggs"),
        unique("t_nrts"))
    client.apply([_rows_group(day, "1d"), _rows_group(hour, "1h"), _rows_group(minute, 60), _rows_group(rows),
                  strata.Stream(stream, [strata.Field("v", "INT")]),
                  strata.Stream(nrt_stream, [strata.Field("v", "INT")], refresh_interval="2h"),
                  strata.AggregateGroup(aggs, stream, [strata.Aggregate("n", "v", "count", "1h")])])
    with _cached_client(node, ttl_by_group={minute: 42}) as c:
        refs = [f"{g}:a" for g in (day, hour, minute, rows)] + [f"{stream}:v", f"{nrt_stream}:v", f"{aggs}:n"]
        c.get_online_features(refs, ["x"])
        learned = c.cache.groups()
        expect = {day: (Tier.BATCH, 3600), hour: (Tier.NEAR_REAL_TIME, 60), minute: (Tier.STREAMING, 42),
                  rows: (Tier.BATCH, 3600), stream: (Tier.STREAMING, 60), nrt_stream: (Tier.NEAR_REAL_TIME, 60),
                  aggs: (Tier.STREAMING, 60)}
        for g, (tier, ttl) in expect.items():
            got = learned[f"{g}@1"]
            assert (got.tier, got.ttl) == (tier, ttl), g
        assert learned[f"{day}@1"].refresh_interval == 86_400
        assert learned[f"{stream}@1"].kind == strata.GroupKind.STREAM
        # The second lookup is served from the cache entirely.
        before = c.cache.stats()
        c.get_online_features(refs, ["x"])
        after = c.cache.stats()
        assert after.hits - before.hits == len(refs) and after.misses == before.misses


# -- hits, misses, expiry ----------------------------------------------------------------------------------

def test_hits_and_misses(node, group):
    with _cached_client(node) as c, strata.Client(node.address) as plain:
        features = [f"{group}:a", f"{group}:s"]
        first = c.get_online_features(features, ["e1", "e2"])
        assert c.cache.stats() == strata.CacheStats(hits=0, misses=4, evictions=0, expirations=0, entries=4)
        second = c.get_online_features(features, ["e1", "e2"])
        s = c.cache.stats()
        assert (s.hits, s.misses, s.entries) == (4, 4, 4)
        assert s.hit_rate == 0.5
        expected = plain.get_online_features(features, ["e1", "e2"]).to_dict(with_status=True)
        assert first.to_dict(with_status=True) == expected
        assert second.to_dict(with_status=True) == expected
        assert second.values[f"{group}:a"] == [1, 2]
        c.cache.clear()
        assert c.cache.stats() == strata.CacheStats(0, 0, 0, 0, 0)
        c.get_online_features(features, ["e1"])
        assert c.cache.stats().misses == 2


def test_never_older_than_ttl(node, client, group):
    ttl = 1.5
    with _cached_client(node, ttl_by_group={group: ttl}) as c:
        ref = f"{group}:a"
        sent = time.monotonic()
        assert c.get_online_features(ref, ["e1"]).values[ref] == [1]
        _write(client, group, ["e1"], [100], when=_now())
        got = c.get_online_features(ref, ["e1"]).values[ref]
        if time.monotonic() - sent < ttl:
            assert got == [1]  # the cached value, still within its TTL
        assert c.cache.stats().hits == (1 if got == [1] else 0)
        # Poll: the old value is never served once its TTL has passed (counted from the request).
        while True:
            before = time.monotonic()
            got = c.get_online_features(ref, ["e1"]).values[ref]
            if got == [1]:
                assert before - sent < ttl, "a value older than its TTL was served"
                time.sleep(0.05)
                continue
            assert got == [100]
            break
        assert time.monotonic() - sent >= ttl
        s = c.cache.stats()
        assert s.misses == 2 and s.entries == 1  # the first lookup, and the one after the TTL
        # The new value is cached in turn.
        assert c.get_online_features(ref, ["e1"]).values[ref] == [100]


def test_ttl_zero_disables_caching(node, group):
    with _cached_client(node, ttl_by_group={group: 0}) as c:
        for _ in range(3):
            c.get_online_features([f"{group}:a"], ["e1"])
        s = c.cache.stats()
        assert (s.hits, s.misses, s.entries) == (0, 3, 0)


def test_lru_bound(node, group):
    with _cached_client(node, max_entries=3) as c:
        ref = f"{group}:a"
        c.get_online_features(ref, ["e1", "e2", "e3", "e4", "e5"])
        s = c.cache.stats()
        assert (s.entries, s.evictions, s.misses) == (3, 2, 5)
        assert len(c.cache) == 3
        c.get_online_features(ref, ["e3", "e4", "e5"])  # the three most recent: hits
        assert c.cache.stats().hits == 3
        c.get_online_features(ref, ["e3"])  # e3 becomes the most recently used
        c.get_online_features(ref, ["e1"])  # a miss: evicts the least recently used (e4)
        s = c.cache.stats()
        assert (s.hits, s.misses, s.evictions) == (4, 6, 3)
        c.get_online_features(ref, ["e3", "e5", "e1"])
        assert c.cache.stats().hits == 7
        c.get_online_features(ref, ["e4"])
        assert c.cache.stats().misses == 7


def test_mixed_lookup_is_merged_in_order_with_one_request(node, group):
    with _cached_client(node) as c, strata.Client(node.address) as plain:
        features = [f"{group}:a", f"{group}:*", f"{group}:b", f"{group}@1:s"]
        c.get_online_features(features, ["e1", "e3"])
        before_node = plain.status().online_lookups
        before = c.cache.stats()
        entities = ["e2", "e1", "nobody", "e3", "e1", 4]
        got = c.get_online_features(features, entities)
        # One lookup of the entities with a missing cell (e2, nobody, 4), each once.
        assert plain.status().online_lookups - before_node == 3
        s = c.cache.stats()
        columns = 1 + 4 + 1 + 1
        assert s.hits - before.hits == 3 * columns  # e1, e3, e1
        assert s.misses - before.misses == 3 * columns
        expected = plain.get_online_features(features, entities)
        assert got.entity_ids == expected.entity_ids == ["e2", "e1", "nobody", "e3", "e1", "4"]
        assert got.columns == expected.columns and got.refs == expected.refs
        assert got.dtypes == expected.dtypes
        g, w = got.to_dict(with_status=True), expected.to_dict(with_status=True)
        e = f"{group}:e"
        assert got.dtypes[e].kind == "EMBEDDING"
        ge, we = g.pop(e), w.pop(e)
        assert g == w
        assert [None if x is None else x.tolist() for x in ge] == [None if x is None else x.tolist() for x in we]
        assert got.event_timestamps == expected.event_timestamps
        pd.testing.assert_frame_equal(got.to_df(with_status=True).drop(columns=[e]),
                                      expected.to_df(with_status=True).drop(columns=[e]))
        assert got.to_arrow().equals(expected.to_arrow())
        # A column asked for twice is one frame column with its own values (to_df/to_arrow used to pair
        # the names with the wrong columns when a reference repeated one).
        for name in (f"{group}@1:a", f"{group}@1:b", f"{group}@1:s"):
            assert got.to_arrow().column(name).to_pylist() == expected.values[name]
        # MISSING and DEFAULTED answers are cached too.
        st = got.statuses
        a, b = f"{group}@1:a", f"{group}@1:b"  # asked for twice: named with the version
        assert st[a][2] == strata.MISSING and st[b][2] == strata.DEFAULTED
        again = c.get_online_features(features, ["nobody"])
        assert again.statuses[b] == [strata.DEFAULTED] and again.values[b] == [1.5]
        assert c.cache.stats().hits - s.hits == columns


def test_cached_embeddings_are_not_shared(node, group):
    with _cached_client(node) as c:
        ref = f"{group}:e"
        first = c.get_online_features(ref, ["e2"]).values[ref][0]
        first[:] = 99  # the caller's copy
        second = c.get_online_features(ref, ["e2"]).values[ref][0]
        assert c.cache.stats().hits == 1
        assert second.tolist() == [2.0, -2.0]


def test_new_version_is_served_within_the_ttl(node, client, unique):
    g = unique("cache_ver")
    client.apply(_rows_group(g))
    _write(client, g, ["e1"], [1])
    ttl = 1.0
    with _cached_client(node, ttl_by_group={g: ttl}) as c, _cached_client(node) as hour:
        ref = f"{g}:a"
        sent = time.monotonic()
        first = c.get_online_features([ref, f"{g}@1:a"], ["e1"])
        assert first.refs == [f"{g}@1:a", f"{g}@1:a"]
        assert hour.get_online_features(ref, ["e1"]).refs == [f"{g}@1:a"]
        changed = _rows_group(g)
        changed.features.append(strata.Feature("extra", strata.INT))
        assert client.apply(changed)[0].version == 2
        _write(client, f"{g}@2", ["e1"], [2], when=_now())
        # Within its TTL (1 h) the unpinned reference still answers from version 1 ...
        assert hour.get_online_features(ref, ["e1"]).refs == [f"{g}@1:a"]
        # ... but never next to a reference the node has just resolved to version 2.
        mixed = hour.get_online_features([ref, f"{g}:s"], ["e1"])
        assert mixed.refs == [f"{g}@2:a", f"{g}@2:s"] and mixed.values[f"{g}:a"] == [2]
        assert hour.get_online_features(ref, ["e1"]).refs == [f"{g}@2:a"]
        while True:
            before = time.monotonic()
            got = c.get_online_features(ref, ["e1"])
            if got.refs == [f"{g}@1:a"]:
                assert before - sent < ttl, "version 1 was served after its TTL"
                time.sleep(0.05)
                continue
            assert got.refs == [f"{g}@2:a"] and got.values[ref] == [2]
            break
        # The pinned reference keeps its own entries.
        assert c.get_online_features(f"{g}@1:a", ["e1"]).values[f"{g}:a"] == [1]
        assert f"{g}@2" in c.cache.groups()


def test_quorum_and_use_cache_false_bypass_the_cache(node, group):
    with _cached_client(node) as c:
        c.get_online_features(f"{group}:a", ["e1"], consistency="QUORUM")
        c.get_online_features(f"{group}:a", ["e1"], use_cache=False)
        assert c.cache.stats() == strata.CacheStats(0, 0, 0, 0, 0)
        c.get_online_features(f"{group}:a", ["e1"], consistency="ONE")
        assert c.cache.stats().misses == 1


def test_enable_cache_and_errors(node, group):
    with strata.Client(node.address) as c:
        assert c.cache is None
        cache = c.enable_cache(max_entries=10, ttl={"batch": 30})
        assert c.cache is cache and cache.max_entries == 10 and cache.ttl[Tier.BATCH] == 30
        with pytest.raises(strata.NotFound):
            c.get_online_features(f"{group}:nope", ["e1"])
        with pytest.raises(strata.NotFound):
            c.get_online_features([f"{group}:a", "no_such_group:x"], ["e1"])
        assert c.get_online_features(f"{group}:a", ["e1"]).values[f"{group}:a"] == [1]
        with pytest.raises(strata.InvalidArgument):
            c.get_online_features(f"{group}:a", [""])
        c.cache = None
        c.get_online_features(f"{group}:a", ["e1"])
        assert cache.stats().hits == 0


def test_threads(node, group):
    expected = {f"e{i}": i for i in range(1, 6)}
    expected["nobody"] = None
    errors: list[BaseException] = []
    cells = [0]
    lock = threading.Lock()
    with _cached_client(node, max_entries=7) as c:
        def worker(seed):
            rnd = random.Random(seed)
            try:
                for _ in range(60):
                    ids = rnd.sample(sorted(expected), rnd.randint(1, 4))
                    r = c.get_online_features([f"{group}:a", f"{group}:s"], ids)
                    assert r.entity_ids == ids
                    assert r.values[f"{group}:a"] == [expected[e] for e in ids]
                    assert r.values[f"{group}:s"] == [None if expected[e] is None else f"s-{expected[e]}" for e in ids]
                    with lock:
                        cells[0] += 2 * len(ids)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        s = c.cache.stats()
        assert s.hits + s.misses == cells[0]
        assert s.hits > 0 and s.entries <= 7
