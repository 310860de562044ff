"""What the packet-train evidence read on a real run's wire, per link, against the link's rate.

    python -m bondlab.real.train_check RESULTS/<scenario>/real-<scheduler>-<seed> [--until S]

Regroups the capture's first arrivals (raw/wire.npy) into trains as the receiver does (one frame
on one link, in sequence order) and prints, per link, the pooled least-squares rate and the
pooled first-to-last span rate (core/trains.py) beside the scenario's capacity in payload bits.
DEVELOPERS.md quotes its output for the VM's black-hole run.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from bondlab.core.trains import train_rate_bps, train_span, train_sums
from bondlab.wire import WIRE_OVERHEAD_BYTES


def link_rates(run_dir: Path, until_s: float) -> list[tuple[str, float, float | None, float | None]]:
    """(link name, payload capacity, slope rate, span rate) per link over the first `until_s`."""
    meta = json.loads((run_dir / "run.json").read_text())
    wire = np.load(run_dir / "raw" / "wire.npy")
    t0 = float(wire["wire_t"].min()) if len(wire) else 0.0
    out = []
    for i, link in enumerate(meta["scenario"]["links"]):
        packet = meta["scenario"]["encoder"]["packet_bytes"]
        capacity = float(link["capacity_bps"] or 0.0) * packet / (packet + WIRE_OVERHEAD_BYTES)
        rows = wire[(wire["link"] == i) & (wire["wire_t"] - t0 < until_s)]
        trains: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
        for r in rows:
            trains[int(r["frame_id"])].append((int(r["seq"]), int(r["payload"]), float(r["wire_t"])))
        sxx = sxy = span_s = 0.0
        span_bytes = 0
        for packets in trains.values():
            packets.sort()
            sizes, times = [p[1] for p in packets], [p[2] for p in packets]
            a, b = train_sums(sizes, times)
            nbytes, span = train_span(sizes, times)
            sxx, sxy, span_bytes, span_s = sxx + a, sxy + b, span_bytes + nbytes, span_s + span
        span_rate = 8.0 * span_bytes / span_s if span_s > 0 else None
        out.append((str(link["name"]), capacity, train_rate_bps(sxx, sxy), span_rate))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bondlab.real.train_check", description=__doc__.splitlines()[0]
    )
    ap.add_argument("run", type=Path, help="a real run's directory (with raw/wire.npy)")
    ap.add_argument("--until", type=float, default=1e9, help="only the first S seconds of the wire")
    args = ap.parse_args(argv)
    for name, capacity, slope, span in link_rates(args.run, args.until):
        fmt = lambda v: "-" if v is None else f"{v / 1e6:.2f}"  # noqa: E731
        print(f"{name}: capacity {capacity / 1e6:.2f} Mbps payload, slope {fmt(slope)}, span {fmt(span)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
