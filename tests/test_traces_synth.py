"""`bondlab traces synth|cut|stats`: reproducible, follows its parameters, exact statistics, clear errors.

The statistical checks use one long trace and tolerances a wrong parameter would break (checked:
the same check rejects a model with rates x1.2 or dwells x1.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bondlab.api import simulate
from bondlab.scenario import load_scenario
from bondlab.traces import MTU_BYTES, load_trace
from bondlab.traces_synth import (
    Model,
    State,
    cut_trace,
    parse_states,
    synthesize,
    trace_stats,
    window_rates,
    write_trace,
)

from conftest import SCENARIOS

BITS = MTU_BYTES * 8


# --- reproducible ----------------------------------------------------------------------------------------


def test_same_seed_same_file_other_seed_other_file(cli, tmp_path):
    paths = [tmp_path / f"{i}.up" for i in range(3)]
    for path, seed in zip(paths, ("4", "4", "5"), strict=True):
        rc, out, err = cli("traces", "synth", "--seed", seed, "--duration", "30", "-o", str(path))
        assert rc == 0 and err == "" and out.startswith(str(path))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_bundled_synthetic_traces_regenerate_byte_for_byte(seed):
    """The command in synthetic-cellular.yaml's comment still makes the committed files."""
    synth = synthesize(Model(scale=3.0), 120.0, seed)
    committed = SCENARIOS / "traces" / f"synth-s{seed}-x3.up"
    assert committed.read_text() == "".join(f"{t}\n" for t in synth.times_ms)


# --- follows its parameters --------------------------------------------------------------------------------


def _mismatches(model: Model, synth) -> list[str]:
    """What a long synthetic trace gets wrong about `model` (empty: it follows the parameters)."""
    bad = []
    segs = synth.segments[:-1]  # the last dwell is cut at the end
    times = synth.times_ms[:-1]  # the last line is the period marker
    for i, st in enumerate(model.states):
        dwells = np.array([b - a for a, b, k in segs if k == i])
        if abs(dwells.mean() / st.dwell_s - 1) > 0.12:
            bad.append(f"{st.name}: mean dwell {dwells.mean():.2f} s, model {st.dwell_s} s")
        # rate inside the state, from the written opportunities (interior dwells >= 1 s only)
        sent = seconds = 0.0
        for a, b, k in segs:
            if k == i and b - a >= 1.0:
                sent += np.count_nonzero((times > a * 1000) & (times <= b * 1000)) * BITS
                seconds += b - a
        want = st.rate_bps * model.scale
        got = sent / seconds
        if abs(got - want) > 0.06 * max(want, 100_000):
            bad.append(f"{st.name}: rate {got:.0f} bps, model {want:.0f}")
    share = np.zeros(len(model.states))
    for a, b, k in synth.segments:
        share[k] += b - a
    share /= share.sum()
    if np.max(np.abs(share - model.time_fractions())) > 0.03:
        bad.append(f"time shares {share.round(3)}, model {model.time_fractions().round(3)}")
    return bad


@pytest.fixture(scope="module")
def long_synth():
    return synthesize(Model(), 4000.0, 7)


def test_long_trace_follows_dwell_rate_and_share_parameters(long_synth):
    assert _mismatches(Model(), long_synth) == []
    mean = (len(long_synth.times_ms) - 1) * BITS / 4000
    assert mean == pytest.approx(Model().mean_rate_bps(), rel=0.05)


def test_the_check_would_catch_wrong_parameters(long_synth):
    faster = tuple(State(s.name, s.rate_bps * 1.2, s.dwell_s, s.cv) for s in Model().states)
    longer = tuple(State(s.name, s.rate_bps, s.dwell_s * 1.3, s.cv) for s in Model().states)
    assert _mismatches(Model(states=faster), long_synth)
    assert _mismatches(Model(states=longer), long_synth)


def test_custom_states_move_to_neighbours_and_scale_multiplies_rates():
    model = parse_states("hi:4:2,mid:2:1:0.2,off:0:0.5")
    assert [s.name for s in model.states] == ["hi", "mid", "off"]
    assert model.transitions == ((0.0, 1.0, 0.0), (0.5, 0.0, 0.5), (0.0, 1.0, 0.0))
    synth = synthesize(Model(model.states, model.transitions, scale=2.0), 2000.0, 3)
    order = [k for _, _, k in synth.segments]
    assert all(abs(a - b) == 1 for a, b in zip(order, order[1:]))
    assert _mismatches(Model(model.states, model.transitions, scale=2.0), synth) == []


def test_every_line_is_a_whole_ms_and_the_period_is_the_duration(tmp_path):
    path = write_trace(synthesize(Model(), 12.5, 1).times_ms, tmp_path / "t.up")
    trace = load_trace(path)
    assert trace.period_ms == 12_500 and np.all(np.diff(trace.times_ms) >= 0) and trace.times_ms[0] >= 1


def test_an_all_outage_trace_still_has_its_period(tmp_path):
    model = Model(states=(State("off", 0, 5.0), State("off2", 0, 5.0)), transitions=((0, 1), (1, 0)))
    assert synthesize(model, 3.0, 1).times_ms.tolist() == [3000]


# --- stats: exact on hand-made traces ----------------------------------------------------------------------


def _hand_made(tmp_path: Path) -> Path:
    # (0, 500]: 10 opportunities; (500, 1000]: none; (1000, 1500]: 5; (1500, 2000]: 20 (the last at 2000)
    times = [100] * 4 + [250] * 6 + [1001, 1200, 1300, 1400, 1500] + [1600] * 19 + [2000]
    return write_trace(times, tmp_path / "hand.up")


