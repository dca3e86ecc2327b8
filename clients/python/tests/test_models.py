"""Models and training sets: `get_historical_features(..., training_set=)` saves an export's manifest,
`register_model` ties a model version to pinned feature columns (and to the training set it was trained
on), `get_online_features(model=)` serves by model, `set_model_status`/`archive_model` retire a model
version, and the feature group lifecycle respects the models that read a version.

The tests without a node replace the RPC layer with canned answers (`FakeNode`: `Client._unary` and the
connection's GetHistoricalFeatures call). The tests named `test_node_*` run against a real node (the
`client` fixture), `test_cluster_*` against the 3-node cluster."""
from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import struct
import time

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import strata
from canned import FakeRpcError
from conftest import apply_with_retry
from strata._proto import feature_store_pb2 as fs
from strata._proto import types_pb2 as pb
from strata.errors import from_rpc_error

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ACTIVE, ARCHIVED = strata.ModelStatus.ACTIVE, strata.ModelStatus.ARCHIVED


def micros(t) -> int:
    t = pd.Timestamp(t)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return (t.to_pydatetime() - EPOCH) // dt.timedelta(microseconds=1)


def label_checksum(labels: pd.DataFrame) -> str:
    """The manifest's checksum of label rows, computed as the contract describes it."""
    h = hashlib.sha256()
    known = labels["known_at"] if "known_at" in labels else [None] * len(labels)
    for entity, t, k in zip(labels["entity_id"], labels["label_timestamp"], known):
        e = str(entity).encode("utf-8")
        h.update(struct.pack(">I", len(e)) + e + struct.pack(">q", micros(t)))
        h.update(b"\x00" if k is None or pd.isna(k) else b"\x01" + struct.pack(">q", micros(k)))
    return "sha256:" + h.hexdigest()


# -- canned node ------------------------------------------------------------------------------------------

T1 = dt.datetime(2024, 6, 1, 9, 30, 0, 250_001, tzinfo=UTC)
T2 = dt.datetime(2024, 6, 3, 17, 0, 5, tzinfo=UTC)
FEATURES = ["user_orders@1:n", "user_orders@1:amount"]


def wire_training_set(name: str = "ts1", rows: int = 5) -> pb.TrainingSet:
    t = pb.TrainingSet(name=name, features=FEATURES, label_rows=rows, label_checksum="sha256:" + "ab" * 32,
                       used_known_at=True, created_at_micros=micros(T2), created_by="alice", description="june")
    if rows:
        t.first_label_micros = micros(T1)
        t.last_label_micros = micros(T2)
    return t


def wire_model(name: str = "ranker", version: int = 1, status=pb.MODEL_STATUS_ACTIVE, **fields) -> pb.Model:
    fields.setdefault("features", FEATURES)
    fields.setdefault("training_set", "ts1")
    fields.setdefault("description", "d")
    return pb.Model(name=name, version=version, status=status, registered_at_micros=micros(T1), registered_by="bob",
                    **fields)


def wire_columns() -> list[pb.FeatureColumn]:
    return [pb.FeatureColumn(ref="user_orders@1:n", group="user_orders", version=1, feature="n", dtype=pb.DTYPE_INT),
            pb.FeatureColumn(ref="user_orders@1:amount", group="user_orders", version=1, feature="amount",
                             dtype=pb.DTYPE_FLOAT)]


class FakeNode:
    """Answers `Client._unary` for the model RPCs, GetOnlineFeatures (by features or by model:
    `ranker` is `FEATURES`, n = the entity's number, amount = 0.5) and GetFeatureGroup (for the cache's
    tiers), and the connection's GetHistoricalFeatures call (column n = 7 for every label; the last
    answer carries the manifest when the first message names a training set, unless `no_manifest`),
    recording every request."""

    def __init__(self, no_manifest: bool = False):
        self.no_manifest = no_manifest
        self.unary: list = []
        self.exports: list[list[fs.GetHistoricalFeaturesRequest]] = []
        self.models: dict[int, pb.Model] = {1: wire_model()}

    def install(self, client: strata.Client, monkeypatch) -> "FakeNode":
        monkeypatch.setattr(client, "_unary", self)
        monkeypatch.setattr(client, "_connection", lambda: self)
        return self

    def sent(self, method: str) -> list:
        return [r for m, r in self.unary if m == method]

    def __call__(self, method, request, timeout):
        self.unary.append((method, request))
        try:
            return self.answer(method, request)
        except FakeRpcError as e:  # as `Client._unary` raises it
            raise from_rpc_error(e, "127.0.0.1:1") from None

    def answer(self, method, request):
        if method == "RegisterModel":
            model = wire_model(request.name, request.version or 2, features=request.features or FEATURES,
                               training_set=request.training_set, description=request.description)
            model.registered_by = request.registered_by
            return fs.RegisterModelResponse(model=model, created=request.version != 1)
        if method == "ListModels":
            return fs.ListModelsResponse(models=list(self.models.values()))
        if method == "GetModel":
            if request.name != "ranker":
                raise FakeRpcError(grpc.StatusCode.NOT_FOUND, f"model '{request.name}' is not registered")
            return fs.GetModelResponse(model=self.models[request.version or 1], training_set=wire_training_set())
        if method == "SetModelStatus":
            m = self.models[request.version]
            if m.status != request.status:
                m.status_changes.append(pb.ModelStatusChange(**{
                    "from": m.status, "to": request.status, "at_micros": micros(T2), "changed_by": request.changed_by,
                    "reason": request.reason}))
                m.status = request.status
            return fs.SetModelStatusResponse(model=m)
        if method == "ListTrainingSets":
            sets = [wire_training_set("ts1"), wire_training_set("ts2", 0)]
            return fs.ListTrainingSetsResponse(training_sets=[t for t in sets if request.name in ("", t.name)])
        if method == "GetFeatureGroup":
            spec = strata.FeatureGroup("user_orders", [strata.Feature("n", "INT"), strata.Feature("amount", "FLOAT")])
            g = pb.FeatureGroup(spec=spec.to_proto(), version=1, status=pb.GROUP_STATUS_ACTIVE)
            return fs.GetFeatureGroupResponse(group=g, versions=[g])
        if method == "GetOnlineFeatures":
            return self.online(request)
        raise AssertionError(method)

    def online(self, request: fs.GetOnlineFeaturesRequest) -> fs.GetOnlineFeaturesResponse:
        if request.model:
            if request.model == "ranker@9":
                raise FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "model ranker@9 is ARCHIVED")
            refs = FEATURES
        else:
            refs = list(request.features)
        columns = [next(c for c in wire_columns() if c.ref == r) for r in refs]
        vectors = []
        for e in request.entity_ids:
            results = []
            for c in columns:
                value = pb.Value(int_value=int(e[1:])) if c.feature == "n" else pb.Value(float_value=0.5)
                results.append(pb.FeatureResult(value=value, status=pb.VALUE_STATUS_PRESENT,
                                                event_timestamp_micros=micros(T1)))
            vectors.append(fs.FeatureVector(entity_id=e, results=results))
        return fs.GetOnlineFeaturesResponse(columns=columns, vectors=vectors,
                                            model="ranker@1" if request.model else "")

    def historical_features(self, requests, timeout=None):
        node = self
        messages: list[fs.GetHistoricalFeaturesRequest] = []
        node.exports.append(messages)

        def answers():
            named = ""
            for i, message in enumerate(requests):
                request = fs.GetHistoricalFeaturesRequest.FromString(message)
                messages.append(request)
                if i == 0:
                    named = request.training_set
                    yield fs.GetHistoricalFeaturesResponse(columns=wire_columns()[:1])
                n = len(request.labels)
                if n:
                    yield fs.GetHistoricalFeaturesResponse(batch=fs.JoinedBatch(row_count=n, columns=[fs.JoinedColumn(
                        statuses=bytes([pb.VALUE_STATUS_PRESENT]) * n, value_mask=b"\x01" * n, int_values=[7] * n)]))
            if named and not node.no_manifest:
                yield fs.GetHistoricalFeaturesResponse(training_set=wire_training_set(named, 5))

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


