"""Status changes with who and why (`set_feature_group_status(..., reason=, changed_by=)`, recorded in
`RegisteredGroup.status_changes`) and exports of DEPRECATED versions (`get_historical_features(...,
force=)`).

The tests without a node replace the RPC layer with canned answers: `Client._unary` for the unary calls
and the connection's `GetHistoricalFeatures` call, which decodes every message the SDK sends. The tests
named `test_node_*` run against a real node (the `client` fixture)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import time

import grpc
import pandas as pd
import pytest

import strata
from canned import FakeRpcError
from strata._proto import feature_store_pb2 as fs
from strata._proto import types_pb2 as pb

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ACTIVE, DEPRECATED, RETIRED = strata.GroupStatus.ACTIVE, strata.GroupStatus.DEPRECATED, strata.GroupStatus.RETIRED


def micros(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def wire_change(from_status: int, to_status: int, at: dt.datetime, changed_by: str = "", reason: str = ""):
    # `from` is a Python keyword: the field is set through a dict.
    return pb.StatusChange(**{"from": from_status, "to": to_status, "at_micros": micros(at), "changed_by": changed_by,
                              "reason": reason})


# -- StatusChange and RegisteredGroup.status_changes --------------------------------------------------------

T1 = dt.datetime(2024, 6, 1, 9, 30, 0, 250_001, tzinfo=UTC)
T2 = dt.datetime(2024, 6, 3, 17, 0, 5, tzinfo=UTC)
GROUP = strata.FeatureGroup("user_orders", [strata.Feature("n", "INT")])


def test_status_change_object():
    assert "StatusChange" in strata.__all__ and strata.StatusChange is strata.definitions.StatusChange
    c = strata.StatusChange(ACTIVE, DEPRECATED, T1, "alice", "replaced by v2")
    assert (c.from_status, c.to_status, c.at, c.changed_by, c.reason) == (ACTIVE, DEPRECATED, T1, "alice",
                                                                          "replaced by v2")
    assert c == strata.StatusChange(from_status=ACTIVE, to_status=DEPRECATED, at=T1, changed_by="alice",
                                    reason="replaced by v2")
    assert c != strata.StatusChange(ACTIVE, DEPRECATED, T1, "alice", "")
    assert isinstance(hash(c), int)
    assert strata.StatusChange(ACTIVE, RETIRED, T1) == strata.StatusChange(ACTIVE, RETIRED, T1, "", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.reason = "other"  # type: ignore[misc]


def test_from_proto_of_status_changes():
    g = pb.FeatureGroup(spec=GROUP.to_proto(), version=1, status=pb.GROUP_STATUS_ACTIVE, created_at_micros=micros(T1),
                        status_changes=[
                            wire_change(pb.GROUP_STATUS_ACTIVE, pb.GROUP_STATUS_DEPRECATED, T1, "alice",
                                        "replaced by v2"),
                            wire_change(pb.GROUP_STATUS_DEPRECATED, pb.GROUP_STATUS_ACTIVE, T2, "", "rollback"),
                        ])
    r = strata.RegisteredGroup.from_proto(g)
    assert r.status == ACTIVE
    assert r.status_changes == [strata.StatusChange(ACTIVE, DEPRECATED, T1, "alice", "replaced by v2"),
                                strata.StatusChange(DEPRECATED, ACTIVE, T2, "", "rollback")]  # oldest first
    for c in r.status_changes:
        assert c.at.utcoffset() == dt.timedelta(0)
    assert r.status_changes[0].at.microsecond == 250_001  # microseconds kept


def test_from_proto_without_status_changes():
    g = pb.FeatureGroup(spec=GROUP.to_proto(), version=1, status=pb.GROUP_STATUS_ACTIVE)
    assert strata.RegisteredGroup.from_proto(g).status_changes == []  # a node that records none
    # Constructed by hand: empty by default.
    r = strata.RegisteredGroup(GROUP, 1, ACTIVE, T1)
    assert r.status_changes == [] and r.versions == []


def test_from_proto_of_unknown_statuses():
    """Statuses this SDK does not know (a newer node) read as ACTIVE, as the version's own status does."""
    g = pb.FeatureGroup(spec=GROUP.to_proto(), version=1, status=97,
                        status_changes=[wire_change(98, pb.GROUP_STATUS_RETIRED, T1), wire_change(0, 99, T2)])
    r = strata.RegisteredGroup.from_proto(g)
    assert r.status == ACTIVE
    assert [(c.from_status, c.to_status) for c in r.status_changes] == [(ACTIVE, RETIRED), (ACTIVE, ACTIVE)]