def test_stats_on_a_hand_made_trace_are_exact(tmp_path):
    s = trace_stats(_hand_made(tmp_path))
    assert s.duration_s == 2.0 and s.windows == 4
    assert s.mean_bps == 35 * BITS / 2.0 == 210_000
    # window rates sorted: 0, 120 000, 240 000, 480 000 (numpy's linear interpolation)
    assert (s.p5_bps, s.p50_bps, s.p95_bps) == pytest.approx((18_000, 180_000, 444_000), rel=1e-12)
    assert s.outage_s == 0.5


def test_stats_counts_a_short_last_window_by_its_own_length(tmp_path):
    path = write_trace([10, 20, 1100, 1200], tmp_path / "short.up")  # 1.2 s: windows 0.5, 0.5, 0.2
    rates, widths = window_rates(path)
    assert widths.tolist() == pytest.approx([0.5, 0.5, 0.2])
    assert rates.tolist() == pytest.approx([2 * BITS / 0.5, 0, 2 * BITS / 0.2])
    assert trace_stats(path).outage_s == 0.5


def test_stats_cli_prints_one_line_per_file_and_json(cli, tmp_path):
    path = _hand_made(tmp_path)
    rc, out, err = cli("traces", "stats", str(path), str(path))
    assert rc == 0 and err == "" and len(out.splitlines()) == 2
    assert "mean 0.210 Mbps" in out and "p5/p50/p95 0.018/0.180/0.444 Mbps" in out and "outage 0.5 s" in out
    rc, out, _ = cli("traces", "stats", "--json", str(path))
    assert rc == 0 and '"outage_s": 0.5' in out


# --- cut ---------------------------------------------------------------------------------------------------


def test_cut_rebases_wraps_and_ends_at_its_length(tmp_path):
    path = write_trace([100, 200, 200, 900, 1000], tmp_path / "c.up")  # period 1000
    assert cut_trace(path, 0.15, 0.1).tolist() == [50, 50, 100]  # (150, 250], rebased
    assert cut_trace(path, 0.8, 0.5).tolist() == [100, 200, 300, 400, 400, 500]  # wraps once
    assert cut_trace(path, 0.3, 0.2).tolist() == [200]  # nothing inside: only the period marker


def test_bundled_cuts_match_the_recordings():
    shared = SCENARIOS.parent.parent / "shared" / "traces"
    if not shared.is_dir():
        pytest.skip("../shared/traces not present")
    for name, source, start in [
        ("ATT-LTE-driving-480s-120s.up", "ATT-LTE-driving.up", 480),
        ("ATT-LTE-driving-760s-120s.up", "ATT-LTE-driving.up", 760),
        ("TMobile-UMTS-driving-0s-120s.up", "TMobile-UMTS-driving.up", 0),
    ]:
        want = "".join(f"{t}\n" for t in cut_trace(shared / source, start, 120))
        assert (SCENARIOS / "traces" / name).read_text() == want, name


# --- the CLI's file drives a scenario; bad input is one line ---------------------------------------------


def test_cli_file_loads_and_drives_a_simulation(cli, tmp_path):
    path = tmp_path / "traces" / "s.up"
    rc, _, _ = cli("traces", "synth", "--seed", "2", "--duration", "20", "--scale", "4", "-o", str(path))
    assert rc == 0
    trace = load_trace(path)
    assert trace.period_ms == 20_000 and trace.mean_rate_bps > 1_000_000
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "duration_s: 5\nseed: 1\nencoder: {start_bitrate_bps: 1000000}\n"
        "links:\n  - {name: m, trace: traces/s.up, delay_ms: 30}\n  - {name: c, capacity_bps: 2000000}\n"
    )
    metrics = simulate(load_scenario(scenario), "dwrr", results=None).metrics
    assert metrics["links"]["m"]["bytes_sent"] > 0


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["stats", "{tmp}/missing.up"], "trace file not found"),
        (["stats", "{tmp}/bad.up"], "not an integer millisecond"),
        (["stats", "--window", "0", "{tmp}/bad.up"], "--window must be > 0"),
        (["synth", "--duration", "-5", "-o", "{tmp}/x.up"], "duration must be > 0 s"),
        (["synth", "--duration", "nan", "-o", "{tmp}/x.up"], "duration must be > 0 s"),
        (["synth", "--duration", "1e9", "-o", "{tmp}/x.up"], "at most 86400 s"),
        (["synth", "--scale", "0", "-o", "{tmp}/x.up"], "scale must be > 0"),
        (["synth", "--states", "a:1", "-o", "{tmp}/x.up"], "--states: expected NAME:RATE_MBPS:DWELL_S"),
        (["synth", "--states", "a:1:1,b:-1:1", "-o", "{tmp}/x.up"], "b: rate must be >= 0"),
        (["cut", "{tmp}/missing.up", "--length", "5", "-o", "{tmp}/x.up"], "trace file not found"),
        (["cut", "{tmp}/bad.up", "--start", "-1", "--length", "5", "-o", "{tmp}/x.up"], "need start >= 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, argv, expect):
    (tmp_path / "bad.up").write_text("12\nabc\n")
    rc, out, err = cli("traces", *(a.format(tmp=tmp_path) for a in argv))
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and expect in err, err
    assert not (tmp_path / "x.up").exists()
