"""Lineage of groups and streams (`FeatureGroupSpec.lineage`): the Python objects, the dict and YAML forms,
the wire form, and the checks the SDK makes before anything is sent (the node's `Lineage.validate`).
No server: the client tests replace the RPC layer with canned responses."""
from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

import strata
from strata._proto import feature_store_pb2 as fs
from strata._proto import types_pb2 as pb

SQL = "SELECT user_id, count(*) AS purchases_30d\nFROM warehouse.orders\nWHERE ts > now() - interval '30 days'\n"
FULL = strata.Lineage(source="s3://lake/orders/ — été", transformation=SQL,
                      upstream=["orders_raw", "customers@2"], pipeline="nightly-orders")


def group(lineage=None, name: str = "user_stats") -> strata.FeatureGroup:
    return strata.FeatureGroup(name, [strata.Feature("purchases_30d", "INT", default=0)], lineage=lineage)


def stream(lineage=None, name: str = "purchases") -> strata.Stream:
    return strata.Stream(name, [strata.Field("amount", "FLOAT")], lineage=lineage)


def aggregates(lineage=None, name: str = "user_spend") -> strata.AggregateGroup:
    return strata.AggregateGroup(name, "purchases", [strata.Aggregate("spend_1h", "amount", "sum", "1h")],
                                 lineage=lineage)


def wire_round_trip(g: strata.FeatureGroup) -> strata.FeatureGroup:
    """to_proto, serialized and parsed again, then from_proto."""
    return strata.FeatureGroup.from_proto(pb.FeatureGroupSpec.FromString(g.to_proto().SerializeToString()))


# -- the object ---------------------------------------------------------------------------------------

def test_lineage_object():
    assert strata.Lineage is strata.definitions.Lineage and "Lineage" in strata.__all__
    assert FULL.upstream == ("orders_raw", "customers@2")  # a list is stored as a tuple
    assert isinstance(hash(FULL), int)
    empty = strata.Lineage()
    assert (empty.source, empty.transformation, empty.upstream, empty.pipeline) == ("", "", (), "")
    assert not empty and FULL and strata.Lineage(pipeline="p")
    assert repr(empty) == "Lineage()"
    assert repr(strata.Lineage(source="t", upstream=["a"])) == "Lineage(source='t', upstream=('a',))"
    assert strata.Lineage(source=None, upstream=None) == empty
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.source = "other"  # type: ignore[misc]


def test_group_attribute_is_always_a_lineage():
    for g in (group(), stream(), aggregates()):
        assert g.lineage == strata.Lineage() and isinstance(g.lineage, strata.Lineage)
    for make in (group, stream, aggregates):
        assert make(FULL).lineage is FULL


@pytest.mark.parametrize("make", [group, stream, aggregates])
def test_equality_and_repr_include_lineage(make):
    assert make(FULL) == make(FULL)
    assert make(FULL) != make()
    assert make(FULL) != make(strata.Lineage(source=FULL.source))
    assert make() == make(strata.Lineage()) == make({})
    assert "lineage=Lineage(source=" in repr(make(FULL))


# -- wire form ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [group, stream, aggregates])
def test_proto_round_trip_all_fields(make):
    g = make(FULL)
    spec = g.to_proto()
    assert spec.HasField("lineage")
    assert (spec.lineage.source, spec.lineage.transformation, list(spec.lineage.upstream), spec.lineage.pipeline) == (
        FULL.source, SQL, ["orders_raw", "customers@2"], "nightly-orders")
    back = wire_round_trip(g)
    assert type(back) is type(g)
    assert back.lineage == FULL
    assert back == g


@pytest.mark.parametrize("make", [group, stream, aggregates])
def test_proto_round_trip_empty(make):
    g = make()
    spec = g.to_proto()
    # Not set at all (not an empty message), as the node writes a group without lineage: a group applied
    # before lineage existed stays UNCHANGED.
    assert not spec.HasField("lineage")
    back = wire_round_trip(g)
    assert back.lineage == strata.Lineage() and not back.lineage
    assert back == g


def test_proto_partial_lineage():
    g = group(strata.Lineage(upstream=["purchases@3"]))
    spec = g.to_proto()
    assert spec.lineage.source == "" and list(spec.lineage.upstream) == ["purchases@3"]
    assert wire_round_trip(g).lineage == strata.Lineage(upstream=("purchases@3",))
    assert strata.Lineage.from_proto(FULL.to_proto()) == FULL
    assert strata.Lineage.from_proto(pb.Lineage()) == strata.Lineage()


