"""Shared test helpers: paths to the repository and its fixtures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"

# Shared test kits (analyzer_testkit, local_testkit, reliability_kit) are plain modules next to
# the tests that own them; with --import-mode=importlib they are importable through sys.path.
KITS = [ROOT / "tests" / "unit" / "analyzer", ROOT / "tests" / "local", ROOT / "tests" / "reliability"]
sys.path[:0] = [str(kit) for kit in KITS if str(kit) not in sys.path]


def load_event(relative: str) -> Any:
    """A JSON fixture from tests/events/."""
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


@pytest.fixture
def root() -> Path:
    return ROOT
