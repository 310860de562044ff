"""Parameter sweeps over scenarios, on dask workers, stored per point so that they resume.

`run_sweep(spec)` is the Python entry point (`bondlab.sweep(spec)` calls it too); `bondlab sweep
SPEC.yaml` the command line one.
"""

import sys
from types import ModuleType
from typing import Any

from bondlab.sweep.points import Point, expand, point_key
from bondlab.sweep.runner import SweepRun, run_spec, run_sweep
from bondlab.sweep.spec import SpecError, SweepSpec, load_spec
from bondlab.sweep.store import load_points

__all__ = [
    "Point",
    "SpecError",
    "SweepRun",
    "SweepSpec",
    "expand",
    "load_points",
    "load_spec",
    "point_key",
    "run_spec",
    "run_sweep",
]


class _CallableModule(ModuleType):
    """`bondlab.sweep` is both this package and the top-level function `bondlab.sweep(spec)`:
    importing the package rebinds the name `sweep` on `bondlab` to the package, so the package
    itself must be callable for `bondlab.sweep(...)` to keep working after that."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
