"""bondlab.real.shaping, .trace_replay and .shaping_fidelity: scenario fields -> tc argv (pure, no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bondlab.real import shaping, shaping_fidelity, trace_replay
from bondlab.scenario import LinkSpec, parse_scenario
from bondlab.traces import load_trace

S, R = "bl1l0s", "bl1l0r"


def link(**kw: object) -> LinkSpec:
    base: dict[str, object] = {"name": "a", "capacity_bps": 6_000_000, "delay_ms": 30}
    base.update(kw)
    return LinkSpec.model_validate(base)


def after(argv: list[str], word: str, n: int = 1) -> list[str]:
    i = argv.index(word)
    return argv[i + 1 : i + 1 + n]


def scenario(
    tmp_path: Path,
    links: list[dict[str, object]],
    events: list[dict[str, object]] | None = None,
    duration_s: float = 10,
) -> object:
    data = {"duration_s": duration_s, "links": links, "events": events or []}
    return parse_scenario(data, "test.yaml", tmp_path, "test")


def test_link_argvs_layout_and_order() -> None:
    argvs = shaping.link_argvs(link(), S, R)
    assert [a[:3] for a in argvs] == [
        [shaping.TC, "qdisc", "replace"],
        [shaping.TC, "qdisc", "replace"],
        [shaping.TC, "class", "replace"],
        [shaping.TC, "qdisc", "replace"],
        [shaping.TC, "qdisc", "replace"],
    ]
    netem, htb, cls, fifo, reverse = argvs
    assert after(netem, "dev") == [S] and "root" in netem and after(netem, "handle") == ["1:"]
    assert "netem" in netem and "rate" not in netem
    assert after(htb, "parent") == ["1:1"] and after(htb, "handle") == ["10:"] and "htb" in htb
    assert after(cls, "classid") == ["10:1"] and after(cls, "parent") == ["10:"]
    assert after(fifo, "parent") == ["10:1"] and "bfifo" in fifo
    assert after(reverse, "dev") == [R] and "netem" in reverse and "loss" not in reverse
    for argv in argvs:  # every word must survive a tc -batch line
        assert all(w and not any(c.isspace() for c in w) for w in argv)


def test_delay_and_jitter_in_microseconds_uniform_by_default() -> None:
    netem = shaping.uplink_netem_argv(S, shaping.link_state(link(delay_ms=30.5, jitter_ms=4)))
    assert after(netem, "delay", 2) == ["30500us", "4000us"]
    assert "distribution" not in netem
    no_jitter = shaping.uplink_netem_argv(S, shaping.link_state(link(delay_ms=12)))
    assert no_jitter[-2:] == ["delay", "12000us"]  # no jitter word at all
    normal = shaping.uplink_netem_argv(S, shaping.link_state(link(jitter_ms=4)), distribution="normal")
    assert after(normal, "distribution") == ["normal"]
    reverse = shaping.reverse_netem_argv(R, shaping.link_state(link(delay_ms=30, jitter_ms=4)))
    assert after(reverse, "delay", 2) == ["30000us", "4000us"]


def test_reverse_path_gets_the_uplinks_loss_model_without_rate() -> None:
    """NACKs, echoes and receiver reports are lost like data: same random loss or gemodel words
    on the receiver end, no htb, no queue."""
    for kw in (
        {"loss": 0.02},
        {"gilbert": {"p_good_bad": 0.01, "p_bad_good": 0.3, "loss_bad": 0.5}, "loss": 0.1},
    ):
        state = shaping.link_state(link(jitter_ms=3, **kw))
        up, rev = shaping.uplink_netem_argv(S, state), shaping.reverse_netem_argv(R, state)
        assert rev[rev.index("loss") :] == up[up.index("loss") :] and rev.count("loss") == 1
        assert after(rev, "delay", 2) == after(up, "delay", 2)
        assert "rate" not in rev
    assert "loss" not in shaping.reverse_netem_argv(R, shaping.link_state(link()))


def test_loss_event_changes_both_ends() -> None:
    state, argvs = shaping.change_argvs(link(), {"loss": 0.05}, S, R)
    devs = [after(a, "dev")[0] for a in argvs]
    assert devs == [S, R] and all(after(a, "loss", 2) == ["random", "5%"] for a in argvs)


def test_random_loss() -> None:
    netem = shaping.uplink_netem_argv(S, shaping.link_state(link(loss=0.02)))
    assert after(netem, "loss", 2) == ["random", "2%"]
    assert "loss" not in shaping.uplink_netem_argv(S, shaping.link_state(link()))


def test_gilbert_elliott_maps_to_gemodel_p_r_1h_1k() -> None:
    g = {"p_good_bad": 0.01, "p_bad_good": 0.3, "loss_bad": 0.5, "loss_good": 0.001}
    netem = shaping.uplink_netem_argv(S, shaping.link_state(link(gilbert=g)))
    # p = good->bad, r = bad->good, 1-h = loss in bad, 1-k = loss in good
    assert after(netem, "loss", 5) == ["gemodel", "1%", "30%", "50%", "0.1%"]


def test_independent_loss_folds_into_both_gilbert_states() -> None:
    g = {"p_good_bad": 0.01, "p_bad_good": 0.3, "loss_bad": 0.5, "loss_good": 0.0}
    netem = shaping.uplink_netem_argv(S, shaping.link_state(link(gilbert=g, loss=0.1)))
    assert after(netem, "loss", 5) == ["gemodel", "1%", "30%", "55%", "10%"]
    assert netem.count("loss") == 1  # netem takes one loss model


def test_tiny_probabilities_stay_nonzero() -> None:
    netem = shaping.uplink_netem_argv(S, shaping.link_state(link(loss=1e-7)))
    assert after(netem, "loss", 2) == ["random", "0.00001%"]


def test_rate_scaled_from_ip_to_frame_bytes_with_burst() -> None:
    cls = shaping.rate_argv(S, shaping.link_state(link(capacity_bps=6_000_000)))
    scale = (1316 + 48 + 14) / (1316 + 48)  # 48: librist's measured IP overhead per packet
    assert after(cls, "rate") == [f"{round(6_000_000 * scale)}bit"]
    assert after(cls, "ceil") == after(cls, "rate")
    assert int(after(cls, "burst")[0]) == pytest.approx(6_000_000 * scale * shaping.BURST_S / 8, abs=1)
    low = shaping.rate_argv(S, shaping.link_state(link(capacity_bps=200_000)))
    assert after(low, "burst") == [str(shaping.MIN_BURST_BYTES)]


def test_queue_bytes_to_bfifo_limit_and_packets() -> None:
    fifo = shaping.queue_argv(S, shaping.link_state(link(queue_bytes=250_000)))
    assert after(fifo, "limit") == [str(shaping.queue_limit_bytes(250_000))]
    assert shaping.queue_limit_bytes(250_000) == 252_566  # * 1378 / 1364
    assert shaping.queue_limit_packets(250_000) == 183  # packets of 1316 + 48 bytes
    assert shaping.queue_limit_bytes(1500, packet_bytes=188) >= shaping.FRAME_MAX_BYTES


def test_link_down_is_total_loss_both_ways_and_floor_rate() -> None:
    state = shaping.link_state(link(up=False, loss=0.01))
    netem = shaping.uplink_netem_argv(S, state)
    assert after(netem, "loss", 2) == ["random", "100%"] and netem.count("loss") == 1
    assert after(shaping.reverse_netem_argv(R, state), "loss", 2) == ["random", "100%"]
    assert after(shaping.rate_argv(S, state), "rate") == [f"{round(shaping.RATE_FLOOR_BPS)}bit"]


def test_trace_link_needs_current_rate_and_zero_becomes_floor() -> None:
    state = shaping.link_state(link(capacity_bps=None, trace="x.trace"))
    with pytest.raises(ValueError, match="rate_bps"):
        shaping.rate_argv(S, state)
    assert after(shaping.rate_argv(S, state, rate_bps=0), "rate") == [f"{round(shaping.RATE_FLOOR_BPS)}bit"]
    assert shaping.bottleneck_rate_bps(state, 1_200_000) == round(1_200_000 * shaping.wire_scale())


def test_link_state_accepts_timeline_dicts() -> None:
    from bondlab.timeline import initial_state

    spec = link(jitter_ms=2)
    assert shaping.link_argvs(initial_state(spec), S, R) == shaping.link_argvs(spec, S, R)
    with pytest.raises(ValueError, match="lacks"):
        shaping.link_state({"delay_ms": 3})


def test_apply_changes_keeps_one_capacity_source() -> None:
    base = shaping.link_state(link())
    traced = shaping.apply_changes(base, {"trace": "t.trace"})
    assert traced["capacity_bps"] is None and traced["trace"] == "t.trace"
    fixed = shaping.apply_changes(traced, {"capacity_bps": 1e6})
    assert fixed["trace"] is None and fixed["capacity_bps"] == 1e6
    with pytest.raises(ValueError, match="not link fields"):
        shaping.apply_changes(base, {"bogus": 1})


def test_change_argvs_issue_only_affected_commands() -> None:
    spec = link(jitter_ms=1)
    state, argvs = shaping.change_argvs(spec, {"delay_ms": 120}, S, R)
    assert state["delay_ms"] == 120
    assert [after(a, "dev") for a in argvs] == [[S], [R]] and all("netem" in a for a in argvs)
    _, argvs = shaping.change_argvs(spec, {"capacity_bps": 2e6}, S, R)
    assert len(argvs) == 1 and argvs[0][1] == "class"
    _, argvs = shaping.change_argvs(spec, {"queue_bytes": 50_000}, S, R)
    assert len(argvs) == 1 and "bfifo" in argvs[0]
    _, argvs = shaping.change_argvs(spec, {"up": False}, S, R)
    assert len(argvs) == 3  # uplink netem, htb rate, reverse netem
    _, argvs = shaping.change_argvs(spec, {"delay_ms": 30}, S, R)
    assert argvs == []
    with pytest.raises(ValueError, match="rate_bps"):
        shaping.change_argvs(spec, {"trace": "t.trace"}, S, R)
    _, argvs = shaping.change_argvs(spec, {"trace": "t.trace"}, S, R, rate_bps=3e6)
    assert len(argvs) == 1 and argvs[0][1] == "class"


def write_trace(path: Path, ms: list[int]) -> Path:
    path.write_text("".join(f"{t}\n" for t in ms))
    return path


def test_trace_rate_steps(tmp_path: Path) -> None:
    # dense for 100 ms, silent for 100 ms, half as dense for 100 ms
    ms = list(range(0, 100)) + list(range(202, 301, 2))
    trace = load_trace(write_trace(tmp_path / "t.trace", ms))
    series = [float(r) for r in trace.rate_series_bps(0.0, 0.6, 0.1)]
    steps = trace_replay.trace_rate_steps(trace, 0.0, 0.6)
    assert steps[0][0] == 0.0
    assert [r for _, r in steps] == [r for i, r in enumerate(series) if i == 0 or r != series[i - 1]]
    assert (0.1, 0.0) in steps
    for t, r in steps:
        assert series[round(t / 0.1)] == r
    # a constant trace is one change
    flat = load_trace(write_trace(tmp_path / "flat.trace", [1]))
    assert trace_replay.trace_rate_steps(flat, 0.0, 2.0) == [(0.0, 12_000_000.0)]
    assert trace_replay.trace_rate_at(trace, 0.1) == 0.0
    assert trace_replay.trace_rate_at(flat, 0.73) == 12_000_000.0


def test_check_expressible_clean_scenario(tmp_path: Path) -> None:
    spec = {"name": "a", "capacity_bps": 5e6, "delay_ms": 20, "jitter_ms": 30, "loss": 0.01}
    sc = scenario(tmp_path, [spec])
    assert shaping_fidelity.check_expressible(sc) == []  # jitter > delay: both clip at 0


def test_check_expressible_reports(tmp_path: Path) -> None:
    write_trace(tmp_path / "gappy.trace", list(range(1, 101)) + [300])
    sc = scenario(
        tmp_path,
        [
            {"name": "a", "capacity_bps": 4, "delay_ms": 20},
            {"name": "b", "capacity_bps": 50_000, "delay_ms": 20, "loss": 0.1},
            {"name": "c", "capacity_bps": 5e6, "gilbert": {"p_good_bad": 0.01, "p_bad_good": 0.2}},
            {"name": "d", "trace": "gappy.trace"},
        ],
        events=[{"at_s": 2, "link": "c", "delay_ms": 80, "for_s": 1}, {"at_s": 5, "link": "b", "up": False}],
    )
    messages = shaping_fidelity.check_expressible(sc)
    text = "\n".join(messages)
    assert any(m.startswith("links[0].capacity_bps:") and "8 bit/s" in m for m in messages), text
    assert any(m.startswith("links[1].capacity_bps:") and "htb" in m for m in messages), text
    assert any(m.startswith("links[1].loss:") for m in messages), text
    assert any(m.startswith("links[1].up (from t=5 s") for m in messages), text
    assert any(m.startswith("links[2].gilbert:") and "t=2, 3 s" in m for m in messages), text
    assert any(m.startswith("links[3].trace:") and "no delivery opportunity" in m for m in messages), text
    assert not any(m.startswith("links[2].capacity") or m.startswith("links[3].capacity") for m in messages)
