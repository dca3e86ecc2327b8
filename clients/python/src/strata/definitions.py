"""Feature group definitions: Python objects mirroring `FeatureGroupSpec`, and the YAML definition file
format of `strata apply` (parsed with the same rules and the same error messages as the CLI's
`Sources/StrataCLI/DefinitionFile.swift`)."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
import os
import re
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import yaml

from ._proto import types_pb2 as pb
from .errors import InvalidArgument, NotFound

MAX_FEATURES = 4096
MAX_NAME_LENGTH = 63
MAX_EMBEDDING_DIMENSION = 65536
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 90 * 86400
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class EntityType(str, enum.Enum):
    USER = "USER"
    ITEM = "ITEM"
    SESSION = "SESSION"


class GroupStatus(str, enum.Enum):
    """Lifecycle of one version of a feature group."""
    ACTIVE = "ACTIVE"
    DEPRECATED = "DEPRECATED"
    RETIRED = "RETIRED"


class GroupKind(str, enum.Enum):
    """Where a group's values come from: ROWS (written with `write`), STREAM (events pushed with `push`;
    a `Stream`) or AGGREGATES (windowed aggregates of a stream; an `AggregateGroup`)."""
    ROWS = "ROWS"
    STREAM = "STREAM"
    AGGREGATES = "AGGREGATES"


class AggregateFunction(str, enum.Enum):
    """count (events in the window, nulls included: INT), sum (exact; the field's type), avg (FLOAT),
    min, max, last (the value of the latest event) of a stream field over a sliding window."""
    COUNT = "COUNT"
    SUM = "SUM"
    AVG = "AVG"
    MIN = "MIN"
    MAX = "MAX"
    LAST = "LAST"

    @staticmethod
    def parse(text: "str | AggregateFunction") -> "AggregateFunction | None":
        if isinstance(text, AggregateFunction):
            return text
        return AggregateFunction.__members__.get(str(text).strip().upper())


@dataclasses.dataclass(frozen=True)
class DType:
    """A feature's data type: `FLOAT`, `INT`, `STRING` or `Embedding(dim)`."""

    kind: str  # "FLOAT" | "INT" | "STRING" | "EMBEDDING"
    dim: int = 0

    def __str__(self) -> str:
        return f"EMBEDDING({self.dim})" if self.kind == "EMBEDDING" else self.kind

    def __repr__(self) -> str:
        return f"Embedding({self.dim})" if self.kind == "EMBEDDING" else self.kind

    @staticmethod
    def parse(text: "str | DType") -> "DType | None":
        """`FLOAT` (or `DOUBLE`), `INT` (`INT64`, `INTEGER`), `STRING`, `EMBEDDING(64)`, case-insensitive,
        spaces ignored; None if `text` is none of these."""
        if isinstance(text, DType):
            return text
        t = str(text).upper().replace(" ", "")
        if t in ("FLOAT", "DOUBLE"):
            return FLOAT
        if t in ("INT", "INT64", "INTEGER"):
            return INT
        if t == "STRING":
            return STRING
        m = re.fullmatch(r"EMBEDDING\(([+-]?[0-9]+)\)", t)
        if m:
            return DType("EMBEDDING", int(m.group(1)))
        return None

    @property
    def proto(self) -> tuple[int, int]:
        return {"FLOAT": pb.DTYPE_FLOAT, "INT": pb.DTYPE_INT, "STRING": pb.DTYPE_STRING,
                "EMBEDDING": pb.DTYPE_EMBEDDING}[self.kind], self.dim

    @staticmethod
    def from_proto(dtype: int, dim: int) -> "DType":
        if dtype == pb.DTYPE_FLOAT:
            return FLOAT
        if dtype == pb.DTYPE_INT:
            return INT
        if dtype == pb.DTYPE_STRING:
            return STRING
        if dtype == pb.DTYPE_EMBEDDING:
            return DType("EMBEDDING", int(dim))
        raise InvalidArgument(f"unknown dtype {dtype} on the wire")


FLOAT = DType("FLOAT")
INT = DType("INT")
STRING = DType("STRING")


def Embedding(dim: int) -> DType:  # noqa: N802 (reads like a type)
    """The dtype of a fixed-dimension vector of 32-bit floats."""
    return DType("EMBEDDING", int(dim))


def parse_duration(text: str) -> int | None:
    """A whole number followed by s, m, h, d or w, or a plain whole number of seconds -> seconds; None if
    `text` is not a duration (or overflows 64 bits)."""
    digits = str(text).strip(" ")
    multiplier = 1
    if digits and not digits[-1].isdigit():
        multiplier = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(digits[-1])
        if multiplier is None:
            return None
        digits = digits[:-1]
    if not digits or not all("0" <= c <= "9" for c in digits):
        return None
    value = int(digits) * multiplier
    if int(digits) >= 2**63 or value >= 2**63:
        return None
    return value


def _duration_seconds(value: Any, what: str, group: str) -> int | None:
    """None, seconds (int), a `timedelta` or a duration text -> seconds (or None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgument(f"group '{group}': {what} must be a duration, got {value!r}")
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise InvalidArgument(f"group '{group}': {what} must be a whole number of seconds, got {value}")
        return int(seconds)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        s = parse_duration(value)
        if s is None:
            raise InvalidArgument(
                f"group '{group}': {what} '{value}' is not a duration; use a whole number followed by s, m, h, d or w "
                "(e.g. 30s, 5m, 1h, 1d, 2w), or a whole number of seconds")
        return s
    raise InvalidArgument(f"group '{group}': {what} must be seconds, a timedelta or a duration like '1d', got {value!r}")


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where a group's or stream's values come from (`Lineage` on the wire); every field is optional
    (empty = not declared). The lineage is part of the definition: applying a group whose lineage
    changed registers a new version. `bool(lineage)` is False when no field is set.

    - `source`: a URI or table name the values are read from ("s3://lake/orders/", "warehouse.orders");
      at most 2,048 bytes (UTF-8).
    - `transformation`: how they are computed: SQL text, or a code reference with its commit; at most
      65,536 bytes.
    - `upstream`: the groups and streams they are derived from, each `NAME` (its latest version) or
      `NAME@VERSION` (a version from 1); at most 64, no repeats, not the group itself. A list is
      accepted and stored as a tuple. The node checks, when the group is applied, that each is
      registered or applied in the same call.
    - `pipeline`: the pipeline expected to write the group; at most 256 bytes.

    None for any field means not set. Constructing a `Lineage` checks only the types; the limits are
    checked by `validate` (called by `FeatureGroup.validate`, hence by `to_proto` and `Client.apply`),
    with the node's messages.
    """

    source: str = ""
    transformation: str = ""
    upstream: tuple[str, ...] = ()
    pipeline: str = ""

    MAX_SOURCE_BYTES: ClassVar[int] = 2048
    MAX_TRANSFORMATION_BYTES: ClassVar[int] = 65536
    MAX_PIPELINE_BYTES: ClassVar[int] = 256
    MAX_UPSTREAM: ClassVar[int] = 64
    KEYS: ClassVar[tuple[str, ...]] = ("source", "transformation", "upstream", "pipeline")

    def __post_init__(self):
        for key in ("source", "transformation", "pipeline"):
            value = getattr(self, key)
            if value is None:
                object.__setattr__(self, key, "")
            elif not isinstance(value, str):
                raise InvalidArgument(f"lineage {key} must be a string, got {type(value).__name__} {value!r}")
        upstream = self.upstream
        if upstream is None:
            upstream = ()
        elif isinstance(upstream, (str, bytes)):
            raise InvalidArgument(
                f"lineage upstream must be a list of group or stream names, got the single string {upstream!r}; "
                f"write upstream=[{upstream!r}]")
        else:
            try:
                upstream = tuple(upstream)
            except TypeError:
                raise InvalidArgument(f"lineage upstream must be a list of group or stream names, got "
                                      f"{type(upstream).__name__}") from None
        for i, entry in enumerate(upstream):
            if not isinstance(entry, str):
                raise InvalidArgument(f"lineage upstream #{i + 1} must be a string (NAME or NAME@VERSION), got "
                                      f"{type(entry).__name__} {entry!r}")
        object.__setattr__(self, "upstream", upstream)

    def __bool__(self) -> bool:
        return bool(self.source or self.transformation or self.upstream or self.pipeline)

    def __repr__(self) -> str:
        parts = [f"{k}={getattr(self, k)!r}" for k in self.KEYS if getattr(self, k)]
        return f"Lineage({', '.join(parts)})"

    def validate(self, group: str) -> None:
        """The node's checks (`Lineage.validate(group:)`) for the lineage of group `group`: the byte
        limits, at most 64 upstream entries, each `NAME` or `NAME@VERSION`, not the group itself, none
        listed twice. Raises InvalidArgument naming the group and the field (the node's message, followed
        by what to change). Whether the upstream groups exist is for the node to check."""
        for key, limit, hint in (
                ("source", self.MAX_SOURCE_BYTES, "give the URI or table name the values are read from"),
                ("transformation", self.MAX_TRANSFORMATION_BYTES,
                 "for longer code, give a reference to it with its commit, e.g. repo/path/job.py@<commit>"),
                ("pipeline", self.MAX_PIPELINE_BYTES, "give the pipeline's name")):
            size = _utf8_size(getattr(self, key), f"group '{group}': lineage {key}")
            if size > limit:
                raise InvalidArgument(
                    f"group '{group}': lineage {key} is {size} bytes; at most {limit} are allowed ({hint})")
        if len(self.upstream) > self.MAX_UPSTREAM:
            raise InvalidArgument(f"group '{group}': lineage lists {len(self.upstream)} upstream groups; at most "
                                  f"{self.MAX_UPSTREAM} are allowed")
        seen: set[str] = set()
        for text in self.upstream:
            reference = _upstream_reference(text)
            if isinstance(reference, str):
                raise InvalidArgument(f"group '{group}': lineage upstream '{text}' is not a group or stream reference: "
                                      f"write NAME or NAME@VERSION (a version from 1); {reference}")
            if reference[0] == group:
                raise InvalidArgument(f"group '{group}': lineage upstream '{text}' is the group itself; list the "
                                      "groups and streams it is derived from")
            if text in seen:
                raise InvalidArgument(f"group '{group}': lineage upstream '{text}' is listed twice; list each once")
            seen.add(text)

    def to_proto(self) -> pb.Lineage:
        return pb.Lineage(source=self.source, transformation=self.transformation, upstream=list(self.upstream),
                          pipeline=self.pipeline)

    @staticmethod
    def from_proto(lineage: pb.Lineage) -> "Lineage":
        return Lineage(source=lineage.source, transformation=lineage.transformation, upstream=tuple(lineage.upstream),
                       pipeline=lineage.pipeline)


def _upstream_reference(text: str) -> tuple[str, int | None] | str:
    """`NAME` or `NAME@VERSION` (a version from 1, written without sign or leading zeros, at most 2^63 - 1)
    -> (name, version or None), the rules of the node's `Lineage.Reference`; when `text` is neither, the
    reason (a text)."""
    parts = text.split("@")
    if len(parts) > 2:
        return "it contains more than one '@'"
    if not _valid_name(parts[0]):
        if parts[0] == "":
            return "the name before '@' is empty" if len(parts) == 2 else "it is empty"
        return (f"the name '{parts[0]}' is invalid: use a lowercase letter followed by lowercase letters, digits or "
                f"'_' (at most {MAX_NAME_LENGTH} characters)")
    if len(parts) == 1:
        return parts[0], None
    digits = parts[1]
    if not digits:
        return "nothing follows '@'; write NAME@VERSION with a version from 1, or NAME alone"
    if not re.fullmatch(r"[1-9][0-9]*", digits, re.ASCII):
        return f"the version '{digits}' is not a whole number from 1 (digits only, no sign or leading zeros)"
    if int(digits) >= 2**63:
        return f"the version '{digits}' is too large"
    return parts[0], int(digits)


def _utf8_size(value: str, what: str) -> int:
    """The UTF-8 size of `value`; InvalidArgument naming `what` when it has a lone surrogate (no
    UTF-8 form)."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidArgument(f"{what} is not valid Unicode text (character {e.start + 1} is a lone surrogate); "
                              "it must encode as UTF-8") from None


def _reject_unknown_keys(mapping: Mapping, allowed: Sequence[str], what: str) -> None:
    """InvalidArgument naming the first key of `mapping` not in `allowed` (`what`: e.g. "lineage key"),
    with the closest allowed key as a suggestion."""
    for key in mapping:
        if key not in allowed:
            message = f"unknown {what} {key!r}"
            suggestion = _closest(key, allowed) if isinstance(key, str) else None
            message += f"; did you mean '{suggestion}'?" if suggestion else "."
            raise InvalidArgument(message + " Allowed keys: " + ", ".join(allowed))


def _as_lineage(value: Any, group: str) -> Lineage:
    """A group's `lineage=` argument: a `Lineage`, a dict with its keys, or None (none declared)."""
    if value is None:
        return Lineage()
    if isinstance(value, Lineage):
        return value
    if isinstance(value, Mapping):
        try:
            _reject_unknown_keys(value, Lineage.KEYS, "lineage key")
            return Lineage(**value)
        except InvalidArgument as e:
            raise InvalidArgument(f"group '{group}': {e.message}") from None
    raise InvalidArgument(f"group '{group}': lineage must be a strata.Lineage or a dict with keys "
                          f"{', '.join(Lineage.KEYS)}, got {type(value).__name__}")


@dataclasses.dataclass
class Feature:
    """One feature of a group: `Feature("purchases_30d", "INT", default=0, description=...)`."""

    name: str
    dtype: DType | str
    default: Any = None
    description: str = ""

    def __post_init__(self):
        parsed = DType.parse(self.dtype)
        if parsed is None:
            raise InvalidArgument(
                f"feature '{self.name}': unknown dtype '{self.dtype}'; use FLOAT, INT, STRING or EMBEDDING(dim)")
        self.dtype = parsed


@dataclasses.dataclass
class FeatureGroup:
    """A feature group definition, as in a YAML definition file (mirrors `FeatureGroupSpec`).

    `refresh_interval` and `max_age` are seconds, `timedelta`s or durations like "1d"; None = not set
    (for `max_age`: values never expire). `entity` is an alias of `entity_type`. `lineage` is a
    `Lineage`, or a dict with its keys (source, transformation, upstream, pipeline); the attribute is
    always a `Lineage` (empty when none is declared).
    """

    name: str
    features: list[Feature]
    entity_type: EntityType | str = EntityType.USER
    description: str = ""
    owner: str = ""
    refresh_interval: Any = None
    max_age: Any = None
    lineage: Lineage = dataclasses.field(default_factory=Lineage)

    def __init__(self, name: str, features: Sequence[Feature] = (), *, entity_type: EntityType | str | None = None,
                 entity: EntityType | str | None = None, description: str = "", owner: str = "",
                 refresh_interval: Any = None, max_age: Any = None, lineage: Lineage | Mapping | None = None):
        if entity is not None and entity_type is not None and str(entity).upper() != str(_entity_value(entity_type)):
            raise InvalidArgument(f"group '{name}': give entity or entity_type, not both")
        self.name = name
        self.features = list(features)
        et = entity_type if entity_type is not None else entity if entity is not None else EntityType.USER
        try:
            self.entity_type = EntityType(_entity_value(et))
        except ValueError:
            raise InvalidArgument(f"group '{name}': unknown entity_type '{et}'; use USER, ITEM or SESSION") from None
        self.description = description
        self.owner = owner
        self.refresh_interval = _duration_seconds(refresh_interval, "refresh interval", name)
        self.max_age = _duration_seconds(max_age, "max age", name)
        self.lineage = _as_lineage(lineage, name)

    def validate(self) -> None:
        """The server's checks (`FeatureGroupSpec.validate()`): raises InvalidArgument naming the group
        and field."""
        name = self.name
        if not _valid_name(name):
            raise InvalidArgument(
                f"group name '{name}' is invalid: use a lowercase letter followed by lowercase letters, digits or '_' "
                f"(at most {MAX_NAME_LENGTH} characters)")
        if not self.features:
            raise InvalidArgument(f"group '{name}' has no features; define at least one")
        if len(self.features) > MAX_FEATURES:
            raise InvalidArgument(
                f"group '{name}' has {len(self.features)} features; at most {MAX_FEATURES} are allowed")
        if self.refresh_interval is not None and self.refresh_interval <= 0:
            raise InvalidArgument(
                f"group '{name}': refresh interval must be positive, got {self.refresh_interval} seconds")
        _as_lineage(self.lineage, name).validate(name)
        if self.max_age is not None and self.max_age <= 0:
            raise InvalidArgument(
                f"group '{name}': max age must be positive (omit it for no expiry), got {self.max_age} seconds")
        seen: set[str] = set()
        for f in self.features:
            if not isinstance(f, Feature):
                raise InvalidArgument(f"group '{name}': features must be strata.Feature objects, got {type(f).__name__}")
            if not _valid_name(f.name):
                raise InvalidArgument(
                    f"group '{name}': feature name '{f.name}' is invalid: use a lowercase letter followed by lowercase "
                    f"letters, digits or '_' (at most {MAX_NAME_LENGTH} characters)")
            if f.name in seen:
                raise InvalidArgument(f"group '{name}': feature '{f.name}' is defined more than once")
            seen.add(f.name)
            self._check_feature(f)

    @property
    def kind(self) -> GroupKind:
        return GroupKind.ROWS

    def _check_feature(self, f: Feature) -> None:
        name = self.name
        if isinstance(f, Aggregate):
            raise InvalidArgument(
                f"group '{name}': feature '{f.name}' has an aggregation, but the group reads no stream; use "
                "strata.AggregateGroup(name, stream=..., features=[...])")
        if f.dtype.kind == "EMBEDDING" and not 1 <= f.dtype.dim <= MAX_EMBEDDING_DIMENSION:
            raise InvalidArgument(
                f"group '{name}': feature '{f.name}' has embedding dimension {f.dtype.dim}; it must be between 1 "
                f"and {MAX_EMBEDDING_DIMENSION}")
        if f.default is not None:
            _check_default(f, name)

    def _spec(self) -> pb.FeatureGroupSpec:
        spec = pb.FeatureGroupSpec(
            name=self.name, entity_type=pb.EntityType.Value(f"ENTITY_TYPE_{self.entity_type.value}"),
            description=self.description, owner=self.owner, refresh_interval_seconds=self.refresh_interval or 0,
            max_age_seconds=self.max_age or 0)
        lineage = _as_lineage(self.lineage, self.name)
        if lineage:  # unset when empty, as the node writes it
            spec.lineage.CopyFrom(lineage.to_proto())
        return spec

    def to_proto(self) -> pb.FeatureGroupSpec:
        self.validate()
        spec = self._spec()
        for f in self.features:
            dtype, dim = f.dtype.proto
            fs = spec.features.add(name=f.name, dtype=dtype, embedding_dim=dim, description=f.description)
            if f.default is not None:
                fs.default_value.CopyFrom(value_proto(f.default, f.dtype))
        return spec

    @staticmethod
    def from_proto(spec: pb.FeatureGroupSpec) -> "FeatureGroup":
        et = pb.EntityType.Name(spec.entity_type).removeprefix("ENTITY_TYPE_")
        et = "USER" if et == "UNSPECIFIED" else et
        lineage = Lineage.from_proto(spec.lineage)
        if spec.kind == pb.GROUP_KIND_STREAM:
            return Stream(spec.name, [Field(f.name, DType.from_proto(f.dtype, f.embedding_dim),
                                            description=f.description) for f in spec.features],
                          entity_type=et, description=spec.description, owner=spec.owner,
                          refresh_interval=spec.refresh_interval_seconds or None,
                          retention=spec.retention_seconds or None, lineage=lineage)
        if spec.kind == pb.GROUP_KIND_AGGREGATES:
            aggregates = []
            for f in spec.features:
                a = f.aggregation
                dtype = DType.from_proto(f.dtype, f.embedding_dim) if f.dtype != pb.DTYPE_UNSPECIFIED else None
                aggregates.append(Aggregate(
                    f.name, a.field, pb.AggregateFunction.Name(a.function).removeprefix("AGGREGATE_FUNCTION_"),
                    a.window_seconds,
                    default=python_value(f.default_value) if f.HasField("default_value") else None,
                    description=f.description, dtype=dtype))
            return AggregateGroup(spec.name, spec.stream, aggregates, entity_type=et, description=spec.description,
                                  owner=spec.owner, refresh_interval=spec.refresh_interval_seconds or None,
                                  stream_version=spec.stream_version, lineage=lineage)
        features = []
        for f in spec.features:
            dtype = DType.from_proto(f.dtype, f.embedding_dim)
            default = python_value(f.default_value) if f.HasField("default_value") else None
            features.append(Feature(f.name, dtype, default=default, description=f.description))
        return FeatureGroup(spec.name, features, entity_type=et,
                            description=spec.description, owner=spec.owner,
                            refresh_interval=spec.refresh_interval_seconds or None,
                            max_age=spec.max_age_seconds or None, lineage=lineage)


class Field(Feature):
    """One field of an event stream: `Field("amount", "FLOAT")` (FLOAT, INT or STRING; no default: an
    event carries its own values, and defaults belong on the aggregates)."""

    def __init__(self, name: str, dtype: DType | str, description: str = ""):
        super().__init__(name, dtype, None, description)


def _window_seconds(value: Any, feature: str) -> int:
    """An aggregate's window: whole seconds, a `timedelta` or a duration text -> seconds."""
    if isinstance(value, bool) or value is None:
        raise InvalidArgument(f"aggregate '{feature}': window must be a duration like '5m', '1h' or '30d', got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise InvalidArgument(f"aggregate '{feature}': window must be a whole number of seconds, got {value}")
        return int(seconds)
    if isinstance(value, str):
        seconds = parse_duration(value)
        if seconds is None:
            raise InvalidArgument(
                f"aggregate '{feature}': window '{value}' is not a duration; use a whole number followed by s, m, h, "
                "d or w (e.g. 5m, 1h, 30d), 1 minute to 90 days")
        return seconds
    raise InvalidArgument(f"aggregate '{feature}': window must be seconds, a timedelta or a duration like '1h', "
                          f"got {value!r}")


class Aggregate(Feature):
    """One feature of an `AggregateGroup`: `function` of the stream's field `field` over a sliding
    `window` (seconds, a `timedelta` or a duration like "1h"; 1 minute to 90 days), e.g.
    `Aggregate("spend_1h", "amount", "sum", "1h", default=0.0)`.

    Its dtype is derived by the node: INT for count, FLOAT for avg, else the field's type (`dtype` is
    None until known: the SDK fills it in from the stream when it applies the group, and registered
    groups carry it). The value at time T covers the entity's events with T - window < event time <= T;
    over an empty window count and sum are 0, the others null (or `default`)."""

    def __init__(self, name: str, field: str, function: "AggregateFunction | str", window: Any, *,
                 default: Any = None, description: str = "", dtype: DType | str | None = None):
        self.name = name
        self.field = field
        parsed = AggregateFunction.parse(function) if isinstance(function, (str, AggregateFunction)) else None
        if parsed is None:
            raise InvalidArgument(
                f"aggregate '{name}': unknown function '{function}'; use count, sum, avg, min, max or last")
        self.function = parsed
        self.window = _window_seconds(window, name)
        self.default = default
        self.description = description
        if dtype is None:
            self.dtype = {AggregateFunction.COUNT: INT, AggregateFunction.AVG: FLOAT}.get(self.function)
        else:
            self.dtype = DType.parse(dtype)
            if self.dtype is None:
                raise InvalidArgument(f"aggregate '{name}': unknown dtype '{dtype}'")

    def result_dtype(self, field_dtype: DType | None) -> DType | None:
        """The feature's dtype over a field of `field_dtype` (None if that is unknown and needed)."""
        if self.function == AggregateFunction.COUNT:
            return INT
        if self.function == AggregateFunction.AVG:
            return FLOAT
        return field_dtype

    def _key(self):
        return (self.name, self.field, self.function, self.window, self.default, self.description)

    def __eq__(self, other):
        if not isinstance(other, Aggregate):
            return NotImplemented
        return self._key() == other._key() and (self.dtype is None or other.dtype is None or self.dtype == other.dtype)

    __hash__ = None  # mutable, like Feature

    def __repr__(self) -> str:
        extra = (f", default={self.default!r}" if self.default is not None else "") + \
            (f", description={self.description!r}" if self.description else "")
        return (f"Aggregate({self.name!r}, {self.field!r}, {self.function.value.lower()!r}, {self.window}{extra})")


@dataclasses.dataclass(eq=True)
class Stream(FeatureGroup):
    """An event stream (`kind` STREAM): `Stream("purchases", [Field("amount", "FLOAT")], entity="USER")`.
    Events are pushed with `Client.push`; reading the stream itself (`purchases:amount`) answers with
    the entity's latest event. Fields are FLOAT, INT or STRING, without defaults; no max age.
    `retention` (seconds, a `timedelta` or a duration like "90d"; None = forever): the node deletes
    events older than it; it must be at least the largest window of every aggregate over the stream.
    `lineage`: as for `FeatureGroup` (e.g. the topic or table the events come from)."""

    def __init__(self, name: str, fields: Sequence[Feature] = (), *, entity_type: EntityType | str | None = None,
                 entity: EntityType | str | None = None, description: str = "", owner: str = "",
                 refresh_interval: Any = None, retention: Any = None, lineage: Lineage | Mapping | None = None):
        super().__init__(name, fields, entity_type=entity_type, entity=entity, description=description, owner=owner,
                         refresh_interval=refresh_interval, lineage=lineage)
        self.retention = _duration_seconds(retention, "retention", name)

    @property
    def fields(self) -> list[Feature]:
        return self.features

    @property
    def kind(self) -> GroupKind:
        return GroupKind.STREAM

    def _check_feature(self, f: Feature) -> None:
        if isinstance(f, Aggregate):
            raise InvalidArgument(f"stream '{self.name}': field '{f.name}' has an aggregation; a stream's fields are "
                                  "plain values")
        if f.dtype.kind not in ("FLOAT", "INT", "STRING"):
            raise InvalidArgument(f"stream '{self.name}': field '{f.name}' is {f.dtype}; a stream's fields are FLOAT, "
                                  "INT or STRING")
        if f.default is not None:
            raise InvalidArgument(f"stream '{self.name}': field '{f.name}' has a default; a stream's fields take none "
                                  "(set defaults on the aggregates)")

    def validate(self) -> None:
        if self.max_age is not None:
            raise InvalidArgument(f"stream '{self.name}' takes no max age")
        if self.retention is not None and self.retention < 60:
            raise InvalidArgument(f"stream '{self.name}': retention must be at least 1 minute, got {self.retention} seconds")
        super().validate()

    def to_proto(self) -> pb.FeatureGroupSpec:
        spec = super().to_proto()
        spec.kind = pb.GROUP_KIND_STREAM
        spec.retention_seconds = self.retention or 0
        return spec


@dataclasses.dataclass(eq=True)
class AggregateGroup(FeatureGroup):
    """Windowed aggregates of a stream (`kind` AGGREGATES), computed by the node at read time:
    `AggregateGroup("user_spend", "purchases", [Aggregate("spend_1h", "amount", "sum", "1h")])`. It
    accepts no writes. The entity type should be the stream's. A registered version has
    `stream_version`, the stream version it reads (the newest ACTIVE one when it was applied).
    `lineage`: as for `FeatureGroup` (its upstream would typically name the stream)."""

    stream: str = ""
    stream_version: int = 0

    def __init__(self, name: str, stream: str, features: Sequence[Aggregate] = (), *,
                 entity_type: EntityType | str | None = None, entity: EntityType | str | None = None,
                 description: str = "", owner: str = "", refresh_interval: Any = None, stream_version: int = 0,
                 lineage: Lineage | Mapping | None = None):
        super().__init__(name, features, entity_type=entity_type, entity=entity, description=description, owner=owner,
                         refresh_interval=refresh_interval, lineage=lineage)
        self.stream = stream
        self.stream_version = stream_version

    def __eq__(self, other):
        if not isinstance(other, AggregateGroup):
            return NotImplemented
        return ((self.name, self.features, self.entity_type, self.description, self.owner, self.refresh_interval,
                 self.stream, self.lineage) == (other.name, other.features, other.entity_type, other.description,
                                                other.owner, other.refresh_interval, other.stream, other.lineage))

    @property
    def kind(self) -> GroupKind:
        return GroupKind.AGGREGATES

    def _check_feature(self, f: Feature) -> None:
        name = self.name
        if not isinstance(f, Aggregate):
            raise InvalidArgument(
                f"group '{name}': feature '{f.name}' has no aggregation; every feature of a group over stream "
                f"'{self.stream}' needs field, function and window (strata.Aggregate)")
        if not _valid_name(f.field):
            raise InvalidArgument(f"group '{name}': aggregate '{f.name}' names no valid stream field ('{f.field}')")
        if not MIN_WINDOW_SECONDS <= f.window <= MAX_WINDOW_SECONDS:
            raise InvalidArgument(
                f"group '{name}': aggregate '{f.name}' has a window of {f.window} seconds; use 1 minute to 90 days "
                f"({MIN_WINDOW_SECONDS}..{MAX_WINDOW_SECONDS} seconds)")
        if f.default is not None and f.dtype is not None:
            _check_default(f, name)

    def validate(self) -> None:
        if not isinstance(self.stream, str) or not _valid_name(self.stream):
            raise InvalidArgument(f"group '{self.name}': stream name '{self.stream}' is invalid")
        if self.max_age is not None:
            raise InvalidArgument(
                f"group '{self.name}': an aggregate group takes no max age (each window bounds the events it reads)")
        super().validate()

    def resolve(self, field_dtypes: dict[str, DType]) -> None:
        """Fills in each aggregate's dtype from the stream's field types (`{field: dtype}`); raises
        InvalidArgument for a field the stream does not have."""
        for f in self.features:
            if isinstance(f, Aggregate):
                if f.field not in field_dtypes:
                    raise InvalidArgument(
                        f"group '{self.name}': aggregate '{f.name}' reads field '{f.field}', which stream "
                        f"'{self.stream}' does not have (fields: {', '.join(field_dtypes)})")
                f.dtype = f.result_dtype(field_dtypes[f.field])

    def to_proto(self) -> pb.FeatureGroupSpec:
        self.validate()
        spec = self._spec()
        spec.kind = pb.GROUP_KIND_AGGREGATES
        spec.stream = self.stream
        for f in self.features:
            fs = spec.features.add(name=f.name, description=f.description)
            fs.aggregation.field = f.field
            fs.aggregation.function = pb.AggregateFunction.Value(f"AGGREGATE_FUNCTION_{f.function.value}")
            fs.aggregation.window_seconds = f.window
            if f.default is not None:
                fs.default_value.CopyFrom(_untyped_value(f.default) if f.dtype is None else value_proto(f.default, f.dtype))
        return spec


def _untyped_value(v: Any) -> pb.Value:
    """A default whose feature's dtype is not known yet, by its Python type."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise InvalidArgument(f"an aggregate's default must be a number or a string, got {v!r}")
    if isinstance(v, int):
        return pb.Value(int_value=v)
    if isinstance(v, float):
        return pb.Value(float_value=v)
    return pb.Value(string_value=v)


def _entity_value(e: Any) -> str:
    return e.value if isinstance(e, EntityType) else str(e).upper()


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and len(name.encode()) <= MAX_NAME_LENGTH and _NAME.match(name) is not None


def _kind_name(v: Any) -> str:
    if isinstance(v, bool):
        return "BOOL"
    if isinstance(v, int):
        return "INT"
    if isinstance(v, float):
        return "FLOAT"
    if isinstance(v, str):
        return "STRING"
    if isinstance(v, (list, tuple)) or hasattr(v, "__array__"):
        return f"EMBEDDING({len(v)})"
    return type(v).__name__


def _check_default(f: Feature, group: str) -> None:
    d, dtype = f.default, f.dtype
    mismatch = InvalidArgument(
        f"group '{group}': default of feature '{f.name}' is {_kind_name(d)} but the feature is {dtype}")
    if isinstance(d, bool):
        raise mismatch
    if dtype.kind == "FLOAT":
        if not isinstance(d, (int, float)):
            raise mismatch
        if not math.isfinite(float(d)):
            raise InvalidArgument(f"group '{group}': default of feature '{f.name}' is NaN or infinite")
    elif dtype.kind == "INT":
        if not isinstance(d, int) or isinstance(d, float):
            raise mismatch
        if not -2**63 <= d < 2**63:
            raise InvalidArgument(f"group '{group}': default of feature '{f.name}' is out of range for INT")
    elif dtype.kind == "STRING":
        if not isinstance(d, str):
            raise mismatch
    else:
        if isinstance(d, (str, bytes, int, float)):
            raise mismatch
        values = list(d)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            raise mismatch
        if len(values) != dtype.dim:
            raise InvalidArgument(
                f"group '{group}': default of feature '{f.name}' has {len(values)} elements; the embedding dimension "
                f"is {dtype.dim}")
        if not all(math.isfinite(x) for x in values):
            raise InvalidArgument(f"group '{group}': default of feature '{f.name}' is NaN or infinite")


def value_proto(v: Any, dtype: DType) -> pb.Value:
    """A Python value of `dtype` as a wire `Value` (None -> unset, a null)."""
    if v is None:
        return pb.Value()
    if dtype.kind == "FLOAT":
        return pb.Value(float_value=float(v))
    if dtype.kind == "INT":
        return pb.Value(int_value=int(v))
    if dtype.kind == "STRING":
        return pb.Value(string_value=str(v))
    return pb.Value(embedding_value=pb.Embedding(values=[float(x) for x in v]))


def python_value(v: pb.Value) -> Any:
    """A wire `Value` as a Python value: float, int, str, a float32 numpy array, or None."""
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "embedding_value":
        import numpy as np
        return np.array(v.embedding_value.values, dtype=np.float32)
    return getattr(v, kind)


# ----------------------------------------------------------------------------------------------------
# Registered groups (what the catalog returns)
# ----------------------------------------------------------------------------------------------------

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _status_from_proto(value: int) -> GroupStatus:
    """A wire `GroupStatus` as a `GroupStatus`; ACTIVE for a value this SDK does not know."""
    try:
        name = pb.GroupStatus.Name(value).removeprefix("GROUP_STATUS_")
    except ValueError:  # a status of a newer node
        return GroupStatus.ACTIVE
    return GroupStatus(name) if name in GroupStatus.__members__ else GroupStatus.ACTIVE


@dataclasses.dataclass(frozen=True)
class StatusChange:
    """One change of a registered version's status (`StatusChange` on the wire), as the node recorded it
    when `Client.set_feature_group_status` (or `strata set-status`) changed it:

    - `from_status`, `to_status`: the status before and after (`GroupStatus`).
    - `at`: when the registry applied it, by the registry's clock (a UTC datetime).
    - `changed_by`: who asked, as the client declared it (the SDK's default is the OS user name; there
      is no authentication, so this is a note, not a proof); "" when none was sent.
    - `reason`: why, as the caller wrote it; "" when none was given.

    Setting a version's current status again records nothing, so consecutive changes always differ.
    """

    from_status: GroupStatus
    to_status: GroupStatus
    at: _dt.datetime
    changed_by: str = ""
    reason: str = ""

    @staticmethod
    def from_proto(c) -> "StatusChange":
        return StatusChange(from_status=_status_from_proto(getattr(c, "from")), to_status=_status_from_proto(c.to),
                            at=_EPOCH + _dt.timedelta(microseconds=c.at_micros), changed_by=c.changed_by,
                            reason=c.reason)


@dataclasses.dataclass
class RegisteredGroup:
    """One registered version of a feature group (`FeatureGroup` on the wire). `status_changes` lists
    every change of its status since it was registered (`StatusChange`s, oldest first; empty for a
    version whose status never changed, and from a node that does not record them)."""

    spec: FeatureGroup
    version: int
    status: GroupStatus
    created_at: _dt.datetime
    # get_feature_group only: every version of the group, ascending.
    versions: list["RegisteredGroup"] = dataclasses.field(default_factory=list)
    status_changes: list[StatusChange] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def qualified_name(self) -> str:
        return f"{self.spec.name}@{self.version}"

    @property
    def features(self) -> list[Feature]:
        return self.spec.features

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.spec.features if f.name == name), None)

    @property
    def lineage(self) -> "Lineage":
        """Where this version's values come from, as its definition declares (empty when none)."""
        return self.spec.lineage

    @staticmethod
    def from_proto(g) -> "RegisteredGroup":
        return RegisteredGroup(
            spec=FeatureGroup.from_proto(g.spec), version=g.version, status=_status_from_proto(g.status),
            created_at=_EPOCH + _dt.timedelta(microseconds=g.created_at_micros),
            status_changes=[StatusChange.from_proto(c) for c in g.status_changes])


# ----------------------------------------------------------------------------------------------------
# The YAML definition file (mirrors Sources/StrataCLI/DefinitionFile.swift)
# ----------------------------------------------------------------------------------------------------

GROUP_KEYS = ["name", "entity_type", "description", "owner", "refresh_interval", "max_age", "features", "stream",
              "lineage"]
FEATURE_KEYS = ["name", "dtype", "default", "description"]
STREAM_KEYS = ["name", "entity_type", "description", "owner", "refresh_interval", "retention", "fields", "lineage"]
FIELD_KEYS = ["name", "dtype", "description"]
AGGREGATE_KEYS = ["name", "field", "function", "window", "default", "description"]
LINEAGE_KEYS = list(Lineage.KEYS)
TOP_LEVEL_KEYS = ["groups", "streams"]

_NULL_TAG = "tag:yaml.org,2002:null"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def load_definitions(path: str | os.PathLike) -> list[FeatureGroup]:
    """Reads a YAML definition file (the format `strata apply` takes). Raises NotFound for a missing file,
    InvalidArgument for anything the CLI would reject, with the same message."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NotFound(f"definition file '{path}' does not exist")
    if os.path.isdir(path):
        raise InvalidArgument(f"'{path}' is a directory; pass the path of a YAML definition file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InvalidArgument(f"cannot read definition file '{path}': {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"definition file '{path}' is not valid UTF-8") from None
    return parse_definitions(text, file_name=path)


def parse_definitions(text: str, file_name: str = "<definitions>") -> list[FeatureGroup]:
    """Parses the contents of a definition file; `file_name` is used in error messages only."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        message = f"{file_name} line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {e.problem}"
        if e.context and e.context_mark:
            message += f" ({e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
        raise InvalidArgument(message) from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{file_name}: invalid YAML: {e}") from None
    ctx = _Context(file_name)
    if root is None or _is_null(root):
        raise ctx.error("", "the file is empty; expected a top-level 'groups:' or 'streams:' list")
    _reject_duplicate_keys(root, file_name)
    if not isinstance(root, yaml.MappingNode):
        raise ctx.error("", f"expected a mapping with a 'groups:' or 'streams:' list at the top level, found {_kind(root)}")
    top = ctx.mapping(root, "", TOP_LEVEL_KEYS)
    streams_node = top.get("streams")
    groups_node = top.get("groups")
    has_streams = streams_node is not None and not _is_null(streams_node)
    has_groups = groups_node is not None and not _is_null(groups_node)
    if not has_groups and not has_streams:
        raise ctx.error("", "missing a top-level 'groups:' or 'streams:' list")
    specs: list[FeatureGroup] = []
    first_index: dict[str, str] = {}
    if has_streams:
        if not isinstance(streams_node, yaml.SequenceNode):
            raise ctx.error("", "'streams' must be a list of streams (each item starting with '- name: ...'), found "
                            f"{_kind(streams_node)}")
        for index, node in enumerate(streams_node.value):
            stream = _parse_stream(node, index, ctx)
            if stream.name in first_index:
                raise ctx.error("", f"'{stream.name}' is defined more than once ({first_index[stream.name]} and stream "
                                f"#{index + 1}); stream and group names must be unique")
            first_index[stream.name] = f"stream #{index + 1}"
            specs.append(stream)
    fields_of = {s.name: {f.name: f.dtype for f in s.features} for s in specs}
    if has_groups:
        if not isinstance(groups_node, yaml.SequenceNode):
            raise ctx.error("", "'groups' must be a list of groups (each item starting with '- name: ...'), found "
                            f"{_kind(groups_node)}")
        for index, node in enumerate(groups_node.value):
            spec = _parse_group(node, index, ctx, fields_of)
            if spec.name in first_index:
                if first_index[spec.name].startswith("group"):
                    raise ctx.error("", f"group '{spec.name}' is defined more than once (groups "
                                    f"{first_index[spec.name].removeprefix('group ')} and #{index + 1}); group names "
                                    "must be unique")
                raise ctx.error("", f"'{spec.name}' is defined more than once ({first_index[spec.name]} and group "
                                f"#{index + 1}); stream and group names must be unique")
            first_index[spec.name] = f"group #{index + 1}"
            specs.append(spec)
    return specs


class _Context:
    def __init__(self, file_name: str):
        self.file_name = file_name

    def error(self, label: str, message: str) -> InvalidArgument:
        return InvalidArgument(f"{self.file_name}: {label}: {message}" if label else f"{self.file_name}: {message}")

    def mapping(self, node, label: str, allowed: list[str] | None) -> dict:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(label, f"expected a mapping, found {_kind(node)}")
        result: dict = {}
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(label, f"keys must be plain words, found {_kind(key_node)}{_line(key_node)}")
            key = key_node.value
            if key in result:
                raise self.error(label, f"key '{key}' appears more than once{_line(key_node)}; each key may appear only once")
            result[key] = value
        if allowed is not None:
            self.reject_unknown_keys(result, allowed, label)
        return result

    def reject_unknown_keys(self, fields: dict, allowed: list[str], label: str) -> None:
        for key in sorted(fields):
            if key in allowed:
                continue
            message = f"unknown key '{key}'"
            suggestion = _closest(key, allowed)
            message += f"; did you mean '{suggestion}'?" if suggestion else "."
            message += " Allowed keys: " + ", ".join(allowed)
            raise self.error(label, message)

    def optional_string(self, fields: dict, key: str, label: str) -> str | None:
        node = fields.get(key)
        if node is None or _is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(label, f"'{key}' must be a single value, found {_kind(node)}")
        return node.value

    def required_string(self, fields: dict, key: str, label: str) -> str:
        value = self.optional_string(fields, key, label)
        if value is None:
            raise self.error(label, f"missing required key '{key}'")
        if value == "":
            raise self.error(label, f"'{key}' must not be empty")
        return value

    def optional_duration(self, fields: dict, key: str, label: str, hint: str = "") -> int | None:
        text = self.optional_string(fields, key, label)
        if text is None:
            return None
        if text.startswith("-") or parse_duration(text) == 0:
            raise self.error(label, f"{key} must be positive{hint}, got '{text}'")
        seconds = parse_duration(text)
        if seconds is None:
            raise self.error(label, f"{key} '{text}' is not a duration; use a whole number followed by s, m, h, d or w "
                             "(e.g. 30s, 5m, 1h, 1d, 2w), or a whole number of seconds")
        return seconds


def _parse_common(fields: dict, label: str, ctx: _Context) -> dict:
    entity_type = EntityType.USER
    text = ctx.optional_string(fields, "entity_type", label)
    if text is not None:
        if text.upper() not in EntityType.__members__:
            raise ctx.error(label, f"unknown entity_type '{text}'; use USER, ITEM or SESSION")
        entity_type = EntityType(text.upper())
    return dict(entity_type=entity_type, description=ctx.optional_string(fields, "description", label) or "",
                owner=ctx.optional_string(fields, "owner", label) or "",
                refresh_interval=ctx.optional_duration(fields, "refresh_interval", label),
                lineage=_parse_lineage(fields, label, ctx))


def _parse_lineage(fields: dict, label: str, ctx: _Context) -> Lineage:
    """A group's or stream's optional `lineage:` mapping: source, transformation and pipeline are single
    values (text), upstream a list of NAME or NAME@VERSION. Its limits are checked with the group's
    (`FeatureGroup.validate`)."""
    node = fields.get("lineage")
    if node is None or _is_null(node):
        return Lineage()
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(label, "'lineage' must be a mapping with any of " + ", ".join(LINEAGE_KEYS) +
                        f", found {_kind(node)}")
    label = f"{label}, lineage"
    keys = ctx.mapping(node, label, LINEAGE_KEYS)
    upstream: list[str] = []
    upstream_node = keys.get("upstream")
    if upstream_node is not None and not _is_null(upstream_node):
        if not isinstance(upstream_node, yaml.SequenceNode):
            raise ctx.error(label, "'upstream' must be a list of group or stream names, each NAME or NAME@VERSION "
                            f"(e.g. [purchases, user_stats@2]), found {_kind(upstream_node)}")
        for i, item in enumerate(upstream_node.value):
            if not isinstance(item, yaml.ScalarNode) or _is_null(item):
                found = "an empty item" if isinstance(item, yaml.ScalarNode) else _kind(item)
                raise ctx.error(label, f"upstream #{i + 1}{_line(item)} must be a group or stream name, NAME or "
                                f"NAME@VERSION, found {found}")
            upstream.append(item.value)
    return Lineage(source=ctx.optional_string(keys, "source", label) or "",
                   transformation=ctx.optional_string(keys, "transformation", label) or "",
                   upstream=tuple(upstream), pipeline=ctx.optional_string(keys, "pipeline", label) or "")


def _feature_list(fields: dict, key: str, label: str, ctx: _Context, what: str) -> list:
    node = fields.get(key)
    if node is None or _is_null(node):
        raise ctx.error(label, f"missing required key '{key}' ({what})")
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(label, f"'{key}' must be a list (each item starting with '- name: ...'), found {_kind(node)}")
    return node.value


def _validated(group: FeatureGroup, ctx: _Context) -> FeatureGroup:
    try:
        group.validate()
    except InvalidArgument as e:
        raise InvalidArgument(f"{ctx.file_name}: {e.message}") from None
    return group


def _parse_group(node, index: int, ctx: _Context, streams: dict | None = None) -> FeatureGroup:
    label = f"group #{index + 1}{_line(node)}"
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(label, f"expected a mapping with 'name', 'features', ..., found {_kind(node)}")
    fields = ctx.mapping(node, label, None)
    name = ctx.required_string(fields, "name", label)
    label = f"group '{name}'"
    ctx.reject_unknown_keys(fields, GROUP_KEYS, label)
    common = _parse_common(fields, label, ctx)
    stream = ctx.optional_string(fields, "stream", label)
    if stream is not None:
        if stream == "":
            raise ctx.error(label, "'stream' must not be empty")
        if fields.get("max_age") is not None and not _is_null(fields["max_age"]):
            raise ctx.error(label, "an aggregate group takes no max age (each window bounds the events it reads)")
        items = _feature_list(fields, "features", label, ctx,
                              "a list of aggregates, each with 'name', 'field', 'function' and 'window'")
        field_types = (streams or {}).get(stream)
        aggregates = [_parse_aggregate(n, i, label, ctx, field_types) for i, n in enumerate(items)]
        return _validated(AggregateGroup(name, stream, aggregates, **common), ctx)
    max_age = ctx.optional_duration(fields, "max_age", label, " (omit it for no expiry)")
    items = _feature_list(fields, "features", label, ctx, "a list of features, each with 'name' and 'dtype'")
    features = [_parse_feature(n, i, label, ctx) for i, n in enumerate(items)]
    return _validated(FeatureGroup(name, features, max_age=max_age, **common), ctx)


def _parse_stream(node, index: int, ctx: _Context) -> "Stream":
    label = f"stream #{index + 1}{_line(node)}"
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(label, f"expected a mapping with 'name', 'fields', ..., found {_kind(node)}")
    fields = ctx.mapping(node, label, None)
    name = ctx.required_string(fields, "name", label)
    label = f"stream '{name}'"
    ctx.reject_unknown_keys(fields, STREAM_KEYS, label)
    common = _parse_common(fields, label, ctx)
    items = _feature_list(fields, "fields", label, ctx, "a list of fields, each with 'name' and 'dtype'")
    stream_fields = []
    for i, n in enumerate(items):
        flabel = f"{label}, field #{i + 1}{_line(n)}"
        if not isinstance(n, yaml.MappingNode):
            raise ctx.error(flabel, f"expected a mapping with 'name' and 'dtype', found {_kind(n)}")
        f = ctx.mapping(n, flabel, None)
        fname = ctx.required_string(f, "name", flabel)
        flabel = f"{label}, field '{fname}'"
        ctx.reject_unknown_keys(f, FIELD_KEYS, flabel)
        dtype_text = ctx.required_string(f, "dtype", flabel)
        dtype = DType.parse(dtype_text)
        if dtype is None or dtype.kind not in ("FLOAT", "INT", "STRING"):
            raise ctx.error(flabel, f"dtype '{dtype_text}' is not a stream field type; use FLOAT, INT or STRING")
        stream_fields.append(Field(fname, dtype, description=ctx.optional_string(f, "description", flabel) or ""))
    return _validated(Stream(name, stream_fields, retention=ctx.optional_duration(fields, "retention", label), **common), ctx)


def _parse_aggregate(node, index: int, group: str, ctx: _Context, field_types: dict | None) -> "Aggregate":
    label = f"{group}, feature #{index + 1}{_line(node)}"
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(label, f"expected a mapping with 'name', 'field', 'function' and 'window', found {_kind(node)}")
    fields = ctx.mapping(node, label, None)
    name = ctx.required_string(fields, "name", label)
    label = f"{group}, feature '{name}'"
    if "dtype" in fields:
        raise ctx.error(label, "an aggregate takes no 'dtype': it is derived (INT for count, FLOAT for avg, else the "
                        "field's type)")
    ctx.reject_unknown_keys(fields, AGGREGATE_KEYS, label)
    field = ctx.required_string(fields, "field", label)
    function_text = ctx.required_string(fields, "function", label)
    function = AggregateFunction.parse(function_text)
    if function is None:
        raise ctx.error(label, f"unknown function '{function_text}'; use count, sum, avg, min, max or last")
    window_text = ctx.required_string(fields, "window", label)
    window = parse_duration(window_text)
    if window is None or window_text.startswith("-"):
        raise ctx.error(label, f"window '{window_text}' is not a duration; use a whole number followed by s, m, h, d "
                        "or w (e.g. 5m, 1h, 30d), 1 minute to 90 days")
    description = ctx.optional_string(fields, "description", label) or ""
    aggregate = Aggregate(name, field, function, window, description=description)
    if field_types is not None:
        if field not in field_types:
            raise ctx.error(label, f"field '{field}' is not a field of the stream (fields: {', '.join(field_types)})")
        aggregate.dtype = aggregate.result_dtype(field_types[field])
    default_node = fields.get("default")
    if default_node is not None and not _is_null(default_node):
        if aggregate.dtype is not None:
            aggregate.default = _parse_default(default_node, aggregate.dtype, label, ctx)
        else:
            # The stream is not in this file: the default keeps the type YAML gives it (`apply` converts it
            # once the stream's field types are known).
            if not isinstance(default_node, yaml.ScalarNode):
                raise ctx.error(label, f"default must be a single value, found {_kind(default_node)}")
            value = _construct(default_node) if _is_plain(default_node) else default_node.value
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                value = default_node.value
            aggregate.default = value
    return aggregate


def _parse_feature(node, index: int, group: str, ctx: _Context) -> Feature:
    label = f"{group}, feature #{index + 1}{_line(node)}"
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(label, f"expected a mapping with 'name' and 'dtype', found {_kind(node)}")
    fields = ctx.mapping(node, label, None)
    name = ctx.required_string(fields, "name", label)
    label = f"{group}, feature '{name}'"
    if "function" in fields or "window" in fields or "field" in fields:
        raise ctx.error(label, "has an aggregation ('field', 'function', 'window'), but the group names no stream; "
                        "add 'stream: NAME' to the group")
    ctx.reject_unknown_keys(fields, FEATURE_KEYS, label)
    dtype_text = ctx.required_string(fields, "dtype", label)
    dtype = DType.parse(dtype_text)
    if dtype is None:
        raise ctx.error(label, f"unknown dtype '{dtype_text}'; use FLOAT, INT, STRING or EMBEDDING(dim)")
    description = ctx.optional_string(fields, "description", label) or ""
    default = None
    default_node = fields.get("default")
    if default_node is not None and not _is_null(default_node):
        default = _parse_default(default_node, dtype, label, ctx)
    return Feature(name, dtype, default=default, description=description)


def _parse_default(node, dtype: DType, label: str, ctx: _Context) -> Any:
    if dtype.kind == "STRING":
        if not isinstance(node, yaml.ScalarNode):
            raise ctx.error(label, f"default must be a string for a STRING feature, found {_kind(node)}")
        return node.value
    if dtype.kind == "INT":
        if not isinstance(node, yaml.ScalarNode) or not _is_plain(node):
            raise ctx.error(label, f"default {_shown(node)} is not an integer; the feature is INT")
        if node.tag == _INT_TAG:
            value = _construct(node)
            if not isinstance(value, int) or not -2**63 <= value < 2**63:
                raise ctx.error(label, f"default {_shown(node)} is out of range for INT (64-bit signed integer)")
            return value
        if node.tag == _FLOAT_TAG:
            raise ctx.error(label, f"default {_shown(node)} is not an integer; the feature is INT "
                            "(use FLOAT for fractional values)")
        raise ctx.error(label, f"default {_shown(node)} is not an integer; the feature is INT")
    if dtype.kind == "FLOAT":
        value = _number(node)
        if value is None:
            raise ctx.error(label, f"default {_shown(node)} is not a number; the feature is FLOAT")
        return value
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(label, f"default {_shown(node)} is not a list of numbers; the feature is EMBEDDING({dtype.dim}), "
                        "write e.g. [0.0, 0.5, ...]")
    values = []
    for i, element in enumerate(node.value):
        value = _number(element)
        if value is None:
            raise ctx.error(label, f"default element #{i + 1} {_shown(element)} is not a number; EMBEDDING defaults "
                            "are lists of numbers")
        values.append(value)
    return values


def _construct(node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except Exception:
        return None
    finally:
        loader.dispose()


def _number(node) -> float | None:
    if not isinstance(node, yaml.ScalarNode) or not _is_plain(node):
        return None
    if node.tag not in (_INT_TAG, _FLOAT_TAG):
        return None
    value = _construct(node)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        return None
    return float(value)


def _is_plain(node) -> bool:
    return node.style is None or node.style == ""


def _is_null(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and _is_plain(node) and node.tag == _NULL_TAG


def _kind(node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return f"the value '{node.value}'"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a list"


def _shown(node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return f"({_kind(node)})"
    return node.value if _is_plain(node) else f"'{node.value}'"


def _line(node) -> str:
    return f" (line {node.start_mark.line + 1})" if node.start_mark is not None else ""


def _reject_duplicate_keys(root, file_name: str) -> None:
    """Identical keys in one mapping are a syntax-level error (as Yams reports them while composing)."""
    stack = [root]
    seen_nodes: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, value in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    k = (key_node.tag, key_node.value)
                    if k in first:
                        raise InvalidArgument(
                            f"{file_name} line {first[k]}: duplicate key '{key_node.value}' in the same mapping (first "
                            "occurrence on this line); each key may appear only once, so remove or rename the repeated one")
                    first[k] = key_node.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _closest(key: str, candidates: Iterable[str]) -> str | None:
    best = min(((c, _edit_distance(key.encode(), c.encode())) for c in candidates), key=lambda t: t[1], default=None)
    if best is None or best[1] > min(3, max(1, len(key.encode()) // 2)):
        return None
    return best[0]


def _edit_distance(a: bytes, b: bytes) -> int:
    if not a:
        return len(b)
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
        previous = current
    return previous[len(b)]
