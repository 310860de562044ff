"""README blocks are spliced from generated files between named markers, and nothing else moves."""

import pytest

from bondlab.readme_block import block_in, main, markers, page_with, splice


def test_a_block_replaces_only_what_lies_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    begin, end = markers("leaderboard")
    other_begin, other_end = markers("calibration summary")
    readme.write_text(f"intro\n{begin}\nold\n{end}\nmiddle\n{other_begin}\nkept\n{other_end}\n")
    splice(readme, "leaderboard", "new table\n")
    assert (
        readme.read_text() == f"intro\n{begin}\nnew table\n{end}\nmiddle\n{other_begin}\nkept\n{other_end}\n"
    )


def test_the_cli_says_what_is_missing_in_one_line(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    source = tmp_path / "summary.md"
    assert main(["leaderboard", str(source), "--readme", str(readme)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {source}: no such file"
    source.write_text("table\n")
    assert main(["leaderboard", str(source), "--readme", str(readme)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no '<!-- leaderboard: begin -->'" in err[0]
    assert readme.read_text() == "no markers\n"


@pytest.mark.parametrize(
    "name, generated",
    [
        ("leaderboard", "leaderboard/summary.md"),
        ("rate-controllers", "rate-controllers/all/summary.md"),
        ("calibration summary", "calibration/summary.md"),
        ("mutation", "mutation/score.md"),
    ],
)
def test_the_readme_tables_are_the_committed_summaries(name, generated):
    """The README's tables are the files `bondlab compare ... --leaderboard-only` wrote, pasted by
    the splice command, not typed: an edit to either shows here."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = page_with(name, root)
    assert page is not None, f"no page holds the {name} markers"
    assert block_in(page, name) == "\n" + (root / "results" / "examples" / generated).read_text()


def test_every_page_the_readme_links_exists_and_each_block_lives_in_one_page():
    """The README is the front door: the pages it links exist, and a block's markers are in one
    page only (the splice command finds that page by them)."""
    import re
    from pathlib import Path

    from bondlab.readme_block import pages

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    linked = set(re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)", readme))
    assert {"docs/usage.md", "docs/real.md", "DEVELOPERS.md"} <= linked
    assert all((root / link).is_file() for link in linked), linked
    names = re.findall(r"<!-- ([\w -]+): begin -->", "".join(p.read_text() for p in pages(root)))
    assert names and len(names) == len(set(names)), names
    assert len(readme.splitlines()) <= 200  # issue 17: a front door, the reference in docs/
