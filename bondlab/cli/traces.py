"""`bondlab traces synth|cut|stats`: make a synthetic cellular trace, cut a recorded one, summarise any.

Errors (a missing file, a malformed trace, a negative duration, a bad --states) are one line on
stderr and exit status 2, like the other commands' bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from bondlab.traces_synth import Model, cut_trace, parse_states, synthesize, trace_stats, write_trace

SYNTH_DESCRIPTION = """Write a synthetic cellular uplink trace in mahimahi format (one line per
1500-byte delivery opportunity, in ms): a seeded Markov-modulated model whose states have a mean
rate, a mean (lognormal) dwell time and a rate variation. The default states are fitted to the
recorded uplink traces of Winstein et al. (NSDI 2013); see bondlab/traces_synth.py.

  bondlab traces synth --seed 3 --duration 60 -o scenarios/traces/synth-3.up
  bondlab traces synth --scale 5 -o fast.up        # every rate x5 (a present-day LTE modem)
  bondlab traces synth --states good:4:3,poor:0.5:1:0.5,outage:0:0.5 -o custom.up
"""


def _cmd_synth(args: argparse.Namespace) -> int:
    model = parse_states(args.states) if args.states else Model()
    if args.scale != 1.0:
        model = Model(model.states, model.transitions, model.dwell_sigma, args.scale)
    synth = synthesize(model, args.duration, args.seed)  # ValueError on a bad duration
    path = write_trace(synth.times_ms, args.output)
    stats = trace_stats(path)
    print(
        f"{path}: {stats.duration_s:g} s, mean {stats.mean_bps / 1e6:.3f} Mbps "
        f"(model {model.mean_rate_bps() / 1e6:.3f}), {len(synth.segments)} state dwells, "
        f"outage {stats.outage_s:g} s"
    )
    return 0


def _cmd_cut(args: argparse.Namespace) -> int:
    path = write_trace(cut_trace(args.file, args.start, args.length), args.output)
    s = trace_stats(path)
    print(
        f"{path}: {s.duration_s:g} s of {args.file} from {args.start:g} s, mean {s.mean_bps / 1e6:.3f} Mbps"
    )
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    if not args.window > 0:
        raise ValueError(f"--window must be > 0 s (got {args.window:g})")
    for path in args.files:
        s = trace_stats(path, args.window)
        if args.json:
            print(json.dumps({"path": path, **asdict(s)}))
            continue
        print(
            f"{path}: duration {s.duration_s:g} s, mean {s.mean_bps / 1e6:.3f} Mbps, "
            f"p5/p50/p95 {s.p5_bps / 1e6:.3f}/{s.p50_bps / 1e6:.3f}/{s.p95_bps / 1e6:.3f} Mbps "
            f"over {args.window:g} s windows, outage {s.outage_s:g} s "
            f"({100 * s.outage_s / s.duration_s:.1f} %)"
        )
    return 0


def cmd_traces(args: argparse.Namespace) -> int:
    try:
        return int(args.traces_func(args))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def add_traces_command(sub: argparse._SubParsersAction) -> None:
    """Register `bondlab traces` (synth, cut, stats) on the top-level subparsers."""
    p = sub.add_parser("traces", help="synthesise a cellular trace, or summarise trace files")
    tsub = p.add_subparsers(dest="traces_command", required=True, metavar="SUBCOMMAND")

    s = tsub.add_parser(
        "synth",
        help="write a seeded synthetic cellular uplink trace (mahimahi format)",
        description=SYNTH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--seed", type=int, default=1, help="random seed [default: %(default)s]")
    s.add_argument("--duration", type=float, default=60.0, help="seconds [default: %(default)s]")
    s.add_argument(
        "--states",
        metavar="NAME:MBPS:DWELL_S[:CV],...",
        help="own states, best first; on leaving one, move to a neighbour [default: good/fair/poor/outage]",
    )
    s.add_argument("--scale", type=float, default=1.0, help="multiply every rate [default: %(default)s]")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="trace file to write")
    s.set_defaults(func=cmd_traces, traces_func=_cmd_synth)

    c = tsub.add_parser(
        "cut",
        help="write the stretch (START, START + LENGTH] of a trace, rebased to 0",
        description="Cut a stretch of a mahimahi trace (repeating it if needed) into its own file, "
        "rebased to time 0 and ending at LENGTH, so it repeats with that period.",
    )
    c.add_argument("file", metavar="FILE")
    c.add_argument("--start", type=float, default=0.0, help="seconds into FILE [default: %(default)s]")
    c.add_argument("--length", type=float, required=True, help="seconds to keep")
    c.add_argument("-o", "--output", required=True, metavar="FILE", help="trace file to write")
    c.set_defaults(func=cmd_traces, traces_func=_cmd_cut)

    t = tsub.add_parser(
        "stats",
        help="mean rate, p5/p50/p95 over 0.5 s windows, outage time, duration",
        description="Summarise mahimahi traces over one period: mean rate, percentiles of the rate "
        "in --window windows, outage time (windows with no delivery opportunity) and duration.",
    )
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("--window", type=float, default=0.5, help="window in seconds [default: %(default)s]")
    t.add_argument("--json", action="store_true", help="one JSON object per file")
    t.set_defaults(func=cmd_traces, traces_func=_cmd_stats)
