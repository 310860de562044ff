"""Share of mutants killed per core module, read from mutmut's result files under mutants/.

mutmut prints one running total; the issue asks for a score per module and for all of core, and a
partial run is worth reporting as such: mutants not yet checked are counted apart, never as
survivors or kills (a mutant no selected test reaches, "no tests", counts as not killed).

    .venv/bin/python scripts/mutation_score.py [--survivors] [MODULE_SUBSTRING ...]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

# mutmut 3's exit codes (mutmut/stats.py): tests failing means the mutant was killed; a timeout
# also ends the mutant, so it counts as a kill, as mutmut's own summary does.
KILLED = {1, 3, 36, -24, 24, 152, 255, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}


def module_name(meta: Path, root: Path) -> str:
    """mutants/bondlab/core/schedulers/dwrr.py.meta -> bondlab.core.schedulers.dwrr"""
    return str(meta.relative_to(root)).removesuffix(".py.meta").replace("/", ".")


def scores(root: Path, only: list[str]) -> list[tuple[str, Counter[str], list[str]]]:
    """Per module: counts of killed / survived / no tests / not checked, and the survivors' names."""
    out = []
    for meta in sorted(root.glob("bondlab/core/**/*.py.meta")):
        name = module_name(meta, root)
        if only and not any(s in name for s in only):
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        counts: Counter[str] = Counter()
        survivors = []
        for mutant, code in codes.items():
            if code is None:
                counts["unchecked"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                survivors.append(mutant)
            elif code in NO_TESTS:
                counts["no_tests"] += 1
            else:
                counts["other"] += 1
        out.append((name, counts, sorted(survivors)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only modules whose dotted name contains one of these")
    parser.add_argument("--root", type=Path, default=Path("mutants"))
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = parser.parse_args()
    print(f"{'module':36s} {'killed':>7s} {'survived':>8s} {'no tests':>8s} {'unchecked':>9s} {'score':>6s}")
    total: Counter[str] = Counter()
    for name, c, survivors in scores(args.root, args.modules):
        print(row(name, c))
        total += c
        if args.survivors:
            for mutant in survivors:
                print(f"    {mutant}")
    print(row("total", total))
    return 0


def row(name: str, c: Counter[str]) -> str:
    """One line of the table; "no tests" (no selected test reaches the mutant) counts as not killed."""
    checked = c["killed"] + c["survived"] + c["no_tests"] + c["other"]
    score = f"{100 * c['killed'] / checked:5.1f}%" if checked else "    -"
    counts = f"{c['killed']:7d} {c['survived']:8d} {c['no_tests']:8d} {c['unchecked']:9d}"
    return f"{name:36s} {counts} {score:>6s}"


if __name__ == "__main__":
    raise SystemExit(main())
