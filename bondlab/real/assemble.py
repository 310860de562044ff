"""Metrics of a real run, from the raw files its inner run left: the same metrics.json /
timeseries.parquet as a sim run.

Why a module of its own: runner.py drives the run (root, namespaces, netem, run processes) and
writes raw files only; turning them into metrics needs none of that, runs on the host after the
run (also after a VM run), and is tested on synthetic raw files (tests/real/test_real_assemble.py).

Timing is measured, not inferred: a packet's arrival is its first arrival on the wire (kernel
receive timestamp on the receiver-side veth). It counts only if librist also delivered it: a
packet librist never released is not on time whatever the wire says. On-time, decodable and
delays then follow the sim's definitions exactly (core's BondedReceiver, deadline = capture +
receiver.latency_ms). Each link's librist buffer is the latency minus its base one-way delay,
since librist's release schedule adds the delay at flow start by itself. Per-link bytes and
shares are the distinct bonding payload bytes first seen on each link's wire.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bondlab.core.metrics import build_metrics
from bondlab.core.receiver import frame_table
from bondlab.core.sender_record import SenderRecord
from bondlab.real.judge import judge_wire, wire_link_bytes, wire_summary
from bondlab.real.runner import RealRunError, buffer_ms
from bondlab.real.validity import earlier_attempts, judge_run
from bondlab.scenario import Scenario

RAW_FILES = (  # what an inner run leaves in its raw dir, all read here
    "frames.json",
    "sender.json",
    "arrivals.npy",
    "wire.npy",
    "wire.json",
    "shaping.json",
    "sender-timeseries.json",
)


def assemble(scenario: Scenario, out_dir: Path) -> dict[str, Any]:
    """Raw files of an inner run -> what results.write_outputs takes (metrics, timeseries,
    messages, delays_ms, frames, delay_capture_s), judged by core's receiver from the wire
    arrivals of the packets librist delivered (see the module docstring).

    Also writes wire.parquet next to the raw files: one row per distinct packet seen on the wire
    (link, times, delay from capture, whether librist delivered it and whether it was on time).
    """
    missing = [f for f in RAW_FILES if not (out_dir / f).exists()]
    if missing:
        raise RealRunError(f"real run left no {', '.join(missing)} in {out_dir}")
    frames = json.loads((out_dir / "frames.json").read_text())
    summary = json.loads((out_dir / "sender.json").read_text())
    shaping_log = json.loads((out_dir / "shaping.json").read_text())
    wire = np.load(out_dir / "wire.npy")
    delivered = np.load(out_dir / "arrivals.npy")
    names = [link.name for link in scenario.links]
    report, packets, not_on_wire = judge_wire(scenario.receiver.latency_ms, frames, wire, delivered)
    link_bytes = wire_link_bytes(wire, len(names))
    changes = pd.DataFrame(shaping_log["changes"])
    cap_share = _capacity_share(changes, names, scenario.duration_s)
    record = _sender_record(summary, frames, out_dir / "sender-timeseries.json", names[0])
    metrics = build_metrics(
        report,
        record,
        scenario.duration_s,
        retransmissions=summary["retransmissions"],
        link_names=names,
        link_bytes=link_bytes,  # the wire's, not what the sender handed over
        link_capacity_share=cap_share,
    )
    real = {
        k: summary[k] for k in ("cpu_s", "wall_s", "cpu_cores", "frames_behind_real_time") if k in summary
    }
    buffers = [buffer_ms(scenario, i) for i in range(len(scenario.links))]
    real["librist_buffer_ms"] = min(buffers)
    real["librist_buffer_ms_per_link"] = buffers
    real["wire"] = wire_summary(json.loads((out_dir / "wire.json").read_text()), wire, packets, not_on_wire)
    on_wire = len(wire)
    verdict = judge_run(
        summary, json.loads((out_dir / "wire.json").read_text()), shaping_log, len(frames), on_wire
    )
    real["validity"] = {k: v for k, v in verdict.items() if k not in ("valid", "invalid_reason")}
    real["attempts"] = earlier_attempts(out_dir) + [verdict["invalid_reason"]]
    real["cpu_s_per_mbit"] = _cpu_per_mbit(summary, metrics)
    metrics["real"] = real
    metrics["valid"] = verdict["valid"]
    metrics["invalid_reason"] = verdict["invalid_reason"]
    t0 = float(shaping_log["t0"])
    table = packets.assign(t=packets.wire_t - t0, link=pd.Categorical.from_codes(packets.link, names))
    table.to_parquet(out_dir / "wire.parquet", index=False)
    ts = _timeseries(out_dir, changes, scenario, wire, t0)
    outputs = {
        "metrics": metrics,
        "timeseries": ts,
        "messages": summary["messages"],
        "delays_ms": report.delays_ms,
        "frames": frame_table(report, t0),
        "delay_capture_s": report.delay_capture_t - t0,
    }
    return outputs


def _cpu_per_mbit(summary: dict[str, Any], metrics: dict[str, Any]) -> float | None:
    """The sender's CPU seconds per megabit it sent on the wire (what makes a run keep up)."""
    mbit = sum(link.get("bytes_sent", 0) for link in metrics["links"].values()) * 8 / 1e6
    return round(summary["cpu_s"] / mbit, 4) if mbit and "cpu_s" in summary else None


def _sender_record(
    summary: dict[str, Any], frames: list[list[Any]], ts_path: Path, link0: str
) -> SenderRecord:
    """sender.json as core's SenderRecord; a summary without per-frame bitrates gets the set-point
    of each stats interval instead (frames are evenly spaced in time, so means and change counts
    agree)."""
    if "frame_bitrates" in summary:  # frames live in frames.json, not in sender.json
        return SenderRecord.from_dict({**summary, "frames": frames})
    ts = json.loads(ts_path.read_text())
    rates = [int(r) for r, name in zip(ts.get("bitrate_bps", []), ts.get("link", [])) if name == link0]
    return SenderRecord.from_dict({**summary, "frames": frames, "frame_bitrates": rates})


def _capacity_share(changes: pd.DataFrame, names: list[str], duration: float) -> list[float]:
    means = []
    for name in names:
        part = changes[changes.link == name].sort_values("t")
        t = np.append(part.t.to_numpy(), duration)
        means.append(float(np.sum(np.diff(t) * part.capacity_bps.to_numpy())) / duration)
    total = sum(means) or 1.0
    return [m / total for m in means]


def _timeseries(
    out_dir: Path, changes: pd.DataFrame, scenario: Scenario, wire: np.ndarray, t0: float
) -> pd.DataFrame:
    """The sender's per-interval rows, with each link's capacity then and `wire_bps`: distinct
    bonding payload bit/s first seen on that link's wire over the interval ending at t."""
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
    interval = scenario.bonding.stats_interval_ms / 1000.0
    ts["wire_bps"] = 0.0
    for i, link in enumerate(scenario.links):
        mine = wire[wire["link"] == i]
        order = np.argsort(mine["wire_t"])
        t_arr = mine["wire_t"][order] - t0
        cum = np.concatenate([[0.0], np.cumsum(mine["payload"][order], dtype=float)])
        rows = (ts.link == link.name).to_numpy()
        t = ts.t.to_numpy()[rows]
        got = cum[np.searchsorted(t_arr, t, "right")] - cum[np.searchsorted(t_arr, t - interval, "right")]
        ts.loc[rows, "wire_bps"] = got * 8 / interval
    ts["queue_bytes"] = np.nan  # not observable on a real link
    ts["up"] = ts["capacity_bps"] > 0
    ts["link"] = ts["link"].astype("category")
    return ts