def test_registered_group_carries_lineage():
    registered = pb.FeatureGroup(spec=stream(FULL).to_proto(), version=2, status=pb.GROUP_STATUS_ACTIVE)
    r = strata.RegisteredGroup.from_proto(registered)
    assert r.qualified_name == "purchases@2" and isinstance(r.spec, strata.Stream) and r.spec.lineage == FULL


class FakeRPC:
    """Stands in for `Client._unary`: records requests and answers from the specs applied."""

    def __init__(self):
        self.requests: list = []
        self.specs: dict[str, pb.FeatureGroupSpec] = {}

    def __call__(self, method, request, timeout):
        self.requests.append((method, request))
        if method == "ApplyFeatureGroups":
            for spec in request.groups:
                self.specs[spec.name] = spec
            return fs.ApplyFeatureGroupsResponse(results=[
                fs.ApplyFeatureGroupsResponse.Result(group=s.name, version=1,
                                                     outcome=fs.ApplyFeatureGroupsResponse.OUTCOME_CREATED)
                for s in request.groups])
        registered = {n: pb.FeatureGroup(spec=s, version=1, status=pb.GROUP_STATUS_ACTIVE)
                      for n, s in self.specs.items()}
        if method == "GetFeatureGroup":
            return fs.GetFeatureGroupResponse(group=registered[request.name], versions=[registered[request.name]])
        if method == "ListFeatureGroups":
            return fs.ListFeatureGroupsResponse(groups=list(registered.values()))
        raise AssertionError(method)


def test_client_sends_and_reads_lineage(monkeypatch):
    client = strata.Client("127.0.0.1:1")
    rpc = FakeRPC()
    monkeypatch.setattr(client, "_unary", rpc)
    with_lineage = aggregates(strata.Lineage(upstream=["purchases"], pipeline="p"))
    client.apply([stream(FULL), with_lineage, group()])
    sent = {s.name: s for s in rpc.requests[0][1].groups}
    assert list(sent["user_spend"].lineage.upstream) == ["purchases"] and sent["purchases"].lineage.source
    assert not sent["user_stats"].HasField("lineage")
    assert client.get_feature_group("purchases").spec.lineage == FULL
    assert client.get_feature_group("user_spend@1").spec.lineage == with_lineage.lineage
    assert {g.name: g.spec.lineage for g in client.list_feature_groups()} == {
        "purchases": FULL, "user_spend": with_lineage.lineage, "user_stats": strata.Lineage()}


def test_client_checks_lineage_before_sending(monkeypatch):
    client = strata.Client("127.0.0.1:1")
    rpc = FakeRPC()
    monkeypatch.setattr(client, "_unary", rpc)
    with pytest.raises(strata.InvalidArgument, match="lineage upstream 'user_stats' is the group itself"):
        client.apply([group(), group({"upstream": ["user_stats"]})])
    assert rpc.requests == []


# -- dict form ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [group, stream, aggregates])
def test_dict_form(make):
    d = {"source": FULL.source, "transformation": SQL, "upstream": ["orders_raw", "customers@2"],
         "pipeline": "nightly-orders"}
    g = make(d)
    assert isinstance(g.lineage, strata.Lineage) and g.lineage == FULL
    assert make(d) == make(FULL)
    assert make({"upstream": ("purchases",)}).lineage == strata.Lineage(upstream=["purchases"])
    assert make({"source": None}).lineage == strata.Lineage()


@pytest.mark.parametrize("value, match", [
    ({"sorce": "x"}, r"group '\w+': unknown lineage key 'sorce'; did you mean 'source'\? Allowed keys: source, "
                     "transformation, upstream, pipeline"),
    ({"owner": "x"}, r"unknown lineage key 'owner'\. Allowed keys: source, transformation, upstream, pipeline"),
    ({"upstream": "purchases"}, r"lineage upstream must be a list of group or stream names, got the single string "
                                r"'purchases'; write upstream=\['purchases'\]"),
    ({"upstream": ["purchases", 3]}, r"lineage upstream #2 must be a string \(NAME or NAME@VERSION\), got int 3"),
    ({"source": 42}, r"lineage source must be a string, got int 42"),
    (["source", "x"], r"lineage must be a strata.Lineage or a dict with keys source, transformation, upstream, "
                      "pipeline, got list"),
])
def test_dict_form_errors(value, match):
    with pytest.raises(strata.InvalidArgument, match=match):
        group(value)


