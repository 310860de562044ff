"""A real run: librist over netns/veth links shaped by netem, replaying a scenario in real time.

Division of labour: `inner_run` needs root and netem (it runs on this host, or inside a VM where
the host kernel has no sch_netem) and writes raw files only: frames.json and sender.json from the
sender process, arrivals.npy from the receiver process, shaping.json (what the links were set to,
when). `assemble` then turns them into the same metrics.json / timeseries.parquet as a sim run,
with core's receiver judging every frame against its playout deadline.

librist's receiver releases a packet on a fixed schedule: its write time + an offset librist fixes
when the flow starts (about the one-way delay then) + `buffer`; a packet that arrives (or is
repaired) after that comes out late or not at all. The sim's budget is `receiver.latency_ms` from
capture, network delay included, so each link's buffer is the latency minus its base one-way delay.
A packet is judged by how long after its *write* librist released it (the header carries the write
time): on time when no later than its flow's schedule (the earliest releases of that flow, 5th
percentile) + RELEASE_TOLERANCE_MS. Counting from the write leaves out the sender process's lag
behind real time, an artefact of a slow emulation host (reported as frames_behind_real_time).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bondlab.core.metrics import build_metrics
from bondlab.core.receiver import BondedReceiver
from bondlab.real import netns, shaping
from bondlab.scenario import Scenario, parse_scenario
from bondlab.timeline import expand_events, initial_state, trace_segments
from bondlab.traces import load_trace

RELEASE_TOLERANCE_MS = 50.0
BASE_PORT = 6000  # RIST main profile: data on an even port, RTCP on the next
START_DELAY_S = 1.5  # librist handshakes before the first frame
RAW_FILES = ("frames.json", "sender.json", "arrivals.npy", "shaping.json", "sender-timeseries.json")


class RealRunError(RuntimeError):
    """A real run that could not happen; str() is one line saying why and what to do."""


@dataclass(frozen=True)
class Action:
    t: float
    link: str
    argvs: list[list[str]]
    capacity_bps: float  # what the link's bottleneck is set to from t on (IP bit/s; 0 while down)


def buffer_ms(scenario: Scenario, link: int) -> int:
    """librist's recovery buffer on one link: the sim's ARQ budget (playout latency from capture)
    less that link's base one-way delay, which librist's release schedule adds by itself."""
    return int(max(scenario.receiver.latency_ms - scenario.links[link].delay_ms, 50))


def _rate_now(scenario: Scenario, state: dict[str, Any], trace_t: float) -> float | None:
    if state["trace"] is None:
        return None
    return shaping.trace_rate_at(load_trace(scenario.trace_path(state["trace"])), trace_t)


def plan_actions(scenario: Scenario, ends: dict[str, netns.LinkEnds]) -> list[Action]:
    """Every tc change of the run in time order: initial shaping at t=0, events, 100 ms trace steps."""
    pkt = scenario.encoder.packet_bytes
    actions: list[Action] = []
    states = {link.name: initial_state(link) for link in scenario.links}
    for link in scenario.links:
        e = ends[link.name]
        state = states[link.name]
        rate = _rate_now(scenario, state, link.trace_offset_s)
        actions.append(
            Action(
                0.0,
                link.name,
                shaping.link_argvs(link, e.sender_dev, e.receiver_dev, rate_bps=rate, packet_bytes=pkt),
                _capacity(state, rate),
            )
        )
    for change in expand_events(scenario):
        e = ends[change.link]
        before = states[change.link]
        trace_t = _trace_time(scenario, change.link, change.t)
        rate = _rate_now(scenario, change.state, trace_t) if trace_t is not None else None
        after, argvs = shaping.change_argvs(
            before, change.changes, e.sender_dev, e.receiver_dev, rate_bps=rate, packet_bytes=pkt
        )
        states[change.link] = after
        actions.append(Action(change.t, change.link, argvs, _capacity(after, rate)))
    for link in scenario.links:
        e = ends[link.name]
        for start, end, state, trace_t0 in trace_segments(scenario, link.name):
            trace = load_trace(scenario.trace_path(state["trace"]))
            for dt, rate in shaping.trace_rate_steps(trace, trace_t0, end - start):
                t = start + dt
                if t == 0.0 or t >= end:
                    continue  # t=0 is the initial shaping; a segment's end belongs to the next state
                actions.append(
                    Action(
                        t,
                        link.name,
                        [shaping.rate_argv(e.sender_dev, state, rate, pkt)],
                        _capacity(state, rate),
                    )
                )
    actions.sort(key=lambda a: a.t)
    return actions


def _capacity(state: dict[str, Any], rate: float | None) -> float:
    if not state["up"]:
        return 0.0
    return float(rate if rate is not None else state["capacity_bps"])


def _trace_time(scenario: Scenario, name: str, t: float) -> float | None:
    for start, end, _state, trace_t0 in trace_segments(scenario, name):
        if start <= t < end:
            return trace_t0 + (t - start)
    return None


def _python() -> str:
    return sys.executable


def inner_run(scenario: Scenario, scheduler: str, out_dir: Path, timeout_s: float | None = None) -> None:
    """Set up the namespaces, run receiver and sender, replay the link changes, tear everything down."""
    out_dir.mkdir(parents=True, exist_ok=True)
    netns.cleanup_stale()
    names = [link.name for link in scenario.links]
    bufs = [buffer_ms(scenario, i) for i in range(len(names))]
    with netns.Testbed(names) as tb:
        actions = plan_actions(scenario, tb.links)
        for action in (a for a in actions if a.t == 0.0):
            for argv in action.argvs:
                tb.apply(action.link, argv)
        tb.sync()
        ports = [BASE_PORT + 2 * i for i in range(len(names))]
        ends = [tb.links[n] for n in names]
        config = {
            "scenario": scenario.resolved(),
            "scheduler": scheduler,
            # cname on the listening side: librist's sender stats carry the receiver's cname, which is
            # how rist-weighted (one context, a peer per link) tells its links apart.
            "listen_urls": [
                f"rist://@{e.receiver_ip}:{p}?buffer={b}&cname={e.name}" for e, p, b in zip(ends, ports, bufs)
            ],
            "peer_urls": [
                f"rist://{e.receiver_ip}:{p}?buffer={b}&cname={e.name}" for e, p, b in zip(ends, ports, bufs)
            ],
            "rist_log_level": os.environ.get("BONDLAB_RIST_LOG", "error"),
        }
        cfg = out_dir / "real-config.json"
        cfg.write_text(json.dumps(config, indent=2))
        receiver = tb.popen("receiver", [_python(), "-m", "bondlab.real.receiver", str(cfg), str(out_dir)])
        _wait_for(out_dir / "receiver.ready", receiver, 120, "receiver")
        config["start_delay_s"] = START_DELAY_S
        cfg.write_text(json.dumps(config, indent=2))
        sender = tb.popen("sender", [_python(), "-m", "bondlab.real.sender", str(cfg), str(out_dir)])
        t0 = float(_wait_for(out_dir / "sender.ready", sender, 120, "sender"))
        log: list[dict[str, Any]] = [
            {"t": 0.0, "link": a.link, "capacity_bps": a.capacity_bps} for a in actions if a.t == 0.0
        ]
        deadline = t0 + scenario.duration_s + 60.0 if timeout_s is None else time.monotonic() + timeout_s
        for action in (a for a in actions if a.t > 0.0):
            while time.monotonic() < t0 + action.t:
                if sender.poll() is not None:
                    break
                time.sleep(min(0.02, max(0.0, t0 + action.t - time.monotonic())))
            if sender.poll() is not None:
                break
            for argv in action.argvs:
                tb.apply(action.link, argv)
            log.append({"t": action.t, "link": action.link, "capacity_bps": action.capacity_bps})
        rc = _wait_exit(sender, deadline)
        time.sleep(scenario.receiver.latency_ms / 1000.0 + 0.5)  # let librist release what it holds
        receiver.send_signal(signal.SIGTERM)
        _wait_exit(receiver, time.monotonic() + 20)
        tb.sync()
        (out_dir / "shaping.json").write_text(json.dumps({"t0": t0, "changes": log}, indent=1))
        if rc != 0:
            raise RealRunError(f"sender exited with status {rc}; see {out_dir / 'sender.log'}")


def _wait_for(path: Path, proc: subprocess.Popen[Any], timeout: float, what: str) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise RealRunError(
                f"{what} process exited with status {proc.returncode} before it was ready "
                f"(see {path.parent / (what + '.log')})"
            )
        time.sleep(0.05)
    raise RealRunError(f"{what} process not ready after {timeout:.0f} s")


def _wait_exit(proc: subprocess.Popen[Any], deadline: float) -> int:
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RealRunError("a run process did not finish in time and was killed") from None


def assemble(
    scenario: Scenario, out_dir: Path
) -> tuple[dict[str, Any], pd.DataFrame, list[dict[str, Any]], np.ndarray]:
    """Raw files of an inner run -> (metrics, timeseries, messages, delays), judged by core's receiver."""
    missing = [f for f in RAW_FILES if not (out_dir / f).exists()]
    if missing:
        raise RealRunError(f"real run left no {', '.join(missing)} in {out_dir}")
    frames = json.loads((out_dir / "frames.json").read_text())
    summary = json.loads((out_dir / "sender.json").read_text())
    shaping_log = json.loads((out_dir / "shaping.json").read_text())
    arrivals = np.load(out_dir / "arrivals.npy")
    rx = BondedReceiver(scenario.receiver.latency_ms, reorder=False)
    frame_capture = {}
    for fid, capture_t, is_iframe, n_packets, size in frames:
        rx.register_frame(fid, capture_t, bool(is_iframe), n_packets, size)
        frame_capture[fid] = capture_t
    one_flow = json.loads((out_dir / "inner.json").read_text())["scheduler"] == "rist-weighted"
    late_by = release_lateness(arrivals, one_flow)
    latency = scenario.receiver.latency_ms / 1000.0
    for (seq, fid), late in zip(arrivals[["seq", "frame_id"]].tolist(), late_by.tolist()):
        if fid in frame_capture:  # on time iff released no later than schedule + tolerance
            rx.on_packet(seq, fid, frame_capture[fid] + latency + late)
    report = rx.report()
    names = [link.name for link in scenario.links]
    changes = pd.DataFrame(shaping_log["changes"])
    cap_share = _capacity_share(changes, names, scenario.duration_s)
    bitrates = [
        r for r in json.loads((out_dir / "sender-timeseries.json").read_text()).get("bitrate_bps", [])
    ]
    metrics = build_metrics(
        report,
        scenario.duration_s,
        mean_bitrate_bps=float(np.mean(bitrates)) if bitrates else float(scenario.encoder.start_bitrate_bps),
        retransmissions=summary["retransmissions"],
        congestion_messages=len(summary["messages"]),
        bitrate_changes=sum(1 for a, b in zip(bitrates, bitrates[1:]) if a != b),
        packets_sent=summary["packets_sent"],
        packets_dropped=summary["dropped_at_sender"],
        link_names=names,
        link_bytes=summary["link_bytes"],
        link_capacity_share=cap_share,
    )
    metrics["real"] = {k: summary[k] for k in ("cpu_s", "wall_s", "cpu_cores", "frames_behind_real_time")}
    buffers = [buffer_ms(scenario, i) for i in range(len(scenario.links))]
    metrics["real"]["librist_buffer_ms"] = min(buffers)
    metrics["real"]["librist_buffer_ms_per_link"] = buffers
    ts = _timeseries(out_dir, changes, scenario)
    return metrics, ts, summary["messages"], report.delays_ms


