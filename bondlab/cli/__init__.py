"""The `bondlab` command line: `cli/main.py` builds the parser and dispatches; a module per command
that has options of its own (compare, report, show, regress, schedulers, traces; real runs, sweeps
and tuning in their packages); `cli/common.py` what they share."""
