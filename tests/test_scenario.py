"""Scenario files: bundled ones validate; malformed ones fail with one line naming the file and the field.

The malformed corpus lives in tests/malformed/*.yaml. Each file holds one defect; its first line is
`# expect: <text the error line must contain>`, and an optional `# xfail: <reason>` line marks a known bug.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bondlab.scenario import ScenarioError, _strip_union_tags, load_scenario
from bondlab.timeline import expand_events, link_timeline

from conftest import ROOT, SCENARIOS

MALFORMED = Path(__file__).resolve().parent / "malformed"
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))
SEED = SCENARIOS / "seed-asymmetric.yaml"


def _header(path: Path) -> tuple[str, str | None]:
    lines = path.read_text().splitlines()
    expect = lines[0].removeprefix("# expect:").strip() if lines and lines[0].startswith("# expect:") else ""
    marks = [line.removeprefix("# xfail:").strip() for line in lines[1:3] if line.startswith("# xfail:")]
    return expect, (marks[0] if marks else None)


def _cases() -> list:
    cases = []
    for path in sorted(MALFORMED.glob("*.yaml")):
        expect, xfail = _header(path)
        marks = [pytest.mark.xfail(reason=xfail, strict=True)] if xfail else []
        cases.append(pytest.param(path, expect, id=path.stem, marks=marks))
    return cases


CASES = _cases()


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bondlab", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def _error_line(proc: subprocess.CompletedProcess) -> str:
    """The one stderr line of a failed CLI call (asserting there is exactly one, and no traceback)."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), proc.stderr
    return lines[0]


def _scenario_error(path: Path | str, overrides: list[str] | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg and msg, repr(msg)
    return msg


# --- bundled scenarios -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_validates(path):
    """Every bundled scenario loads, named after its file, with every link and event accepted."""
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert sc.links and sc.duration_s > 0


def test_cli_validates_all_bundled_scenarios():
    """`bondlab validate scenarios/*.yaml` exits 0 with one ok line per file and nothing on stderr."""
    proc = _cli("validate", *map(str, BUNDLED))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == len(BUNDLED) >= 8
    assert all(line.startswith(f"ok: {p}") for line, p in zip(lines, BUNDLED, strict=True))


# --- malformed corpus --------------------------------------------------------------------------------------


def test_malformed_corpus_is_complete():
    """The corpus holds ~15 one-defect files, each saying what its error line must contain."""
    assert len(CASES) >= 15
    for param in CASES:
        path, expect = param.values
        assert expect, f"{path.name}: first line must be '# expect: <text>'"
    assert (MALFORMED / "traces" / "garbage.up").is_file()


@pytest.mark.parametrize("path, expect", CASES)
def test_malformed_raises_one_line_scenario_error(path, expect):
    """load_scenario raises ScenarioError: one line, starting with the file path, naming the field."""
    msg = _scenario_error(str(path))
    assert msg.startswith(f"{path}: "), msg
    assert expect in msg, msg


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    return lines[0]


@pytest.mark.parametrize("path, expect", CASES)
def test_cli_validate_malformed_prints_one_line(cli, path, expect):
    """`bondlab validate BAD` returns non-zero and prints one stderr line naming the file and field."""
    rc, out, err = cli("validate", str(path))
    assert rc != 0 and out == ""
    line = _one_line(err)
    assert str(path) in line and expect in line, line


def test_cli_validate_corpus_in_a_real_process():
    """`python -m bondlab validate BAD...` exits non-zero, one stderr line per file in order, no traceback."""
    proc = _cli("validate", *(str(param.values[0]) for param in CASES))
    assert proc.returncode != 0 and proc.stdout == ""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == len(CASES), proc.stderr
    for line, param in zip(lines, CASES, strict=True):
        path, expect = param.values
        assert line.startswith(f"error: {path}: "), line
        if not param.marks:  # known bugs are checked (as xfail) by the per-file tests
            assert expect in line, line


def test_zero_byte_file_is_one_line_error(tmp_path):
    """A zero-byte scenario file is reported as one line naming the file, not a crash on None."""
    path = tmp_path / "blank.yaml"
    path.write_bytes(b"")
    msg = _scenario_error(path)
    assert msg.startswith(f"{path}: ") and "(top level)" in msg


@pytest.mark.parametrize("name", ["absent.yaml", "a-directory.yaml"])
def test_unreadable_scenario_is_one_line_error(tmp_path, name):
    """A scenario path that is missing or is a directory is one line naming the file."""
    path = tmp_path / name
    if name == "a-directory.yaml":
        path.mkdir()
    msg = _scenario_error(path)
    assert msg.startswith(f"{path}: cannot read scenario"), msg


def test_non_utf8_scenario_is_one_line_error(tmp_path):
    """A scenario file that is not UTF-8 text is one line naming the file (CLI: no traceback)."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"duration_s: 20\ndescription: caf\xe9\nlinks:\n  - {name: a, capacity_bps: 1000000}\n")
    msg = _scenario_error(path)
    assert msg.startswith(f"{path}: "), msg
    line = _error_line(_cli("validate", str(path)))
    assert str(path) in line


def test_duplicate_yaml_key_is_an_error(tmp_path):
    """A key given twice in one mapping (invalid YAML) is reported, not silently resolved to the last."""
    path = tmp_path / "twice.yaml"
    path.write_text("duration_s: 20\nduration_s: 200\nlinks:\n  - {name: a, capacity_bps: 1000000}\n")
    msg = _scenario_error(path)
    assert msg.startswith(f"{path}: ") and "duration_s" in msg, msg
    assert "line 2" in msg, msg


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    """Rejecting duplicate keys leaves YAML merges alone: an explicit key overrides a merged one."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        "duration_s: 20\nlinks:\n  - &a {name: a, capacity_bps: 1000000, delay_ms: 70}\n"
        "  - {<<: *a, name: b}\n"
    )
    sc = load_scenario(path)
    assert [link.name for link in sc.links] == ["a", "b"] and sc.link("b").delay_ms == 70


