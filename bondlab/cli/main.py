"""`bondlab` command line: run, compare, validate and bench scenarios (and the real backend)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bondlab import __version__
from bondlab.cli.common import UsageError, report_run, seed_list
from bondlab.results import DEFAULT_RESULTS
from bondlab.scenario import ScenarioError, load_scenario
from bondlab.schedulers import DEFAULT_SCHEDULER, SCHEDULERS, scheduler_names

EPILOG = """examples:
  bondlab run scenarios/seed-asymmetric.yaml --scheduler dwrr --json
  bondlab run scenarios/seed-asymmetric.yaml --scheduler rr --set bonding.rate_control=false
  bondlab compare scenarios/*.yaml --schedulers rr,dwrr
  bondlab validate scenarios/*.yaml
  bondlab show results/seed-asymmetric/dwrr-1 --json
  bondlab bench --json
"""


def _schedulers(text: str, backend: str = "sim", option: str = "--schedulers") -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    allowed = scheduler_names(backend)
    for name in names:
        if name not in allowed:
            raise UsageError(
                f"{option}: unknown scheduler {name!r} for the {backend} backend "
                f"(choose from {', '.join(allowed)})"
            )
    if not names:
        raise UsageError(f"{option}: give at least one scheduler")
    return names


def cmd_run(args: argparse.Namespace) -> int:
    from bondlab.api import simulate

    _schedulers(args.scheduler, option="--scheduler")
    out = simulate(
        args.scenario,
        args.scheduler,
        args.seed,
        args.set,
        Path(args.results),
        progress=not args.json and not args.quiet,
    )
    report_run(out.directory, out.metrics, args.json)
    if args.plots or args.report:
        from bondlab.report import write_report
        from bondlab.results import load_run

        run = load_run(out.directory)
        files = write_report([run], out.directory / "report")
        where = out.directory / "report"
        print(f"plots: {where} ({len(files.plots)} PNG files and {files.markdown.name})", file=sys.stderr)
        if args.report:
            from bondlab.report.html import write_html

            page = write_html([run], where / "report.html", plots=files.plots)
            print(f"report: {page}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Runs and reports live in bondlab/cli/compare.py (with the leaderboard)."""
    from bondlab.cli.compare import CompareUsageError
    from bondlab.cli.compare import cmd_compare as run_compare

    try:
        return run_compare(args)
    except CompareUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(
            f"ok: {path} ({sc.name}: {len(sc.links)} links, {len(sc.events)} events, {sc.duration_s:g} s)",
            flush=True,  # a reader that leaves (`| head`) shows here, inside main's handler
        )
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bondlab.bench import judge_goals, long_run, run_bench, sweep_scaling

    if args.long:
        result = long_run(600.0 if args.quick else 3600.0)
    else:
        result = sweep_scaling(quick=args.quick) if args.sweep else run_bench(quick=args.quick)
    checks = judge_goals(result)
    if args.json:
        print(json.dumps({**result, "goals_met": all(c.met for c in checks)}, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")
        for c in checks:
            print(f"goal: {c.text()}")
    missed = [c for c in checks if not c.met]
    if missed:  # a shared machine misses by noise too: the numbers above say by how much
        print(f"error: {len(missed)} goal(s) not met: {', '.join(c.name for c in missed)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bondlab",
        description="Testbed for bonded video uplinks: simulate and compare bonding schedulers "
        "(round-robin vs DWRR with rate control) on scenario files, then confirm on a real impaired network.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bondlab {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log congestion-control and bitrate changes"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    names = ", ".join(f"{n} ({i.display})" for n, i in SCHEDULERS.items() if "sim" in i.backends)
    p = sub.add_parser(
        "run",
        help="simulate one scenario with one scheduler",
        description="Simulate SCENARIO and write run.json, metrics.json, timeseries.parquet "
        "and run.log under RESULTS/<scenario>/<scheduler>-<seed>/.",
        epilog="examples:\n  bondlab run scenarios/black-hole.yaml --plots\n"
        "  bondlab run scenarios/seed-asymmetric.yaml --scheduler rr --seed 3 --json\n"
        "  bondlab run scenarios/capacity-rise.yaml --set bonding.rate_controller=forecast "
        "--set links.lte-b.loss=0.02",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--scheduler", default=DEFAULT_SCHEDULER, help=f"one of: {names} [default: %(default)s]")
    p.add_argument("--seed", type=int, help="random seed [default: the scenario's seed]")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field, e.g. bonding.alpha=0.2 or links.lte-a.loss=0.05 (repeatable)",
    )
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="results directory [default: %(default)s]")
    p.add_argument("--json", action="store_true", help="print the metrics object on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--plots",
        action="store_true",
        help="also draw the run's figures (bitrate vs capacity, link shares, delay CDF, frames) "
        "into its report/ folder, with comparison.md and .csv",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="also write report/report.html: one page, figures embedded, every metric (implies --plots)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "compare",
        help="run scenarios with several schedulers and write a table and plots",
        description="Simulate every SCENARIO with every scheduler, then write comparison.csv, "
        "comparison.md and PNG plots (bitrate vs capacity, link shares, delay CDF, frames on time). "
        "With the oracle, --schedulers all or --rate-controllers, also leaderboard.csv/.md/.png: "
        "scheduler x rate controller ranked by decodable frames then goodput, against the oracle.",
        epilog="examples:\n  bondlab compare scenarios/ --schedulers rr,dwrr\n"
        "  bondlab compare scenarios/cellular-traces.yaml --schedulers all --seeds 1-5\n"
        "  bondlab compare scenarios/*.yaml --schedulers dwrr --rate-controllers headroom,forecast -q",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenarios", nargs="+", help="scenario YAML files or folders (their *.yaml files)")
    p.add_argument(
        "--schedulers",
        default="rr,dwrr",
        help="comma-separated, or all (every sim scheduler, the oracle included) [default: %(default)s]",
    )
    p.add_argument("--seeds", type=seed_list, help="seeds: 1,2,3 or a range, 1-10 [default: each scenario's]")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, applied to all")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="results directory [default: %(default)s]")
    p.add_argument("--out", help="report directory [default: RESULTS/compare]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress (the table still prints)")
    from bondlab.cli.compare import add_compare_options

    add_compare_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "validate",
        help="check scenario files",
        description="Validate scenario files; prints one line per file and exits non-zero if any is invalid.",
        epilog="examples:\n  bondlab validate scenarios/*.yaml\n  bondlab validate my-modems.yaml | head -1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenarios", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "bench",
        help="measure simulator speed against raw SimPy, side by side",
        description="Measures, in one run on this machine: sim_packets_per_s, simpy_timeouts_per_s, "
        "their ratio (goal >= 0.25) and the DWRR/RR decision cost ratio (goal <= 2.0).",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="shorter measurement (noisier)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="instead: sweep points/s with 1 and with 2 local dask workers, side by side (goal >= 1.8x)",
    )
    p.add_argument(
        "--long",
        action="store_true",
        help="instead: one simulated hour of cellular traces (--quick: 10 min): peak RSS, memory growth "
        "per simulated minute, cost per simulated second in the first minute against the last",
    )
    p.set_defaults(func=cmd_bench)

    from bondlab.sweep.cli import add_sweep_command

    add_sweep_command(sub)

    from bondlab.tuner.cli import add_tune_command

    add_tune_command(sub)

    from bondlab.cli.regress import add_regress_command

    add_regress_command(sub)

    from bondlab.cli.schedulers import add_schedulers_command

    add_schedulers_command(sub)

    from bondlab.cli.traces import add_traces_command

    add_traces_command(sub)

    from bondlab.cli.show import add_show_command

    add_show_command(sub)

    from bondlab.cli.report import add_report_command

    add_report_command(sub)

    try:
        from bondlab.real.cli import add_real_commands
    except ImportError:
        pass
    else:
        add_real_commands(sub)
    _verbose_everywhere(sub)
    return parser


def _verbose_everywhere(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`-v` after the command too (`bondlab run X -v`), not only before it. SUPPRESS as default:
    a subcommand's own default would overwrite a `-v` given before the command."""
    for p in set(sub.choices.values()):
        if not any("-v" in a.option_strings for a in p._actions):
            p.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="as bondlab -v"
            )
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _verbose_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bondlab validate ... | head`: the reader left, nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
