"""A plain pandas oracle of the point-in-time rule (README "Semantics"), for checking exports.

For a label (entity, T) the winning row is the one with the greatest event time <= T; among equal event
times the greatest created time, then the one written last. With a max age, a winning row with
event < T - max_age is EXPIRED. A feature without a value (no row, a null in the winning row, or
expired) gets its default (DEFAULTED, or EXPIRED) or null (MISSING, or EXPIRED).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def point_in_time(history: pd.DataFrame, labels: pd.DataFrame, features: dict[str, object],
                  max_age_us: int | None = None) -> dict[str, tuple[list, list[str]]]:
    """`history`: entity_id, event_us, created_us, seq (write order) and one column per feature (None for
    null). `labels`: entity_id, t_us. `features`: name -> default (None = no default).
    Returns name -> (values, status names), in label order."""
    h = history.sort_values(["entity_id", "event_us", "created_us", "seq"], kind="mergesort")
    h = h.drop_duplicates(["entity_id", "event_us"], keep="last")
    left = labels[["entity_id", "t_us"]].copy()
    left["_order"] = np.arange(len(left))
    left = left.sort_values("t_us", kind="mergesort")
    right = h.sort_values("event_us", kind="mergesort")
    merged = pd.merge_asof(left, right, left_on="t_us", right_on="event_us", by="entity_id", direction="backward",
                           allow_exact_matches=True)
    merged = merged.sort_values("_order").reset_index(drop=True)
    found = merged["event_us"].notna().to_numpy()
    expired = np.zeros(len(merged), dtype=bool)
    if max_age_us is not None:
        expired = found & (merged["event_us"].to_numpy(dtype="float64") < merged["t_us"].to_numpy() - max_age_us)
    out = {}
    for name, default in features.items():
        raw = merged[name].tolist() if name in merged else [None] * len(merged)
        values, statuses = [], []
        for i, v in enumerate(raw):
            has = found[i] and v is not None and not (isinstance(v, float) and np.isnan(v))
            if expired[i]:
                values.append(default)
                statuses.append("EXPIRED")
            elif has:
                values.append(v)
                statuses.append("PRESENT")
            elif default is not None:
                values.append(default)
                statuses.append("DEFAULTED")
            else:
                values.append(None)
                statuses.append("MISSING")
        out[name] = (values, statuses)
    return out


def as_list(series: pd.Series) -> list:
    """A column's values with every kind of missing value (None, NaN, pd.NA, NaT) as None."""
    return [None if (v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))) else v
            for v in series.tolist()]
