"""`strata.OnlineCache`: an opt-in client-side cache of online values, with a TTL per freshness tier.

A group's tier comes from its registered `refresh_interval` and its kind (`freshness_tier`); the TTL
of a tier (or of a named group) is configurable. An entry is keyed by (group, resolved version,
feature, entity) and served only while `now - fetched_at < ttl`, `fetched_at` being the monotonic
time at which the lookup that fetched it was *sent*. See `Client.get_online_features` for how a
lookup uses it.
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import math
import threading
import time
import types
from typing import Any, Mapping

from .definitions import GroupKind
from .errors import InvalidArgument


class Tier(str, enum.Enum):
    """How fresh a group's values are expected to be (from its declared refresh interval and kind)."""
    BATCH = "batch"
    NEAR_REAL_TIME = "near_real_time"
    STREAMING = "streaming"


DAY = 86_400
HOUR = 3_600

# Seconds a cached value of each tier is served (Client(cache=OnlineCache(ttl={...})) changes them).
DEFAULT_TTL: dict[Tier, float] = {Tier.BATCH: 3600.0, Tier.NEAR_REAL_TIME: 60.0, Tier.STREAMING: 60.0}


def _kind(kind: Any) -> GroupKind:
    if isinstance(kind, GroupKind):
        return kind
    if isinstance(kind, int) and not isinstance(kind, bool):  # the wire enum: 0 ROWS, 1 STREAM, 2 AGGREGATES
        try:
            return [GroupKind.ROWS, GroupKind.STREAM, GroupKind.AGGREGATES][kind]
        except IndexError:
            raise InvalidArgument(f"unknown group kind {kind}") from None
    text = str(kind).strip().upper().removeprefix("GROUP_KIND_")
    if text == "STREAMS":
        text = "STREAM"
    try:
        return GroupKind(text)
    except ValueError:
        raise InvalidArgument(f"unknown group kind {kind!r}; use ROWS, STREAM or AGGREGATES") from None