# -- canned node ------------------------------------------------------------------------------------------


DEPRECATION = ("feature group user_orders@1 is DEPRECATED: new training exports may not read it; export "
               "user_orders@2, its newest ACTIVE version, instead, or set force (`strata join --force`, force=True "
               "in the SDK) to export it anyway")


class FakeNode:
    """Answers `Client._unary` (GetFeatureGroup, SetFeatureGroupStatus) and the connection's
    GetHistoricalFeatures call (one INT column `user_orders@1:n`, 7 for every label), recording every
    request. `refuse_unforced`: an export whose first message does not set force is refused as the node
    refuses a pinned DEPRECATED version."""

    def __init__(self, refuse_unforced: bool = False):
        self.refuse_unforced = refuse_unforced
        self.unary: list = []
        self.exports: list[list[fs.GetHistoricalFeaturesRequest]] = []  # the messages of each call
        self.changes: list[pb.StatusChange] = []
        self.status = pb.GROUP_STATUS_ACTIVE

    def install(self, client: strata.Client, monkeypatch) -> "FakeNode":
        monkeypatch.setattr(client, "_unary", self)
        monkeypatch.setattr(client, "_connection", lambda: self)
        return self

    def group(self) -> pb.FeatureGroup:
        return pb.FeatureGroup(spec=GROUP.to_proto(), version=1, status=self.status, status_changes=self.changes)

    def __call__(self, method, request, timeout):
        self.unary.append((method, request))
        if method == "GetFeatureGroup":
            return fs.GetFeatureGroupResponse(group=self.group(), versions=[self.group()])
        if method == "SetFeatureGroupStatus":
            if request.status != self.status:  # the node's rule: the current status records nothing
                self.changes.append(wire_change(self.status, request.status, T2, request.changed_by, request.reason))
                self.status = request.status
            return fs.SetFeatureGroupStatusResponse(group=self.group())
        raise AssertionError(method)

    # The connection's GetHistoricalFeatures (stream-stream): the call object is iterated for answers.
    def historical_features(self, requests, timeout=None):
        node = self
        messages: list[fs.GetHistoricalFeaturesRequest] = []
        node.exports.append(messages)

        def answers():
            for i, message in enumerate(requests):
                request = fs.GetHistoricalFeaturesRequest.FromString(message)
                messages.append(request)
                if i == 0:
                    if node.refuse_unforced and not request.force:
                        raise FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, DEPRECATION)
                    yield fs.GetHistoricalFeaturesResponse(columns=[pb.FeatureColumn(
                        ref="user_orders@1:n", group="user_orders", version=1, feature="n", dtype=pb.DTYPE_INT)])
                n = len(request.labels)
                if n:
                    yield fs.GetHistoricalFeaturesResponse(batch=fs.JoinedBatch(row_count=n, columns=[fs.JoinedColumn(
                        statuses=bytes([pb.VALUE_STATUS_PRESENT]) * n, value_mask=b"\x01" * n, int_values=[7] * n)]))

        class Call:
            def __init__(self):
                self._answers = answers()

            def __iter__(self):
                return self._answers

            def is_active(self):
                return False

            def cancel(self):
                pass
        return Call()


@pytest.fixture
def offline():
    with strata.Client("127.0.0.1:1", timeout=1) as c:
        yield c


def sent_status_requests(node: FakeNode) -> list[fs.SetFeatureGroupStatusRequest]:
    return [r for m, r in node.unary if m == "SetFeatureGroupStatus"]


