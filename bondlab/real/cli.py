"""`bondlab real run|doctor` and `bondlab calibrate`: the real backend's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bondlab.results import DEFAULT_RESULTS
from bondlab.scenario import load_scenario, yaml_files


def cmd_real_run(args: argparse.Namespace) -> int:
    from bondlab.real.api import RealSetupError, real_run

    scenario = load_scenario(args.scenario, args.set)
    try:
        out = real_run(
            scenario,
            args.scheduler,
            args.seed,
            Path(args.results),
            force_vm=args.vm,
            quiet=args.json,
            reruns=args.reruns,
        )
    except RealSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    from bondlab.cli.common import report_run

    real = out.metrics["real"]
    extra = f", sender CPU {real['cpu_cores']} cores ({real.get('cpu_s_per_mbit')} CPU s per Mbit sent)"
    v = real.get("validity", {})
    if v.get("shaping_steps"):
        extra += f", {v['shaping_steps']} link changes applied p99 {v['shaping_late_p99_ms']} ms late"
    report_run(out.directory, out.metrics, args.json, extra)
    return invalid_line(out.directory, out.metrics)


INVALID_STATUS = 4  # the run finished but measured the CPU, not the network


def invalid_line(directory: Path, metrics: dict) -> int:
    """The last line for a run that is not a measurement (stderr, status 4); 0 for a valid one."""
    if metrics.get("valid", True):
        return 0
    tries = len(metrics["real"].get("attempts", [None]))
    print(
        f"error: {directory} is not valid after {tries} attempt{'s' if tries > 1 else ''}: "
        f"{metrics['invalid_reason']}",
        file=sys.stderr,
    )
    return INVALID_STATUS


def doctor_report() -> list[tuple[str, bool, str]]:
    """(check, ok, detail or fix) for everything a real run needs."""
    import os

    from bondlab.real import netns, netns_cleanup, vm
    from bondlab.real.api import binding_available

    rows = []
    root = os.geteuid() == 0
    rows.append(("root", root, "yes" if root else "run as root (namespaces and tc need CAP_NET_ADMIN)"))
    ok, detail = binding_available()
    rows.append(
        (
            "librist binding",
            ok,
            f"librist {detail}"
            if ok
            else "apt-get install librist-dev rist-tools && .venv/bin/pip install -e . (rebuilds it)",
        )
    )
    for tool in ("/usr/sbin/ip", "/usr/sbin/tc"):
        have = Path(tool).exists()
        rows.append((tool, have, "present" if have else "apt-get install iproute2"))
    netem = netns.netem_available() if root else False
    rows.append(
        (
            "netem on this kernel",
            netem,
            "real runs go direct" if netem else "missing (sch_netem): real runs will use a VM",
        )
    )
    vm_ok, vm_detail = vm.vm_prerequisites()
    rows.append(
        (
            "VM fallback",
            vm_ok,
            vm_detail
            if vm_ok
            else f"{vm_detail}; apt-get install -y --no-install-recommends qemu-system-x86 linux-image-amd64 "
            "busybox-static && .venv/bin/pip install virtme-ng",
        )
    )
    stale = netns_cleanup.leftovers()
    rows.append(
        (
            "leftover namespaces",
            not stale,
            "none" if not stale else f"{', '.join(stale)}: python -m bondlab.real.netns cleanup",
        )
    )
    return rows


def cmd_doctor(args: argparse.Namespace) -> int:
    rows = doctor_report()
    for name, ok, detail in rows:
        print(f"{'ok ' if ok else 'MISSING'} {name:22s} {detail}")
    by = {name: ok for name, ok, _ in rows}
    can_run = by["root"] and by["librist binding"] and (by["netem on this kernel"] or by["VM fallback"])
    print("real runs: " + ("possible" if can_run else "not possible until the MISSING items are fixed"))
    return 0 if can_run else 1


def _calibration_scenarios(paths: list[str], overrides: list[str], schedulers: list[str]):  # type: ignore[no-untyped-def]
    """(scenarios to run, one line per scenario left out): a folder gives its *.yaml files, and a
    scenario from a folder that the real backend cannot express is left out with its reason (a
    file named on its own is an error instead, as for `bondlab real run`)."""
    from bondlab.real.api import RealSetupError, check_scenario

    chosen, skipped = [], []
    for path, explicit in yaml_files(paths):
        sc = load_scenario(path, overrides)
        try:
            for s in schedulers:
                check_scenario(sc, s)
        except RealSetupError as exc:
            if explicit:
                raise
            skipped.append(f"{path}: {exc}")
            continue
        chosen.append(sc)
    return chosen, skipped


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bondlab.api import simulate
    from bondlab.real.api import DEFAULT_RERUNS, RealSetupError, real_runs
    from bondlab.real.calibration_report import write_calibration
    from bondlab.results import MARKER, load_run, run_dir

    schedulers = [s.strip() for s in args.schedulers.split(",") if s.strip()]
    results = Path(args.results)
    try:
        scenarios, skipped = _calibration_scenarios(args.scenarios, args.set, schedulers)
        for line in skipped:
            print(f"skipped: {line}", file=sys.stderr)
        if not scenarios:
            raise RealSetupError("no scenario the real backend can run: nothing to calibrate")
        jobs = [(sc, s, seed) for sc in scenarios for seed in (args.seeds or [sc.seed]) for s in schedulers]
        if not args.report_only:
            real_dirs = [r.directory for r in real_runs(jobs, results, force_vm=args.vm, reruns=args.reruns)]
    except RealSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    pairs = []
    for k, (sc, s, seed) in enumerate(jobs):
        if args.report_only:  # the runs a previous calibrate stored: nothing runs again
            found = [run_dir(results, sc, s, seed, backend) for backend in ("sim", "real")]
            missing = [d for d in found if not (d / MARKER).exists()]
            if missing:  # a batch cut short (a run process died) stored only what finished
                skipped.append(f"{missing[0]}: no complete run stored there (--report-only)")
                print(f"skipped: {skipped[-1]}", file=sys.stderr)
            else:
                pairs.append((load_run(found[0]), load_run(found[1])))
            continue
        sim = simulate(sc, s, seed, results=results)
        pairs.append((load_run(sim.directory), load_run(real_dirs[k])))
    if not pairs:
        print("error: --report-only: no stored (sim, real) pair to report", file=sys.stderr)
        return 2
    out_dir = Path(args.out) if args.out else results / "calibrate"
    from bondlab.real.shaping_fidelity import check_expressible

    approximations = {sc.name: check_expressible(sc) for sc in scenarios}
    command = "bondlab calibrate " + " ".join(
        [*args.scenarios, *(["--seeds", ",".join(map(str, args.seeds))] if args.seeds else [])]
        + [f"--set {kv}" for kv in args.set]
        + ([f"--schedulers {args.schedulers}"] if args.schedulers != "dwrr" else [])
        + ([f"--reruns {args.reruns}"] if args.reruns != DEFAULT_RERUNS else [])
    )
    files = write_calibration(pairs, out_dir, approximations=approximations, skipped=skipped, command=command)
    print(f"table: {files.markdown}\nplots: {out_dir}")
    print(files.markdown.read_text())
    return 0


def add_real_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from bondlab.cli.common import seed_list

    real = sub.add_parser(
        "real",
        help="run scenarios over real librist and netem-shaped namespaces",
        description="The real backend: librist (cffi) over network namespaces whose veth "
        "links are shaped by tc netem/htb from the scenario; events replay live. Needs root; "
        "where this kernel lacks sch_netem the run happens inside a small VM by itself.",
    )
    rsub = real.add_subparsers(dest="real_command", required=True, metavar="COMMAND")
    p = rsub.add_parser(
        "run",
        help="replay one scenario for real",
        description="Replay SCENARIO in real time "
        "and write the sim's metrics schema under RESULTS/<scenario>/real-<scheduler>-<seed>/.",
    )
    p.add_argument("scenario")
    p.add_argument(
        "--scheduler",
        default="dwrr",
        help="rr, dwrr or rist-weighted (librist's own weighted "
        "multi-peer mode, weights from core's estimator) [default: %(default)s]",
    )
    p.add_argument("--seed", type=int, help="recorded with the run (the kernel's randomness is not seeded)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario field"
    )
    p.add_argument("--results", default=str(DEFAULT_RESULTS))
    p.add_argument("--vm", action="store_true", help="use the VM even where this kernel has netem")
    p.add_argument("--json", action="store_true", help="print the metrics object on stdout")
    _add_reruns(p)
    p.set_defaults(func=cmd_real_run)
    p = rsub.add_parser(
        "doctor", help="say what this machine has for real runs and how to fix what is missing"
    )
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "calibrate",
        help="run sim and real on the same scenarios and compare them",
        description="Simulate and really run each SCENARIO (same schedulers and seeds), then "
        "write a side-by-side table (on-time, goodput, decodable, link shares, delay percentiles, "
        "rate-control events; per run and per phase between events) and plots to "
        "RESULTS/calibrate/. A folder stands for its scenarios; those the real backend cannot "
        "express are skipped with their reason.",
        epilog="example: bondlab calibrate scenarios/ --seeds 1,2,3 --out results/calibration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenarios", nargs="+", help="scenario files or folders (their *.yaml files)")
    p.add_argument("--schedulers", default="dwrr", help="comma-separated [default: %(default)s]")
    p.add_argument(
        "--seeds",
        type=seed_list,
        help="seeds (1,2,3 or 1-3), each scenario run at each in both worlds [default: its own]",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--results", default=str(DEFAULT_RESULTS))
    p.add_argument("--out", help="report directory [default: RESULTS/calibrate]")
    p.add_argument("--vm", action="store_true", help="use the VM even where this kernel has netem")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the runs a previous calibrate stored under RESULTS (nothing runs; "
        "pairs not stored are listed as left out)",
    )
    _add_reruns(p)
    p.set_defaults(func=cmd_calibrate)


def _add_reruns(p: argparse.ArgumentParser) -> None:
    from bondlab.real.api import DEFAULT_RERUNS

    p.add_argument(
        "--reruns",
        type=int,
        default=DEFAULT_RERUNS,
        metavar="N",
        help="run a run again up to N more times while it is not valid: frames sent late, capture "
        "drops or link changes applied late mean it measured the CPU, not the network "
        "(bondlab/real/validity.py has the limits) [default: %(default)s]",
    )
