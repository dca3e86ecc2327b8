"""Load and the operation ledger. Writers send batches (QUORUM) through random nodes, each row with a value
no other row has; readers look entities up online; an exporter runs point-in-time exports. Every
operation is one JSONL line of the ledger: kind, node, start/end (seconds since the scenario started),
result ok / fail / info, and what was sent and answered.

result: ok = the call succeeded; fail = it certainly did not apply (the SDK or the node refused the input,
or no connection to the node could be made, so nothing was sent); info = anything else (a timeout,
UNAVAILABLE after sending, a quorum the coordinator could not reach): the write may or may not apply."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import threading
import time

import grpc
import pandas as pd
import pyarrow as pa

import strata
from strata._proto import feature_store_pb2 as fs

US = 1_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def now_us() -> int:
    return time.time_ns() // 1000


@dataclasses.dataclass
class Row:
    entity: str
    event_us: int
    value: int       # feature v (unique over the run); feature s is f"{op}.{k}"
    op: int


@dataclasses.dataclass
class Write:
    op: int
    node: str
    t0: float
    rows: list[Row]
    invalid: bool     # a batch the node must refuse (one row's event time is a day ahead)
    t1: float = 0.0
    result: str = ""  # ok / fail / info
    error: str = ""


def classify(error: BaseException) -> str:
    """fail (certainly not applied) or info (unknown)."""
    if isinstance(error, strata.InvalidArgument):
        return "fail"
    if isinstance(error, strata.Unavailable) and error.node is None:
        m = error.message.lower()
        # grpc's words for "no transport could be made": nothing of the call was sent.
        if "failed to connect to all addresses" in m or "connection refused" in m:
            return "fail"
    return "info"


def values_of(v: int) -> tuple[int, int]:
    """(op, row index) of a value."""
    return divmod(v, 1000)


class Ledger:
    def __init__(self, path: str, clock0: float):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.clock0 = clock0
        self.writes: list[Write] = []
        self.reads: list[dict] = []
        self.exports: list[dict] = []
        self.events: list[dict] = []  # fault schedule: {"t", "what"}
        self.faulted: list[list] = []  # [node address, from, to]: while the fault is on that node
        self.rows_by_value: dict[int, Row] = {}
        self.write_by_op: dict[int, Write] = {}

    def t(self) -> float:
        return time.monotonic() - self.clock0

    def log(self, record: dict) -> None:
        with self.lock:
            self.f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def event(self, what: str, **extra) -> None:
        e = {"kind": "fault", "t": round(self.t(), 3), "what": what, **extra}
        self.events.append(e)
        self.log(e)
        print(f"    [{e['t']:6.1f}s] {what}", flush=True)

    def close(self) -> None:
        self.f.close()


class Load:
    """Closed-loop threads, each paced to at most one operation per interval: `writers` writers, `readers`
    online readers, `exporters` exporters, until `stop()`. Several of each, so that one thread stuck on
    a faulty node does not stop the load through the others."""

    def __init__(self, ledger: Ledger, addresses: list[str], group: str, entities: list[str], rng: random.Random,
                 writers: int = 6, write_interval: float = 0.15, rows_per_write: int = 20, invalid_share: float = 0.03,
                 readers: int = 2, read_interval: float = 0.1, exporters: int = 2, export_interval: float = 1.0,
                 export_labels: int = 100, write_timeout: float = 5, read_timeout: float = 2,
                 export_timeout: float = 10):
        self.ledger = ledger
        self.addresses = list(addresses)  # replaced as a whole by set_addresses (membership changes)
        self.group = group
        self.entities = entities
        self.seed = rng.randrange(2 ** 32)
        self.writers, self.readers, self.exporters = writers, readers, exporters
        self.write_interval = write_interval
        self.rows_per_write = rows_per_write
        self.invalid_share = invalid_share
        self.write_timeout, self.read_timeout, self.export_timeout = write_timeout, read_timeout, export_timeout
        self.export_labels = export_labels
        self.export_interval = export_interval
        self.read_interval = read_interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next_op = 1
        self._events_used: dict[str, set[int]] = {e: set() for e in entities}
        # Entities written only while a fault is on (`fault_entities`), so that a replica that missed
        # their rows has no later row to hide it (every entity is written through the whole run otherwise).
        self.extra: list[str] = []
        self.threads: list[threading.Thread] = []
        self.crashes: list[str] = []
        # Entities written once before the load (`seed_entities`), never again: readers look some of them up too
        # (`read_seeded` per lookup), and every answer must be their one value.
        self.seeded: list[str] = []
        self.read_seeded = 0

    def _op(self) -> int:
        with self._lock:
            op = self._next_op
            self._next_op += 1
            return op

    def start(self) -> None:
        specs = [(self._writer, f"w{k}") for k in range(self.writers)] + \
            [(self._reader, f"r{k}") for k in range(self.readers)] + \
            [(self._exporter, f"x{k}") for k in range(self.exporters)]
        for k, (fn, name) in enumerate(specs):
            t = threading.Thread(target=self._guard, args=(fn, random.Random(self.seed + k)), name=name, daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(60)

    def _guard(self, fn, rng):
        try:
            fn(rng)
        except Exception as e:  # noqa: BLE001 - reported as a harness failure
            import traceback
            self.crashes.append(f"{threading.current_thread().name}: {traceback.format_exc()}")
            print(f"load thread crashed: {e!r}", flush=True)

    def set_addresses(self, addresses: list[str]) -> None:
        """The nodes the threads send to from their next operation on (a node joins or leaves)."""
        self.addresses = list(addresses)

    def _clients(self, timeout):
        """Per thread: address -> client, made on first use (addresses change with membership)."""
        class Clients(dict):
            def __missing__(self, a):
                c = self[a] = strata.Client(a, timeout=timeout)
                return c
        return Clients()

    # -- seeding --------------------------------------------------------------------------------------
    def seed_entities(self, entities: list[str], batch: int = 500, consistency: str = "ALL", timeout: float = 30):
        """Before `start`: one row for each of `entities`, in write ops of `batch` rows (ledger entries like
        the load's) through the nodes in turn, at `consistency`, retried (new op) until ok. Raises when a
        batch does not succeed in 5 attempts."""
        assert not self.threads and batch < 1000
        led = self.ledger
        for e in entities:
            self._events_used.setdefault(e, set())
        self.seeded = list(entities)
        rng = random.Random(self.seed + 999)
        for k in range(0, len(entities), batch):
            chunk = entities[k:k + batch]
            for attempt in range(5):
                address = self.addresses[(k // batch + attempt) % len(self.addresses)]
                op = self._op()
                base = now_us()
                rows = [Row(e, self._event_time(rng, e, base), op * 1000 + j, op) for j, e in enumerate(chunk)]
                w = Write(op, address, led.t(), rows, False)
                with led.lock:
                    led.writes.append(w)
                    led.write_by_op[op] = w
                    for r in rows:
                        led.rows_by_value[r.value] = r
                df = pd.DataFrame({
                    "entity_id": chunk,
                    "event_timestamp": pd.to_datetime([r.event_us for r in rows], unit="us", utc=True),
                    "v": pd.array([r.value for r in rows], dtype="Int64"),
                    "s": [f"{op}.{j}" for j in range(len(rows))],
                })
                try:
                    with strata.Client(address, timeout=timeout) as c:
                        c.write(self.group, df, consistency=consistency, progress=False, timeout=timeout)
                    w.result, w.error = "ok", "seed"
                except strata.StrataError as e:
                    w.result, w.error = classify(e), f"{e.code.name}: {e.message[:300]}"
                w.t1 = led.t()
                led.log({"kind": "write", "op": op, "node": address, "t0": round(w.t0, 4), "t1": round(w.t1, 4),
                         "result": w.result, "error": w.error, "invalid": False, "seed": True,
                         "rows": [[r.entity, r.event_us, r.value] for r in rows]})
                if w.result == "ok":
                    break
            else:
                raise RuntimeError(f"seeding {len(chunk)} entities failed 5 times: {w.error}")

    # -- writes ---------------------------------------------------------------------------------------
    def fault_entities(self, names: list[str]) -> None:
        """From now on, writes also pick from `names` (until `fault_entities([])`)."""
        with self._lock:
            for e in names:
                self._events_used.setdefault(e, set())
            self.extra = list(names)

    def _event_time(self, rng: random.Random, entity: str, base: int) -> int:
        used = self._events_used[entity]
        while True:
            t = base - rng.randrange(0, 20 * US)
            with self._lock:
                if t not in used:
                    used.add(t)
                    return t

    def _writer(self, rng: random.Random):
        clients = self._clients(self.write_timeout)
        led = self.ledger
        while not self._stop.is_set():
            address = rng.choice(self.addresses)
            op = self._op()
            base = now_us()
            pool = self.entities + self.extra
            ents = rng.sample(pool, min(self.rows_per_write, len(pool)))
            rows = [Row(e, self._event_time(rng, e, base), op * 1000 + k, op) for k, e in enumerate(ents)]
            invalid = rng.random() < self.invalid_share
            events = [r.event_us for r in rows]
            if invalid:
                events[rng.randrange(len(rows))] = base + 86_400 * US  # a day ahead: the batch is refused
            w = Write(op, address, led.t(), rows, invalid)
            with led.lock:
                led.writes.append(w)
                led.write_by_op[op] = w
                for r in rows:
                    led.rows_by_value[r.value] = r
            df = pd.DataFrame({
                "entity_id": [r.entity for r in rows],
                "event_timestamp": pd.to_datetime(events, unit="us", utc=True),
                "v": pd.array([r.value for r in rows], dtype="Int64"),
                "s": [f"{op}.{k}" for k in range(len(rows))],
            })
            try:
                res = clients[address].write(self.group, df, consistency="QUORUM", progress=False,
                                             timeout=self.write_timeout)
                w.result = "ok"
                w.error = f"acks={res.replicas_acknowledged}/{res.replication_factor}"
            except strata.StrataError as e:
                w.result, w.error = classify(e), f"{e.code.name}: {e.message[:300]}"
            w.t1 = led.t()
            led.log({"kind": "write", "op": op, "node": address, "t0": round(w.t0, 4), "t1": round(w.t1, 4),
                     "result": w.result, "error": w.error, "invalid": invalid,
                     "rows": [[r.entity, r.event_us, r.value] for r in rows]})
            self._stop.wait(max(0.0, w.t0 + self.write_interval - led.t()))

    # -- online reads ---------------------------------------------------------------------------------
    def _reader(self, rng: random.Random):
        clients = self._clients(self.read_timeout)
        led = self.ledger
        refs = [f"{self.group}:v", f"{self.group}:s"]
        while not self._stop.is_set():
            address = rng.choice(self.addresses)
            ents = rng.sample(self.entities, min(10, len(self.entities)))
            if self.read_seeded and self.seeded:
                ents += rng.sample(self.seeded, min(self.read_seeded, len(self.seeded)))
            t0 = led.t()
            rec = {"kind": "read", "node": address, "t0": round(t0, 4), "entities": ents}
            try:
                r = clients[address].get_online_features(refs, ents)
                rec["result"] = "ok"
                rec["v"] = r.values[refs[0]]
                rec["s"] = r.values[refs[1]]
            except strata.StrataError as e:
                rec["result"], rec["error"] = classify(e), f"{e.code.name}: {e.message[:300]}"
            rec["t1"] = round(led.t(), 4)
            with led.lock:
                led.reads.append(rec)
            led.log(rec)
            self._stop.wait(max(0.0, t0 + self.read_interval - led.t()))

    # -- exports --------------------------------------------------------------------------------------
    def _exporter(self, rng: random.Random):
        clients = self._clients(self.export_timeout)
        led = self.ledger
        while not self._stop.is_set():
            address = rng.choice(self.addresses)
            top = now_us()
            ents = [rng.choice(self.entities) for _ in range(self.export_labels)]
            times = [top - rng.randrange(0, 25 * US) for _ in ents]
            t0 = led.t()
            rec = {"kind": "export", "node": address, "t0": round(t0, 4), "entities": ents, "times": times}
            try:
                got = export(clients[address], self.group, ents, times, self.export_timeout)
                rec["result"] = "ok"
                rec["v"], rec["s"], rec["ev"] = got
            except strata.StrataError as e:
                rec["result"], rec["error"] = classify(e), f"{e.code.name}: {e.message[:300]}"
            rec["t1"] = round(led.t(), 4)
            with led.lock:
                led.exports.append(rec)
            led.log(rec)
            self._stop.wait(max(0.0, t0 + self.export_interval - led.t()))


def export(client: strata.Client, group: str, entities: list[str], times: list[int], timeout: float):
    """(v, s, event_us) per label of a point-in-time export."""
    labels = pa.table({"entity_id": pa.array(entities, pa.string()),
                       "label_timestamp": pa.array(times, pa.timestamp("us", tz="UTC"))})
    table = client.get_historical_features(labels, [f"{group}:v", f"{group}:s"], with_event_timestamps=True,
                                           progress=False, timeout=timeout).to_arrow()
    ev = table.column(f"{group}:v__event_timestamp").cast(pa.int64()).to_pylist()
    return table.column(f"{group}:v").to_pylist(), table.column(f"{group}:s").to_pylist(), ev


def replica_export(internode_address: str, group: str, entities: list[str], times: list[int], timeout: float,
                   chunk: int = 5000, epoch: int = 1):
    """(v, s, event_us) per label as ONE replica stores it: the internode Shard.GetHistorical of that node
    (it never fans out), in row form. `epoch`: the ring epoch the call claims (the node refuses any it
    does not accept)."""
    from strata._proto import shard_pb2_grpc
    with grpc.insecure_channel(internode_address, options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
        stub = shard_pb2_grpc.ShardStub(ch)

        def requests():
            for k in range(0, len(entities), chunk):
                m = fs.GetHistoricalFeaturesRequest(labels=[
                    fs.LabelRow(entity_id=e, label_timestamp_micros=t)
                    for e, t in zip(entities[k:k + chunk], times[k:k + chunk])])
                if k == 0:
                    m.features.extend([f"{group}:v", f"{group}:s"])
                yield m

        v, s, ev = [], [], []
        try:
            for answer in stub.GetHistorical(requests(), timeout=timeout, metadata=[("strata-ring-epoch", str(epoch))]):
                for row in answer.rows:
                    a, b = row.results[0], row.results[1]
                    v.append(a.value.int_value if a.value.HasField("int_value") else None)
                    s.append(b.value.string_value if b.value.HasField("string_value") else None)
                    ev.append(a.event_timestamp_micros or None)
        except grpc.RpcError as e:
            raise strata.StrataError(f"replica {internode_address}: {e.code().name}: {e.details()}") from None
    if len(v) != len(entities):
        raise strata.StrataError(f"replica {internode_address}: {len(v)} answers for {len(entities)} labels")
    return v, s, ev


def online(client: strata.Client, group: str, entities: list[str], timeout: float, consistency: int = 0):
    """(v, s, event_us) per entity of an online lookup; `consistency` 0 = the default (ONE), else the enum
    value (the SDK's lookup has no consistency parameter: the request is sent as the SDK sends it, plus
    the level)."""
    from strata.results import OnlineResponse
    refs = [f"{group}:v", f"{group}:s"]
    request = fs.GetOnlineFeaturesRequest(entity_ids=entities, features=refs, consistency=consistency)
    r = OnlineResponse(client._unary("GetOnlineFeatures", request, timeout))
    ev = [None if t is None else (t - EPOCH) // dt.timedelta(microseconds=1)
          for t in r.event_timestamps[refs[0]]]
    return r.values[refs[0]], r.values[refs[1]], ev
