"""pytest fixtures of imgpipe's test kit, registered through the ``pytest11`` entry point.

Installed with image-pipeline, so every test suite in the environment (a plugin's too) gets:

* ``imgpipe_analysis`` — :func:`rules.testing.analysis` (compact analyses),
* ``imgpipe_rules`` — :func:`rules.testing.load_rules` (rules from a string),
* ``imgpipe_assert`` — :func:`rules.testing.assert_decision`,
* ``imgpipe_conformance`` — :func:`rules.testing.check_rule_type`.

Not shipped in the function's code zip (it imports pytest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rules import testing


@pytest.fixture
def imgpipe_analysis() -> Callable[..., Any]:
    """Build an analysis: ``imgpipe_analysis(labels=[("Dog", 97)], text=["SN-123456"])``."""
    return testing.analysis


@pytest.fixture
def imgpipe_rules() -> Callable[..., Any]:
    """Load rules from a YAML string: ``imgpipe_rules(text, plugins=[MyRule])``."""
    return testing.load_rules


@pytest.fixture
def imgpipe_assert() -> Callable[..., Any]:
    """Check a verdict: ``imgpipe_assert(rules, analysis, verdict="success", categories=[...])``."""
    return testing.assert_decision


@pytest.fixture
def imgpipe_conformance() -> Callable[..., None]:
    """Run the plugin conformance check: ``imgpipe_conformance(MyRule, examples=[{...}])``."""
    return testing.check_rule_type