def test_binary_trace_is_not_a_text_trace_file(tmp_path):
    """A trace that is not UTF-8 text is reported as such, naming the scenario, the field and the trace."""
    (tmp_path / "noise.up").write_bytes(bytes(range(128, 256)) * 4)
    path = tmp_path / "binary.yaml"
    path.write_text("duration_s: 20\nlinks:\n  - {name: a, trace: noise.up}\n")
    msg = _scenario_error(path)
    assert msg.startswith(f"{path}: links[0].trace: "), msg
    assert msg.endswith("noise.up: not a text trace file (link 'a')"), msg


def test_union_member_labels_are_not_part_of_the_field_path():
    """pydantic's union member labels after a union-typed field are dropped; other names are kept."""
    assert _strip_union_tags(("events", 0, "link", "str")) == ("events", 0, "link")
    assert _strip_union_tags(("events", 0, "link", "list[str]", 1)) == ("events", 0, "link", 1)
    assert _strip_union_tags(("links", 0, "gilbert", "p_bad_good")) == ("links", 0, "gilbert", "p_bad_good")
    assert _strip_union_tags(("links", 1, "str")) == ("links", 1, "str")  # an unknown key named "str"


# --- run must not touch results on bad input ----------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_run_on_malformed_scenario_keeps_completed_results(tmp_path, cli):
    """`bondlab run BAD` exits non-zero with one line and leaves an earlier completed run byte-identical."""
    results = tmp_path / "results"
    rc, _, err = cli("run", str(SEED), "--set", "duration_s=3", "--results", str(results), "-q")
    assert rc == 0, err
    run = results / "seed-asymmetric" / "dwrr-1"
    assert {"run.json", "metrics.json", "timeseries.parquet"} <= {p.name for p in run.iterdir()}
    before = _snapshot(results)

    # Same scenario name, scheduler and seed as the completed run, so each would write into its directory.
    text = SEED.read_text()
    bad_dir = tmp_path / "bad"
    (bad_dir / "traces").mkdir(parents=True)
    (bad_dir / "traces" / "garbage.up").write_bytes((MALFORMED / "traces" / "garbage.up").read_bytes())
    past_end = bad_dir / "seed-asymmetric.yaml"
    past_end.write_text(text + "events:\n  - {at_s: 61, link: lte-a, up: false}\n")
    garbage = tmp_path / "bad" / "seed-asymmetric-trace.yaml"
    garbage.write_text(
        "name: seed-asymmetric\n" + text.replace("capacity_bps: 2000000", "trace: traces/garbage.up")
    )
    proc = _cli("run", str(past_end), "--results", str(results), "-q")  # a real process: exit code, stderr
    line = _error_line(proc)
    assert str(past_end) in line and "events[0].at_s" in line, line
    bad_alpha = (str(SEED), "--set", "duration_s=3", "--set", "bonding.alpha=abc")
    for argv, field in [((str(garbage),), "links[1].trace"), (bad_alpha, "bonding.alpha")]:
        rc, _, err = cli("run", *argv, "--results", str(results), "-q")
        line = _one_line(err)
        assert rc != 0 and argv[0] in line and field in line, line
    assert _snapshot(results) == before


