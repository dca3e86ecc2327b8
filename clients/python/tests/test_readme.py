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