# -- set_feature_group_status: reason and changed_by on the wire -------------------------------------------

def test_reason_and_changed_by_are_sent(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    g = offline.set_feature_group_status("user_orders", 1, "deprecated", reason="replaced by v2", changed_by="alice")
    (request,) = sent_status_requests(node)
    assert (request.name, request.version, request.status) == ("user_orders", 1, pb.GROUP_STATUS_DEPRECATED)
    assert (request.reason, request.changed_by) == ("replaced by v2", "alice")
    # The answer's history is parsed.
    assert g.status == DEPRECATED
    assert g.status_changes == [strata.StatusChange(ACTIVE, DEPRECATED, T2, "alice", "replaced by v2")]


def test_changed_by_defaults_to_the_os_user(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    user = getpass.getuser()
    offline.set_feature_group_status("user_orders", 1, strata.GroupStatus.DEPRECATED)
    (request,) = sent_status_requests(node)
    assert request.changed_by == user
    assert request.reason == ""  # no reason: none sent

    # Asked at each call (not once per client).
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    offline.set_feature_group_status("user_orders", 1, "ACTIVE", reason="rollback")
    assert (sent_status_requests(node)[-1].changed_by, sent_status_requests(node)[-1].reason) == ("carol", "rollback")
    assert [(c.changed_by, c.reason) for c in offline.get_feature_group("user_orders", 1).status_changes] == [
        (user, ""), ("carol", "rollback")]


@pytest.mark.parametrize("failure", [OSError("No username set in the environment"),
                                     KeyError("getpwuid(): uid not found"),
                                     ImportError("No module named 'pwd'")])
def test_changed_by_is_empty_without_an_os_user(offline, monkeypatch, failure):
    node = FakeNode().install(offline, monkeypatch)

    def getuser():
        raise failure
    monkeypatch.setattr(getpass, "getuser", getuser)
    offline.set_feature_group_status("user_orders", 1, "DEPRECATED")
    assert sent_status_requests(node)[0].changed_by == ""


def test_an_explicit_empty_changed_by_is_sent_as_is(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    offline.set_feature_group_status("user_orders", 1, "DEPRECATED", changed_by="", reason="")
    (request,) = sent_status_requests(node)
    assert (request.changed_by, request.reason) == ("", "")


@pytest.mark.parametrize("reason, changed_by", [
    ("r" * 1024, "b" * 256),
    ("é" * 512, "é" * 128),     # exactly the limits in UTF-8 bytes
    ("😀" * 256, "ab" * 128),
])
def test_notes_at_the_limits_are_sent(offline, monkeypatch, reason, changed_by):
    node = FakeNode().install(offline, monkeypatch)
    offline.set_feature_group_status("user_orders", 1, "DEPRECATED", reason=reason, changed_by=changed_by)
    (request,) = sent_status_requests(node)
    assert (request.reason, request.changed_by) == (reason, changed_by)


BAD_NOTES = [
    ({"reason": "r" * 1025}, "the status change's reason is 1025 bytes; at most 1024 are allowed"),
    ({"reason": "é" * 513}, "the status change's reason is 1026 bytes; at most 1024 are allowed"),
    ({"reason": "x" * 5000, "changed_by": "alice"},
     "the status change's reason is 5000 bytes; at most 1024 are allowed"),
    ({"changed_by": "b" * 257}, "the status change's changed_by is 257 bytes; at most 256 are allowed"),
    ({"changed_by": "é" * 129}, "the status change's changed_by is 258 bytes; at most 256 are allowed"),
    # Both over: changed_by is named first, as the node does.
    ({"changed_by": "b" * 300, "reason": "r" * 2000}, "the status change's changed_by is 300 bytes; at most 256 are "
                                                      "allowed"),
    ({"reason": 5}, "the status change's reason must be a string, got int 5"),
    ({"reason": b"why"}, "the status change's reason must be a string, got bytes b'why'"),
    ({"changed_by": ["alice"]}, "the status change's changed_by must be a string, got list ['alice']"),
    ({"reason": "ok\udc80"}, "the status change's reason is not valid Unicode text (character 3 is a lone surrogate); "
                             "it must encode as UTF-8"),
    ({"changed_by": "\ud800"}, "the status change's changed_by is not valid Unicode text (character 1 is a lone "
                               "surrogate); it must encode as UTF-8"),
]


@pytest.mark.parametrize("kwargs, message", BAD_NOTES)
def test_bad_notes_are_refused_before_anything_is_sent(offline, monkeypatch, kwargs, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.set_feature_group_status("user_orders", 1, "DEPRECATED", **kwargs)
    assert e.value.message == message
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert node.unary == []


def test_an_over_long_os_user_is_refused(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    monkeypatch.setattr(getpass, "getuser", lambda: "u" * 257)
    with pytest.raises(strata.InvalidArgument, match="changed_by is 257 bytes; at most 256 are allowed"):
        offline.set_feature_group_status("user_orders", 1, "DEPRECATED")
    assert node.unary == []


def test_an_unknown_status_is_still_refused_first(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument, match="unknown status 'GONE'; use ACTIVE, DEPRECATED or RETIRED"):
        offline.set_feature_group_status("user_orders", 1, "GONE", reason="r" * 2000)
    assert node.unary == []


# -- get_historical_features(force=): in the first message only ---------------------------------------------

LABELS = pd.DataFrame({"entity_id": [f"u{i}" for i in range(5)],
                       "label_timestamp": [dt.datetime(2024, 6, 2, tzinfo=UTC)] * 5})


@pytest.mark.parametrize("run", ["to_df", "to_arrow", "to_parquet"])
@pytest.mark.parametrize("force", [False, True])
def test_force_is_sent_in_the_first_message_only(offline, monkeypatch, tmp_path, run, force):
    node = FakeNode().install(offline, monkeypatch)
    job = offline.get_historical_features(LABELS, ["user_orders@1:n"], chunk_size=2, progress=False, force=force)
    assert job.force is force
    if run == "to_parquet":
        assert job.to_parquet(tmp_path / "out.parquet").rows == 5
        out = pd.read_parquet(tmp_path / "out.parquet")
    else:
        out = getattr(job, run)()
        out = out if run == "to_df" else out.to_pandas()
    assert out["user_orders:n"].tolist() == [7] * 5
    (messages,) = node.exports
    assert [len(m.labels) for m in messages] == [2, 2, 1]
    first, *rest = messages
    assert (list(first.features), first.columnar, first.force) == (["user_orders@1:n"], True, force)
    for m in rest:  # labels only
        assert (list(m.features), m.columnar, m.with_event_timestamps, m.force) == ([], False, False, False)


def test_force_defaults_to_false(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    offline.get_historical_features(LABELS, "user_orders@1:n", progress=False).to_df()
    assert node.exports[0][0].force is False
    # Without labels, the one message still carries it.
    empty = LABELS.iloc[:0]
    offline.get_historical_features(empty, "user_orders@1:n", progress=False, force=True).to_df()
    assert [(len(m.labels), m.force) for m in node.exports[1]] == [(0, True)]


def test_the_refusal_is_failed_precondition_and_force_gets_past_it(offline, monkeypatch):
    node = FakeNode(refuse_unforced=True).install(offline, monkeypatch)
    job = offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False)
    with pytest.raises(strata.FailedPrecondition) as e:
        job.to_df()
    assert e.value.message == DEPRECATION and e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    df = offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, force=True).to_df()
    assert df["user_orders:n"].tolist() == [7] * 5
    assert [m[0].force for m in node.exports] == [False, True]


@pytest.mark.parametrize("force", ["yes", 1, None, 0.0])
def test_force_must_be_a_bool(offline, monkeypatch, force):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument, match=r"^INVALID_ARGUMENT: force must be True or False, got"):
        offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, force=force)
    assert node.exports == [] and node.unary == []


# -- against a node ---------------------------------------------------------------------------------------

def test_node_records_status_changes_and_refuses_deprecated_exports(client, unique):
    g = unique("status_changes")
    assert client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))[0].version == 1
    written = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    client.write(g, pd.DataFrame({"entity_id": ["u1"], "event_timestamp": [written], "x": [42]}), progress=False)
    v2 = client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("y", "FLOAT")]))
    assert [(r.version, r.outcome) for r in v2] == [(2, "NEW_VERSION")]
    assert client.get_feature_group(g, 1).status_changes == []

    before = dt.datetime.now(UTC)
    changed = client.set_feature_group_status(g, 1, "DEPRECATED", reason="replaced by v2", changed_by="alice")
    after = dt.datetime.now(UTC)
    v1 = client.get_feature_group(g, 1)
    assert v1.status == DEPRECATED and changed.status == DEPRECATED
    (change,) = v1.status_changes
    assert before <= change.at <= after and change.at.utcoffset() == dt.timedelta(0)
    assert v1.status_changes == [strata.StatusChange(ACTIVE, DEPRECATED, change.at, "alice", "replaced by v2")]
    assert changed.status_changes == v1.status_changes
    # Every version in `.versions` carries its own history.
    assert [(v.version, v.status_changes) for v in client.get_feature_group(g).versions] == [
        (1, v1.status_changes), (2, [])]
    assert client.get_feature_group(g).version == 2

    # Setting the current status again records nothing.
    again = client.set_feature_group_status(g, 1, "DEPRECATED", reason="again", changed_by="bob")
    assert again.status_changes == v1.status_changes
    assert client.get_feature_group(g, 1).status_changes == v1.status_changes

    labels = pd.DataFrame({"entity_id": ["u1"], "label_timestamp": [dt.datetime.now(UTC)]})
    # A new export pinning the DEPRECATED version is refused, naming it and the newest ACTIVE version.
    with pytest.raises(strata.FailedPrecondition) as e:
        client.get_historical_features(labels, [f"{g}@1:x"], progress=False).to_df()
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert f"{g}@1" in e.value.message and f"{g}@2" in e.value.message and "DEPRECATED" in e.value.message
    # Also when another reference of the call is fine.
    with pytest.raises(strata.FailedPrecondition, match=f"{g}@1 is DEPRECATED"):
        client.get_historical_features(labels, [f"{g}:y", f"{g}@1:x"], progress=False).to_arrow()
    # force=True exports it anyway.
    df = client.get_historical_features(labels, [f"{g}@1:x"], progress=False, force=True, with_status=True).to_df()
    assert df[f"{g}:x"].tolist() == [42] and df[f"{g}:x__status"].tolist() == ["PRESENT"]
    # An unpinned export reads v2 (ACTIVE) and needs no force.
    job = client.get_historical_features(labels, [f"{g}:*"], progress=False, with_status=True)
    out = job.to_df()
    assert job.refs == [f"{g}@2:x", f"{g}@2:y"]
    assert out[f"{g}:x__status"].tolist() == ["MISSING"]  # nothing was written to v2
    # Online reads of the DEPRECATED version are not affected.
    assert client.get_online_features([f"{g}@1:x"], ["u1"], use_cache=False).values == {f"{g}:x": [42]}

    # Back to ACTIVE: a second change, after the first; the export needs no force any more.
    before = dt.datetime.now(UTC)
    client.set_feature_group_status(g, 1, strata.GroupStatus.ACTIVE, reason="rollback")
    after = dt.datetime.now(UTC)
    first, second = client.get_feature_group(g, 1).status_changes
    assert first == change
    assert second == strata.StatusChange(DEPRECATED, ACTIVE, second.at, getpass.getuser(), "rollback")
    assert before <= second.at <= after and first.at <= second.at
    df = client.get_historical_features(labels, [f"{g}@1:x"], progress=False).to_df()
    assert df[f"{g}:x"].tolist() == [42]


