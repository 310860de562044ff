"""The search: optuna TPE over the spec's space, scored on the train scenarios only.

`search` is handed the train scenarios and nothing else, so no validation scenario can leak into
what the sampler sees (tests/test_tune.py checks it with a spy). The study lives in SQLite: a rerun
opens it and runs only the trials still missing to reach the requested total.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bondlab.cluster import run_all
from bondlab.scenario import Scenario
from bondlab.tuner.points import Point, mean_score, run_point
from bondlab.tuner.spec import ParamSpec, TuneSpec, TuneSpecError, is_int

SPEC_KEY = "bondlab_spec_key"


def distributions(space: Mapping[str, ParamSpec], example: Scenario) -> dict[str, Any]:
    """optuna distributions; a key whose scenario value is an integer is searched over integers."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from bondlab.tuner.points import current_value

    out: dict[str, Any] = {}
    for key, p in space.items():
        if p.choices is not None:
            out[key] = CategoricalDistribution(p.choices)
        elif is_int(current_value(example, key)):
            step = max(1, round(p.step or 1))
            out[key] = IntDistribution(math.ceil(p.low or 0), math.floor(p.high or 0), log=p.log, step=step)
        else:
            out[key] = FloatDistribution(p.low or 0.0, p.high or 0.0, log=p.log, step=p.step)
    return out


def open_study(spec: TuneSpec, db: Path) -> Any:
    """Create or continue the study in `db`; refuse one made from a different search."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    known = spec.name in optuna.get_all_study_names(storage)
    sampler_seed = spec.model.seed
    if known:
        previous = optuna.load_study(study_name=spec.name, storage=storage)
        sampler_seed += len(previous.trials)  # a continued study must not replay its first random trials
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True)
    study = optuna.create_study(
        study_name=spec.name, storage=storage, sampler=sampler, direction="maximize", load_if_exists=True
    )
    key = spec.search_key()
    stored = study.user_attrs.get(SPEC_KEY)
    if stored is None:
        study.set_user_attr(SPEC_KEY, key)
    elif stored != key:
        raise TuneSpecError(
            f"{spec.path}: {db} holds a study of a different search (train, seeds, space or objective "
            "changed); use another --out or delete it"
        )
    _close_interrupted(study)
    if not known:
        _enqueue_defaults(study, spec)
    return study


def _enqueue_defaults(study: Any, spec: TuneSpec) -> None:
    """The scenario's own values are the study's first trial when the space holds them: the best
    setting can then never score below the defaults on the train scenarios (with few trials TPE's
    random start often did, and best.yaml said nothing of it)."""
    from bondlab.tuner.points import current_value

    defaults = {}
    for key, p in spec.model.space.items():
        value = current_value(spec.train[0], key)
        inside = value in p.choices if p.choices is not None else (p.low or 0) <= value <= (p.high or 0)
        if not inside:
            return
        defaults[key] = value
    study.enqueue_trial(defaults)


def _close_interrupted(study: Any) -> None:
    """Trials left running by a killed run are closed as failed; they do not count towards the total."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)


def done_trials(study: Any) -> int:
    """Trials that count towards the total: complete ones and those whose runs failed (not interrupted)."""
    from optuna.trial import TrialState

    return sum(
        t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and "error" in t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    )


def batch_size(client: Any | None) -> int:
    if client is None:
        return 1
    return max(1, len(client.scheduler_info().get("workers", {})))


def search(
    study: Any,
    train: Sequence[Scenario],
    spec: TuneSpec,
    total: int,
    client: Any | None = None,
    progress: bool = True,
) -> None:
    """Run trials until the study holds `total`; each trial's train runs are spread over the workers."""
    from optuna.trial import TrialState

    m = spec.model
    dists = distributions(m.space, train[0])
    start = done_trials(study)
    bar = tqdm(total=total, initial=min(start, total), desc="trials", unit="trial", disable=not progress)
    try:
        while (done := done_trials(study)) < total:
            trials = [study.ask(dists) for _ in range(min(batch_size(client), total - done))]
            points = [
                Point(sc, m.scheduler, seed, dict(t.params), tag=(t.number, sc.name))
                for t in trials
                for sc in train
                for seed in m.seeds
            ]
            runs: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
            errors: dict[int, str] = {}
            for out in run_all(run_point, points, client, desc="train runs", progress=False):
                number, name = out.item.tag
                if out.error is not None:
                    errors.setdefault(number, f"{name} seed {out.item.seed}: {out.error}")
                else:
                    runs[(number, name)].append(out.result)
            for t in trials:
                scores: dict[str, float] = {}
                if t.number not in errors:
                    try:
                        scores = {sc.name: mean_score(runs[(t.number, sc.name)], m.objective) for sc in train}
                    except ValueError as exc:
                        errors[t.number] = str(exc)
                if t.number in errors:
                    t.set_user_attr("error", errors[t.number])
                    study.tell(t, state=TrialState.FAIL)
                else:
                    t.set_user_attr("scores", scores)
                    study.tell(t, sum(scores.values()) / len(scores))
            bar.update(len(trials))
            if any(s.state == TrialState.COMPLETE for s in study.get_trials(deepcopy=False)):
                bar.set_postfix(best=f"{study.best_value:.4f}")
    finally:
        bar.close()
