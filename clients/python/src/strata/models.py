"""Models and training sets: `Model` (one registered version of a model: the pinned feature columns it
was trained on and is served with), `ModelStatus`, `ModelStatusChange` and `TrainingSet` (the manifest
of a saved point-in-time export). `Client.register_model`, `get_model`, `list_models`,
`set_model_status`, `archive_model`, `list_training_sets`, `get_training_set` and
`get_historical_features(..., training_set=)` return them."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import re
from typing import Any, Mapping

import numpy as np

from ._proto import types_pb2 as pb
from .definitions import _utf8_size
from .errors import InvalidArgument

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

# The node's limits (Sources/StrataCore/Models): names of models and training sets, descriptions, and who.
MAX_NAME_LENGTH = 128
MAX_DESCRIPTION_BYTES = 4096
MAX_BY_BYTES = 256
_MAX_VERSION = (1 << 32) - 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}\Z", re.ASCII)


def _at(micros: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=micros)


def valid_name(name: Any) -> bool:
    """Whether `name` is a valid model or training set name: 1 to 128 ASCII letters, digits, '_', '-'
    or '.', starting with a letter or a digit (the node's rule)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def check_name(name: Any, what: str) -> str:
    """`name` when it is a valid `what` ("model", "training set") name; InvalidArgument in the node's
    words otherwise."""
    if not isinstance(name, str):
        raise InvalidArgument(f"{what} name must be a string, got {type(name).__name__} {name!r}")
    if not valid_name(name):
        raise InvalidArgument(f"{what} name '{name}' is not valid: use 1 to {MAX_NAME_LENGTH} letters, digits, '_', "
                              "'-' or '.', starting with a letter or a digit")
    return name


def check_text(value: Any, label: str, field: str, max_bytes: int) -> str:
    """`value` ("" for None) when it is text of at most `max_bytes` UTF-8 bytes; InvalidArgument in the
    node's words (`label`: e.g. "model 'ranker'") otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{label}: {field} must be a string, got {type(value).__name__} {value!r}")
    size = _utf8_size(value, f"{label}: {field}")
    if size > max_bytes:
        raise InvalidArgument(f"{label}: {field} is {size} bytes; at most {max_bytes} are allowed")
    return value


def check_version(version: Any, what: str = "version") -> int:
    """A version number from 1 (InvalidArgument otherwise)."""
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or not 1 <= version <= _MAX_VERSION:
        raise InvalidArgument(f"{what} must be a whole number from 1 to {_MAX_VERSION}, got {version!r}")
    return int(version)


def parse_model_ref(ref: Any, version: Any = None) -> tuple[str, int]:
    """`NAME` or `NAME@V` (and an optional separate `version`) -> (name, version); version 0 means
    none was named. InvalidArgument in the node's words for anything else."""
    if not isinstance(ref, str):
        raise InvalidArgument(f"a model is named by a string, NAME or NAME@VERSION, got {type(ref).__name__} {ref!r}")
    name, at, v = ref.partition("@")
    if not valid_name(name) or "@" in v:
        raise InvalidArgument(f"model reference '{ref}' is not NAME or NAME@VERSION (names: letters, digits, '_', '-', "
                              "'.')")
    pinned = 0
    if at:
        if not (v.isascii() and v.isdigit()) or not 1 <= int(v) <= _MAX_VERSION:
            raise InvalidArgument(f"model reference '{ref}' has an invalid version '{v}'; versions are 1, 2, 3, ...")
        pinned = int(v)
    if version is not None:
        version = check_version(version)
        if pinned and pinned != version:
            raise InvalidArgument(f"'{ref}' names version {pinned} but version={version} was passed; give the "
                                  "version once")
        pinned = version
    return name, pinned


class ModelStatus(str, enum.Enum):
    """Lifecycle of one version of a model. ACTIVE: served by name (`get_online_features(model=)`),
    and the feature group versions it reads cannot be RETIRED. ARCHIVED: no longer served (serving by
    it is FailedPrecondition), and it holds no feature group version back."""
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"

    @staticmethod
    def parse(status: Any) -> "ModelStatus":
        text = status.value if isinstance(status, ModelStatus) else str(status).strip().upper()
        text = text.removeprefix("MODEL_STATUS_")
        try:
            return ModelStatus(text)
        except ValueError:
            raise InvalidArgument(f"unknown model status '{status}'; use ACTIVE or ARCHIVED") from None

    def to_proto(self) -> int:
        return pb.ModelStatus.Value(f"MODEL_STATUS_{self.value}")


def _model_status(value: int) -> ModelStatus:
    """A wire `ModelStatus`; ACTIVE for a value this SDK does not know."""
    try:
        name = pb.ModelStatus.Name(value).removeprefix("MODEL_STATUS_")
    except ValueError:
        return ModelStatus.ACTIVE
    return ModelStatus(name) if name in ModelStatus.__members__ else ModelStatus.ACTIVE


@dataclasses.dataclass(frozen=True)
class ModelStatusChange:
    """One change of a model version's status, as the node recorded it: `from_status`, `to_status`,
    `at` (the registry's clock, a UTC datetime), `changed_by` (as the client declared it; the SDK's
    default is the OS user name) and `reason` ("" when none was given)."""

    from_status: ModelStatus
    to_status: ModelStatus
    at: _dt.datetime
    changed_by: str = ""
    reason: str = ""

    @staticmethod
    def from_proto(c) -> "ModelStatusChange":
        return ModelStatusChange(_model_status(getattr(c, "from")), _model_status(c.to), _at(c.at_micros),
                                 c.changed_by, c.reason)


@dataclasses.dataclass
class TrainingSet:
    """The manifest of a saved point-in-time export (`get_historical_features(..., training_set=NAME)`):

    - `name`: unique in the registry; a training set is never overwritten.
    - `features`: the export's columns in order, resolved and pinned (`group@V:feature`).
    - `label_rows`, `label_checksum`: how many label rows were joined, and `"sha256:"` + the hex SHA-256
      of those rows in input order (entity id, label time and known_at; see the README), so that the
      same label input can be recognized later.
    - `first_label_time`, `last_label_time`: the label time range (UTC datetimes; None without rows).
    - `used_known_at`: whether a label row set `known_at` (an as-of-known-time export).
    - `created_at` (the node's clock), `created_by` (as the client declared it), `description`.

    `to_dict()` is its JSON form (times as ISO 8601 text), `TrainingSet.from_dict` reads it back.
    """

    name: str
    features: list[str]
    label_rows: int
    label_checksum: str
    first_label_time: _dt.datetime | None
    last_label_time: _dt.datetime | None
    used_known_at: bool
    created_at: _dt.datetime
    created_by: str = ""
    description: str = ""

    @staticmethod
    def from_proto(t: pb.TrainingSet) -> "TrainingSet":
        return TrainingSet(
            name=t.name, features=list(t.features), label_rows=t.label_rows, label_checksum=t.label_checksum,
            first_label_time=_at(t.first_label_micros) if t.HasField("first_label_micros") else None,
            last_label_time=_at(t.last_label_micros) if t.HasField("last_label_micros") else None,
            used_known_at=t.used_known_at, created_at=_at(t.created_at_micros), created_by=t.created_by,
            description=t.description)

    @property
    def group_versions(self) -> list[str]:
        """The distinct group versions its columns read (`group@V`), in order of first appearance."""
        return list(dict.fromkeys(f.partition(":")[0] for f in self.features))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: every field, times as ISO 8601 text in UTC (None when unset)."""
        def iso(t: _dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {"name": self.name, "features": list(self.features), "label_rows": self.label_rows,
                "label_checksum": self.label_checksum, "first_label_time": iso(self.first_label_time),
                "last_label_time": iso(self.last_label_time), "used_known_at": self.used_known_at,
                "created_at": iso(self.created_at), "created_by": self.created_by, "description": self.description}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "TrainingSet":
        """The manifest back from `to_dict()`'s form (e.g. a JSON artifact). InvalidArgument when a
        required key is missing or has the wrong type."""
        if not isinstance(d, Mapping):
            raise InvalidArgument(f"a training set manifest is a dict, got {type(d).__name__}")

        def time(key: str, required: bool = False) -> _dt.datetime | None:
            v = d.get(key)
            if v is None and not required:
                return None
            try:
                t = _dt.datetime.fromisoformat(v)
            except (TypeError, ValueError):
                raise InvalidArgument(f"training set manifest: '{key}' is not an ISO 8601 time: {v!r}") from None
            return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)

        for key, kind in (("name", str), ("features", list), ("label_rows", int), ("label_checksum", str)):
            if not isinstance(d.get(key), kind) or isinstance(d.get(key), bool):
                raise InvalidArgument(f"training set manifest: '{key}' is missing or not a {kind.__name__}")
        return TrainingSet(name=d["name"], features=[str(f) for f in d["features"]], label_rows=d["label_rows"],
                           label_checksum=d["label_checksum"], first_label_time=time("first_label_time"),
                           last_label_time=time("last_label_time"), used_known_at=bool(d.get("used_known_at")),
                           created_at=time("created_at", True), created_by=str(d.get("created_by") or ""),
                           description=str(d.get("description") or ""))

    def __str__(self) -> str:
        def at(t: _dt.datetime) -> str:
            return t.strftime("%Y-%m-%d %H:%M:%S")

        labels = f"{self.label_rows} label rows"
        if self.first_label_time is not None and self.last_label_time is not None:
            labels += f" {at(self.first_label_time)} .. {at(self.last_label_time)}"
        if self.used_known_at:
            labels += " (known_at)"
        made = f"made {at(self.created_at)}" + (f" by {self.created_by}" if self.created_by else "")
        return f"{self.name}: {labels}, {self.label_checksum}; {made}; columns {', '.join(self.features)}"


@dataclasses.dataclass
class Model:
    """One registered version of a model (`Model` on the wire):

    - `name`, `version` (`qualified_name`: `name@version`).
    - `features`: its inputs in order, each one feature of a pinned group version (`group@V:feature`):
      exactly the columns `get_online_features(model=...)` serves.
    - `training_set`: the saved training set it was trained on (None when none was named).
    - `description`, `status` (`ModelStatus`), `registered_at` (the registry's clock, UTC),
      `registered_by` (as the client declared it), `status_changes` (oldest first).
    - `created`: from `Client.register_model` only: True when this call registered it, False when the
      same definition was already registered (nothing changed); None from the other calls.
    - `training_set_manifest`: from `Client.get_model` only: the `TrainingSet` it names (None
      otherwise, and when it names none).

    `created` and `training_set_manifest` say how the model was fetched; they are not compared by `==`.
    """

    name: str
    version: int
    features: list[str]
    training_set: str | None
    description: str
    status: ModelStatus
    registered_at: _dt.datetime
    registered_by: str = ""
    status_changes: list[ModelStatusChange] = dataclasses.field(default_factory=list)
    created: bool | None = dataclasses.field(default=None, compare=False)
    training_set_manifest: TrainingSet | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def group_versions(self) -> list[str]:
        """The distinct group versions it reads (`group@V`), in order of first appearance."""
        return list(dict.fromkeys(f.partition(":")[0] for f in self.features))

    @staticmethod
    def from_proto(m: pb.Model, *, created: bool | None = None,
                   training_set: pb.TrainingSet | None = None) -> "Model":
        return Model(name=m.name, version=m.version, features=list(m.features), training_set=m.training_set or None,
                     description=m.description, status=_model_status(m.status), registered_at=_at(m.registered_at_micros),
                     registered_by=m.registered_by,
                     status_changes=[ModelStatusChange.from_proto(c) for c in m.status_changes], created=created,
                     training_set_manifest=TrainingSet.from_proto(training_set) if training_set is not None else None)

    def __str__(self) -> str:
        text = f"{self.qualified_name}  {self.status.value}  features {', '.join(self.features)}"
        return text + (f"  training set {self.training_set}" if self.training_set else "")
