"""The node's OpenLineage run events (`strata serve --openlineage-file PATH`: one JSON event per line),
validated against the OpenLineage spec as carried by the `openlineage-python` package
(requirements-test.txt): its `openlineage.client.generated` modules are attrs classes generated from
the spec's JSON schemas, with the spec's validators.

`spec_problems(event)` builds those classes from an event, strictly: every key must be a field of the
class (a facet must be one the test knows, by its key), every value of the field's type, the
validators run (eventTime, runId, ...), every schemaURL/_schemaURL must be the class's own and every
facet must carry _producer. The objects are then serialized again with the package's `Serde` and
compared with the event, so nothing was dropped or read as something else.

What a node emits (Sources/StrataServer/OpenLineageEmitter.swift): an apply is a run of job
`strata.apply` (START and COMPLETE) with the new versions as outputs; client writes, coalesced per
group version and writer until the writer is quiet for ~1 s, are an OTHER event of the writer's
pipeline (run id: the writer's if a UUID, else one derived from it) or, without a writer, a run of
`strata.write`; an export is a run of `strata.export` with the versions it read as inputs (and the training
set it saved, if named, as output)."""
from __future__ import annotations

import collections
import copy
import datetime as dt
import enum
import json
import subprocess
import time
import types
import typing
import uuid
from pathlib import Path
from urllib.parse import urlparse

import attr
import pandas as pd
import pytest
from dateutil import parser as dateparser
from openlineage.client.generated import base as ol
from openlineage.client.generated.documentation_dataset import DocumentationDatasetFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet
from openlineage.client.serde import Serde

import strata
from conftest import NodeProcess

UTC = dt.timezone.utc

# The facets the node emits, by the facet slot (the base class of a facets dict's values) and key. A
# key not listed here is rejected: a misspelled facet would otherwise go through as an unknown one.
FACETS: dict[type, dict[str, type]] = {
    ol.DatasetFacet: {"schema": SchemaDatasetFacet, "documentation": DocumentationDatasetFacet},
    ol.InputDatasetFacet: {},
    ol.OutputDatasetFacet: {"outputStatistics": OutputStatisticsOutputDatasetFacet},
    ol.RunFacet: {},
    ol.JobFacet: {},
}

# Keys whose value is a schema URL: checked against the class's `_get_schema()` (the generated classes
# set them themselves, so they are not constructor arguments).
SCHEMA_KEYS = {"schemaURL", "_schemaURL"}


# -- strict structuring ---------------------------------------------------------------------------------

def _field_types(cls: type) -> dict[str, attr.Attribute]:
    attr.resolve_types(cls)  # the generated modules use `from __future__ import annotations`
    return {a.name: a for a in attr.fields(cls)}


