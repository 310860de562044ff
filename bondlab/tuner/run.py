"""`tune`: load the spec, search on the train scenarios, then score best and defaults on both splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bondlab.tuner.report import evaluate, markdown, summary_table, write_files
from bondlab.tuner.spec import TuneSpec, TuneSpecError, load_tune_spec

DEFAULT_OUT = Path("results") / "tune"


@dataclass
class TuneResult:
    """What a tuning run produced; `summary` is the train / validation table docs/many-runs.md quotes."""

    spec: TuneSpec
    out_dir: Path
    best_params: dict[str, Any]
    best_train_score: float
    summary: pd.DataFrame
    runs: pd.DataFrame
    trials: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    text: str = ""
    ran: int = 0  # trials this call ran (0: the stored study already held the total)


def trials_frame(study: Any) -> pd.DataFrame:
    """One row per trial: number, state, value, params (dotted keys), error if it failed."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "value": t.value,
                **t.params,
                **{f"score:{k}": v for k, v in t.user_attrs.get("scores", {}).items()},
                "error": t.user_attrs.get("error"),
            }
        )
    return pd.DataFrame(rows)


def tune(
    spec: str | Path | dict[str, Any] | TuneSpec,
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    base_dir: str | Path | None = None,
) -> TuneResult:
    """Search, then report. `workers=1` (no address) runs inline; otherwise on dask (see bondlab.cluster)."""
    from bondlab.cluster import dask_client
    from bondlab.tuner.search import open_study

    if not isinstance(spec, TuneSpec):
        spec = load_tune_spec(spec, base_dir)
    total = trials or spec.model.trials
    if total < 1:
        raise TuneSpecError(f"{spec.path}: --trials must be at least 1 (got {total})")
    out_dir = Path(out) if out is not None else DEFAULT_OUT / spec.name
    study = open_study(spec, out_dir / "study.db")
    if workers == 1 and address is None:
        return _search_and_report(spec, study, out_dir, total, None, progress)
    with dask_client(workers, address) as client:
        return _search_and_report(spec, study, out_dir, total, client, progress)


def _search_and_report(
    spec: TuneSpec, study: Any, out_dir: Path, total: int, client: Any, progress: bool
) -> TuneResult:
    from optuna.trial import TrialState

    from bondlab.tuner.search import done_trials, search

    before = done_trials(study)
    search(study, spec.train, spec, total, client, progress)  # validation scenarios are not passed in
    trials = trials_frame(study)
    if not (trials["state"] == TrialState.COMPLETE.name).any():
        trials.to_csv(out_dir / "trials.csv", index=False)
        raise TuneSpecError(f"{spec.path}: no trial completed; errors in {out_dir / 'trials.csv'}")
    best = study.best_trial
    # The tuned setting is reported, written and scored with 4 significant digits: what a user pastes.
    best_params = {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in best.params.items()}
    runs = evaluate(spec, best_params, client, progress)
    table = summary_table(runs)
    ran = done_trials(study) - before
    text = markdown(table, spec, best_params, len(trials), ran)
    files = write_files(out_dir, table, runs, trials, text, best_params)
    return TuneResult(spec, out_dir, best_params, float(best.value), table, runs, trials, files, text, ran)
