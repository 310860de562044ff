"""Share of mutants killed per core module, read from mutmut's result files under mutants/.

mutmut prints one running total; this says, per module and for all of core, how many mutants were
killed, timed out, survived, reached by no selected test, or not checked yet (a partial run is
reported as such). The score counts a timeout as a kill, as mutmut's own summary does, and shows
how many there were. mutmut's own table of exit codes (mutmut.stats) names each verdict.

    .venv/bin/python scripts/mutation_score.py [--survivors] [MODULE_SUBSTRING ...]
    .venv/bin/python scripts/mutation_score.py --run     # from a clean mutants/: mutmut run, then the
                                                          # table, also written to --out for the docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from mutmut.stats import status_by_exit_code

OUT = Path("results/examples/mutation/score.md")
COLUMNS = ("killed", "timeout", "survived", "no tests", "other", "not checked")


def verdict(code: int | None) -> str:
    """One of COLUMNS for a mutant's exit code (a type checker's catch is a kill)."""
    status = status_by_exit_code[code]
    if status == "caught by type check":
        return "killed"
    return status if status in COLUMNS else "other"


def module_name(meta: Path, root: Path) -> str:
    """mutants/bondlab/core/schedulers/dwrr.py.meta -> bondlab.core.schedulers.dwrr"""
    return str(meta.relative_to(root)).removesuffix(".py.meta").replace("/", ".")


def scores(root: Path, only: list[str]) -> list[tuple[str, Counter[str], list[str]]]:
    """Per module: counts by verdict, and the survivors' names."""
    out = []
    for meta in sorted(root.glob("bondlab/core/**/*.py.meta")):
        name = module_name(meta, root)
        if only and not any(s in name for s in only):
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        counts: Counter[str] = Counter(verdict(code) for code in codes.values())
        survivors = sorted(m for m, code in codes.items() if verdict(code) == "survived")
        out.append((name, counts, survivors))
    return out


def row(name: str, c: Counter[str]) -> str:
    """One Markdown row; the score is (killed + timeout) over the mutants checked."""
    checked = sum(c[k] for k in COLUMNS if k != "not checked")
    score = f"{100 * (c['killed'] + c['timeout']) / checked:.1f} %" if checked else "-"
    return f"| {name} | " + " | ".join(str(c[k]) for k in COLUMNS) + f" | {score} |"


def table(results: list[tuple[str, Counter[str], list[str]]], survivors: bool = False) -> str:
    lines = ["| module | " + " | ".join(COLUMNS) + " | score |", "|---|" + "---:|" * (len(COLUMNS) + 1)]
    total: Counter[str] = Counter()
    for name, c, names in results:
        lines.append(row(name, c))
        total += c
        if survivors:
            lines += [f"|  `{m}` |" + " |" * (len(COLUMNS) + 1) for m in names]
    lines.append(row("**all of core**", total))
    return "\n".join(lines) + "\n"


def run_mutmut(root: Path) -> None:
    """mutmut from a clean slate: verdicts left in mutants/ by an older run would be read as this one's."""
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["nice", "-n", "19", str(Path(sys.executable).parent / "mutmut"), "run"], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only modules whose dotted name contains one of these")
    parser.add_argument("--root", type=Path, default=Path("mutants"))
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    parser.add_argument("--run", action="store_true", help="delete mutants/, run mutmut, write --out")
    parser.add_argument("--out", type=Path, default=OUT, help=f"with --run: the table's file [{OUT}]")
    args = parser.parse_args()
    if args.run:
        run_mutmut(args.root)
    text = table(scores(args.root, args.modules), args.survivors)
    print(text, end="")
    if args.run:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True)
        made = (
            f"Made {datetime.now(UTC):%Y-%m-%d} at {rev.stdout.strip()} by `scripts/mutation_score.py --run`."
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"{made}\n\n{text}")
        print(f"{args.out}: written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