def test_lineage_set_after_construction():
    g = group()
    g.lineage = {"upstream": ["user_stats"]}
    with pytest.raises(strata.InvalidArgument, match="is the group itself"):
        g.to_proto()
    g.lineage = {"upstream": ["purchases"]}
    assert list(g.to_proto().lineage.upstream) == ["purchases"]
    g.lineage = None
    assert not g.to_proto().HasField("lineage")


# -- YAML form ----------------------------------------------------------------------------------------

YAML = """
streams:
  - name: purchases
    entity_type: USER
    lineage:
      source: kafka://broker:9092/orders
      pipeline: orders-ingest
    fields:
      - {name: amount, dtype: FLOAT}
groups:
  - name: user_spend
    stream: purchases
    lineage:
      upstream: [purchases]
      transformation: sum of purchases.amount over 1h
    features:
      - {name: spend_1h, field: amount, function: sum, window: 1h}
  - name: user_stats
    lineage:
      source: warehouse.orders
      transformation: |
        SELECT user_id, count(*) AS purchases_30d
        FROM warehouse.orders
      upstream:
        - purchases@1
        - user_spend
      pipeline: nightly-orders
    features:
      - {name: purchases_30d, dtype: INT, default: 0}
  - name: no_lineage
    lineage:
    features:
      - {name: a, dtype: INT}
"""


def test_yaml_form(tmp_path):
    path = tmp_path / "defs.yaml"
    path.write_text(YAML)
    s, agg, g, plain = strata.load_definitions(path)
    assert isinstance(s, strata.Stream) and s.lineage == strata.Lineage(source="kafka://broker:9092/orders",
                                                                         pipeline="orders-ingest")
    assert isinstance(agg, strata.AggregateGroup)
    assert agg.lineage == strata.Lineage(upstream=["purchases"], transformation="sum of purchases.amount over 1h")
    assert g.lineage == strata.Lineage(
        source="warehouse.orders", transformation="SELECT user_id, count(*) AS purchases_30d\nFROM warehouse.orders\n",
        upstream=("purchases@1", "user_spend"), pipeline="nightly-orders")
    assert plain.lineage == strata.Lineage()
    # The same definitions as objects are equal, and survive the wire.
    assert s == strata.Stream("purchases", [strata.Field("amount", "FLOAT")], entity="USER",
                              lineage={"source": "kafka://broker:9092/orders", "pipeline": "orders-ingest"})
    for d in (s, agg, g, plain):
        assert wire_round_trip(d) == d


def yaml_error(text: str) -> str:
    with pytest.raises(strata.InvalidArgument) as e:
        strata.parse_definitions(textwrap.dedent(text).lstrip("\n"), file_name="defs.yaml")
    return e.value.message


