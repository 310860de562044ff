"""`bondlab.sweep(..., workers=2)` from a script without a main guard, or from stdin, runs in the
process with one line saying why, instead of a screen of "Nanny failed to start" per worker
(issue 16 item 2); a guarded script still gets its workers."""

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from bondlab.main_guard import GUARD, guarded_lines, why_workers_cannot_start

from conftest import SCENARIOS

SPEC = (
    f"scenarios: [{SCENARIOS / 'seed-asymmetric.yaml'}]\n"
    "schedulers: [dwrr]\nseeds: [1, 2]\nset: {duration_s: 3}\n"
)
CALL = 'df = bondlab.sweep("spec.yaml", workers=2, out="out")\nprint("rows", len(df))\n'


def run_script(tmp_path: Path, body: str, stdin: bool = False) -> subprocess.CompletedProcess[str]:
    (tmp_path / "spec.yaml").write_text(SPEC)
    script = tmp_path / "script.py"
    script.write_text("import bondlab\n" + body)
    argv = [sys.executable, "-"] if stdin else [sys.executable, str(script)]
    return subprocess.run(
        argv,
        cwd=tmp_path,
        input=script.read_text() if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("stdin", [False, True], ids=["unguarded-script", "stdin"])
def test_a_sweep_that_workers_cannot_rerun_runs_here_and_says_why(tmp_path, stdin):
    done = run_script(tmp_path, CALL, stdin)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rows 2" in done.stdout
    assert "Nanny" not in done.stderr and "Traceback" not in done.stderr
    notes = [line for line in done.stderr.splitlines() if line.startswith("bondlab: running here")]
    assert len(notes) == 1
    assert ("<stdin>" in notes[0]) if stdin else ("script.py line 2" in notes[0] and GUARD in notes[0])


def test_a_guarded_script_gets_its_workers(tmp_path):
    done = run_script(tmp_path, f"{GUARD}\n" + textwrap.indent(CALL, "    "))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rows 2" in done.stdout
    assert "running here" not in done.stderr


def main_module(path: Path) -> ModuleType:
    module = ModuleType("__main__")
    module.__file__ = str(path)
    module.__spec__ = None
    return module


def test_the_call_site_decides_not_the_file(tmp_path):
    """A guard elsewhere in the script does not cover a top-level call outside it."""
    source = f"import bondlab\nx = 1\n{GUARD}\n    pass\n"
    path = tmp_path / "s.py"
    path.write_text(source)
    assert guarded_lines(source) == [(3, 4)]
    main = main_module(path)
    # Not called from main's top level (no frame of it on the stack): nothing to say.
    assert why_workers_cannot_start(main) is None
    code = compile("import sys\nframe = sys._getframe()\n", str(path), "exec")
    exec(code, vars(main))
    assert "s.py line 2" in why_workers_cannot_start(main, vars(main)["frame"])
    reversed_guard = compile(
        'if "__main__" == __name__:\n    import sys\n    frame = sys._getframe()\n', str(path), "exec"
    )
    path.write_text('if "__main__" == __name__:\n    import sys\n    frame = sys._getframe()\n')
    exec(reversed_guard, vars(main))
    assert why_workers_cannot_start(main, vars(main)["frame"]) is None


def test_modules_and_interactive_sessions_are_fine():
    module = ModuleType("__main__")
    assert why_workers_cannot_start(module) is None  # no __file__: Jupyter, REPL, python -c
    module.__spec__ = object()  # python -m
    module.__file__ = "/nonexistent"
    assert why_workers_cannot_start(module) is None
