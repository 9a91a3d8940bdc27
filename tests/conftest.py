"""Shared test helpers: paths to the repository and its fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"


def load_event(relative: str) -> Any:
    """A JSON fixture from tests/events/."""
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


@pytest.fixture
def root() -> Path:
    return ROOT