@pytest.mark.parametrize("text, expected", [
    ("""
     groups:
       - name: g1
         lineage:
           source: warehouse.orders
           pipline: nightly
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1', lineage: unknown key 'pipline'; did you mean 'pipeline'? Allowed keys: source, "
          "transformation, upstream, pipeline"),
    ("""
     streams:
       - name: s1
         lineage: {owner: me}
         fields: [{name: a, dtype: INT}]
     """, "defs.yaml: stream 's1', lineage: unknown key 'owner'. Allowed keys: source, transformation, upstream, "
          "pipeline"),
    ("""
     groups:
       - name: g1
         linage: {source: x}
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1': unknown key 'linage'; did you mean 'lineage'? Allowed keys: name, entity_type, "
          "description, owner, refresh_interval, max_age, features, stream, lineage"),
    ("""
     groups:
       - name: g1
         lineage: warehouse.orders
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1': 'lineage' must be a mapping with any of source, transformation, upstream, "
          "pipeline, found the value 'warehouse.orders'"),
    ("""
     groups:
       - name: g1
         lineage: {upstream: purchases}
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1', lineage: 'upstream' must be a list of group or stream names, each NAME or "
          "NAME@VERSION (e.g. [purchases, user_stats@2]), found the value 'purchases'"),
    ("""
     groups:
       - name: g1
         lineage:
           upstream:
             - {name: purchases}
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1', lineage: upstream #1 (line 5) must be a group or stream name, NAME or "
          "NAME@VERSION, found a mapping"),
    ("""
     groups:
       - name: g1
         lineage: {source: [a, b]}
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1', lineage: 'source' must be a single value, found a list"),
    ("""
     groups:
       - name: g1
         lineage: {upstream: [g1@2]}
         features: [{name: a, dtype: INT}]
     """, "defs.yaml: group 'g1': lineage upstream 'g1@2' is the group itself; list the groups and streams it is "
          "derived from"),
    ("""
     streams:
       - name: s1
         lineage: {upstream: [Orders]}
         fields: [{name: a, dtype: INT}]
     """, "defs.yaml: group 's1': lineage upstream 'Orders' is not a group or stream reference"),
])
def test_yaml_errors(text, expected):
    assert yaml_error(text).startswith(expected)


# -- checks -------------------------------------------------------------------------------------------

UPSTREAM_64 = [f"g{i}" for i in range(64)]


@pytest.mark.parametrize("lineage", [
    strata.Lineage(source="s" * 2048, transformation="t" * 65536, pipeline="p" * 256, upstream=UPSTREAM_64),
    strata.Lineage(source="é" * 1024),  # 2,048 bytes
    strata.Lineage(upstream=["a", "a@1", "a@2", "b_2@9223372036854775807", "x" * 63, "other_group"]),
])
def test_limits_accepted(lineage):
    for make in (group, stream, aggregates):
        make(lineage).validate()
        assert wire_round_trip(make(lineage)).lineage == lineage


CHECKS = [
    (dict(source="s" * 2049), "lineage source is 2049 bytes; at most 2048 are allowed"),
    (dict(source="é" * 1025), "lineage source is 2050 bytes; at most 2048 are allowed"),
    (dict(transformation="t" * 65537), "lineage transformation is 65537 bytes; at most 65536 are allowed (for "
                                       "longer code, give a reference to it with its commit"),
    (dict(pipeline="p" * 257), "lineage pipeline is 257 bytes; at most 256 are allowed (give the pipeline's name)"),
    (dict(pipeline="\udc80"), "lineage pipeline is not valid Unicode text"),
    (dict(upstream=UPSTREAM_64 + ["g64"]), "lineage lists 65 upstream groups; at most 64 are allowed"),
    (dict(upstream=["Bad-Name"]), "lineage upstream 'Bad-Name' is not a group or stream reference: write NAME or "
                                  "NAME@VERSION (a version from 1); the name 'Bad-Name' is invalid: use a lowercase "
                                  "letter followed by lowercase letters, digits or '_' (at most 63 characters)"),
    (dict(upstream=["x@0"]), "lineage upstream 'x@0' is not a group or stream reference: write NAME or NAME@VERSION "
                             "(a version from 1); the version '0' is not a whole number from 1"),
    (dict(upstream=["x@01"]), "the version '01' is not a whole number from 1 (digits only, no sign or leading zeros)"),
    (dict(upstream=["x@-1"]), "the version '-1' is not a whole number from 1"),
    (dict(upstream=["x@v2"]), "the version 'v2' is not a whole number from 1"),
    (dict(upstream=["x@"]), "lineage upstream 'x@' is not a group or stream reference"),
    (dict(upstream=["x@9223372036854775808"]), "the version '9223372036854775808' is too large"),
    (dict(upstream=["@2"]), "the name before '@' is empty"),
    (dict(upstream=[""]), "lineage upstream '' is not a group or stream reference"),
    (dict(upstream=["x@1@2"]), "it contains more than one '@'"),
    (dict(upstream=["a" * 64]), "is invalid: use a lowercase letter"),
    (dict(upstream=[" purchases"]), "lineage upstream ' purchases' is not a group or stream reference"),
    (dict(upstream=["orders", "other", "orders"]), "lineage upstream 'orders' is listed twice; list each once"),
    (dict(upstream=["orders@2", "orders@2"]), "lineage upstream 'orders@2' is listed twice"),
    (dict(upstream=["other", "{self}"]), "lineage upstream '{self}' is the group itself; list the groups and streams "
                                         "it is derived from"),
    (dict(upstream=["{self}@3"]), "lineage upstream '{self}@3' is the group itself"),
]


@pytest.mark.parametrize("make", [group, stream, aggregates])
@pytest.mark.parametrize("fields, fragment", CHECKS)
def test_checks(make, fields, fragment):
    name = make().name
    fields = {k: [u.replace("{self}", name) for u in v] if k == "upstream" else v for k, v in fields.items()}
    fragment = fragment.replace("{self}", name)
    # As an object and as a dict: validate() and to_proto() refuse it, naming the group.
    for lineage in (strata.Lineage(**fields), fields):
        g = make(lineage)
        for check in (g.validate, g.to_proto):
            with pytest.raises(strata.InvalidArgument) as e:
                check()
            assert e.value.message.startswith(f"group '{name}': "), e.value.message
            assert fragment in e.value.message


def test_checks_in_yaml_name_the_file():
    upstream = "\n".join(f"        - g{i}" for i in range(65))
    text = f"groups:\n  - name: g1\n    lineage:\n      upstream:\n{upstream}\n    features: [{{name: a, dtype: INT}}]\n"
    assert yaml_error(text) == "defs.yaml: group 'g1': lineage lists 65 upstream groups; at most 64 are allowed"
    text = "groups:\n  - name: g1\n    lineage: {upstream: [a, b, a]}\n    features: [{name: a, dtype: INT}]\n"
    assert yaml_error(text) == "defs.yaml: group 'g1': lineage upstream 'a' is listed twice; list each once"
    long = "x" * 2049
    text = f"groups:\n  - name: g1\n    lineage: {{source: {long}}}\n    features: [{{name: a, dtype: INT}}]\n"
    assert yaml_error(text).startswith("defs.yaml: group 'g1': lineage source is 2049 bytes; at most 2048 are allowed")


def test_readme_example(monkeypatch):
    """The README's lineage example runs as written (against canned responses) and its YAML defines the
    same stream and group."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = re.search(r"### Lineage\n(.*?)\n### ", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    client = strata.Client("127.0.0.1:1")
    rpc = FakeRPC()
    monkeypatch.setattr(client, "_unary", rpc)
    exec(compile(code, "README.md", "exec"), {"strata": strata, "client": client})
    applied = [strata.FeatureGroup.from_proto(s) for s in rpc.requests[0][1].groups]
    from_yaml = strata.parse_definitions(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    assert applied == from_yaml
    assert from_yaml[1].lineage.upstream == ("orders@1",) and from_yaml[0].lineage.pipeline == "orders-ingest"


# ------------------------------------------------------------------------------------------------
# Against a node: the server stores, versions and checks the lineage.
# ------------------------------------------------------------------------------------------------
def test_lineage_round_trips_through_a_node_and_is_versioned(client, unique):
    s, g = unique("ls"), unique("lg")
    stream = strata.Stream(s, [strata.Field("amount", "FLOAT")], lineage={"source": "kafka://orders"})
    lineage = strata.Lineage(source="warehouse.orders", transformation="SELECT 1\n-- é", upstream=[s, f"{s}@1"],
                             pipeline="nightly")
    group = strata.FeatureGroup(g, [strata.Feature("n", "INT")], lineage=lineage)
    # The group names the stream applied in the same call.
    assert [r.outcome for r in client.apply([group, stream])] == ["CREATED", "CREATED"]
    assert client.get_feature_group(g).lineage == lineage
    assert client.get_feature_group(s).lineage == strata.Lineage(source="kafka://orders")
    assert client.apply(group)[0].outcome == "UNCHANGED"
    changed = strata.FeatureGroup(g, [strata.Feature("n", "INT")], lineage=dict(source="warehouse.orders_v2"))
    r = client.apply(changed)[0]
    assert (r.outcome, r.version) == ("NEW_VERSION", 2)
    assert client.get_feature_group(g, 1).lineage == lineage


def test_a_node_refuses_an_unknown_upstream_and_applies_nothing(client, unique):
    g, other = unique("lg"), unique("lo")
    bad = strata.FeatureGroup(g, [strata.Feature("n", "INT")], lineage={"upstream": [unique("nosuch")]})
    with pytest.raises(strata.NotFound, match="is not a registered group or stream"):
        client.apply([strata.FeatureGroup(other, [strata.Feature("n", "INT")]), bad])
    with pytest.raises(strata.NotFound):
        client.get_feature_group(other)