def _union_args(tp) -> tuple | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _structure(value, tp, path: str, problems: list[str]):
    """`value` (decoded JSON) as an instance of `tp` (a field type of the generated classes), or None
    after recording why not in `problems`."""
    args = _union_args(tp)
    if args is not None:
        if value is None:
            if type(None) in args:
                return None
            problems.append(f"{path}: null where {tp} is required")
            return None
        (inner,) = [a for a in args if a is not type(None)]  # the generated classes use `X | None` only
        return _structure(value, inner, path, problems)
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array, got {type(value).__name__} {value!r}")
            return None
        (item,) = typing.get_args(tp)
        return [_structure(v, item, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__} {value!r}")
            return None
        key_type, facet_base = typing.get_args(tp)
        assert key_type is str and facet_base in FACETS, f"{path}: no facet registry for {tp}"
        out = {}
        for key, facet in value.items():
            cls = FACETS[facet_base].get(key)
            if cls is None:
                problems.append(f"{path}.{key}: unknown {facet_base.__name__} (known: "
                                f"{', '.join(FACETS[facet_base]) or 'none'})")
                continue
            assert issubclass(cls, facet_base)
            out[key] = _structure(facet, cls, f"{path}.{key}", problems)
        return out
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            problems.append(f"{path}: {value!r} is not a {tp.__name__} ({', '.join(m.value for m in tp)})")
            return None
    if attr.has(tp):
        return _structure_attrs(value, tp, path, problems)
    if tp in (str, int, float, bool):
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            problems.append(f"{path}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
            return None
        return value
    raise AssertionError(f"{path}: the test does not know the field type {tp!r}")


def _structure_attrs(value, cls: type, path: str, problems: list[str]):
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a {cls.__name__} object, got {type(value).__name__} {value!r}")
        return None
    fields = _field_types(cls)
    is_event, is_facet = issubclass(cls, ol.BaseEvent), issubclass(cls, ol.BaseFacet)
    # Required by the spec (BaseEvent, BaseFacet) though the classes would fill them in themselves.
    required = ({"eventTime", "producer", "schemaURL"} if is_event
                else {"_producer", "_schemaURL"} if is_facet else set())
    for key in sorted(required - value.keys()):
        problems.append(f"{path}.{key}: missing (the spec requires it in {cls.__name__})")
    kwargs = {}
    for key, v in value.items():
        a = fields.get(key)
        if a is None:
            problems.append(f"{path}.{key}: unknown key in {cls.__name__} (fields: {', '.join(fields)})")
            continue
        if key in SCHEMA_KEYS:
            if v != cls._get_schema():
                problems.append(f"{path}.{key}: {v!r} is not the schema of {cls.__name__}: {cls._get_schema()!r}")
            continue
        if not a.init:
            problems.append(f"{path}.{key}: not settable in {cls.__name__}")
            continue
        kwargs[a.alias] = _structure(v, a.type, f"{path}.{key}", problems)
    for key in ("producer", "_producer"):  # the spec's format "uri" (the classes' validators accept anything)
        if key in value and not _is_absolute_uri(value[key]):
            problems.append(f"{path}.{key}: {value[key]!r} is not an absolute URI")
    if "eventTime" in value and isinstance(value["eventTime"], str):
        try:
            if dateparser.isoparse(value["eventTime"]).tzinfo is None:  # RFC 3339 date-time has an offset
                problems.append(f"{path}.eventTime: {value['eventTime']!r} has no time zone offset")
        except ValueError:
            pass  # the class's validator names it
    try:
        return cls(**kwargs)  # runs the generated validators
    except (TypeError, ValueError) as e:
        problems.append(f"{path}: {cls.__name__}: {type(e).__name__}: {e}")
        return None


def _is_absolute_uri(v) -> bool:
    return isinstance(v, str) and bool(urlparse(v).scheme)


def _differences(original, again, path: str) -> list[str]:
    """Where `again` (Serde's output) differs from `original`, ignoring key order, the schema URLs
    (checked against the classes) and the empty facets dicts/lists Serde writes for absent fields."""
    if isinstance(original, dict) and isinstance(again, dict):
        out = []
        for k in original.keys() | again.keys():
            if k in SCHEMA_KEYS:
                continue
            if k not in again:
                out.append(f"{path}.{k}: {original[k]!r} was lost")
            elif k not in original:
                if again[k] not in ({}, []):  # a default of the class, for an absent field
                    out.append(f"{path}.{k}: {again[k]!r} appeared")
            else:
                out += _differences(original[k], again[k], f"{path}.{k}")
        return out
    if isinstance(original, list) and isinstance(again, list):
        if len(original) != len(again):
            return [f"{path}: {len(original)} items became {len(again)}"]
        return [d for i, (a, b) in enumerate(zip(original, again)) for d in _differences(a, b, f"{path}[{i}]")]
    if type(original) is not type(again) or original != again:
        return [f"{path}: {original!r} became {again!r}"]
    return []


def spec_problems(event: dict) -> list[str]:
    """Everything in `event` (one decoded line) that is not an OpenLineage RunEvent as the spec of
    openlineage-python's generated classes has it, each as "PATH: what" (PATH e.g.
    `event.outputs[0].facets.schema._schemaURL`); empty when it is one."""
    problems: list[str] = []
    run_event = _structure_attrs(event, ol.RunEvent, "event", problems)
    if run_event is not None:
        if "eventType" not in event:
            problems.append("event.eventType: missing (Strata always sends one)")
        # What Serde gives back, except where a problem was named already (e.g. an unknown key skipped).
        named = [p.split(": ", 1)[0] for p in problems]
        problems += [d for d in _differences(event, Serde.to_dict(run_event), "event")
                     if not any(d.startswith((n + ":", n + ".", n + "[")) for n in named)]
    return problems


# -- the validator itself ----------------------------------------------------------------------------

PRODUCER = "urn:strata:0.1.0"


def _facet(cls: type, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": cls._get_schema(), **fields}


def _sample() -> dict:
    """A named writer's event as the node emits it (every kind of facet it uses)."""
    return {
        "eventTime": "2024-05-01T12:00:00.000250Z", "eventType": "OTHER", "producer": PRODUCER,
        "schemaURL": ol.RunEvent._get_schema(),
        "run": {"runId": "3a7135f6-bb13-8e46-8d84-03427b8fe023"},
        "job": {"namespace": "strata", "name": "nightly"},
        "inputs": [{"namespace": "kafka://broker:9092", "name": "orders"}],
        "outputs": [{
            "namespace": "strata", "name": "order_stats@1",
            "facets": {
                "schema": _facet(SchemaDatasetFacet, fields=[{"name": "n", "type": "INT", "description": "count"}]),
                "documentation": _facet(DocumentationDatasetFacet, description="orders per user"),
            },
            "outputFacets": {"outputStatistics": _facet(OutputStatisticsOutputDatasetFacet, rowCount=4)},
        }],
    }


def test_validator_accepts_a_valid_event():
    assert spec_problems(_sample()) == []
    assert spec_problems(json.loads(json.dumps(_sample()))) == []


def _set(path: list, value):
    def change(e):
        target = e
        for k in path[:-1]:
            target = target[k]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return e
    return change


_DELETE = object()
OUT = ["outputs", 0]
SCHEMA = [*OUT, "facets", "schema"]
STATS = [*OUT, "outputFacets", "outputStatistics"]


@pytest.mark.parametrize("change, problem", [
    (_set(["evenType"], "OTHER"), "event.evenType: unknown key in RunEvent"),
    (_set(["eventType"], "DONE"), "event.eventType: 'DONE' is not a EventType"),
    (_set(["eventType"], _DELETE), "event.eventType: missing"),
    (_set(["eventTime"], "2024-05-01"), "Parsed date-time has to contain time"),
    (_set(["eventTime"], "2024-05-01T12:00:00"), "event.eventTime: '2024-05-01T12:00:00' has no time zone offset"),
    (_set(["eventTime"], "yesterday"), "event: RunEvent: ValueError"),
    (_set(["producer"], _DELETE), "event.producer: missing (the spec requires it in RunEvent)"),
    (_set(["producer"], "strata"), "event.producer: 'strata' is not an absolute URI"),
    (_set(["schemaURL"], "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/BaseEvent"),
     "event.schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/BaseEvent' is not the schema"),
    (_set(["run", "runId"], "run-1"), "event.run: Run: ValueError"),
    (_set(["run", "runid"], "x"), "event.run.runid: unknown key in Run"),
    (_set(["run", "facets"], {"parent": {}}), "event.run.facets.parent: unknown RunFacet"),
    (_set(["job", "name"], 7), "event.job.name: expected str, got int 7"),
    (_set(["job", "namespace"], _DELETE), "event.job: Job: TypeError"),
    (_set(["inputs", 0, "nmae"], "x"), "event.inputs[0].nmae: unknown key in InputDataset"),
    (_set(["inputs"], {}), "event.inputs: expected an array, got dict"),
    (_set([*OUT, "facets", "schemas"], {}), "event.outputs[0].facets.schemas: unknown DatasetFacet"),
    (_set([*OUT, "facets", "outputStatistics"], {}), "event.outputs[0].facets.outputStatistics: unknown DatasetFacet"),
    (_set([*OUT, "outputFacets", "schema"], {}), "event.outputs[0].outputFacets.schema: unknown OutputDatasetFacet"),
    (_set([*SCHEMA, "fields", 0, "dtype"], "INT"), "event.outputs[0].facets.schema.fields[0].dtype: unknown key"),
    (_set([*SCHEMA, "fields", 0, "type"], 3), "event.outputs[0].facets.schema.fields[0].type: expected str, got int 3"),
    (_set([*SCHEMA, "_producer"], _DELETE), "event.outputs[0].facets.schema._producer: missing"),
    (_set([*SCHEMA, "_schemaURL"], "https://openlineage.io/spec/facets/1-0-0/SchemaDatasetFacet.json"),
     "event.outputs[0].facets.schema._schemaURL: 'https://openlineage.io/spec/facets/1-0-0/SchemaDatasetFacet.json' "
     "is not the schema of SchemaDatasetFacet"),
    (_set([*SCHEMA, "producer"], PRODUCER), "event.outputs[0].facets.schema.producer: unknown key"),
    (_set([*STATS, "rowCount"], "4"), "event.outputs[0].outputFacets.outputStatistics.rowCount: expected int, got str"),
    (_set([*STATS, "rowCount"], 4.0), "outputStatistics.rowCount: expected int, got float 4.0"),
    (_set([*STATS, "rowCount"], True), "rowCount: expected int, got bool True"),
    (_set([*STATS, "rows"], 4), "event.outputs[0].outputFacets.outputStatistics.rows: unknown key"),
])
def test_validator_rejects(change, problem):
    problems = spec_problems(change(copy.deepcopy(_sample())))
    assert any(problem in p for p in problems), problems
    # Each problem is named once (the round trip does not name a skipped key again).
    assert len({p.split(": ", 1)[0] for p in problems}) == len(problems), problems


def test_validator_round_trip_names_what_was_lost():
    """A value the classes take but Serde does not give back is a difference: here a null, which the
    classes take for an absent optional field (the spec's JSON schema has no null there)."""
    event = _sample()
    event["outputs"][0]["facets"]["schema"]["fields"][0]["description"] = None
    assert spec_problems(event) == ["event.outputs[0].facets.schema.fields[0].description: None was lost"]


# -- the node's events ----------------------------------------------------------------------------------

@pytest.fixture
def lineage_node(strata_bin, tmp_path):
    """A fresh node appending its OpenLineage events to `node.events_path`."""
    p = NodeProcess(strata_bin, ["--port", "0", "--data-dir", str(tmp_path / "data"),
                                 "--openlineage-file", str(tmp_path / "openlineage.jsonl")],
                    str(tmp_path / "node.log"), "openlineage")
    p.events_path = tmp_path / "openlineage.jsonl"
    try:
        p.wait_ready()
        yield p
    finally:
        p.stop()


def read_events(path: Path) -> list[dict]:
    """The complete lines of the events file so far (a line still being written is left for later)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]


def kinds(events: list[dict]) -> collections.Counter:
    return collections.Counter((e.get("job", {}).get("name"), e.get("eventType")) for e in events)


def wait_for(path: Path, expected: dict, seconds: float = 10) -> list[dict]:
    """Polls the events file until it holds at least `expected` ({(job, eventType): count})."""
    deadline = time.monotonic() + seconds
    while True:
        events = read_events(path)
        have = kinds(events)
        if all(have[k] >= n for k, n in expected.items()):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"after {seconds} s the OpenLineage file holds {dict(have)}, expected {expected}")
        time.sleep(0.1)


def _rows(start: dt.datetime, n: int, first: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"u{first + i}" for i in range(n)],
                         "event_timestamp": [start + dt.timedelta(minutes=i) for i in range(n)],
                         "n": list(range(first, first + n)), "score": [0.5 * i for i in range(n)]})


def _schema_fields(features, field_dtypes=None) -> list[dict]:
    """The schema facet's fields for a definition's features: name, type, and description when set."""
    out = []
    for f in features:
        dtype = f.result_dtype(field_dtypes[f.field]) if isinstance(f, strata.Aggregate) else f.dtype
        out.append({"name": f.name, "type": str(dtype), **({"description": f.description} if f.description else {})})
    return out


def _names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def _one(events: list[dict], job: str, event_type: str) -> list[dict]:
    return [e for e in events if e["job"]["name"] == job and e["eventType"] == event_type]


def test_node_events_follow_the_openlineage_spec(lineage_node):
    path = lineage_node.events_path
    s, a, g = "orders", "order_spend", "order_stats"
    stream = strata.Stream(s, [strata.Field("amount", "FLOAT", description="order total"),
                               strata.Field("channel", "STRING")],
                           description="raw orders", lineage={"source": "kafka://broker:9092/orders"})
    spend = strata.AggregateGroup(a, s, [strata.Aggregate("spend_1h", "amount", "sum", "1h"),
                                         strata.Aggregate("orders_1d", "amount", "count", "1d")])
    stats = strata.FeatureGroup(g, [strata.Feature("n", "INT", description="orders so far"),
                                    strata.Feature("score", "FLOAT"), strata.Feature("tag", "STRING"),
                                    strata.Feature("vec", strata.Embedding(3))],
                                description="orders per user",
                                lineage={"upstream": [s], "source": "warehouse.orders"})
    start = (dt.datetime.now(UTC) - dt.timedelta(hours=3)).replace(microsecond=0)

    with strata.Client(lineage_node.address, timeout=30) as client:
        applied = client.apply([stream, spend, stats])
        assert [(r.group, r.version) for r in applied] == [(s, 1), (a, 1), (g, 1)]

        # Two batches of nightly/run-1 in quick succession (one event), one batch without a writer,
        # events pushed by "ingest", then an export of the row group and the aggregate group.
        nightly = client.write(g, _rows(start, 5), batch_size=3, writer=strata.Writer("nightly", "run-1"),
                               progress=False)
        assert (nightly.rows_written, nightly.batches) == (5, 2)
        unnamed = client.write(g, _rows(start, 2, first=100), progress=False)
        assert (unnamed.rows_written, unnamed.batches) == (2, 1)
        pushed = pd.DataFrame({"entity_id": ["u0", "u1", "u0"],
                               "event_timestamp": [start + dt.timedelta(minutes=m) for m in (0, 5, 9)],
                               "amount": [1.5, 2.0, 3.25], "channel": ["web", "app", "web"]})
        assert client.push(s, pushed, writer="ingest", progress=False).batches == 1
        labels = pd.DataFrame({"entity_id": ["u0", "u1"], "label_timestamp": [start + dt.timedelta(minutes=30)] * 2})
        job = client.get_historical_features(labels, [f"{g}:n", f"{a}:spend_1h"], progress=False,
                                             training_set="orders_ts", training_set_description="orders by user")
        exported = job.to_df()
        assert len(exported) == 2 and job.training_set.label_rows == 2

        first = {("strata.apply", "START"): 1, ("strata.apply", "COMPLETE"): 1,
                 ("strata.export", "START"): 1, ("strata.export", "COMPLETE"): 1,
                 ("nightly", "OTHER"): 1, ("strata.write", "START"): 1, ("strata.write", "COMPLETE"): 1,
                 ("ingest", "OTHER"): 1}
        wait_for(path, first)

        # The same writer run again, after its first event went out: another event of the same run. A
        # writer whose run id is a UUID: that is the run id.
        client.write(g, _rows(start, 1, first=200), writer=strata.Writer("nightly", "run-1"), progress=False)
        backfill_run = str(uuid.uuid4())
        client.write(g, _rows(start, 3, first=300), writer=strata.Writer("backfill", backfill_run), progress=False)
        everything = {**first, ("nightly", "OTHER"): 2, ("backfill", "OTHER"): 1}
        wait_for(path, everything)
        time.sleep(1.5)  # nothing more comes (the writes were coalesced as expected)
        events = read_events(path)
        registered = {name: client.get_feature_group(name, 1) for name in (s, a, g)}
    assert kinds(events) == collections.Counter(everything)

    # Every event is a RunEvent of the spec; checked first, asserted at the end (after the semantic
    # checks) so that one report names every problem.
    problems: dict[str, list[str]] = {}  # what -> where (event number, job, type, path)
    for i, e in enumerate(events):
        for p in spec_problems(e):
            where, what = p.split(": ", 1)
            problems.setdefault(what, []).append(f"event {i} ({e['job']['name']} {e['eventType']}) {where}")

    for e in events:
        assert e["job"]["namespace"] == "strata"  # --openlineage-namespace's default
        for d in e["inputs"] + e["outputs"]:
            if d["name"].endswith("@1"):
                assert d["namespace"] == "strata"

    # Runs of the node's own jobs: START and COMPLETE share a run id (and their datasets), every run
    # its own id.
    run_ids = set()
    for job in ("strata.apply", "strata.export", "strata.write"):
        (begin,), (end,) = _one(events, job, "START"), _one(events, job, "COMPLETE")
        assert begin["run"]["runId"] == end["run"]["runId"], job
        assert (begin["inputs"], begin["outputs"]) == (end["inputs"], end["outputs"]), job
        assert dateparser.isoparse(begin["eventTime"]) <= dateparser.isoparse(end["eventTime"]), job
        run_ids.add(begin["run"]["runId"])
    assert len(run_ids) == 3

    # apply: the registered versions, with their schema (the definitions' features) and description.
    apply = _one(events, "strata.apply", "COMPLETE")[0]
    outputs = {d["name"]: d for d in apply["outputs"]}
    assert sorted(outputs) == sorted([f"{s}@1", f"{a}@1", f"{g}@1"])
    field_dtypes = {f.name: f.dtype for f in stream.features}
    for name, definition in ((s, stream), (a, spend), (g, stats)):
        facets = outputs[f"{name}@1"]["facets"]
        assert facets["schema"]["fields"] == _schema_fields(definition.features, field_dtypes), name
        assert [(f["name"], f["type"]) for f in facets["schema"]["fields"]] == [
            (f.name, str(f.dtype)) for f in registered[name].features], name
        if definition.description:
            assert facets["documentation"]["description"] == definition.description, name
        else:
            assert "documentation" not in facets, name
    assert [f["type"] for f in outputs[f"{g}@1"]["facets"]["schema"]["fields"]] == ["INT", "FLOAT", "STRING",
                                                                                     "EMBEDDING(3)"]
    assert [f["type"] for f in outputs[f"{a}@1"]["facets"]["schema"]["fields"]] == ["FLOAT", "INT"]
    # ... derived from the stream version (upstream of both) and the declared sources, once each.
    assert sorted(_names(apply["inputs"])) == sorted([("strata", f"{s}@1"), ("kafka://broker:9092", "orders"),
                                                      ("source", "warehouse.orders")])
    assert {"namespace": "kafka://broker:9092", "name": "orders"} in apply["inputs"]
    assert {"namespace": "source", "name": "warehouse.orders"} in apply["inputs"]
    assert next(d for d in apply["inputs"] if d["name"] == f"{s}@1") == outputs[f"{s}@1"]

    # export: the versions it read as inputs; the training set it saved as output, its columns as the
    # schema and its label rows as the row count.
    export = _one(events, "strata.export", "COMPLETE")[0]
    assert sorted(_names(export["inputs"])) == [("strata", f"{a}@1"), ("strata", f"{g}@1")]
    (saved,) = export["outputs"]
    assert (saved["namespace"], saved["name"]) == ("strata", "training-set/orders_ts")
    assert [(f["name"], f["type"]) for f in saved["facets"]["schema"]["fields"]] == [(f"{g}@1:n", "INT"),
                                                                                  (f"{a}@1:spend_1h", "FLOAT")]
    assert saved["facets"]["documentation"]["description"] == "orders by user"
    assert saved["outputFacets"]["outputStatistics"]["rowCount"] == 2
    for d in export["inputs"]:
        assert d["facets"]["schema"] == outputs[d["name"]]["facets"]["schema"]

    def written(e: dict) -> tuple[str, int]:
        (out,) = e["outputs"]
        assert e["inputs"] == []
        return out["name"], out["outputFacets"]["outputStatistics"]["rowCount"]

    # nightly/run-1: one event for its two batches (5 rows), one for the later batch, one run id.
    first_nightly, second_nightly = _one(events, "nightly", "OTHER")
    assert written(first_nightly) == (f"{g}@1", 5)
    assert written(second_nightly) == (f"{g}@1", 1)
    nightly_run = first_nightly["run"]["runId"]
    assert second_nightly["run"]["runId"] == nightly_run
    assert uuid.UUID(nightly_run) and nightly_run not in run_ids
    (backfill,) = _one(events, "backfill", "OTHER")
    assert written(backfill) == (f"{g}@1", 3) and backfill["run"]["runId"] == backfill_run
    # The writer without a name: a run of strata.write.
    assert written(_one(events, "strata.write", "COMPLETE")[0]) == (f"{g}@1", 2)
    # The stream's pushes.
    (ingest,) = _one(events, "ingest", "OTHER")
    assert written(ingest) == (f"{s}@1", 3)
    assert ingest["outputs"][0]["facets"] == outputs[f"{s}@1"]["facets"]
    assert ingest["run"]["runId"] not in (run_ids | {nightly_run, backfill_run})

    assert not problems, "events that do not follow the OpenLineage spec:\n" + "\n".join(
        f"{what}\n  at {len(where)} places: {', '.join(where[:3])}{', ...' if len(where) > 3 else ''}"
        for what, where in problems.items())


def test_openlineage_url_must_be_http(strata_bin, tmp_path):
    try:
        result = subprocess.run([strata_bin, "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
                                 "--openlineage-url", "https://x"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:  # run() has killed it
        pytest.fail("strata serve --openlineage-url https://x did not exit (it should refuse the URL at startup)")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "--openlineage-url 'https://x' must be an http:// URL" in output, output
    assert "listening on" not in output