# -- the objects -------------------------------------------------------------------------------------------

def test_public_names():
    for name in ("Model", "ModelStatus", "ModelStatusChange", "TrainingSet"):
        assert name in strata.__all__ and hasattr(strata, name)


def test_training_set_from_proto_and_dict():
    t = strata.TrainingSet.from_proto(wire_training_set())
    assert t == strata.TrainingSet(name="ts1", features=FEATURES, label_rows=5, label_checksum="sha256:" + "ab" * 32,
                                   first_label_time=T1, last_label_time=T2, used_known_at=True, created_at=T2,
                                   created_by="alice", description="june")
    assert t.group_versions == ["user_orders@1"]
    d = t.to_dict()
    import json
    assert json.loads(json.dumps(d)) == d  # JSON-friendly
    assert d["first_label_time"] == "2024-06-01T09:30:00.250001+00:00" and d["label_rows"] == 5
    assert strata.TrainingSet.from_dict(d) == t
    # No label rows: no time range.
    empty = strata.TrainingSet.from_proto(wire_training_set("ts2", 0))
    assert (empty.first_label_time, empty.last_label_time) == (None, None)
    assert strata.TrainingSet.from_dict(empty.to_dict()) == empty
    assert "ts1: 5 label rows 2024-06-01 09:30:00 .. 2024-06-03 17:00:05 (known_at)" in str(t)
    with pytest.raises(strata.InvalidArgument, match="'label_rows' is missing"):
        strata.TrainingSet.from_dict({k: v for k, v in d.items() if k != "label_rows"})
    with pytest.raises(strata.InvalidArgument, match="'created_at' is not an ISO 8601 time"):
        strata.TrainingSet.from_dict({**d, "created_at": "yesterday"})


def test_model_from_proto():
    m = wire_model(status_changes=[pb.ModelStatusChange(**{"from": pb.MODEL_STATUS_ACTIVE, "to": pb.MODEL_STATUS_ARCHIVED,
                                                           "at_micros": micros(T2), "changed_by": "carol",
                                                           "reason": "old"})], status=pb.MODEL_STATUS_ARCHIVED)
    model = strata.Model.from_proto(m)
    assert (model.name, model.version, model.qualified_name, model.features, model.training_set) == \
        ("ranker", 1, "ranker@1", FEATURES, "ts1")
    assert (model.status, model.registered_at, model.registered_by, model.description) == (ARCHIVED, T1, "bob", "d")
    assert model.status_changes == [strata.ModelStatusChange(ACTIVE, ARCHIVED, T2, "carol", "old")]
    assert (model.created, model.training_set_manifest) == (None, None)
    assert model.group_versions == ["user_orders@1"]
    # No training set: None; created and the manifest are not compared.
    bare = strata.Model.from_proto(wire_model(training_set=""), created=True)
    assert bare.training_set is None and bare.created is True
    assert strata.Model.from_proto(wire_model(), created=True) == strata.Model.from_proto(wire_model())
    # A status this SDK does not know reads as ACTIVE.
    assert strata.Model.from_proto(wire_model(status=7)).status == ACTIVE
    assert str(model) == "ranker@1  ARCHIVED  features user_orders@1:n, user_orders@1:amount  training set ts1"


# -- register_model, get_model, list_models, set_model_status ---------------------------------------------