def test_node_records_retirement_and_notes_at_the_limits(client, unique):
    g = unique("status_limits")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    reason, by = "é" * 512, "ü" * 128  # 1,024 and 256 bytes
    r = client.set_feature_group_status(g, 1, "RETIRED", reason=reason, changed_by=by)
    assert [(c.from_status, c.to_status, c.changed_by, c.reason) for c in r.status_changes] == [
        (ACTIVE, RETIRED, by, reason)]
    r = client.set_feature_group_status(g, 1, "DEPRECATED", changed_by="")
    assert [(c.from_status, c.to_status, c.changed_by, c.reason) for c in r.status_changes] == [
        (ACTIVE, RETIRED, by, reason), (RETIRED, DEPRECATED, "", "")]
    # Listed versions carry the history too.
    (listed,) = [v for v in client.list_feature_groups() if v.name == g]
    assert listed.status_changes == r.status_changes


@pytest.mark.parametrize("field, value, message", [
    ("reason", "r" * 1025, "the status change's reason is 1025 bytes; at most 1024 are allowed"),
    ("changed_by", "é" * 129, "the status change's changed_by is 258 bytes; at most 256 are allowed"),
])
def test_node_refuses_over_long_notes_with_the_sdks_wording(client, unique, field, value, message):
    """The node's own check (the SDK's is bypassed) gives the message the SDK gives, and changes nothing."""
    g = unique("status_long")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    request = fs.SetFeatureGroupStatusRequest(name=g, version=1, status=pb.GROUP_STATUS_DEPRECATED, **{field: value})
    with pytest.raises(strata.InvalidArgument) as e:
        client._unary("SetFeatureGroupStatus", request, None)
    assert message in e.value.message
    with pytest.raises(strata.InvalidArgument) as local:
        client.set_feature_group_status(g, 1, "DEPRECATED", **{field: value})
    assert local.value.message == message
    v1 = client.get_feature_group(g, 1)
    assert (v1.status, v1.status_changes) == (ACTIVE, [])


