"""Can local worker processes start from this program? Why not, in one line, when they cannot.

dask's local workers start by multiprocessing's "spawn": each new process re-runs the main
script (as `__mp_main__`) before it can take a task. A script that calls `bondlab.sweep(...,
workers=2)` at its top level, outside `if __name__ == "__main__":`, calls it again in every
worker, which tries to start workers of its own and fails ("Nanny failed to start", a screen of
tracebacks per worker). A program read from stdin (`python - < script.py`) has no file to re-run,
and every worker fails to find `<stdin>`. Interactive sessions, notebooks, `python -c` and `-m`
are fine: spawn re-runs nothing or imports a module by name.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path
from types import FrameType, ModuleType

GUARD = 'if __name__ == "__main__":'


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    consts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and consts == ["__main__"]


def guarded_lines(source: str) -> list[tuple[int, int]]:
    """(first, last) line of each top-level `if __name__ == "__main__":` block of a script."""
    spans = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _top_level_line(main: ModuleType, frame: FrameType | None) -> int | None:
    """The line of the main script's top-level code this call came from, if it came from there."""
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            return frame.f_lineno
        frame = frame.f_back
    return None


def why_workers_cannot_start(main: ModuleType | None = None, frame: FrameType | None = None) -> str | None:
    """None when spawned workers can start from the running program; else the reason, naming the
    script and what to change. `frame` is where the call stands (default: the caller's)."""
    main = main if main is not None else sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return None  # `python -m ...` (console scripts too): workers import the module by name
    path = getattr(main, "__file__", None)
    if path is None:
        return None  # interactive, Jupyter, `python -c`: spawn re-runs nothing
    if not Path(path).is_file():
        return f"the program was read from {path}, which worker processes cannot re-read; save it to a file"
    line = _top_level_line(main, frame if frame is not None else inspect.currentframe())
    if line is None:
        return None
    if any(first <= line <= last for first, last in guarded_lines(Path(path).read_text())):
        return None
    return (
        f"{Path(path).name} line {line} runs at its top level, which every worker process re-runs; "
        f"put it under `{GUARD}` to use workers"
    )