def test_register_model_request(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    m = offline.register_model("ranker", ["user_orders:n", " user_orders@1:amount "], version=3, training_set="ts1",
                               description="first", registered_by="alice", force=True, timeout=2)
    (request,) = node.sent("RegisterModel")
    assert request == fs.RegisterModelRequest(name="ranker", version=3, features=["user_orders:n", "user_orders@1:amount"],
                                              training_set="ts1", description="first", registered_by="alice", force=True)
    assert (m.version, m.created, m.registered_by) == (3, True, "alice")
    # Defaults: the next version, the training set's columns, the OS user, no force; a TrainingSet object.
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    t = strata.TrainingSet.from_proto(wire_training_set())
    offline.register_model("ranker", training_set=t)
    request = node.sent("RegisterModel")[-1]
    assert (request.version, list(request.features), request.training_set, request.registered_by, request.force,
            request.description) == (0, [], "ts1", "carol", False, "")
    assert offline.register_model("ranker", "user_orders:n", version=1).created is False  # the canned answer
    assert list(node.sent("RegisterModel")[-1].features) == ["user_orders:n"]


@pytest.mark.parametrize("args, kwargs, message", [
    (("-ranker", ["g:x"]), {}, "model name '-ranker' is not valid: use 1 to 128 letters, digits, '_', '-' or '.', "
                               "starting with a letter or a digit"),
    (("ran ker", ["g:x"]), {}, "model name 'ran ker' is not valid"),
    (("r" * 129, ["g:x"]), {}, "model name 'rrrr"),
    (("rankér", ["g:x"]), {}, "model name 'rankér' is not valid"),
    (("", ["g:x"]), {}, "model name '' is not valid"),
    ((None, ["g:x"]), {}, "model name must be a string, got NoneType"),
    (("ranker",), {}, "model 'ranker': name its features (group@V:feature, group:*) or the training set it was "
                      "trained on"),
    (("ranker", []), {}, "model 'ranker': name its features"),
    (("ranker", ["g:x", ""]), {}, "model 'ranker': each feature is a non-empty string (group:feature), got ''"),
    (("ranker", ["g:x", 3]), {}, "model 'ranker': each feature is a non-empty string"),
    (("ranker", 3), {}, "model 'ranker': features must be a list of references (group:feature), got int 3"),
    (("ranker",), {"training_set": "bad name"}, "training set name 'bad name' is not valid"),
    (("ranker", ["g:x"]), {"version": 0}, "model 'ranker': version must be a whole number from 1 to 4294967295, got 0"),
    (("ranker", ["g:x"]), {"version": True}, "model 'ranker': version must be a whole number from 1"),
    (("ranker", ["g:x"]), {"version": 2**32}, "model 'ranker': version must be a whole number from 1"),
    (("ranker", ["g:x"]), {"description": "d" * 4097}, "model 'ranker': the description is 4097 bytes; at most 4096 "
                                                         "are allowed"),
    (("ranker", ["g:x"]), {"description": "é" * 2049}, "model 'ranker': the description is 4098 bytes"),
    (("ranker", ["g:x"]), {"registered_by": "b" * 257}, "model 'ranker': registered_by is 257 bytes; at most 256 are "
                                                          "allowed"),
    (("ranker", ["g:x"]), {"registered_by": 7}, "model 'ranker': registered_by must be a string, got int 7"),
    (("ranker", ["g:x"]), {"force": "yes"}, "force must be True or False, got str 'yes'"),
])
def test_register_model_checks_before_sending(offline, monkeypatch, args, kwargs, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.register_model(*args, **kwargs)
    assert e.value.message.startswith(message)
    assert node.unary == []


def test_register_model_limits_are_inclusive(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    offline.register_model("r" * 128, ["g:x"], description="d" * 4096, registered_by="b" * 256, version=2**32 - 1)
    offline.register_model("0.a-b_C", ["g:x"], version=np.int64(2))
    assert [r.version for r in node.sent("RegisterModel")] == [2**32 - 1, 2]


def test_get_model_and_its_training_set(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    m = offline.get_model("ranker@1")
    assert m.training_set_manifest == strata.TrainingSet.from_proto(wire_training_set())
    assert m.qualified_name == "ranker@1"
    offline.get_model("ranker")
    offline.get_model("ranker", 1)
    offline.get_model("ranker@1", 1)
    assert [(r.name, r.version) for r in node.sent("GetModel")] == [("ranker", 1), ("ranker", 0), ("ranker", 1),
                                                                     ("ranker", 1)]
    with pytest.raises(strata.NotFound, match="model 'nosuch' is not registered"):
        offline.get_model("nosuch")


@pytest.mark.parametrize("args, message", [
    (("ranker@0",), "model reference 'ranker@0' has an invalid version '0'; versions are 1, 2, 3, ..."),
    (("ranker@x",), "model reference 'ranker@x' has an invalid version 'x'"),
    (("ranker@",), "model reference 'ranker@' has an invalid version ''"),
    (("ranker@4294967296",), "model reference 'ranker@4294967296' has an invalid version"),
    (("@1",), "model reference '@1' is not NAME or NAME@VERSION (names: letters, digits, '_', '-', '.')"),
    (("a@1@2",), "model reference 'a@1@2' is not NAME or NAME@VERSION"),
    (("ranker@1", 2), "'ranker@1' names version 1 but version=2 was passed; give the version once"),
    (("ranker", 0), "version must be a whole number from 1 to 4294967295, got 0"),
    ((3,), "a model is named by a string, NAME or NAME@VERSION, got int 3"),
])
def test_model_references_are_checked(offline, monkeypatch, args, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.get_model(*args)
    assert e.value.message.startswith(message)
    assert node.unary == []


def test_list_models_and_training_sets(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    assert [m.qualified_name for m in offline.list_models()] == ["ranker@1"]
    offline.list_models("ranker")
    assert [r.name for r in node.sent("ListModels")] == ["", "ranker"]
    with pytest.raises(strata.InvalidArgument, match="model name 'a b' is not valid"):
        offline.list_models("a b")
    assert [t.name for t in offline.list_training_sets()] == ["ts1", "ts2"]
    assert offline.get_training_set("ts2").label_rows == 0
    with pytest.raises(strata.NotFound, match="training set 'ts3' does not exist"):
        offline.get_training_set("ts3")
    assert [r.name for r in node.sent("ListTrainingSets")] == ["", "ts2", "ts3"]
    with pytest.raises(strata.InvalidArgument, match="training set name '../x' is not valid"):
        offline.get_training_set("../x")


def test_set_model_status_and_archive(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    m = offline.archive_model("ranker@1", reason="replaced by ranker@2", changed_by="carol")
    assert m.status == ARCHIVED
    assert m.status_changes == [strata.ModelStatusChange(ACTIVE, ARCHIVED, T2, "carol", "replaced by ranker@2")]
    monkeypatch.setattr(getpass, "getuser", lambda: "dave")
    m = offline.set_model_status("ranker", 1, "active")
    assert m.status == ACTIVE and m.status_changes[-1] == strata.ModelStatusChange(ARCHIVED, ACTIVE, T2, "dave", "")
    offline.set_model_status("ranker@1", None, strata.ModelStatus.ARCHIVED)
    assert [(r.name, r.version, r.status, r.reason, r.changed_by) for r in node.sent("SetModelStatus")] == [
        ("ranker", 1, pb.MODEL_STATUS_ARCHIVED, "replaced by ranker@2", "carol"),
        ("ranker", 1, pb.MODEL_STATUS_ACTIVE, "", "dave"),
        ("ranker", 1, pb.MODEL_STATUS_ARCHIVED, "", "dave")]


@pytest.mark.parametrize("call, message", [
    (lambda c: c.archive_model("ranker"), "name the model version whose status changes: 'ranker@V' or version=V"),
    (lambda c: c.set_model_status("ranker", 1, "RETIRED"), "unknown model status 'RETIRED'; use ACTIVE or ARCHIVED"),
    (lambda c: c.archive_model("ranker@1", reason="r" * 1025), "the status change's reason is 1025 bytes; at most "
                                                                "1024 are allowed"),
    (lambda c: c.archive_model("ranker@1", changed_by="c" * 257), "the status change's changed_by is 257 bytes"),
    (lambda c: c.archive_model("ranker@1", 2), "'ranker@1' names version 1 but version=2 was passed"),
])
def test_status_changes_are_checked_before_sending(offline, monkeypatch, call, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        call(offline)
    assert e.value.message.startswith(message)
    assert node.unary == []


# -- serving by model ------------------------------------------------------------------------------------

def test_serve_by_model_request(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    r = offline.get_online_features(entities=["u1", "u2"], model="ranker")
    (request,) = node.sent("GetOnlineFeatures")
    assert (request.model, list(request.features), list(request.entity_ids)) == ("ranker", [], ["u1", "u2"])
    assert r.model == "ranker@1" and "of model ranker@1" in repr(r)
    assert r.values == {"user_orders:n": [1, 2], "user_orders:amount": [0.5, 0.5]}
    offline.get_online_features(None, ["u3"], model="ranker@1", consistency="QUORUM", with_freshness=True)
    offline.get_online_features([], ["u3"], model="ranker@1")
    assert [(r.model, r.consistency, r.with_freshness) for r in node.sent("GetOnlineFeatures")[1:]] == [
        ("ranker@1", fs.CONSISTENCY_QUORUM, True), ("ranker@1", fs.CONSISTENCY_DEFAULT, False)]
    # By features, the answer names no model.
    assert offline.get_online_features(["user_orders@1:n"], ["u1"]).model is None


@pytest.mark.parametrize("args, kwargs, message", [
    ((["user_orders:n"], ["u1"]), {"model": "ranker"}, "the lookup names model 'ranker' and features; a lookup by "
                                                       "model reads exactly the model's features"),
    (("user_orders:n", ["u1"]), {"model": "ranker"}, "the lookup names model 'ranker' and features"),
    ((None, ["u1"]), {"model": "ranker@0"}, "model reference 'ranker@0' has an invalid version"),
    ((None, ["u1"]), {"model": "a b"}, "model reference 'a b' is not NAME or NAME@VERSION"),
    ((None, ["u1"]), {}, "no features requested; pass at least one group:feature (or model=)"),
    ((None, None), {"model": "ranker"}, "no entities given"),
    ((None, []), {"model": "ranker"}, "no entities given"),
])
def test_serve_by_model_checks_before_sending(offline, monkeypatch, args, kwargs, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.get_online_features(*args, **kwargs)
    assert e.value.message.startswith(message)
    assert node.unary == []


def test_serve_by_model_through_the_cache(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    offline.enable_cache()
    clock = [1000.0]
    monkeypatch.setattr(strata.client, "monotonic", lambda: clock[0])
    first = offline.get_online_features(entities=["u1", "u2"], model="ranker")
    # The first lookup asks the node by model (and learns the group's tier).
    assert [m for m, _ in node.unary] == ["GetOnlineFeatures", "GetFeatureGroup"]
    assert node.sent("GetOnlineFeatures")[0].model == "ranker"
    assert first.model == "ranker@1"
    # Again: everything from the cache, no call; the same answer, naming the model served.
    again = offline.get_online_features(entities=["u2", "u1"], model="ranker")
    assert len(node.unary) == 2
    assert again.model == "ranker@1" and again.values == {"user_orders:n": [2, 1], "user_orders:amount": [0.5, 0.5]}
    assert again.columns == first.columns
    # A new entity: the missing cells are asked for by the model's pinned columns.
    mixed = offline.get_online_features(entities=["u1", "u3"], model="ranker")
    (request,) = node.sent("GetOnlineFeatures")[1:]
    assert (request.model, list(request.features), list(request.entity_ids)) == ("", FEATURES, ["u3"])
    assert mixed.model == "ranker@1" and mixed.values["user_orders:n"] == [1, 3]
    # Another reference (ranker@1) is a resolution of its own: asked by model once.
    offline.get_online_features(entities=["u1"], model="ranker@1")
    assert node.sent("GetOnlineFeatures")[-1].model == "ranker@1"
    # Past the TTL (batch tier: one hour), the node is asked by model again, and may refuse it.
    clock[0] += 3601
    offline.get_online_features(entities=["u1"], model="ranker")
    assert node.sent("GetOnlineFeatures")[-1].model == "ranker"
    with pytest.raises(strata.FailedPrecondition, match="ARCHIVED"):
        offline.get_online_features(entities=["u1"], model="ranker@9")
    # use_cache=False and QUORUM go to the node by model.
    n = len(node.sent("GetOnlineFeatures"))
    offline.get_online_features(entities=["u1"], model="ranker", use_cache=False)
    offline.get_online_features(entities=["u1"], model="ranker", consistency="QUORUM")
    assert [r.model for r in node.sent("GetOnlineFeatures")[n:]] == ["ranker", "ranker"]
    offline.cache.clear()
    offline.get_online_features(entities=["u1"], model="ranker")
    assert node.sent("GetOnlineFeatures")[-1].model == "ranker"


# -- saving a training set: get_historical_features(training_set=) ----------------------------------------

LABELS = pd.DataFrame({"entity_id": [f"u{i}" for i in range(5)],
                       "label_timestamp": [dt.datetime(2024, 6, 2, tzinfo=UTC)] * 5})


@pytest.mark.parametrize("run", ["to_df", "to_arrow", "to_parquet"])
def test_a_training_set_is_one_call_named_in_its_first_message(offline, monkeypatch, tmp_path, run):
    node = FakeNode().install(offline, monkeypatch)
    job = offline.get_historical_features(LABELS, ["user_orders@1:n"], chunk_size=2, progress=False,
                                          training_set="ts-june", created_by="alice",
                                          training_set_description="June labels")
    assert job.training_set is None and job.training_set_name == "ts-june" and "ts-june" in repr(job)
    if run == "to_parquet":
        assert job.to_parquet(tmp_path / "out.parquet").rows == 5
    else:
        getattr(job, run)()
    (messages,) = node.exports  # one call, whatever the chunks
    assert [len(m.labels) for m in messages] == [2, 2, 1]
    first, *rest = messages
    assert (first.training_set, first.created_by, first.training_set_description) == ("ts-june", "alice", "June labels")
    for m in rest:
        assert (m.training_set, m.created_by, m.training_set_description) == ("", "", "")
    assert job.training_set == strata.TrainingSet.from_proto(wire_training_set("ts-june", 5))


def test_a_training_set_job_runs_once(offline, monkeypatch, tmp_path):
    node = FakeNode().install(offline, monkeypatch)
    job = offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, training_set="ts-june")
    df = job.to_df()
    table = job.to_arrow()  # the labels were kept: not run again
    job.to_parquet(tmp_path / "again.parquet")
    assert len(node.exports) == 1
    assert table.column("user_orders:n").to_pylist() == df["user_orders:n"].tolist() == [7] * 5
    assert pd.read_parquet(tmp_path / "again.parquet")["entity_id"].tolist() == LABELS["entity_id"].tolist()
    # to_parquet keeps nothing: a second run would save the name again, and is refused.
    job = offline.get_historical_features(pa.Table.from_pandas(LABELS), ["user_orders@1:n"], progress=False,
                                          training_set="ts-july")
    job.to_parquet(tmp_path / "out.parquet")
    with pytest.raises(strata.FailedPrecondition, match="this export already ran and saved training set 'ts-july'"):
        job.to_df()
    assert len(node.exports) == 2


def test_created_by_defaults_to_the_os_user(offline, monkeypatch):
    node = FakeNode().install(offline, monkeypatch)
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, training_set="ts1").to_df()
    # Without a training set, nothing of it is sent.
    offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False).to_df()
    assert [(e[0].training_set, e[0].created_by, e[0].training_set_description) for e in node.exports] == [
        ("ts1", "carol", ""), ("", "", "")]


def test_an_export_without_a_manifest_fails(offline, monkeypatch):
    FakeNode(no_manifest=True).install(offline, monkeypatch)
    job = offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, training_set="ts1")
    with pytest.raises(strata.Unimplemented, match="answered the export without saving training set 'ts1'"):
        job.to_df()


@pytest.mark.parametrize("kwargs, message", [
    ({"training_set": "-x"}, "training set name '-x' is not valid: use 1 to 128 letters, digits, '_', '-' or '.', "
                             "starting with a letter or a digit"),
    ({"training_set": "t" * 129}, "training set name 'ttt"),
    ({"training_set": "a/b"}, "training set name 'a/b' is not valid"),
    ({"training_set": 5}, "training set name must be a string, got int 5"),
    ({"training_set": "ts", "created_by": "c" * 257}, "training set 'ts': created_by is 257 bytes; at most 256 are "
                                                      "allowed"),
    ({"training_set": "ts", "training_set_description": "d" * 4097}, "training set 'ts': the description is 4097 "
                                                                     "bytes; at most 4096 are allowed"),
    ({"created_by": "alice"}, "created_by and training_set_description describe a training set: name it "
                              "(training_set=) or leave them out"),
    ({"training_set_description": ""}, "created_by and training_set_description describe a training set"),
])
def test_training_set_arguments_are_checked_before_sending(offline, monkeypatch, kwargs, message):
    node = FakeNode().install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.get_historical_features(LABELS, ["user_orders@1:n"], progress=False, **kwargs)
    assert e.value.message.startswith(message)
    assert node.exports == [] and node.unary == []


# -- the lineage graph -----------------------------------------------------------------------------------

def test_lineage_graph_lists_models_and_training_sets(offline, monkeypatch):
    group = strata.FeatureGroup("user_orders", [strata.Feature("n", "INT"), strata.Feature("amount", "FLOAT")])
    response = fs.GetLineageResponse(
        group=pb.FeatureGroup(spec=group.to_proto(), version=1, status=pb.GROUP_STATUS_ACTIVE),
        models=[wire_model(), wire_model(version=2, status=pb.MODEL_STATUS_ARCHIVED, training_set="")],
        training_sets=[wire_training_set()])
    monkeypatch.setattr(offline, "_unary", lambda method, request, timeout: response)
    graph = offline.lineage("user_orders")
    assert [m.qualified_name for m in graph.models] == ["ranker@1", "ranker@2"]
    assert graph.models[1].status == ARCHIVED and graph.models[1].training_set is None
    assert graph.training_sets == [strata.TrainingSet.from_proto(wire_training_set())]
    assert str(graph) == """\
user_orders@1  ROWS ACTIVE
upstream (it is derived from): none
downstream (derived from it): none
writers (most recent first; times UTC): none
models (reading it or a version derived from it):
  ranker@1  ACTIVE  features user_orders@1:n, user_orders@1:amount  training set ts1
  ranker@2  ARCHIVED  features user_orders@1:n, user_orders@1:amount
training sets (reading it or a version derived from it; times UTC):
  ts1: 5 label rows 2024-06-01 09:30:00 .. 2024-06-03 17:00:05 (known_at), sha256:abababababababababababababababababababababababababababababababab; \
made 2024-06-03 17:00:05 by alice; columns user_orders@1:n, user_orders@1:amount"""
    # A graph without models and training sets prints as before.
    response = fs.GetLineageResponse(group=response.group)
    assert "models" not in str(offline.lineage("user_orders"))


# -- against a node ---------------------------------------------------------------------------------------

NOW = dt.datetime.now(UTC).replace(microsecond=0)


def group_v1(name: str) -> strata.FeatureGroup:
    return strata.FeatureGroup(name, [strata.Feature("clicks", "INT"), strata.Feature("score", "FLOAT")])


def group_v2(name: str) -> strata.FeatureGroup:
    return strata.FeatureGroup(name, [strata.Feature("clicks", "INT"), strata.Feature("score", "FLOAT"),
                                      strata.Feature("views", "INT")])


def rows(n: int = 6, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "entity_id": [f"u{i}" for i in range(n)],
        "event_timestamp": [NOW - dt.timedelta(days=2)] * n,
        "clicks": pd.array([i + offset for i in range(n)], dtype="Int64"),
        "score": [i / 4 + offset for i in range(n)],
    })


def labels() -> pd.DataFrame:
    """Five label rows (one entity twice, one label before any row), two with known_at."""
    return pd.DataFrame({
        "entity_id": ["u0", "u1", "u2", "u1", "ü-3"],
        "label_timestamp": [NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=1), NOW - dt.timedelta(days=3),
                            NOW - dt.timedelta(minutes=5, microseconds=7), NOW - dt.timedelta(hours=2)],
        "known_at": [pd.NaT, NOW, pd.NaT, NOW - dt.timedelta(seconds=1), pd.NaT],
        "label": [1, 0, 1, 1, 0],
    })


def test_node_model_workflow(client, unique):
    g = unique("model_feats")
    ts = unique("ts.june")
    name = unique("ranker")
    assert client.apply(group_v1(g))[0].version == 1
    client.write(g, rows(), writer=strata.Writer("feature-pipeline", "run-1"))

    # A point-in-time export saved as a named training set (labels in several chunks: one call).
    lab = labels()
    job = client.get_historical_features(lab, [f"{g}:*"], training_set=ts, created_by="alice",
                                         training_set_description="June churn labels", chunk_size=2, progress=False)
    df = job.to_df()
    # u0 sees its row; u1's rows were written after its known_at (the test's start), u2's label is before
    # its row, and ü-3 has none.
    assert df[f"{g}:clicks"].isna().tolist() == [False, True, True, True, True] and df[f"{g}:clicks"][0] == 0
    manifest = job.training_set
    assert isinstance(manifest, strata.TrainingSet)
    assert manifest.name == ts
    assert manifest.features == [f"{g}@1:clicks", f"{g}@1:score"]
    assert manifest.label_rows == 5
    assert manifest.label_checksum == label_checksum(lab)
    assert manifest.first_label_time == NOW - dt.timedelta(days=3)
    assert manifest.last_label_time == NOW - dt.timedelta(minutes=5, microseconds=7)
    assert manifest.used_known_at is True
    assert (manifest.created_by, manifest.description) == ("alice", "June churn labels")
    assert abs(manifest.created_at - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)
    assert client.get_training_set(ts) == manifest
    assert manifest in client.list_training_sets()

    # A model registered on it: the set's columns, pinned.
    model = client.register_model(name, training_set=ts, description="gbdt", registered_by="bob")
    assert (model.name, model.version, model.created, model.status) == (name, 1, True, ACTIVE)
    assert (model.features, model.training_set, model.description, model.registered_by) == \
        (manifest.features, ts, "gbdt", "bob")
    again = client.register_model(name, training_set=ts, description="gbdt", registered_by="bob")
    assert (again.version, again.created) == (1, False)
    fetched = client.get_model(name)
    assert fetched == model and fetched.training_set_manifest == manifest
    assert client.get_model(f"{name}@1") == model

    # Served by model: the same values as the model's pinned references.
    ids = ["u0", "u1", "u5", "nobody"]
    served = client.get_online_features(entities=ids, model=name)
    explicit = client.get_online_features(model.features, ids)
    assert served.model == f"{name}@1"
    assert served.columns == explicit.columns == [f"{g}:clicks", f"{g}:score"]
    assert served.values == explicit.values
    assert served.values[f"{g}:clicks"] == [0, 1, 5, None]
    pd.testing.assert_frame_equal(client.get_online_features(entities=ids, model=f"{name}@1").to_df(with_status=True),
                                  explicit.to_df(with_status=True))

    # v2 of the group; v1 deprecated: new exports of v1 are refused, naming the model still on it.
    assert client.apply(group_v2(g))[0].version == 2
    client.write(g, rows(offset=100).assign(views=pd.array([7] * 6, dtype="Int64")), writer="feature-pipeline")
    client.set_feature_group_status(g, 1, "DEPRECATED", reason="v2 has views")
    with pytest.raises(strata.FailedPrecondition) as refused:
        client.get_historical_features(lab, [f"{g}@1:clicks"], progress=False).to_df()
    assert f"{name}@1" in refused.value.message, refused.value.message
    # Serving by model goes on (it pins v1).
    assert client.get_online_features(entities=ids, model=name).values == explicit.values
    # A new model on the DEPRECATED version needs force.
    forced = f"{name}-forced"
    with pytest.raises(strata.FailedPrecondition, match="DEPRECATED"):
        client.register_model(forced, [f"{g}@1:clicks"])
    assert client.register_model(forced, [f"{g}@1:clicks"], force=True).features == [f"{g}@1:clicks"]

    # RETIRED is refused while ACTIVE models read v1, naming them.
    with pytest.raises(strata.FailedPrecondition) as refused:
        client.set_feature_group_status(g, 1, "RETIRED")
    assert f"{name}@1" in refused.value.message and f"{forced}@1" in refused.value.message, refused.value.message
    assert client.get_feature_group(f"{g}@1").status == strata.GroupStatus.DEPRECATED

    # The model's next version on v2 (unpinned references pin to the newest ACTIVE version).
    v2 = client.register_model(name, f"{g}:*", description="with views")
    assert (v2.version, v2.created, v2.training_set) == (2, True, None)
    assert v2.features == [f"{g}@2:clicks", f"{g}@2:score", f"{g}@2:views"]
    assert client.get_model(name).version == 2  # the newest ACTIVE version
    assert client.get_online_features(entities=["u1"], model=name).model == f"{name}@2"
    assert client.get_online_features(entities=["u1"], model=name).values == {
        f"{g}:clicks": [101], f"{g}:score": [100.25], f"{g}:views": [7]}

    # Archive the old versions; then v1 can retire.
    archived = client.archive_model(f"{name}@1", reason="replaced by v2", changed_by="carol")
    assert archived.status == ARCHIVED
    (change,) = archived.status_changes
    assert (change.from_status, change.to_status, change.changed_by, change.reason) == (ACTIVE, ARCHIVED, "carol",
                                                                                        "replaced by v2")
    assert abs(change.at - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)
    client.archive_model(forced, 1)
    # The lineage of v1 lists the models (any status) and the training set reading it.
    graph = client.lineage(f"{g}@1")
    assert {m.qualified_name for m in graph.models} == {f"{name}@1", f"{forced}@1"}
    assert {m.status for m in graph.models} == {ARCHIVED}
    assert [t.name for t in graph.training_sets] == [ts]
    assert f"{name}@1  ARCHIVED" in str(graph) and ts in str(graph)
    assert [m.qualified_name for m in client.lineage(g).models] == [f"{name}@2"]

    retired = client.set_feature_group_status(g, 1, "RETIRED", reason="no model reads it")
    assert retired.status == strata.GroupStatus.RETIRED
    # Serving the archived model is refused; by name, the newest ACTIVE version is served.
    with pytest.raises(strata.FailedPrecondition) as refused:
        client.get_online_features(entities=["u1"], model=f"{name}@1")
    assert f"{name}@1" in refused.value.message and "ARCHIVED" in refused.value.message
    assert client.get_online_features(entities=["u1"], model=name).model == f"{name}@2"
    # An archived model reading a RETIRED version cannot be ACTIVE again.
    with pytest.raises(strata.FailedPrecondition, match="RETIRED"):
        client.set_model_status(name, 1, "ACTIVE")

    listed = client.list_models(name)
    assert [(m.qualified_name, m.status) for m in listed] == [(f"{name}@1", ARCHIVED), (f"{name}@2", ACTIVE)]
    assert listed[0].status_changes == archived.status_changes
    assert {f"{name}@1", f"{name}@2", f"{forced}@1"} <= {m.qualified_name for m in client.list_models()}


def test_node_serving_by_model_with_the_cache(node, client, unique):
    g = unique("model_cache")
    name = unique("cached")
    client.apply(group_v1(g))
    client.write(g, rows())
    client.register_model(name, [f"{g}:clicks", f"{g}:score"])
    with strata.Client(node.address, timeout=30, cache=strata.OnlineCache()) as cached:
        first = cached.get_online_features(entities=["u1", "u2"], model=name)
        second = cached.get_online_features(entities=["u2", "u1", "u3"], model=name)
        assert first.model == second.model == f"{name}@1"
        assert second.values == client.get_online_features([f"{g}@1:clicks", f"{g}@1:score"], ["u2", "u1", "u3"]).values
        stats = cached.cache.stats()
        assert (stats.hits, stats.misses) == (4, 2 * 2 + 2)
        # Archived: still served from the cache within the TTL, refused by the node past it.
        client.archive_model(name, 1)
        assert cached.get_online_features(entities=["u1"], model=name).model == f"{name}@1"
        cached.cache.clear()
        with pytest.raises(strata.FailedPrecondition):
            cached.get_online_features(entities=["u1"], model=name)


def test_node_refuses_bad_inputs(client, unique):
    g = unique("model_bad")
    ts = unique("ts")
    client.apply(group_v1(g))
    client.write(g, rows())
    lab = labels()[["entity_id", "label_timestamp"]]
    client.get_historical_features(lab, [f"{g}:clicks"], training_set=ts, progress=False).to_df()

    # A training set name is never reused: AlreadyExists before any row.
    job = client.get_historical_features(lab, [f"{g}:*"], training_set=ts, progress=False)
    with pytest.raises(strata.AlreadyExists, match=f"training set '{ts}' already exists"):
        job.to_df()
    assert job.training_set is None and client.get_training_set(ts).features == [f"{g}@1:clicks"]

    # The node's own checks (the SDK's are bypassed with raw requests).
    for request in (fs.RegisterModelRequest(name="-bad", features=[f"{g}:clicks"]),
                    fs.RegisterModelRequest(name="a" * 129, features=[f"{g}:clicks"]),
                    fs.RegisterModelRequest(name=unique("m"))):
        with pytest.raises(strata.InvalidArgument):
            client._unary("RegisterModel", request, None)
    with pytest.raises(strata.InvalidArgument, match="leave features empty"):
        client._unary("GetOnlineFeatures", fs.GetOnlineFeaturesRequest(entity_ids=["u1"], features=[f"{g}:clicks"],
                                                                       model="whatever"), None)
    with pytest.raises(strata.InvalidArgument):
        client.get_online_features([f"{g}:clicks"], ["u1"], model="whatever")

    # Unknown model, version or training set: NotFound.
    missing = unique("missing")
    with pytest.raises(strata.NotFound, match=f"model '{missing}' is not registered"):
        client.get_model(missing)
    with pytest.raises(strata.NotFound):
        client.get_online_features(entities=["u1"], model=missing)
    with pytest.raises(strata.NotFound):
        client.list_models(missing)
    with pytest.raises(strata.NotFound):
        client.get_training_set(missing)
    with pytest.raises(strata.NotFound):
        client.register_model(unique("m"), training_set=missing)
    name = unique("m")
    client.register_model(name, training_set=ts)
    with pytest.raises(strata.NotFound):
        client.get_model(name, 7)

    # A feature the training set does not have; a taken version with another definition.
    with pytest.raises(strata.InvalidArgument, match=f"training set '{ts}' does not have"):
        client.register_model(unique("m"), [f"{g}:score"], training_set=ts)
    with pytest.raises(strata.AlreadyExists, match=f"model {name}@1 is already registered with another definition"):
        client.register_model(name, [f"{g}:score"], version=1)
    assert client.register_model(name, [f"{g}:score"], version=5).version == 5
    assert [m.version for m in client.list_models(name)] == [1, 5]
    assert client.register_model(name, [f"{g}:score"]).created is False  # the newest version's definition
    # Unknown features.
    with pytest.raises(strata.NotFound):
        client.register_model(unique("m"), [f"{g}:nosuch"])


# -- against the cluster ---------------------------------------------------------------------------------

def eventually(check, seconds: float = 10.0):
    """`check()`'s result once it passes: every node adopts the leader's registry (pushed, or fetched
    within seconds)."""
    deadline = time.time() + seconds
    while True:
        try:
            return check()
        except (AssertionError, strata.StrataError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_cluster_serve_by_model_and_retire_refusal(cluster, unique):
    g = unique("model_cluster")
    ts = unique("ts")
    name = unique("ranker")
    n1, n2, n3 = cluster.addresses
    apply_with_retry(n1, group_v1(g))
    entities = [f"u{i}" for i in range(60)]  # spread over the three nodes
    with strata.Client(n1, timeout=30) as c1, strata.Client(n2, timeout=30) as c2, strata.Client(n3, timeout=30) as c3:
        c1.write(g, pd.DataFrame({"entity_id": entities, "event_timestamp": [NOW - dt.timedelta(days=1)] * 60,
                                  "clicks": pd.array(range(60), dtype="Int64"), "score": [i / 2 for i in range(60)]}),
                 writer=strata.Writer("cluster-pipeline", "r1"), progress=False)
        lab = pd.DataFrame({"entity_id": entities, "label_timestamp": [NOW] * 60})
        job = eventually(lambda: c2.get_historical_features(lab, [f"{g}:*"], training_set=ts, created_by="alice",
                                                            chunk_size=25, progress=False))
        df = job.to_df()
        assert df[f"{g}:clicks"].tolist() == list(range(60))
        manifest = job.training_set
        assert (manifest.label_rows, manifest.label_checksum, manifest.created_by) == (60, label_checksum(lab), "alice")
        assert manifest.features == [f"{g}@1:clicks", f"{g}@1:score"]
        assert eventually(lambda: c3.get_training_set(ts)) == manifest

        model = c3.register_model(name, training_set=ts)
        assert model.features == manifest.features
        want = c1.get_online_features(model.features, entities).values
        for c in (c1, c2, c3):
            served = eventually(lambda: c.get_online_features(entities=entities, model=name))
            assert served.model == f"{name}@1" and served.values == want, c.address
            assert c.get_model(name).training_set_manifest == manifest

        c2.set_feature_group_status(g, 1, "DEPRECATED")
        # Refused by the registry leader (n1), naming the model, through another node: the leader's
        # refusal reaches the client as it is (an error forwarded with the leader's trailers once broke
        # the stream: UNAVAILABLE "Stream removed").
        for c in (c2, c3, c1):
            with pytest.raises(strata.FailedPrecondition) as refused:
                c.set_feature_group_status(g, 1, "RETIRED")
            assert f"{name}@1" in refused.value.message, refused.value.message
        with pytest.raises(strata.NotFound):
            c3.set_feature_group_status(g, 9, "RETIRED")
        with pytest.raises(strata.AlreadyExists):
            c2.register_model(name, [f"{g}@1:clicks"], version=1, force=True)
        assert f"{name}@1" in refused.value.message, refused.value.message
        assert eventually(lambda: c3.get_feature_group(f"{g}@1")).status == strata.GroupStatus.DEPRECATED
        # Serving by model goes on while the version is DEPRECATED.
        assert eventually(lambda: c3.get_online_features(entities=entities[:3], model=name)).values == \
            {k: v[:3] for k, v in want.items()}
        c3.archive_model(name, 1, reason="done")
        c1.set_feature_group_status(g, 1, "RETIRED")
        for c in (c1, c2, c3):
            def refused_there():
                assert c.get_model(f"{name}@1").status == ARCHIVED
                with pytest.raises(strata.FailedPrecondition):
                    c.get_online_features(entities=["u1"], model=f"{name}@1")
            eventually(refused_there)
        assert [m.qualified_name for m in c2.lineage(f"{g}@1").models] == [f"{name}@1"]
