"""README numbers come from files a command wrote, never from typing: a block between two markers,
`<!-- NAME: begin -->` and `<!-- NAME: end -->`, is replaced with such a file's text.

    python -m bondlab.readme_block leaderboard results/examples/leaderboard/summary.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def splice(readme: Path, name: str, block: str) -> None:
    """Replace what lies between the README's `name` markers with `block` (the markers must be there)."""
    begin, end = markers(name)
    text = readme.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{readme}: no '{begin}' ... '{end}' markers to put the block between")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{begin}\n{block}{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bondlab.readme_block",
        description="Put a generated file's text into a README, between its NAME markers.",
    )
    p.add_argument("name", help="the markers' name, as in <!-- NAME: begin -->")
    p.add_argument("file", help="the generated text (e.g. a leaderboard's summary.md)")
    p.add_argument("--readme", default="README.md")
    args = p.parse_args(argv)
    source = Path(args.file)
    if not source.is_file():
        print(f"error: {source}: no such file", file=sys.stderr)
        return 2
    try:
        splice(Path(args.readme), args.name, source.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.readme}: {args.name} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
