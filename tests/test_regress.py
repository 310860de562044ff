"""Regression runs: `expect:` blocks parse (or fail as one line), bounds judge, `bondlab regress` exits right.

Small temp scenarios (3 s, two constant links) keep the runs short; one test runs the bundled
folder the way CI does and requires every bundled expectation to hold.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from bondlab.api import simulate
from bondlab.expect import Expectation, Term, judge, parse_expect
from bondlab.regress import collect, format_table, run_specs, write_junit
from bondlab.scenario import ScenarioError, load_scenario

from conftest import ROOT, SCENARIOS


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path, monkeypatch):
    """The command stores its runs under ./results by default: here, a temporary folder."""
    monkeypatch.chdir(tmp_path)


BASE = {
    "duration_s": 3,
    "seed": 1,
    "encoder": {"start_bitrate_bps": 2_000_000, "max_bitrate_bps": 4_000_000},
    "links": [
        {"name": "a", "capacity_bps": 6_000_000, "delay_ms": 20},
        {"name": "b", "capacity_bps": 3_000_000, "delay_ms": 30},
    ],
}
PASSING = {"dwrr": {"on_time_ratio": ">= 0.5", "frames_total": "== 90"}, "rr": {"packets_sent": "> 0"}}
FAILING = {"dwrr": {"on_time_ratio": "> 1.0"}, "compare": ["dwrr.goodput_bps > 2 * rr.goodput_bps"]}


def write(folder: Path, name: str, expect: object = None, **changes: object) -> Path:
    data = {**BASE, **changes}
    if expect is not None:
        data["expect"] = expect
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- parsing ----------------------------------------------------------------------------------------------


def test_good_expectations_parse_in_file_order():
    """Bounds and compare lines (factors on either side) become expectations keyed by where they sit."""
    exps = parse_expect(
        {
            "dwrr": {"on_time_ratio": ">=0.97", "p95_delay_ms": "< 400"},
            "compare": ["dwrr.goodput_bps >= 1.1 * rr.goodput_bps", "2*dwrr.p95_delay_ms<rr.p95_delay_ms"],
        }
    )
    assert [e.key for e in exps] == [
        "expect.dwrr.on_time_ratio",
        "expect.dwrr.p95_delay_ms",
        "expect.compare[0]",
        "expect.compare[1]",
    ]
    assert (exps[0].op, exps[0].right, exps[0].text) == (">=", 0.97, ">= 0.97")
    assert exps[2].left == Term("dwrr", "goodput_bps") and exps[2].right == Term("rr", "goodput_bps", 1.1)
    assert exps[3].left == Term("dwrr", "p95_delay_ms", 2.0) and exps[3].op == "<"
    assert exps[2].schedulers == ("dwrr", "rr") and exps[0].schedulers == ("dwrr",)


MALFORMED = [
    ({"dwrr": {"on_time": ">= 0.9"}}, "expect.dwrr.on_time: unknown metric 'on_time'"),
    ({"dwrr": {"links": ">= 0.9"}}, "expect.dwrr.links: unknown metric"),
    ({"dwrr": {"on_time_ratio": 0.9}}, "expect.dwrr.on_time_ratio: expected a quoted bound"),
    ({"dwrr": {"on_time_ratio": "=> 0.9"}}, "expect.dwrr.on_time_ratio: expected a quoted bound"),
    ({"dwrr": {"on_time_ratio": ">= nan"}}, "expect.dwrr.on_time_ratio: expected a quoted bound"),
    ({"dwrr": {"on_time_ratio": ">= 0.9 0.8"}}, "expect.dwrr.on_time_ratio: expected a quoted bound"),
    ({"drr": {"on_time_ratio": ">= 0.9"}}, "expect.drr: unknown scheduler 'drr'"),
    ({"rist-weighted": {"on_time_ratio": ">= 0.9"}}, "expect.rist-weighted: unknown scheduler"),
    ({"dwrr": {}}, "expect.dwrr: expected a mapping of metric -> bound"),
    ({"dwrr": ">= 0.9"}, "expect.dwrr: expected a mapping of metric -> bound"),
    ({"compare": "dwrr.goodput_bps > rr.goodput_bps"}, "expect.compare: expected a list"),
    ({"compare": ["dwrr.goodput_bps rr.goodput_bps"]}, "expect.compare[0]: expected"),
    ({"compare": ["dwrr.goodput_bps > x * rr.goodput_bps"]}, "expect.compare[0]: expected"),
    ({"compare": ["dwrr.goodput_bps > xx.goodput_bps"]}, "expect.compare[0]: unknown scheduler 'xx'"),
    ({"compare": ["dwrr.goodput_bps > rr.goodput"]}, "expect.compare[0]: unknown metric 'goodput'"),
    ([">= 0.9"], "expect: expected a mapping"),
    ({}, "expect: expected a mapping"),
    ({"seeds": [1, 2]}, "expect: no bound or compare line to judge"),
    ({**PASSING, "seeds": [1, 1]}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
    ({**PASSING, "seeds": []}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
    ({**PASSING, "seeds": 3}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
    ({**PASSING, "seeds": [1, -2]}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
    ({**PASSING, "seeds": [1, True]}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
    ({**PASSING, "seeds": list(range(21))}, "expect.seeds: expected a list of 1 to 20 distinct seeds"),
]


@pytest.mark.parametrize("expect, message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_expectation_is_one_line_naming_file_and_key(tmp_path, expect, message):
    path = write(tmp_path, "bad", expect)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: {message}"), msg


def test_cli_regress_on_malformed_expectation_exits_2_with_one_line(tmp_path, cli):
    """Nothing runs: exit 2, one stderr line naming the file and the key, no table."""
    write(tmp_path, "good", PASSING)
    bad = write(tmp_path, "bad", {"dwrr": {"on_time": ">= 0.9"}})
    rc, out, err = cli("regress", str(tmp_path), "--workers", "1", "-q")
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: {bad}: expect.dwrr.on_time: unknown metric 'on_time'"), err


def test_missing_path_exits_2(tmp_path, cli):
    rc, out, err = cli("regress", str(tmp_path / "nope.yaml"), "-q")
    assert rc == 2 and err.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file or folder"


def test_expect_changes_neither_the_run_nor_the_dump(tmp_path):
    """The block is validated but never read by a run, and stays out of run.json and sweep keys."""
    with_expect = load_scenario(write(tmp_path, "with", PASSING))
    without = load_scenario(write(tmp_path, "without"))
    assert with_expect.expect == PASSING and without.expect is None
    assert "expect" not in with_expect.resolved()
    assert with_expect.model_dump(mode="json", exclude={"name"}) == without.model_dump(
        mode="json", exclude={"name"}
    )
    a = simulate(with_expect, "dwrr", results=None).metrics
    b = simulate(without, "dwrr", results=None).metrics
    assert a == b
    over = load_scenario(write(tmp_path, "over", PASSING), ["expect.rr.on_time_ratio=< 0.5"])
    assert over.expect["rr"] == {"packets_sent": "> 0", "on_time_ratio": "< 0.5"}
    with pytest.raises(ScenarioError, match=r"expect\.rr\.on_time: unknown metric"):
        load_scenario(write(tmp_path, "over2", PASSING), ["expect.rr.on_time=< 0.5"])


# --- judging ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, value, bound, passed",
    [
        (">=", 0.97, 0.97, True),
        (">=", 0.96, 0.97, False),
        ("<=", 0.97, 0.97, True),
        ("<=", 0.98, 0.97, False),
        (">", 0.98, 0.97, True),
        (">", 0.97, 0.97, False),
        ("<", 0.96, 0.97, True),
        ("<", 0.97, 0.97, False),
        ("==", 90, 90, True),
        ("==", 89, 90, False),
    ],
)
def test_each_operator(op, value, bound, passed):
    (exp,) = parse_expect({"dwrr": {"on_time_ratio": f"{op} {bound}"}})
    verdict = judge(exp, {"dwrr": {"on_time_ratio": value}})
    assert verdict.passed is passed
    assert verdict.measured == str(value)


@pytest.mark.parametrize(
    "line, passed",
    [
        ("dwrr.goodput_bps > rr.goodput_bps", True),
        ("dwrr.goodput_bps >= 1.5 * rr.goodput_bps", True),
        ("dwrr.goodput_bps >= 1.6 * rr.goodput_bps", False),
        ("0.5 * dwrr.goodput_bps < rr.goodput_bps", True),
        ("0.7 * dwrr.goodput_bps < rr.goodput_bps", False),
        ("dwrr.frames_on_time <= dwrr.frames_total", True),
        ("rr.goodput_bps == rr.goodput_bps", True),
    ],
)
def test_compare_lines(line, passed):
    metrics = {
        "dwrr": {"goodput_bps": 6e6, "frames_on_time": 80, "frames_total": 90},
        "rr": {"goodput_bps": 4e6},
    }
    (exp,) = parse_expect({"compare": [line]})
    verdict = judge(exp, metrics)
    assert verdict.passed is passed, verdict.detail
    assert line.split()[0] in verdict.detail


def test_a_missing_value_fails():
    exp = Expectation("expect.dwrr.p95_delay_ms", "< 400", Term("dwrr", "p95_delay_ms"), "<", 400.0)
    verdict = judge(exp, {"dwrr": {"p95_delay_ms": None}})
    assert not verdict.passed and "no value" in verdict.detail


def test_a_run_that_errors_fails_its_expectations(tmp_path, monkeypatch):
    """A crashed run is a FAIL row carrying the error line; the other scheduler's bounds still judge."""
    import bondlab.api

    real = bondlab.api.simulate

    def flaky(scenario, scheduler, *args, **kwargs):
        if scheduler == "rr":
            raise RuntimeError("boom in rr")
        return real(scenario, scheduler, *args, **kwargs)

    monkeypatch.setattr(bondlab.api, "simulate", flaky)
    specs, _, _ = collect(
        [write(tmp_path, "x", {**PASSING, "compare": ["dwrr.goodput_bps > rr.goodput_bps"]})]
    )
    report = run_specs(specs, client=None, progress=False)
    by_key = {r.key: r for r in report.rows}
    assert by_key["expect.dwrr.on_time_ratio"].passed
    for key in ("expect.rr.packets_sent", "expect.compare[0]"):
        assert not by_key[key].passed and by_key[key].measured == "error"
        assert "RuntimeError: boom in rr" in by_key[key].detail
    assert report.exit_code == 1 and "FAIL expect.compare[0]" in format_table(report)


