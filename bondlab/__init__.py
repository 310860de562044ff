"""bondlab: a testbed for bonded video uplinks.

From Python or Jupyter, five functions return pandas DataFrames (see bondlab.frames):
`bondlab.run`, `bondlab.compare`, `bondlab.sweep`, `bondlab.tune`, `bondlab.load_results`.
They load on first use, so `import bondlab` stays cheap (no dask, optuna or matplotlib).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("run", "compare", "sweep", "tune", "load_results")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from bondlab import frames

        value = getattr(frames, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bondlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
