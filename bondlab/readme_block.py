"""Numbers in the docs come from files a command wrote, never from typing: a block between two
markers, `<!-- NAME: begin -->` and `<!-- NAME: end -->`, in README.md or a page of docs/, is
replaced with such a file's text.

    python -m bondlab.readme_block leaderboard results/examples/leaderboard/summary.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def pages(root: Path) -> list[Path]:
    """The pages a block may live in: the README and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def page_with(name: str, root: Path) -> Path | None:
    """The page under `root` that holds `name`'s markers, if one does."""
    begin, end = markers(name)
    for page in pages(root):
        text = page.read_text() if page.is_file() else ""
        if begin in text and end in text:
            return page
    return None


def block_in(page: Path, name: str) -> str:
    """What lies between `name`'s markers in `page`."""
    begin, end = markers(name)
    return page.read_text().split(begin, 1)[1].split(end, 1)[0]


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
        description="Put a generated file's text into a page of the docs, between its NAME markers.",
    )
    p.add_argument("name", help="the markers' name, as in <!-- NAME: begin -->")
    p.add_argument("file", help="the generated text (e.g. a leaderboard's summary.md)")
    p.add_argument(
        "--readme",
        help="the page [default: the one of README.md and docs/*.md that holds the markers]",
    )
    args = p.parse_args(argv)
    source = Path(args.file)
    if not source.is_file():
        print(f"error: {source}: no such file", file=sys.stderr)
        return 2
    page = Path(args.readme) if args.readme else page_with(args.name, Path.cwd())
    if page is None:
        begin, _ = markers(args.name)
        print(f"error: no page of README.md and docs/*.md holds '{begin}'", file=sys.stderr)
        return 2
    try:
        splice(page, args.name, source.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{page}: {args.name} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