def test_seeds_judge_the_mean_over_every_seed(tmp_path):
    """`expect.seeds`: each scheduler runs once per seed and every bound reads the mean."""
    seeds = [1, 2, 3]
    jittery = [{**link, "jitter_ms": 10, "loss": 0.01} for link in BASE["links"]]  # type: ignore[attr-defined]
    expect = {"dwrr": {"p95_delay_ms": "> 0"}, "rr": {"p95_delay_ms": "> 0"}, "seeds": seeds}
    path = write(tmp_path, "x", expect, links=jittery)
    specs, _, _ = collect([path])
    assert specs[0].seeds == seeds
    report = run_specs(specs, client=None, progress=False)
    assert report.runs == 2 * len(seeds)
    for row in report.rows:
        p95 = [simulate(path, row.scheduler, seed=s, results=None).metrics["p95_delay_ms"] for s in seeds]
        assert len(set(p95)) > 1  # the seeds differ, so a mean is not any one of them
        assert float(row.measured) == pytest.approx(sum(p95) / len(p95), rel=1e-4)
        assert row.detail.endswith("(mean over seeds [1, 2, 3])")
    without = run_specs(collect([write(tmp_path, "y", {"dwrr": {"p95_delay_ms": "> 0"}})])[0], None, False)
    assert without.runs == 1 and "mean over" not in without.rows[0].detail


