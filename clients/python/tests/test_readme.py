"""The README's five-line example runs as written (against the test node, with the example data)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd

import strata

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]


def test_five_line_example(node, tmp_path, monkeypatch):
    text = (HERE / "README.md").read_text()
    block = re.search(r"## In five lines.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(block.strip().splitlines()) == 5
    data = tmp_path / "ex"
    subprocess.run([str(REPO / "examples" / "make-data.sh"), str(data)], check=True, capture_output=True)
    code = block.replace("127.0.0.1:7400", node.address).replace("/tmp/ex", str(data))
    monkeypatch.chdir(REPO)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    train = scope["train"]
    labels = pd.read_csv(data / "labels.csv")
    assert list(train.columns) == ["entity_id", "label_timestamp", "churned", "user_stats:purchases_30d",
                                   "user_embedding:taste"]
    assert train["entity_id"].tolist() == labels["entity_id"].tolist()
    assert str(train["user_stats:purchases_30d"].dtype) == "Int64"

    # Then with data written as the README says: the CLI's example CSV, read with pandas.
    client = scope["client"]
    stats = pd.read_csv(data / "user_stats.csv", parse_dates=["event_timestamp", "created_timestamp"])
    assert client.write("user_stats", stats, progress=False).rows_written == len(stats)
    taste = pd.read_csv(data / "user_embedding.csv", parse_dates=["event_timestamp"])
    taste["taste"] = taste["taste"].map(lambda s: [float(x) for x in s.strip("[]").split(",")])
    client.write("user_embedding", taste, progress=False)
    train = client.get_historical_features(pd.read_csv(data / "labels.csv", parse_dates=["label_timestamp"]),
                                           ["user_stats:purchases_30d"], with_status=True, progress=False).to_df()
    # examples/make-data.sh: u1 has no row before day 4 (default 0); its label at day 2 18:00 sees the correction written for day 2 12:00 (9),
    # u3's only row is 40 days old (max age 30d: expired, default 0), u4 has no rows (default 0).
    assert train["user_stats:purchases_30d"].tolist() == [0, 3, 9, 6, 0, 0, 0]
    assert train["user_stats:purchases_30d__status"].tolist() == [
        "DEFAULTED", "PRESENT", "PRESENT", "PRESENT", "PRESENT", "EXPIRED", "DEFAULTED"]


def test_streams_example(node):
    """The README's streams example runs as written, and its YAML parses to the same stream."""
    text = (HERE / "README.md").read_text()
    section = re.search(r"### Streams and aggregates(.*?)\n### ", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace("127.0.0.1:7400", node.address)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert (scope["result"].events_written, scope["result"].batches, scope["result"].duplicates) == (3, 1, 0)
    r = scope["client"].get_online_features(["user_spend:*"], ["u1", "u2", "u3"])
    assert r.values == {"user_spend:spend_1h": [12.5, 7.25, 0.0], "user_spend:orders_1d": [2, 1, 0],
                        "user_spend:avg_order_1d": [7.75, 7.25, None], "user_spend:last_sku_7d": ["a-1", None, None]}
    defs = strata.parse_definitions(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    assert defs[0] == strata.Stream("purchases", [strata.Field("amount", "FLOAT"), strata.Field("sku", "STRING")])
    assert defs[1].stream == "purchases" and defs[1].features == [
        strata.Aggregate("spend_1h", "amount", "sum", "1h", default=0.0)]
    # The push session example, after the first one (same client and events).
    session_code = re.search(r"#### Push sessions.*?```python\n(.*?)```", section, re.S).group(1)
    exec(compile(session_code, "README.md", "exec"), scope)
    session = scope["session"]
    assert session.closed and session.error is None and (session.batches, session.events_written) == (3, 9)
    assert scope["r"].events_written == 3
    r = scope["client"].get_online_features(["user_spend:orders_1d"], ["u1", "u2"])
    assert r.values == {"user_spend:orders_1d": [8, 4]}
    scope["client"].close()