# --- --set overrides ---------------------------------------------------------------------------------------


def test_set_overrides_change_the_model():
    """--set section.key=value and links.<name>.key=value change exactly the named field."""
    base = load_scenario(SEED)
    sc = load_scenario(
        SEED, ["bonding.alpha=0.3", "links.lte-b.loss=0.05", "bonding.rate_control=false", "duration_s=3"]
    )
    assert base.bonding.alpha == 0.125 and sc.bonding.alpha == 0.3
    assert sc.link("lte-b").loss == 0.05 and sc.link("lte-a").loss == base.link("lte-a").loss == 0.01
    assert sc.bonding.rate_control is False and sc.duration_s == 3
    assert sc.bonding.headroom == base.bonding.headroom
    assert load_scenario(SEED, ["links.0.delay_ms=12"]).link("lte-a").delay_ms == 12


BAD_SETS = [
    pytest.param("bonding.nope=1", ("bonding.nope",), id="unknown-key"),
    pytest.param("bonding.alpha=abc", ("bonding.alpha",), id="wrong-type"),
    pytest.param("links.lte-a.loss=2", ("links[0].loss",), id="out-of-range"),
    pytest.param("links.lte-z.loss=0.1", ("links.lte-z",), id="unknown-link"),
    pytest.param("links.5.loss=0.1", ("links.5", "links[5]"), id="link-index-out-of-range"),
    pytest.param("encoder.fps=[1", ("encoder.fps",), id="unparsable-value"),
    pytest.param("encoder.fps={a: 1, a: 2}", ("duplicate key 'a'",), id="duplicate-key-in-value"),
    pytest.param("duration_s.x=1", ("duration_s",), id="not-a-section"),
]


@pytest.mark.parametrize("override, fields", BAD_SETS)
def test_bad_set_is_one_line_scenario_error(override, fields):
    """A bad --set raises ScenarioError: one line, starting with the file path, naming the field."""
    msg = _scenario_error(SEED, [override])
    assert msg.startswith(f"{SEED}: "), msg
    assert any(f in msg for f in fields), msg


def test_bad_set_messages_name_the_file_and_the_problem():
    """--set errors read `<file>: --set <item>: <problem>`, like every other scenario error."""
    assert _scenario_error(SEED, ["links.lte-z.loss=0.1"]) == (
        f"{SEED}: --set links.lte-z.loss=0.1: no link named 'lte-z'"
    )
    assert _scenario_error(SEED, ["links.5.loss=0.1"]) == (
        f"{SEED}: --set links.5.loss=0.1: no link at index 5 (2 links)"
    )
    assert _scenario_error(SEED, ["bonding"]) == f"{SEED}: --set bonding: expected dotted.key=value"


@pytest.mark.parametrize("override, fields", BAD_SETS)
def test_cli_bad_set_prints_one_line(tmp_path, cli, override, fields):
    """`bondlab run --set BAD` returns non-zero, prints one line naming the file and field, writes nothing."""
    rc, _, err = cli("run", str(SEED), "--set", override, "--results", str(tmp_path), "-q")
    assert rc != 0
    line = _one_line(err)
    assert str(SEED) in line and any(f in line for f in fields), line
    assert list(tmp_path.iterdir()) == []


# --- defaults ----------------------------------------------------------------------------------------------


def test_defaults_fill_in_and_name_is_the_file_stem(tmp_path):
    """A minimal scenario gets its name from the file stem and documented defaults everywhere else."""
    path = tmp_path / "my-uplink.yaml"
    path.write_text("duration_s: 5\nlinks:\n  - {name: a, capacity_bps: 1000000}\n")
    sc = load_scenario(path)
    assert sc.name == "my-uplink"
    link = sc.link("a")
    assert (link.delay_ms, link.jitter_ms, link.loss, link.queue_bytes, link.up) == (30, 0, 0, 250_000, True)
    assert sc.encoder.fps == 30 and sc.encoder.start_bitrate_bps == 6_000_000
    assert sc.receiver.latency_ms == 800
    assert sc.bonding.alpha == 0.125 and sc.events == [] and sc.seed == 1
    assert sc.resolved()["bonding"]["headroom"] == 1.1
    path.write_text("name: given\nduration_s: 5\nlinks:\n  - {name: a, capacity_bps: 1000000}\n")
    assert load_scenario(path).name == "given"