# --- the command ------------------------------------------------------------------------------------------


def test_passing_spec_exits_0(tmp_path, cli):
    path = write(tmp_path, "ok", PASSING)
    rc, out, err = cli("regress", str(path), "--workers", "1", "-q")
    assert rc == 0, out + err
    assert out.splitlines()[-1].startswith("3 expectations, 3 passed, 0 failed (1 scenarios, 2 runs")


def test_failing_spec_exits_1_and_junit_records_each_expectation(tmp_path, cli):
    """Every expectation is a testcase; failures carry the measured value and the bound."""
    write(tmp_path, "ok", PASSING)
    write(tmp_path, "bad", FAILING)
    junit = tmp_path / "out" / "junit.xml"
    rc, out, err = cli("regress", str(tmp_path), "--workers", "2", "--junit", str(junit))
    assert rc == 1, out + err
    table = [line for line in out.splitlines() if line.startswith(("ok ", "bad "))]
    assert len(table) == 5 and sum(line.endswith("FAIL") for line in table) == 2
    assert any(line.split()[:3] == ["bad", "dwrr", "on_time_ratio"] and "> 1.0" in line for line in table)
    root = ET.parse(junit).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 5 and root.get("tests") == "5" and root.get("failures") == "2"
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failures) == {
        "expect.dwrr.on_time_ratio > 1.0",
        "expect.compare[0] dwrr.goodput_bps > 2 * rr.goodput_bps",
    }
    msg = failures["expect.dwrr.on_time_ratio > 1.0"].get("message")
    assert msg.startswith("on_time_ratio measured ") and msg.endswith("expected > 1.0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert suites["bad"].get("failures") == "2" and suites["ok"].get("failures") == "0"


def test_folder_skips_files_without_expect(tmp_path, cli):
    """A folder gives its *.yaml files with an expect: block; others, and subfolders, are skipped."""
    with_expect = write(tmp_path, "with", PASSING)
    write(tmp_path, "without")
    (tmp_path / "notes.txt").write_text("not a scenario")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "nested", FAILING)
    specs, skipped, errors = collect([tmp_path])
    assert [s.path for s in specs] == [with_expect] and skipped == [] and errors == []
    assert specs[0].schedulers == ["dwrr", "rr"]
    specs, skipped, _ = collect([tmp_path / "without.yaml", with_expect])
    assert skipped == [tmp_path / "without.yaml"] and len(specs) == 1
    rc, out, err = cli("regress", str(tmp_path / "without.yaml"), "-q")
    assert rc == 2 and "no scenario with an expect: block" in err


