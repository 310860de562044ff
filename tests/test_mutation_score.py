"""scripts/mutation_score.py reads mutmut's verdicts: timeouts counted apart (and in the score, as
mutmut does), a partial run's unchecked mutants apart, survivors named."""

import importlib.util
import json
from pathlib import Path

from conftest import ROOT


def load():
    spec = importlib.util.spec_from_file_location("mutation_score", ROOT / "scripts" / "mutation_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_verdict_has_its_column_and_the_score_counts_timeouts(tmp_path: Path) -> None:
    ms = load()
    meta = tmp_path / "bondlab" / "core" / "ewma.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"k1": 1, "k2": 37, "t": 36, "s": 0, "n": 5, "u": None, "o": -11}
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    [(name, counts, survivors)] = ms.scores(tmp_path, [])
    assert name == "bondlab.core.ewma" and survivors == ["s"]
    assert dict(counts) == {
        "killed": 2,
        "timeout": 1,
        "survived": 1,
        "no tests": 1,
        "other": 1,
        "not checked": 1,
    }
    # score: (2 killed + 1 timeout) / 6 checked
    assert ms.row(name, counts) == "| bondlab.core.ewma | 2 | 1 | 1 | 1 | 1 | 1 | 50.0 % |"
    assert ms.table(ms.scores(tmp_path, [])).splitlines()[-1].startswith("| **all of core** | 2 | 1 |")
