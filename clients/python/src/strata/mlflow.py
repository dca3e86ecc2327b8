"""MLflow integration: record on an MLflow run the Strata training set it was trained on, and register a
Strata model from such a run.

    import mlflow, strata, strata.mlflow
    job = client.get_historical_features(labels, ["user_stats:*"], training_set="churn-2024-06")
    train = job.to_df()
    with mlflow.start_run() as run:
        strata.mlflow.log_training_set(job.training_set)     # params, tags and strata/training_set.json
        ...                                                   # train and log the model
    model = strata.mlflow.register_model_from_run(client, run.info.run_id, "churn")

MLflow is imported when a function runs, never by `import strata`: the SDK does not depend on it.
Install `mlflow-skinny` (or `mlflow`) to use this module. The functions use MLflow's current tracking
URI (`mlflow.set_tracking_uri`, `$MLFLOW_TRACKING_URI`).
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any

from .errors import FailedPrecondition, InvalidArgument, NotFound
from .models import Model, TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

# Where `log_training_set` puts the manifest among the run's artifacts.
ARTIFACT = "strata/training_set.json"
# MLflow's limit of a param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH since MLflow 2).
_MAX_PARAM_CHARS = 6000


def _mlflow():
    try:
        import mlflow
    except ImportError as e:
        raise ImportError("strata.mlflow needs MLflow: pip install mlflow-skinny (or mlflow)") from e
    return mlflow


def _manifest(training_set: Any) -> TrainingSet:
    """A `TrainingSet` from a TrainingSet, a RetrievalJob that saved one, or a manifest dict."""
    if isinstance(training_set, TrainingSet):
        return training_set
    if isinstance(training_set, dict):
        return TrainingSet.from_dict(training_set)
    if hasattr(training_set, "training_set_name"):  # a RetrievalJob
        if training_set.training_set is None:
            what = (f"its export has not run yet (call to_df(), to_arrow() or to_parquet() first)"
                    if training_set.training_set_name else "it does not save a training set (training_set=)")
            raise InvalidArgument(f"this RetrievalJob has no training set manifest: {what}")
        return training_set.training_set
    raise InvalidArgument(f"training_set must be a strata.TrainingSet (e.g. job.training_set or "
                          f"client.get_training_set(name)), got {type(training_set).__name__}")


def _run_id(mlflow, run_id: str | None) -> str:
    if run_id is not None:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgument(f"run_id must be an MLflow run id (a string), got {run_id!r}")
        return run_id
    run = mlflow.active_run()
    if run is None:
        raise InvalidArgument("no active MLflow run: call it inside `with mlflow.start_run():` or pass run_id=")
    return run.info.run_id


def _get_run(mlflow, client, run_id: str):
    try:
        return client.get_run(run_id)
    except mlflow.exceptions.MlflowException as e:
        if getattr(e, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(f"MLflow run '{run_id}' does not exist (tracking URI {mlflow.get_tracking_uri()})") from None
        raise


def training_set_params(training_set: TrainingSet) -> dict[str, str]:
    """The MLflow params `log_training_set` logs for a manifest (all text, as MLflow stores them)."""
    params = {
        "strata.training_set": training_set.name,
        "strata.label_rows": str(training_set.label_rows),
        "strata.label_checksum": training_set.label_checksum,
        "strata.used_known_at": "true" if training_set.used_known_at else "false",
        "strata.feature_count": str(len(training_set.features)),
    }
    features = ",".join(training_set.features)
    if len(features) <= _MAX_PARAM_CHARS:  # the whole list is in the artifact in any case
        params["strata.features"] = features
    if training_set.first_label_time is not None and training_set.last_label_time is not None:
        params["strata.first_label_time"] = training_set.first_label_time.isoformat()
        params["strata.last_label_time"] = training_set.last_label_time.isoformat()
    return params


def log_training_set(training_set: Any, *, run_id: str | None = None) -> str:
    """Records a Strata training set on an MLflow run (the active one, or `run_id`) and returns the run id:

    - params: `strata.training_set` (its name), `strata.label_rows`, `strata.label_checksum`,
      `strata.used_known_at` ("true"/"false"), `strata.feature_count`, `strata.features` (the pinned
      columns, comma-separated; left out when longer than MLflow's 6,000-character limit of a param),
      and `strata.first_label_time` / `strata.last_label_time` (ISO 8601, when there were label rows);
    - tags: `strata.training_set` and `strata.label_checksum` (to search runs by them);
    - the manifest as the JSON artifact `strata/training_set.json` (`TrainingSet.to_dict()`).

    `training_set`: a `strata.TrainingSet` (`job.training_set` after a saved export, or
    `client.get_training_set(name)`), or the `RetrievalJob` that saved it. MLflow params cannot change
    once logged, so a run records one training set: logging another one into the same run raises
    FailedPrecondition (logging the same one again is harmless). InvalidArgument without an active
    run or `run_id`; NotFound for an unknown run."""
    manifest = _manifest(training_set)
    mlflow = _mlflow()
    from mlflow.entities import Param, RunTag

    run_id = _run_id(mlflow, run_id)
    client = mlflow.MlflowClient()
    run = _get_run(mlflow, client, run_id)
    logged = run.data.params.get("strata.training_set")
    if logged is not None and logged != manifest.name:
        raise FailedPrecondition(f"MLflow run '{run_id}' already records training set '{logged}'; a run records one "
                                 f"training set (MLflow params do not change): log '{manifest.name}' in another run")
    params = training_set_params(manifest)
    tags = {"strata.training_set": manifest.name, "strata.label_checksum": manifest.label_checksum}
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.log_dict(run_id, manifest.to_dict(), ARTIFACT)
    return run_id


def load_training_set(run_id: str) -> TrainingSet:
    """The manifest `log_training_set` recorded on an MLflow run (its `strata/training_set.json`).
    NotFound when the run does not exist or has no such artifact."""
    mlflow = _mlflow()
    run_id = _run_id(mlflow, run_id)
    client = mlflow.MlflowClient()
    _get_run(mlflow, client, run_id)
    with tempfile.TemporaryDirectory(prefix="strata-mlflow-") as tmp:
        try:
            path = client.download_artifacts(run_id, ARTIFACT, tmp)
        except (mlflow.exceptions.MlflowException, OSError):
            path = None
        if path is None or not os.path.isfile(path):
            raise NotFound(f"MLflow run '{run_id}' has no artifact {ARTIFACT}: record the training set with "
                           "strata.mlflow.log_training_set first") from None
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except ValueError as e:
                raise InvalidArgument(f"MLflow run '{run_id}': {ARTIFACT} is not JSON: {e}") from None
    return TrainingSet.from_dict(data)


def register_model_from_run(client: "Client", run_id: str, name: str, *, version: int | None = None,
                            description: str | None = None, registered_by: str | None = None, force: bool = False,
                            timeout: float | None = None) -> Model:
    """Registers a Strata model trained in an MLflow run on the training set that run recorded
    (`log_training_set`): reads the run's `strata/training_set.json`, checks that the feature store
    `client` talks to has that training set with the same columns and label checksum
    (FailedPrecondition otherwise: another store, or another set of the same name), registers the model
    on it (`Client.register_model(name, training_set=..., version=, description=, registered_by=,
    force=)`; its features are the set's columns), and tags the run `strata.model` = `NAME@V`.
    `description` defaults to "trained in MLflow run RUN_ID". Returns the `Model` (`created` False
    when the same definition was registered before)."""
    mlflow = _mlflow()
    manifest = load_training_set(run_id)
    saved = client.get_training_set(manifest.name, timeout=timeout)
    if saved.label_checksum != manifest.label_checksum or saved.features != manifest.features:
        raise FailedPrecondition(
            f"MLflow run '{run_id}' records training set '{manifest.name}' with {manifest.label_checksum} and columns "
            f"{', '.join(manifest.features)}, but the feature store at {client.address} has '{saved.name}' with "
            f"{saved.label_checksum} and columns {', '.join(saved.features)}: another feature store, or another "
            "training set of that name")
    if description is None:
        description = f"trained in MLflow run {run_id}"
    model = client.register_model(name, version=version, training_set=manifest.name, description=description,
                                  registered_by=registered_by, force=force, timeout=timeout)
    mlflow.MlflowClient().set_tag(run_id, "strata.model", model.qualified_name)
    return model
