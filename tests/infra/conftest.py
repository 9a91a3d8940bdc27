"""Pulumi-mock fixtures. Mocks are process-global, so every program run happens inside
:func:`infra.mockrun.run_program` (which sets mocks with ``preview=False`` and the stack's config
afresh) and records everything; tests only read the recorded run, so xdist workers and test
order cannot leak state between runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.mockrun import ProgramRun, run_program, stack_config
from tests.support.paths import ROOT

PROGRAM = ROOT / "__main__.py"
STACKS = ("dev", "prod")

_RUNS: dict[str, ProgramRun] = {}


def program_run(stack: str) -> ProgramRun:
    """The program evaluated for a real stack file (cached per process)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack, stack_config(ROOT / f"Pulumi.{stack}.yaml"), PROGRAM)
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return program_run(request.param)


@pytest.fixture
def dev() -> ProgramRun:
    return program_run("dev")


@pytest.fixture
def prod() -> ProgramRun:
    return program_run("prod")


@pytest.fixture
def run_with() -> Callable[..., ProgramRun]:
    """Evaluate the program for ``stack`` with config overrides (value None removes a key)."""

    def _run(stack: str = "dev", **overrides: Any) -> ProgramRun:
        config = stack_config(ROOT / f"Pulumi.{stack}.yaml")
        for key, value in overrides.items():
            full = f"image-pipeline:{key}"
            if value is None:
                config.pop(full, None)
            else:
                config[full] = value if isinstance(value, str) else json.dumps(value)
        return run_program(stack, config, PROGRAM)

    return _run


def settings_of(stack: str) -> Any:
    from infra.mockrun import stack_config as cfg
    from infra.settings import load_settings

    return load_settings(cfg(ROOT / f"Pulumi.{stack}.yaml"), stack, ROOT / f"Pulumi.{stack}.yaml")
