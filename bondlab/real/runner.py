"""A real run: librist over netns/veth links shaped by netem, replaying a scenario in real time.

Division of labour: `inner_run` needs root and netem (it runs on this host, or inside a VM where
the host kernel has no sch_netem) and writes raw files only: frames.json and sender.json from the
sender process, arrivals.npy from the receiver process (what librist delivered), wire.npy and
wire.json from the capture process (when each packet first reached the receiver, on which link:
real/capture.py), shaping.json (what the links were set to, when). real/assemble.py then turns
them into the same metrics.json / timeseries.parquet as a sim run (and says how a packet's timing
is judged).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bondlab.core.rate_controllers import make_rate_controller
from bondlab.real import forked, netns, netns_cleanup, netns_commands, shaping, trace_replay, validity
from bondlab.real.faults import first_death, injector, process_died, write_fault
from bondlab.real.forked import RunProcess
from bondlab.real.protocol import RR_BASE_PORT
from bondlab.scenario import Scenario, parse_scenario
from bondlab.timeline import expand_events, initial_state, trace_segments
from bondlab.traces import load_trace

BASE_PORT = 6000  # RIST main profile: data on an even port, RTCP on the next
START_DELAY_S = 1.5  # librist handshakes before the first frame


class RealRunError(RuntimeError):
    """A real run that could not happen; str() is one line saying why and what to do."""


@dataclass(frozen=True)
class Action:
    t: float
    link: str
    argvs: list[list[str]]
    capacity_bps: float  # what the link's bottleneck is set to from t on (IP bit/s; 0 while down)


def reads_trains(scenario: Any) -> bool:
    """Whether the scenario's rate controller reads packet-train evidence (the forecast rule)."""
    return bool(getattr(make_rate_controller(scenario), "reads_links", False))


def buffer_ms(scenario: Scenario, link: int) -> int:
    """librist's recovery buffer on one link: the sim's ARQ budget (playout latency from capture)
    less that link's base one-way delay, which librist's release schedule adds by itself."""
    return int(max(scenario.receiver.latency_ms - scenario.links[link].delay_ms, 50))


def _rate_now(scenario: Scenario, state: dict[str, Any], trace_t: float) -> float | None:
    if state["trace"] is None:
        return None
    return trace_replay.trace_rate_at(load_trace(scenario.trace_path(state["trace"])), trace_t)


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
            for dt, rate in trace_replay.trace_rate_steps(trace, trace_t0, end - start):
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


def inner_run(
    scenario: Scenario,
    scheduler: str,
    out_dir: Path,
    timeout_s: float | None = None,
    inject: dict[str, Any] | None = None,
) -> None:
    """Set up the namespaces, run receiver and sender, replay the link changes, tear everything down.

    A run process that dies part-way ends the run at once with RealRunError naming it; `inject`
    ({"kill": "sender", "at_s": 3}, from inner.json) makes that happen on cue, for the fault tests."""
    out_dir.mkdir(parents=True, exist_ok=True)
    netns_cleanup.cleanup_stale()
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
            # The sender listens for the capture process's receiver reports on each link's address.
            "report_ips": [e.sender_ip for e in ends],
            "rist_log_level": os.environ.get("BONDLAB_RIST_LOG", "error"),
        }
        config["capture"] = {
            "links": [
                {"dev": e.receiver_dev, "sender_ip": e.sender_ip, "receiver_ip": e.receiver_ip} for e in ends
            ],
            "port_lo": BASE_PORT,
            "port_hi": BASE_PORT + 2 * len(names) - 1,
            "interval_s": scenario.bonding.stats_interval_ms / 1000.0,
            "report_port": RR_BASE_PORT,
            "trains": reads_trains(scenario),
        }
        cfg = out_dir / "real-config.json"
        cfg.write_text(json.dumps(config, indent=2))
        capture = tb.fork("receiver", "bondlab.real.capture", [str(cfg), str(out_dir)])
        _wait_for(out_dir / "capture.ready", capture, 120, "capture")
        receiver = tb.fork("receiver", "bondlab.real.receiver", [str(cfg), str(out_dir)])
        _wait_for(out_dir / "receiver.ready", receiver, 120, "receiver")
        config["start_delay_s"] = START_DELAY_S
        cfg.write_text(json.dumps(config, indent=2))
        sender = tb.fork("sender", "bondlab.real.sender", [str(cfg), str(out_dir)])
        t0 = float(_wait_for(out_dir / "sender.ready", sender, 120, "sender"))
        log: list[dict[str, Any]] = [
            {"t": 0.0, "link": a.link, "capacity_bps": a.capacity_bps} for a in actions if a.t == 0.0
        ]
        deadline = t0 + scenario.duration_s + 60.0 if timeout_s is None else time.monotonic() + timeout_s
        procs = {"sender": sender, "receiver": receiver, "capture": capture}
        marks: list[dict[str, int]] = []
        died = _died(procs, scenario, scheduler, t0, injector(inject, procs, t0))
        for action in (a for a in actions if a.t > 0.0):
            while time.monotonic() < t0 + action.t and sender.poll() is None:
                died()
                time.sleep(min(0.02, max(0.0, t0 + action.t - time.monotonic())))
            if sender.poll() is not None:
                break
            for argv in action.argvs:
                tb.apply(action.link, argv)
            log.append({"t": action.t, "link": action.link, "capacity_bps": action.capacity_bps})
            marks.append(tb.mark())  # when tc has processed it: the change's applied time
        while sender.poll() is None and time.monotonic() < deadline:
            died()
            time.sleep(0.05)
        rc = _wait_exit(sender, deadline)
        died()
        time.sleep(scenario.receiver.latency_ms / 1000.0 + 0.5)  # let librist release what it holds
        died()
        receiver.send_signal(signal.SIGTERM)
        _wait_exit(receiver, time.monotonic() + 20)
        capture.send_signal(signal.SIGTERM)  # after the receiver: every packet librist saw is on record
        _wait_exit(capture, time.monotonic() + 20)
        tb.sync()
        _note_applied(log, marks, tb, t0)
        (out_dir / "shaping.json").write_text(json.dumps({"t0": t0, "changes": log}, indent=1))
        if rc != 0:
            raise RealRunError(f"sender exited with status {rc}; see {out_dir / 'sender.log'}")