def freshness_tier(refresh_interval_seconds: float | None, kind: Any = GroupKind.ROWS) -> Tier:
    """The freshness tier of a group (the server uses the same rule):

    - refresh interval >= 1 day: BATCH
    - 1 hour <= interval < 1 day: NEAR_REAL_TIME
    - 0 < interval < 1 hour: STREAMING
    - not declared (None or 0): STREAMING for streams and aggregate groups, BATCH for row groups.

    `kind`: a `GroupKind`, its name ("ROWS", "STREAM", "AGGREGATES") or the wire number."""
    k = _kind(kind)
    interval = refresh_interval_seconds or 0
    if interval < 0:
        raise InvalidArgument(f"refresh interval must not be negative, got {interval}")
    if interval >= DAY:
        return Tier.BATCH
    if interval >= HOUR:
        return Tier.NEAR_REAL_TIME
    if interval > 0:
        return Tier.STREAMING
    return Tier.BATCH if k == GroupKind.ROWS else Tier.STREAMING


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{what} must be a number of seconds, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidArgument(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return v


def _tier(key: Any) -> Tier:
    if isinstance(key, Tier):
        return key
    try:
        return Tier(str(key).strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidArgument(f"unknown tier {key!r}; use 'batch', 'near_real_time' or 'streaming'") from None


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made (or `clear()`ed): one hit or one miss per requested (entity,
    feature column) cell of a cached lookup; `evictions`: entries dropped to stay within `max_entries`;
    `expirations`: entries found older than their TTL (counted as misses too); `entries` held now."""

    hits: int
    misses: int
    evictions: int
    expirations: int
    entries: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclasses.dataclass(frozen=True)
class GroupTTL:
    """What the cache learned about one group version from the registry, and the TTL it applies."""

    tier: Tier
    ttl: float
    refresh_interval: int  # seconds, 0 = not declared
    kind: GroupKind
    features: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Column:
    """One resolved column, as the node answered it (FeatureColumn)."""

    ref: str
    group: str
    version: int
    feature: str
    dtype: int
    embedding_dim: int


class OnlineCache:
    """A bounded, thread-safe LRU cache of online values for `Client.get_online_features`.

    `OnlineCache(max_entries=100_000, ttl={"batch": 3600, "near_real_time": 60, "streaming": 60},
    ttl_by_group={"user_stats": 300})`: `ttl` overrides the TTL (seconds) of some tiers (the others
    keep `DEFAULT_TTL`); `ttl_by_group` sets it for groups by name, whatever their tier. A TTL of 0
    disables caching for that tier or group. One cache per feature store: do not share it between
    clients of different stores (keys do not name the store).
    """

    def __init__(self, max_entries: int = 100_000, *, ttl: Mapping[Any, float] | None = None,
                 ttl_by_group: Mapping[str, float] | None = None):
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidArgument(f"max_entries must be an integer >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        tiers = dict(DEFAULT_TTL)
        for k, v in (ttl or {}).items():
            t = _tier(k)
            tiers[t] = _seconds(v, f"ttl[{t.value!r}]")
        # Read-only: the TTL of a group version is fixed when the cache first learns it.
        self.ttl: Mapping[Tier, float] = types.MappingProxyType(tiers)
        self.ttl_by_group: Mapping[str, float] = types.MappingProxyType({
            str(g): _seconds(v, f"ttl_by_group[{g!r}]") for g, v in (ttl_by_group or {}).items()})
        self._lock = threading.Lock()
        # (group, version, feature, entity) -> (expires_at monotonic, status, has_value, value, event_micros)
        self._entries: collections.OrderedDict = collections.OrderedDict()
        # feature reference as requested -> (columns, ttl, confirmed_at): how the node last resolved it
        self._refs: dict[str, tuple[tuple[_Column, ...], float, float]] = {}
        # (group, version) -> GroupTTL (a registered version's spec never changes)
        self._groups: dict[tuple[str, int], GroupTTL] = {}
        # model reference as requested (NAME or NAME@V) -> (model served "NAME@V", its columns, ttl,
        # confirmed_at): how the node last served a lookup by model
        self._models: dict[str, tuple[str, tuple[_Column, ...], float, float]] = {}
        self._hits = self._misses = self._evictions = self._expirations = 0

    def __repr__(self) -> str:
        s = self.stats()
        return (f"<OnlineCache {s.entries}/{self.max_entries} entries, {s.hits} hits, {s.misses} misses, "
                f"{s.evictions} evictions>")

    # -- public ---------------------------------------------------------------------------------------
    def ttl_for(self, group: str, tier: Tier | str) -> float:
        """The TTL applied to a group of this name and tier: `ttl_by_group[group]`, else `ttl[tier]`."""
        if group in self.ttl_by_group:
            return self.ttl_by_group[group]
        return self.ttl[_tier(tier)]

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, self._expirations, len(self._entries))

    def clear(self) -> None:
        """Drops every entry, every learned resolution (of references and models) and group, and resets the
        counters."""
        with self._lock:
            self._entries.clear()
            self._refs.clear()
            self._groups.clear()
            self._models.clear()
            self._hits = self._misses = self._evictions = self._expirations = 0

    def groups(self) -> dict[str, GroupTTL]:
        """The group versions learned so far ("name@version" -> tier and TTL)."""
        with self._lock:
            return {f"{n}@{v}": g for (n, v), g in sorted(self._groups.items())}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- internals (used by Client) -------------------------------------------------------------------
    def _group(self, name: str, version: int) -> GroupTTL | None:
        with self._lock:
            return self._groups.get((name, version))

    def _learn_group(self, name: str, version: int, refresh_interval: int, kind: GroupKind,
                     features: tuple[str, ...]) -> None:
        tier = freshness_tier(refresh_interval, kind)
        g = GroupTTL(tier, self.ttl_for(name, tier), int(refresh_interval or 0), kind, features)
        with self._lock:
            self._groups[(name, version)] = g

    def _resolution(self, ref: str, now: float) -> tuple[_Column, ...] | None:
        """The columns `ref` resolved to, if the node confirmed that less than their TTL ago."""
        with self._lock:
            r = self._refs.get(ref)
        if r is None or not now - r[2] < r[1]:
            return None
        return r[0]

    def _confirm(self, ref: str, columns: tuple[_Column, ...], ttl: float, at: float) -> None:
        with self._lock:
            if len(self._refs) >= 10_000 and ref not in self._refs:
                self._refs.clear()  # references are few in practice; never let them grow unbounded
            self._refs[ref] = (columns, ttl, at)

    def _model_resolution(self, model: str, now: float) -> tuple[str, tuple[_Column, ...]] | None:
        """(model served, its columns) of a lookup by `model`, if the node answered one less than its TTL ago."""
        with self._lock:
            r = self._models.get(model)
        if r is None or not now - r[3] < r[2]:
            return None
        return r[0], r[1]

    def _confirm_model(self, model: str, served: str, columns: tuple[_Column, ...], ttl: float, at: float) -> None:
        with self._lock:
            if len(self._models) >= 10_000 and model not in self._models:
                self._models.clear()
            self._models[model] = (served, columns, ttl, at)

    def _get(self, keys: list, now: float) -> list:
        """The live entries of `keys` (None where absent or expired); counts the expired ones."""
        out = []
        expired = 0
        with self._lock:
            entries = self._entries
            for k in keys:
                e = entries.get(k)
                if e is None:
                    out.append(None)
                elif not now < e[0]:
                    del entries[k]
                    expired += 1
                    out.append(None)
                else:
                    entries.move_to_end(k)
                    out.append(e)
            self._expirations += expired
        return out

    def _count(self, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses

    def _put(self, items: list) -> None:
        """Stores (key, entry) pairs, evicting the least recently used entries beyond `max_entries`."""
        with self._lock:
            entries = self._entries
            for k, e in items:
                entries[k] = e
                entries.move_to_end(k)
            evicted = 0
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
                evicted += 1
            self._evictions += evicted


def monotonic() -> float:
    return time.monotonic()
