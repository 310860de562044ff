"""Shared paths for the test suite."""

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests: the default profile keeps CI fast (each test sets its own small example count);
# `--hypothesis-profile=long` is the campaign: >= 10,000 generated scenarios and mutants.
settings.register_profile("long", max_examples=10_000, deadline=None, print_blob=True)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def scenarios_dir() -> Path:
    return SCENARIOS