def test_trace_paths_resolve_relative_to_the_scenario_file(tmp_path, monkeypatch):
    """A relative trace path is looked up next to the scenario file, whatever the working directory."""
    home = tmp_path / "deep" / "dir"
    (home / "traces").mkdir(parents=True)
    (home / "traces" / "flat.up").write_text("1\n")
    path = home / "s.yaml"
    path.write_text("duration_s: 5\nlinks:\n  - {name: t, trace: traces/flat.up}\n")
    cwd = tmp_path / "elsewhere"
    (cwd / "traces").mkdir(parents=True)
    (cwd / "traces" / "flat.up").write_text("not a trace\n")  # would fail if resolved against the cwd
    monkeypatch.chdir(cwd)
    sc = load_scenario(path)
    assert sc.trace_path(sc.link("t").trace).resolve() == (home / "traces" / "flat.up").resolve()
    monkeypatch.chdir(tmp_path)
    assert load_scenario(Path("deep/dir/s.yaml")).link("t").trace == "traces/flat.up"
    cellular = load_scenario(SCENARIOS / "cellular-traces.yaml")
    assert all(cellular.trace_path(link.trace).is_file() for link in cellular.links)


# --- timeline ----------------------------------------------------------------------------------------------

TIMELINE = """\
duration_s: 30
links:
  - {name: a, capacity_bps: 5000000, delay_ms: 30}
  - {name: b, capacity_bps: 4000000, delay_ms: 45}
  - {name: t, trace: traces/flat.up, trace_offset_s: 2}
events:
"""


def _timeline_scenario(tmp_path, events: str):
    (tmp_path / "traces").mkdir(exist_ok=True)
    (tmp_path / "traces" / "flat.up").write_text("1\n")
    path = tmp_path / "timeline.yaml"
    path.write_text(TIMELINE + events)
    return load_scenario(path)


def test_for_s_reverts_at_at_s_plus_for_s(tmp_path):
    """An event with for_s is undone at at_s + for_s, restoring exactly the fields it changed."""
    sc = _timeline_scenario(tmp_path, "  - {at_s: 5, link: a, delay_ms: 200, up: false, for_s: 1.5}\n")
    changes = expand_events(sc)
    assert [(c.t, c.link, c.changes) for c in changes] == [
        (5, "a", {"delay_ms": 200.0, "up": False}),
        (6.5, "a", {"delay_ms": 30.0, "up": True}),
    ]
    assert changes[0].state["capacity_bps"] == 5_000_000 and changes[0].state["up"] is False
    assert changes[1].state == link_timeline(sc, "a")[0][1]


def test_event_on_a_list_of_links_changes_each(tmp_path):
    """`link: [a, b]` applies the change to both links at the same time, and reverts both."""
    sc = _timeline_scenario(tmp_path, "  - {at_s: 10, link: [a, b], capacity_bps: 1000000, for_s: 2}\n")
    at = {(c.t, c.link): c.state for c in expand_events(sc)}
    assert set(at) == {(10, "a"), (10, "b"), (12, "a"), (12, "b")}
    assert at[10, "a"]["capacity_bps"] == at[10, "b"]["capacity_bps"] == 1_000_000
    assert at[10, "a"]["delay_ms"] == 30 and at[10, "b"]["delay_ms"] == 45
    assert at[12, "a"]["capacity_bps"] == 5_000_000 and at[12, "b"]["capacity_bps"] == 4_000_000
    assert link_timeline(sc, "t") == link_timeline(sc, "t")[:1]  # the third link is untouched


def test_capacity_event_on_a_trace_link_ends_the_trace(tmp_path):
    """Setting capacity_bps on a trace link replaces the trace; its for_s revert brings the trace back."""
    sc = _timeline_scenario(tmp_path, "  - {at_s: 8, link: t, capacity_bps: 3000000, for_s: 4}\n")
    timeline = link_timeline(sc, "t")
    assert [t for t, _ in timeline] == [0, 8, 12]
    start, during, after = (state for _, state in timeline)
    assert start["trace"] == "traces/flat.up" and start["capacity_bps"] is None
    assert during["trace"] is None and during["capacity_bps"] == 3_000_000
    assert after["trace"] == "traces/flat.up" and after["capacity_bps"] is None
    assert after["trace_offset_s"] == 2
