"""Tuning bonding parameters without fooling ourselves: search on train scenarios, score on others.

- `spec`: the YAML spec (train, validate, space, objective), validated before anything runs.
- `points`: one simulated point and its score; `run_point` is what the workers run.
- `search`: optuna TPE with ask/tell in batches over the dask workers; sees train scenarios only.
- `report`: defaults vs tuned on train and validation scenarios, the gap, files under the output dir.
- `run.tune`: the whole thing; `cli`: the `bondlab tune` command.

optuna and dask are imported only when a search starts, so `bondlab --help` stays quick.
"""

from __future__ import annotations

from bondlab.tuner.run import TuneResult, tune
from bondlab.tuner.spec import TuneSpec, TuneSpecError, load_tune_spec

__all__ = ["TuneResult", "TuneSpec", "TuneSpecError", "load_tune_spec", "tune"]
