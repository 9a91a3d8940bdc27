"""Top-level test configuration: the shared fixtures of :mod:`tests.support` for every test.

Tests import helpers as a package (``from tests.support.fakes import FakeDetector``); nothing
edits ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytest_plugins = ["tests.support.world"]


@pytest.fixture
def root() -> Path:
    return ROOT