def test_node_cluster_replicates_status_changes_and_checks_exports_once(cluster, unique):
    """On a cluster: a status change made through a non-leader is recorded once and every node adopts it
    with its history; the coordinator of an export refuses a pinned DEPRECATED version, and with force
    the owners (which it tells to skip the check) answer the rows."""
    g = unique("cluster_status")
    n1, n2, n3 = cluster.addresses
    with strata.Client(n3) as via_n3, strata.Client(n1) as via_n1, strata.Client(n2) as via_n2:
        via_n3.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
        ids = [f"u{i}" for i in range(30)]  # spread over the three nodes
        written = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        via_n1.write(g, pd.DataFrame({"entity_id": ids, "event_timestamp": [written] * len(ids),
                                      "x": list(range(len(ids)))}), progress=False)
        via_n3.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("y", "INT")]))
        changed = via_n3.set_feature_group_status(g, 1, "DEPRECATED", reason="replaced by v2", changed_by="alice")
        (change,) = changed.status_changes
        assert (change.from_status, change.to_status, change.changed_by, change.reason) == (
            ACTIVE, DEPRECATED, "alice", "replaced by v2")
        for via in (via_n1, via_n2, via_n3):
            deadline = time.time() + 10
            while True:  # every node adopts the leader's registry (pushed, or fetched within seconds)
                v1 = via.get_feature_group(g, 1)
                if v1.status == DEPRECATED or time.time() > deadline:
                    break
                time.sleep(0.1)
            assert v1.status_changes == [change], via.address

        labels = pd.DataFrame({"entity_id": ids, "label_timestamp": [dt.datetime.now(UTC)] * len(ids)})
        for via in (via_n1, via_n2):
            with pytest.raises(strata.FailedPrecondition) as e:
                via.get_historical_features(labels, [f"{g}@1:x"], progress=False).to_df()
            assert f"{g}@1" in e.value.message and f"{g}@2" in e.value.message
            df = via.get_historical_features(labels, [f"{g}@1:x"], progress=False, force=True).to_df()
            assert df[f"{g}:x"].tolist() == list(range(len(ids)))
        assert via_n2.get_online_features([f"{g}@1:x"], ids).values == {f"{g}:x": list(range(len(ids)))}
