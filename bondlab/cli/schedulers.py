"""`bondlab schedulers`: every registered scheduler with what it does and where it runs."""

from __future__ import annotations

import argparse
import json

from bondlab.core.rate_controllers import RATE_CONTROLLERS
from bondlab.schedulers import DEFAULT_SCHEDULER, SCHEDULERS


def cmd_schedulers(args: argparse.Namespace) -> int:
    rows = [
        {"name": i.name, "display": i.display, "description": i.description, "backends": list(i.backends)}
        for i in SCHEDULERS.values()
    ]
    if args.json:
        print(json.dumps({"schedulers": rows, "rate_controllers": list(RATE_CONTROLLERS)}, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows) + 2
    for r in rows:
        default = " (default)" if r["name"] == DEFAULT_SCHEDULER else ""
        print(f"{r['name']:{width}s}{','.join(r['backends']):10s}{r['description']}{default}")
    print(f"\nrate controllers (bonding.rate_controller): {', '.join(RATE_CONTROLLERS)}")
    return 0


def add_schedulers_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schedulers",
        help="list the bonding schedulers and rate controllers",
        description="One line per registered scheduler: name, backends (sim, real), what it does. "
        "Any name goes to --scheduler, compare --schedulers, sweeps and regress expectations.",
    )
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.set_defaults(func=cmd_schedulers)