def release_lateness(arrivals: np.ndarray, one_flow: bool) -> np.ndarray:
    """Seconds each packet came out of librist after its flow's schedule + tolerance (<= 0: on time).

    The schedule is the flow's typical earliest release after the write (5th percentile): one flow
    per link, or a single flow for rist-weighted (one receiver context).
    """
    release = arrivals["arrival"] - arrivals["write_t"]
    flows = np.zeros(len(arrivals), dtype=int) if one_flow else arrivals["link"].astype(int)
    late = np.empty(len(arrivals))
    for flow in np.unique(flows):
        mask = flows == flow
        schedule = np.percentile(release[mask], 5)
        late[mask] = release[mask] - schedule - RELEASE_TOLERANCE_MS / 1000.0
    return late


def _capacity_share(changes: pd.DataFrame, names: list[str], duration: float) -> list[float]:
    means = []
    for name in names:
        part = changes[changes.link == name].sort_values("t")
        t = np.append(part.t.to_numpy(), duration)
        means.append(float(np.sum(np.diff(t) * part.capacity_bps.to_numpy())) / duration)
    total = sum(means) or 1.0
    return [m / total for m in means]


def _timeseries(out_dir: Path, changes: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    ts = pd.DataFrame(json.loads((out_dir / "sender-timeseries.json").read_text()))
    if ts.empty:
        return ts
    ts = ts.sort_values("t")
    changes = changes.sort_values("t")
    parts = []
    for name, part in ts.groupby("link", sort=False):
        cap = changes[changes.link == name][["t", "capacity_bps"]]
        parts.append(pd.merge_asof(part, cap, on="t", direction="backward"))
    ts = pd.concat(parts).sort_values(["t", "link"]).reset_index(drop=True)
    ts["queue_bytes"] = np.nan  # not observable on a real link
    ts["up"] = ts["capacity_bps"] > 0
    ts["link"] = ts["link"].astype("category")
    return ts


def load_inner_config(path: Path) -> tuple[Scenario, str]:
    cfg = json.loads(path.read_text())
    sc = cfg["scenario"]
    return parse_scenario(dict(sc), str(path), Path(sc["base_dir"]), sc["name"]), cfg["scheduler"]


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.runner RAW_DIR...`: inner runs, one after the other (in one VM boot)."""
    args = sys.argv[1:] if argv is None else argv
    for raw in map(Path, args):
        scenario, scheduler = load_inner_config(raw / "inner.json")
        print(
            f"real run: {scenario.name} {scheduler} ({scenario.duration_s:g} s)", file=sys.stderr, flush=True
        )
        try:
            inner_run(scenario, scheduler, raw)
        except (RealRunError, netns.NetnsError) as exc:
            print(f"error: {scenario.name} {scheduler}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
