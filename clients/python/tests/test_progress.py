"""The progress bar: shown with tqdm when asked (or on a terminal), absent otherwise, never an error when
tqdm is not installed."""
from __future__ import annotations

import builtins
import datetime as dt

import pandas as pd
import pytest

import strata
from strata import _progress

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def group(client, unique):
    g = unique("progress")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    return g


def data(n: int) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"q{i}" for i in range(n)], "event_timestamp": [NOW] * n, "x": range(n)})


def test_bar_shown_when_forced(client, group, capsys):
    pytest.importorskip("tqdm")
    client.write(group, data(3000), batch_size=1000, progress=True)
    err = capsys.readouterr().err
    assert f"write {group}@1" in err and "3.00k/3.00k" in err, err
    labels = pd.DataFrame({"entity_id": ["q1"] * 100, "label_timestamp": [NOW] * 100})
    client.get_historical_features(labels, f"{group}:x", progress=True).to_df()
    assert "export" in capsys.readouterr().err


def test_no_bar_when_not_a_terminal_or_disabled(client, group, capsys):
    client.write(group, data(10), progress=None)  # pytest's captured stderr is not a terminal
    client.write(group, data(10), progress=False)
    assert capsys.readouterr().err == ""


def test_terminal_detection(monkeypatch):
    pytest.importorskip("tqdm")

    class Tty:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(_progress.sys, "stderr", Tty())
    assert _progress.Progress(10, "x", None).shown
    assert not _progress.Progress(10, "x", False).shown


def test_without_tqdm_no_error(client, group, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm" or name.startswith("tqdm."):
            raise ImportError("No module named 'tqdm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    assert not _progress.Progress(10, "x", True).shown
    assert client.write(group, data(20), progress=True).rows_written == 20
    assert capsys.readouterr().err == ""


def test_notebook_detection(monkeypatch):
    """In Jupyter (an IPython ZMQInteractiveShell) the bar is shown although stderr is no terminal."""
    pytest.importorskip("tqdm")
    import sys
    import types

    class ZMQInteractiveShell:
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert _progress._in_notebook()
    bar = _progress.Progress(10, "x", None)
    assert bar.shown
    bar.close()
    fake.get_ipython = lambda: None
    assert not _progress._in_notebook()
