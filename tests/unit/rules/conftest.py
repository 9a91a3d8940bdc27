"""Fixtures of the rule-engine unit tests: recorded Rekognition responses and ruleset factories.

The responses under ``tests/events/rekognition/<api>/<scenario>.json`` are shaped exactly like
boto3's output. Factories return fresh copies, so a failure case can copy a valid fixture and
break one thing.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from rules import Analysis, Ruleset, parse_ruleset

EVENTS = Path(__file__).resolve().parents[2] / "events" / "rekognition"

#: feature name (ANALYSIS.json key) -> folder of raw boto3 responses
API_DIRS: dict[str, str] = {
    "labels": "detect_labels",
    "moderation": "detect_moderation_labels",
    "text": "detect_text",
}

Response = Callable[[str, str], dict[str, Any]]
Scenario = Callable[..., Analysis]
RulesFromYaml = Callable[..., Ruleset]
RulesOf = Callable[..., Ruleset]


@cache
def _read(feature: str, name: str) -> dict[str, Any]:
    path = EVENTS / API_DIRS[feature] / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_response(feature: str, name: str) -> dict[str, Any]:
    """A deep copy of a recorded response, e.g. ``load_response("labels", "dog")``."""
    return copy.deepcopy(_read(feature, name))


def load_scenario(name: str, *features: str) -> Analysis:
    """The analysis of one scenario image; ``features`` limits which analyses were run."""
    wanted = features or tuple(API_DIRS)
    return Analysis.from_responses(**{f: load_response(f, name) for f in wanted})


def rules_from_yaml(text: str, filename: str = "rules.yaml") -> Ruleset:
    """Parse (dedented) YAML text like a user's rules file."""
    return parse_ruleset(textwrap.dedent(text), filename)


def rules_of(*rules: dict[str, Any], **top: Any) -> Ruleset:
    """A ruleset from rule mappings, written out as YAML and loaded like a user's file."""
    doc: dict[str, Any] = {"version": 1, **top, "rules": list(rules)}
    return parse_ruleset(yaml.safe_dump(doc, sort_keys=False), "rules.yaml")


@pytest.fixture(scope="session")
def response() -> Response:
    return load_response


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario


@pytest.fixture(scope="session")
def rules_yaml() -> RulesFromYaml:
    return rules_from_yaml


@pytest.fixture(scope="session")
def make_rules() -> RulesOf:
    return rules_of


@pytest.fixture(scope="session")
def events_dir() -> Path:
    return EVENTS
