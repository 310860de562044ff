"""bondlab/core is pure and clock-agnostic: no backend, no SimPy, no sockets, no clock of its own.

Two checks, because either alone misses a case: the source check sees an import hidden in a
function body (the oracle factory once imported bondlab.sim lazily from core's registry); the
import check sees what importing every core module actually pulls in.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import bondlab.core

CORE = Path(bondlab.core.__file__).parent
# Outside bondlab.core, core may use only these (the standard library's pure parts and numpy/pandas).
ALLOWED_TOP = {
    "__future__",
    "array",
    "bisect",
    "collections",
    "dataclasses",
    "enum",
    "functools",
    "heapq",
    "itertools",
    "logging",
    "math",
    "numpy",
    "operator",
    "pandas",
    "statistics",
    "typing",
}
# Loaded-module check: not `socket`, which pandas itself imports; the source check covers core's own.
FORBIDDEN_LOADED = ("bondlab.sim", "bondlab.real", "simpy", "cffi", "pyroute2", "dask")


def imported_names(source: str) -> set[str]:
    """Every absolute module a source imports, at any depth of its body."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def outside_core(names: set[str]) -> set[str]:
    return {
        n
        for n in names
        if not n.startswith("bondlab.core") and n != "bondlab.core" and n.split(".")[0] not in ALLOWED_TOP
    }


def test_the_check_sees_a_lazy_backend_import():
    """The source check catches what the old registry did: a sim import inside a function."""
    lazy = "def factory():\n    from bondlab.sim.oracle import OracleScheduler\n    return OracleScheduler\n"
    assert outside_core(imported_names(lazy)) == {"bondlab.sim.oracle"}


def test_no_core_module_imports_a_backend_or_a_clock():
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        bad = outside_core(imported_names(path.read_text()))
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


def test_importing_all_of_core_loads_no_backend():
    """Every core module imported in a fresh interpreter: nothing of the sim, the real backend,
    SimPy or sockets gets loaded (the scheduler registry lists the oracle only once the sim has
    registered it, through bondlab.schedulers)."""
    modules = [m.name for m in pkgutil.walk_packages([str(CORE)], "bondlab.core.")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN_LOADED!r})))\n"
        "from bondlab.core.schedulers import SCHEDULERS\n"
        "print('oracle' in SCHEDULERS)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded, has_oracle = out.splitlines()
    assert len(modules) > 20
    assert loaded == "[]"
    assert has_oracle == "False"


def test_the_full_registry_has_the_oracle():
    from bondlab.schedulers import scheduler_names

    assert "oracle" in scheduler_names("sim")
    assert "oracle" not in scheduler_names("real")


def test_sim_and_real_never_import_each_other():
    """The two backends meet only in core and the modules below them (DEVELOPERS.md): the real
    backend lists its schedulers from core's registry, never through bondlab.schedulers (which
    imports the sim to register the oracle)."""
    package = CORE.parent
    crossing = {"sim": ("bondlab.real",), "real": ("bondlab.sim", "bondlab.schedulers")}
    offenders = {}
    for backend, forbidden in crossing.items():
        for path in sorted((package / backend).rglob("*.py")):
            bad = sorted(n for n in imported_names(path.read_text()) if n.startswith(forbidden))
            if bad:
                offenders[f"{backend}/{path.name}"] = bad
    assert offenders == {}
