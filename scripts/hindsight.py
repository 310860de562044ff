"""What a sender that knew each link's past exactly would reach on the trace scenarios (sim only).

Why: issue 14 asks DWRR with the default rate controller for >= 0.7 of the oracle's goodput at
>= 0.95 decodable on the bundled trace scenarios. The oracle knows the links' future; this asks
how much of its lead is foresight and how much is its packet-by-packet split. Each row replaces
what the sender estimates with the truth of the last W seconds (W = latency + one interval, the
oracle's own window, read backwards), nothing from the future:

* `oracle, past rate`: the oracle's scheduler (it tries each packet on each link's true queue),
  the oracle's bitrate rule fed the past.
* `dwrr, past rate / M`: DWRR with its estimator's weights, the same past-fed rule with margin M.
* `dwrr, past rate and weights / M`: the same, and DWRR's weights set every interval to each
  link's true capacity over the last 0.2 s.

It patches bondlab.sim.oracle at run time (the sim's one reader of link state); nothing here is
used by bondlab itself. Usage: python scripts/hindsight.py [--seeds 1,2,3] (about 2 min here).
"""

from __future__ import annotations

import argparse
from multiprocessing import Pool
from statistics import mean

import bondlab.sim.oracle as O
from bondlab.api import as_scenario
from bondlab.sim.runner import SimRun, run_sim

SCENARIOS = ["cellular-traces", "cellular-three-modems", "cellular-modem-dropout", "synthetic-cellular"]
WEIGHT_WINDOW_S = 0.2


class PastRate(O.OracleRate):
    """The oracle's bitrate rule over the window that just ended instead of the one ahead."""

    def _start(self, t: float) -> float:
        return max(0.0, t - self.window_s)

    def capacity_bps(self, t: float) -> float:
        return sum(self._carried(i, self._start(t), self.window_s) for i in self._links())

    def iframe_bps(self, t: float) -> float:
        bits = 0.0
        for i in self._links():
            budget = self._budget(self.truth.state(i, t))
            if budget > 0:
                bits += self._carried(i, self._start(t), budget) * budget
        return float(bits * self.iframe_factor)


def _attach_past(run: SimRun, oracle_split: bool, true_weights: bool) -> None:
    truth = O.LinkTruth(run.transport.links)
    sched = run.controller.scheduler
    if oracle_split:
        sched.attach(truth, 1.0 / run.scenario.encoder.fps)
    run.controller.rate = None
    rate = PastRate(truth, run.scenario, sched if oracle_split else None)
    run.env.process(O._drive(run, rate))
    if true_weights:
        own = sched.set_weights

        def set_weights(ws, rate=rate, own=own, env=run.env):  # type: ignore[no-untyped-def]
            start = max(0.0, env.now - WEIGHT_WINDOW_S)
            own([rate._carried(i, start, WEIGHT_WINDOW_S) + 1.0 for i in range(len(ws))])

        sched.set_weights = set_weights


def one(job: tuple[str, int, str, float]) -> tuple[str, int, str, float, float, float]:
    name, seed, kind, margin = job
    controller = "forecast" if kind == "forecast" else "headroom"
    sc = as_scenario(f"scenarios/{name}.yaml", [f"bonding.rate_controller={controller}"])
    O.MARGIN = margin  # the oracle's own margin is 0.1, as in bondlab
    if kind in ("oracle", "forecast", "headroom"):
        m = run_sim(sc, "oracle" if kind == "oracle" else "dwrr", seed).metrics
    else:
        original = O.attach_oracle
        O.attach_oracle = lambda run: _attach_past(run, True, False)  # the oracle scheduler's hook
        try:
            run = SimRun(sc, "oracle" if kind == "oracle-past" else "dwrr", seed)
        finally:
            O.attach_oracle = original
        if kind != "oracle-past":
            _attach_past(run, False, kind == "past-weights")
        m = run.run().metrics
    return name, seed, kind, margin, m["goodput_bps"], m["decodable_ratio"]


ROWS = [
    ("oracle", 0.1, "oracle (knows the future)"),
    ("oracle-past", 0.1, "oracle's split, past rate / 1.1"),
    ("past", 0.1, "dwrr, past rate / 1.1"),
    ("past-weights", 0.1, "dwrr, past rate and weights / 1.1"),
    ("past-weights", 0.5, "dwrr, past rate and weights / 1.5"),
    ("past-weights", 1.0, "dwrr, past rate and weights / 2"),
    ("forecast", 0.1, "dwrr + forecast (estimates)"),
    ("headroom", 0.1, "dwrr + headroom (estimates)"),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(n, s, kind, m) for n in SCENARIOS for s in seeds for kind, m, _ in ROWS]
    with Pool(args.workers) as pool:
        got = pool.map(one, jobs)
    oracle = {(n, s): g for n, s, k, _, g, _ in got if k == "oracle"}
    print(f"{len(SCENARIOS)} trace scenarios x seeds {args.seeds}; means over them")
    print("| sender | of oracle goodput | decodable |\n|---|---:|---:|")
    for kind, margin, label in ROWS:
        rows = [(n, s, g, d) for n, s, k, m, g, d in got if k == kind and m == margin]
        ratio = mean(g / oracle[(n, s)] for n, s, g, _ in rows)
        print(f"| {label} | {100 * ratio:.0f} % | {100 * mean(d for *_, d in rows):.1f} % |")


if __name__ == "__main__":
    main()
