"""`bondlab tune SPEC.yaml`: the command, registered by bondlab.cli.main.build_parser."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_tune(args: argparse.Namespace) -> int:
    from bondlab.cli.common import UsageError
    from bondlab.tuner.run import tune

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {args.workers})")
    if args.trials is not None and args.trials < 1:
        raise UsageError(f"--trials must be at least 1 (got {args.trials})")
    try:
        result = tune(args.spec, args.trials, args.workers, args.address, args.out, progress=not args.quiet)
    except ConnectionError as exc:
        raise UsageError(str(exc)) from None
    print(result.text)
    for name, path in result.files.items():
        print(f"{name}: {path}")
    if not result.ran:
        done = len(result.trials)
        print(
            f"note: nothing ran: {result.out_dir / 'study.db'} already holds {done} trials; "
            f"--trials {done + 10} (or more) searches further",
            file=sys.stderr,
        )
    return 0


def add_tune_command(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="search bonding parameters with optuna on train scenarios, then score on validation ones",
        description="Search SPEC's parameter space (optuna TPE, study in OUT/study.db: a rerun continues "
        "it) on its train scenarios, then print and write (OUT/summary.md, .csv, best.yaml) the best and "
        "the default settings' scores on train and validation scenarios, and the gap.",
        epilog="""spec (YAML; scenario paths relative to it, or bare names as ../scenarios/<name>.yaml):
  train: [three-link-degrade, rtt-spike]      # the search sees only these
  validate: [cellular-traces, handover]       # scored after the search
  scheduler: dwrr
  seeds: [1, 2]
  trials: 30
  space:
    bonding.alpha: {low: 0.02, high: 0.5, log: true}
    bonding.headroom: {low: 1.0, high: 1.5}
  objective: {decodable_ratio: 1.0, goodput_mbps: 0.01}
  # optional: seed, set: [KEY=VALUE, ...], duration_s, choices: [...] in place of low/high

examples:
  bondlab tune tuning/bonding.yaml --workers 2
  bondlab tune tuning/bonding.yaml --trials 60      # continues the stored study to 60 trials""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="tuning spec YAML (train, validate, space, objective, seeds, trials)")
    p.add_argument("--trials", type=int, help="total trials in the study [default: the spec's trials]")
    p.add_argument(
        "--workers", type=int, help="local dask worker processes (1 = inline) [default: all cores]"
    )
    p.add_argument("--address", help="dask scheduler to use instead, tcp://HOST:PORT")
    p.add_argument("--out", help="output directory [default: results/tune/<spec stem>]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_tune)
