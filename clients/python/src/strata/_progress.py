"""An optional progress bar (tqdm) for long writes and exports.

Shown only when tqdm is installed (`pip install 'strata-client[progress]'`) and the output is a terminal
or a notebook; `progress=False` turns it off, `progress=True` shows it whenever tqdm is installed.
"""
from __future__ import annotations

import sys


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython  # type: ignore
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class Progress:
    """A row counter; a no-op unless a bar can and should be shown."""

    def __init__(self, total: int | None, desc: str, enabled: bool | None):
        self.bar = None
        if enabled is False:
            return
        notebook = _in_notebook()
        if enabled is None and not (notebook or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())):
            return
        try:
            if notebook:
                from tqdm.auto import tqdm  # type: ignore
            else:
                from tqdm import tqdm  # type: ignore
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, unit=" rows", unit_scale=True, dynamic_ncols=True, leave=False)

    @property
    def shown(self) -> bool:
        return self.bar is not None

    def update(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.update(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.refresh()  # the final count, even if the last updates were throttled
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
