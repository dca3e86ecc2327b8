"""strata.mlflow: a training set's manifest logged to an MLflow run (params, tags and the JSON artifact
strata/training_set.json) and a Strata model registered from that run, against MLflow's local file
store (no tracking server). The `test_node_*` tests use a real node."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import mlflow
import pandas as pd
import pytest

import strata
import strata.mlflow as smlflow
from strata._proto import types_pb2 as pb

UTC = dt.timezone.utc
T1 = dt.datetime(2024, 6, 1, 9, 30, 0, 250_001, tzinfo=UTC)
T2 = dt.datetime(2024, 6, 3, 17, 0, 5, tzinfo=UTC)

MANIFEST = strata.TrainingSet(
    name="churn-2024-06", features=["user_stats@1:clicks", "user_stats@1:score"], label_rows=5,
    label_checksum="sha256:" + "ab" * 32, first_label_time=T1, last_label_time=T2, used_known_at=True,
    created_at=T2, created_by="alice", description="June labels")


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """MLflow's local file store under tmp_path (MLflow 3.18 refuses a file store unless
    MLFLOW_ALLOW_FILE_STORE is set)."""
    uri = f"file:{tmp_path}/mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_importing_strata_does_not_import_mlflow():
    code = "import sys, strata, strata.mlflow; assert 'mlflow' not in sys.modules, 'mlflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_log_training_set(tracking, tmp_path):
    with mlflow.start_run() as run:
        assert smlflow.log_training_set(MANIFEST) == run.info.run_id
    data = mlflow.MlflowClient().get_run(run.info.run_id).data
    assert data.params == {
        "strata.training_set": "churn-2024-06", "strata.label_rows": "5", "strata.label_checksum": MANIFEST.label_checksum,
        "strata.used_known_at": "true", "strata.feature_count": "2",
        "strata.features": "user_stats@1:clicks,user_stats@1:score",
        "strata.first_label_time": "2024-06-01T09:30:00.250001+00:00",
        "strata.last_label_time": "2024-06-03T17:00:05+00:00"}
    assert data.tags["strata.training_set"] == "churn-2024-06"
    assert data.tags["strata.label_checksum"] == MANIFEST.label_checksum
    # The artifact is the manifest's JSON form, and reads back as the same manifest.
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="strata/training_set.json",
                                               dst_path=str(tmp_path / "dl"))
    with open(path) as f:
        assert json.load(f) == MANIFEST.to_dict()
    assert smlflow.load_training_set(run.info.run_id) == MANIFEST
    # The same manifest again, to a run named by id: harmless.
    assert smlflow.log_training_set(MANIFEST, run_id=run.info.run_id) == run.info.run_id
    # Another training set in the same run: refused (MLflow params do not change).
    other = strata.TrainingSet(**{**MANIFEST.__dict__, "name": "other"})
    with pytest.raises(strata.FailedPrecondition, match="already records training set 'churn-2024-06'"):
        smlflow.log_training_set(other, run_id=run.info.run_id)


def test_log_training_set_without_label_rows_or_with_many_features(tracking):
    empty = strata.TrainingSet(**{**MANIFEST.__dict__, "label_rows": 0, "first_label_time": None,
                                  "last_label_time": None, "features": [f"g@1:f{i:05d}" for i in range(1000)]})
    with mlflow.start_run() as run:
        smlflow.log_training_set(empty)
    params = mlflow.MlflowClient().get_run(run.info.run_id).data.params
    # No time range; the feature list over MLflow's 6,000-character limit of a param is in the artifact only.
    assert "strata.first_label_time" not in params and "strata.features" not in params
    assert params["strata.feature_count"] == "1000"
    assert smlflow.load_training_set(run.info.run_id) == empty


def test_errors(tracking):
    with pytest.raises(strata.InvalidArgument, match="no active MLflow run"):
        smlflow.log_training_set(MANIFEST)
    with pytest.raises(strata.InvalidArgument, match="training_set must be a strata.TrainingSet"):
        smlflow.log_training_set("churn-2024-06", run_id="x")
    with pytest.raises(strata.NotFound, match="MLflow run 'f00' does not exist"):
        smlflow.log_training_set(MANIFEST, run_id="f00")
    with mlflow.start_run() as run:
        pass
    with pytest.raises(strata.NotFound, match="has no artifact strata/training_set.json"):
        smlflow.load_training_set(run.info.run_id)
    with strata.Client("127.0.0.1:1") as client:
        with pytest.raises(strata.NotFound, match="has no artifact strata/training_set.json"):
            smlflow.register_model_from_run(client, run.info.run_id, "churn")
        # A job that saved no training set, or has not run yet.
        labels = pd.DataFrame({"entity_id": ["u1"], "label_timestamp": [T1]})
        with pytest.raises(strata.InvalidArgument, match="it does not save a training set"):
            smlflow.log_training_set(client.get_historical_features(labels, "g:x"), run_id=run.info.run_id)
        with pytest.raises(strata.InvalidArgument, match="its export has not run yet"):
            smlflow.log_training_set(client.get_historical_features(labels, "g:x", training_set="t"),
                                     run_id=run.info.run_id)


def test_register_model_from_run_checks_the_store(tracking, monkeypatch):
    """The run's manifest must be the store's training set of that name (same columns and checksum)."""
    client = strata.Client("127.0.0.1:1")  # its RPCs are replaced below: it never connects
    calls = []
    stored = {"set": MANIFEST}

    def get_training_set(name, timeout=None):
        calls.append(("get_training_set", name))
        return stored["set"]

    def register_model(name, **kwargs):
        calls.append(("register_model", name, kwargs))
        return strata.Model(name, 4, MANIFEST.features, MANIFEST.name, kwargs["description"], strata.ModelStatus.ACTIVE,
                            T2, "bob", created=True)

    monkeypatch.setattr(client, "get_training_set", get_training_set)
    monkeypatch.setattr(client, "register_model", register_model)
    with mlflow.start_run() as run:
        smlflow.log_training_set(MANIFEST)
    model = smlflow.register_model_from_run(client, run.info.run_id, "churn", version=4, registered_by="bob")
    assert model.qualified_name == "churn@4"
    assert calls == [("get_training_set", "churn-2024-06"),
                     ("register_model", "churn", {"version": 4, "training_set": "churn-2024-06",
                                                  "description": f"trained in MLflow run {run.info.run_id}",
                                                  "registered_by": "bob", "force": False, "timeout": None})]
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.tags["strata.model"] == "churn@4"
    # Another store's set of the same name: refused, nothing registered.
    stored["set"] = strata.TrainingSet(**{**MANIFEST.__dict__, "label_checksum": "sha256:" + "cd" * 32})
    with pytest.raises(strata.FailedPrecondition, match="another feature store, or another training set of that name"):
        smlflow.register_model_from_run(client, run.info.run_id, "churn")
    assert [c[0] for c in calls].count("register_model") == 1


def test_node_training_set_to_mlflow_to_model(tracking, client, unique):
    g = unique("mlflow_feats")
    ts = unique("ts")
    name = unique("churn")
    client.apply(strata.FeatureGroup(g, [strata.Feature("clicks", "INT"), strata.Feature("score", "FLOAT")]))
    now = dt.datetime.now(UTC).replace(microsecond=0)
    ids = [f"u{i}" for i in range(4)]
    client.write(g, pd.DataFrame({"entity_id": ids, "event_timestamp": [now - dt.timedelta(hours=1)] * 4,
                                  "clicks": [1, 2, 3, 4], "score": [0.5, 1.5, 2.5, 3.5]}), progress=False)
    labels = pd.DataFrame({"entity_id": ids, "label_timestamp": [now] * 4, "churned": [0, 1, 0, 1]})
    job = client.get_historical_features(labels, [f"{g}:*"], training_set=ts, training_set_description="for MLflow",
                                         progress=False)
    train = job.to_df()
    with mlflow.start_run() as run:
        smlflow.log_training_set(job)  # the job that saved it
        mlflow.log_metric("rows", len(train))
    params = mlflow.MlflowClient().get_run(run.info.run_id).data.params
    assert params["strata.training_set"] == ts and params["strata.label_rows"] == "4"
    assert params["strata.label_checksum"] == job.training_set.label_checksum
    assert params["strata.features"] == f"{g}@1:clicks,{g}@1:score"
    assert smlflow.load_training_set(run.info.run_id) == client.get_training_set(ts) == job.training_set

    model = smlflow.register_model_from_run(client, run.info.run_id, name)
    assert (model.qualified_name, model.created, model.training_set) == (f"{name}@1", True, ts)
    assert model.features == job.training_set.features
    assert model.description == f"trained in MLflow run {run.info.run_id}"
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.tags["strata.model"] == f"{name}@1"
    # Again: the same definition, nothing new.
    assert smlflow.register_model_from_run(client, run.info.run_id, name).created is False
    served = client.get_online_features(entities=ids, model=name)
    assert served.model == f"{name}@1" and served.values[f"{g}:clicks"] == [1, 2, 3, 4]