def _note_applied(log: list[dict[str, Any]], marks: list[dict[str, int]], tb: Any, t0: float) -> None:
    """Each live change's `applied` time (run clock): when its namespace's tc batch got past it,
    for real/validity.py's lateness limit. The changes at t=0 precede the run and have none."""
    live = [entry for entry in log if entry["t"] > 0.0]
    for entry, mark in zip(live, marks, strict=True):
        at = tb.applied_at(mark)
        if at is not None:
            entry["applied"] = round(at - t0, 4)


def _died(
    procs: dict[str, RunProcess],
    scenario: Scenario,
    scheduler: str,
    t0: float,
    inject: Callable[[], None],
) -> Callable[[], None]:
    """A check to call while the run goes on: RealRunError naming the first run process that
    ended when it should not have (any signal death, any early exit). Leaving the Testbed then
    kills the others and deletes the namespaces, so the run stops at once instead of sending
    its whole duration into a dead receiver."""

    def check() -> None:
        inject()
        death = first_death(procs, expected=("sender",))  # the sender alone may end, with status 0
        if death is not None:
            name, rc = death
            at = time.monotonic() - t0
            raise RealRunError(process_died(name, rc, scenario.name, scheduler, at, scenario.duration_s))

    return check


def _wait_for(path: Path, proc: RunProcess, timeout: float, what: str) -> str:
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


def _wait_exit(proc: RunProcess, deadline: float) -> int:
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RealRunError("a run process did not finish in time and was killed") from None


def read_inner(path: Path) -> tuple[Scenario, dict[str, Any]]:
    """A run's inner.json: its scenario, parsed, and the rest (scheduler, inject, reruns)."""
    cfg = json.loads(path.read_text())
    sc = cfg["scenario"]
    return parse_scenario(dict(sc), str(path), Path(sc["base_dir"]), sc["name"]), cfg


def run_until_valid(
    scenario: Scenario, scheduler: str, raw: Path, inject: dict[str, Any] | None, reruns: int
) -> None:
    """inner_run, then again (at most `reruns` more times) while the run measured the CPU rather
    than the network (real/validity.py); each invalid attempt's files are set aside in raw/."""
    for attempt in range(reruns + 1):
        inner_run(scenario, scheduler, raw, inject=inject)
        verdict = validity.judge_raw(raw)
        if verdict["valid"] or attempt == reruns:
            return
        print(
            f"real run: {scenario.name} {scheduler} is not valid ({verdict['invalid_reason']}); "
            f"running it again ({attempt + 2} of {reruns + 1})",
            file=sys.stderr,
            flush=True,
        )
        validity.set_aside(raw, verdict["invalid_reason"])


def run_job(raw: Path) -> str | None:
    """One run of a batch, from its raw dir's inner.json: None once done, else the one line saying
    why it could not finish (also left in the raw dir, real/faults.py, for the host)."""
    scenario, inner = read_inner(raw / "inner.json")
    scheduler = inner["scheduler"]
    print(f"real run: {scenario.name} {scheduler} ({scenario.duration_s:g} s)", file=sys.stderr, flush=True)
    try:
        run_until_valid(scenario, scheduler, raw, inner.get("inject"), int(inner.get("reruns", 0)))
    except (RealRunError, netns_commands.NetnsError) as exc:
        message = str(exc) if isinstance(exc, RealRunError) else f"{scenario.name} {scheduler}: {exc}"
        if not write_fault(raw, message):
            print(f"error: {message}", file=sys.stderr)
        return message
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m bondlab.real.runner RAW_DIR...` (or `@FILE` listing them, one per line): inner
    runs, one after the other (in one VM boot). A run that cannot finish (a run process died:
    librist's receiver has crashed now and then) is left with its fault and the batch goes on:
    the others' results are worth keeping. Status 1 if any run failed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0].startswith("@"):  # a file listing them (from real/api.py)
        args = Path(args[0][1:]).read_text().split()
    if args:  # the host's boot watchdog waits for this (real/api.py GUEST_STARTED)
        (Path(args[0]) / "guest.started").write_text("ok\n")
    forked.warm_up()  # once a boot: every run process is a fork of this one (real/forked.py)
    failed = [message for raw in map(Path, args) if (message := run_job(raw)) is not None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