def test_junit_of_an_empty_failure_free_report(tmp_path):
    specs, _, _ = collect([write(tmp_path, "x", {"dwrr": {"frames_total": "== 90"}})])
    report = run_specs(specs, client=None, progress=False)
    root = ET.parse(write_junit(report, tmp_path / "j.xml")).getroot()
    assert [c.get("name") for c in root.iter("testcase")] == ["expect.dwrr.frames_total == 90"]
    assert root.find(".//failure") is None and report.exit_code == 0


def test_bundled_scenarios_all_carry_expectations_that_hold(tmp_path):
    """What CI runs: `bondlab regress scenarios/` in a real process exits 0."""
    assert all(load_scenario(p).expect for p in SCENARIOS.glob("*.yaml"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["regress", "scenarios/", "--workers", "2", "-q", "--results", str(tmp_path / "r")]
    proc = subprocess.run(
        [sys.executable, "-m", "bondlab", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert " 0 failed " in proc.stdout.splitlines()[-1]


def test_a_second_regress_reuses_every_stored_run(tmp_path, cli, monkeypatch):
    """Runs are stored under --results; the same command again simulates nothing (same inputs and
    clean code), --rerun and --no-store simulate everything."""
    import bondlab.results
    import bondlab.reuse

    monkeypatch.setattr(bondlab.results, "git_revision", lambda: "abc1234")
    monkeypatch.setattr(bondlab.reuse, "_running_revision", lambda: "abc1234")
    path = write(tmp_path, "ok", PASSING)
    argv = ("regress", str(path), "--workers", "1", "-q", "--results", str(tmp_path / "r"))
    rc, out, err = cli(*argv)
    assert rc == 0 and "reused" not in err
    markers = sorted((tmp_path / "r").glob("*/*/complete.json"))
    assert len(markers) == 2
    before = [m.stat().st_mtime_ns for m in markers]
    rc, out2, err = cli(*argv)
    assert rc == 0 and "2 of 2 runs reused" in err
    assert [m.stat().st_mtime_ns for m in markers] == before
    assert out2.splitlines()[:-1] == out.splitlines()[:-1]  # the same table, read back
    rc, _, err = cli(*argv, "--rerun")
    assert rc == 0 and "reused" not in err
    rc, _, err = cli("regress", str(path), "--workers", "1", "-q", "--no-store")
    assert rc == 0 and "reused" not in err
