"""Test cases of a rules file, written in YAML beside it (``<name>.cases.yml``).

Each case gives an image's analysis (a recorded ANALYSIS.json file, or a compact inline
description) and the verdict (and optionally the categories) the rules must give it::

    # rules/dev.cases.yml — cases of rules/dev.yaml
    cases:
      - name: two deer are animals
        analysis: ../tests/events/analysis/deer_two.json   # relative to this file
        verdict: success
        categories: [animals]
      - name: a person goes to review
        labels: {Person: 95}               # inline: labels, moderation, text, quality
        verdict: review
      - name: our own sneaker class
        custom_labels: {Sneaker: 92}       # every Custom Labels model the rules use; or
        verdict: success                   # {ARN: {Sneaker: 92}} per model (moderation_adapter too)

``imgpipe rules test`` runs them; a stack's preview refuses a rules file failing its own cases.
Categories compare as a set (order does not matter); left out, they are not checked. An
analysis a case leaves out (inline or in the recorded file) counts as "run, nothing found".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.analyses import split_id
from rules.analysis import Analysis
from rules.base import Verdict
from rules.custom import CUSTOM_LABELS, MODERATION_ADAPTER
from rules.errors import RulesError, RulesValidationError
from rules.features import Needs
from rules.loader import MAX_RULES_BYTES, _Locator, _read_yaml, load_ruleset
from rules.registry import Registry
from rules.ruleset import Ruleset
from rules.testing import complete, describe_decision, responses

CASES_SUFFIX = ".cases.yml"


class CasesError(RulesError):
    """A cases file (or the rules file it tests) is invalid; the message has FILE:LINE lines."""


class Case(BaseModel):
    """One case: an analysis (file or inline) and what the rules must decide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    analysis: str | None = None
    labels: dict[str, float] | None = None
    moderation: dict[str, float] | None = None
    text: list[str | tuple[str, float]] | None = None  # lines, or [line, confidence]
    quality: dict[str, float] | None = None
    faces: list[dict[str, Any]] | None = None  # compact faces, see rules.faces.faces_response
    #: ``{Sneaker: 92}`` (every Custom Labels model of the rules) or ``{ARN: {Sneaker: 92}}``
    custom_labels: dict[str, Any] | None = None
    #: ``{Explicit: 91}`` (every moderation adapter of the rules) or ``{ARN: {Explicit: 91}}``
    moderation_adapter: dict[str, Any] | None = None
    verdict: Verdict
    categories: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        inline = any(v is not None for v in (self.labels, self.moderation, self.text, self.quality, self.faces,
                                             self.custom_labels, self.moderation_adapter))
        if self.analysis is not None and inline:
            raise ValueError("give either 'analysis' (a recorded JSON file) or inline labels/moderation/text/quality")
        for field_name in ("custom_labels", "moderation_adapter"):
            value = getattr(self, field_name) or {}
            per_model = [k.startswith("arn:") for k in value]
            if any(per_model) and not all(per_model):
                raise ValueError(f"'{field_name}': give either label names or project version ARNs as keys, not both")
        return self


class CasesFile(BaseModel):
    """The top level of a cases file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: str | None = None  # the rules file, relative to this file; default: NAME.yaml beside
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case."""

    file: str
    line: int
    name: str
    passed: bool
    expected_verdict: str
    expected_categories: list[str] | None
    verdict: str | None = None
    categories: list[str] = field(default_factory=list)
    message: str = ""

    def describe(self) -> str:
        return f"{self.file}:{self.line}: case '{self.name}': {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "line": self.line, "name": self.name, "passed": self.passed,
            "expected": {"verdict": self.expected_verdict, "categories": self.expected_categories},
            "got": {"verdict": self.verdict, "categories": self.categories},
            "message": self.message,
        }


@dataclass(frozen=True)
class CasesReport:
    """All cases of one cases file."""

    cases_file: str
    rules_file: str
    results: list[CaseResult]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases_file": self.cases_file, "rules_file": self.rules_file,
            "passed": len(self.results) - len(self.failed), "failed": len(self.failed),
            "cases": [r.to_dict() for r in self.results],
        }


def cases_file_for(rules_file: Path) -> Path | None:
    """``NAME.cases.yml`` beside ``NAME.yaml``, if it exists."""
    candidate = rules_file.with_name(rules_file.name.rsplit(".", 1)[0] + CASES_SUFFIX)
    return candidate if candidate.is_file() else None


def rules_file_for(cases_file: Path, declared: str | None) -> Path:
    if declared:
        return cases_file.parent / declared
    return cases_file.with_name(cases_file.name.removesuffix(CASES_SUFFIX) + ".yaml")


def load_cases(cases_file: Path) -> tuple[CasesFile, _Locator]:
    name = str(cases_file)
    try:
        text = cases_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CasesError(f"{name}:1: cannot read the cases file: {exc.strerror or exc}") from exc
    if len(text) > MAX_RULES_BYTES:
        raise CasesError(f"{name}:1: the file is larger than {MAX_RULES_BYTES // 1024} KB")
    data, lines, issues, booleans = _read_yaml(text, name)  # the rules files' limits apply here too
    if issues:
        raise CasesError("\n".join(str(i) for i in issues))
    locate = _Locator(name, lines, booleans)
    if not isinstance(data, Mapping):
        raise CasesError(f"{name}:1: expected a mapping with 'cases' (a list)")
    try:
        return CasesFile.model_validate(data), locate
    except ValidationError as exc:
        raise CasesError("\n".join(str(i) for i in sorted(locate.pydantic(exc, (), Case), key=lambda i: i.line))) from None


def _per_model(given: Mapping[str, Any] | None, kind: str, needs: Needs) -> dict[str, Any]:
    """``{ARN: found}`` from a case's ``{name: confidence}`` (for every model of ``kind`` the
    rules use) or ``{ARN: {name: confidence}}``."""
    if not given:
        return {}
    if all(k.startswith("arn:") for k in given):
        return dict(given)
    arns = [arg for name, arg in map(split_id, sorted(needs.extra)) if name == kind and arg]
    if not arns:
        raise ValueError(f"the case gives {kind} but the rules use no such model")
    return {arn: dict(given) for arn in arns}


def _analysis_of(case: Case, cases_file: Path, needs: Needs) -> Analysis:
    if case.analysis is not None:
        path = cases_file.parent / case.analysis
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a JSON object with keys labels, moderation, text")
        # an analysis the recording lacks counts as "run, nothing found" (as inline cases do)
        return Analysis.from_mapping(complete({**responses(), **data}, needs))
    doc = responses(
        labels=case.labels or {},
        moderation=case.moderation or {},
        text=case.text or [],
        quality=case.quality,
        faces=case.faces,
        custom_labels=_per_model(case.custom_labels, CUSTOM_LABELS, needs),
        adapters=_per_model(case.moderation_adapter, MODERATION_ADAPTER, needs),
    )
    return Analysis.from_mapping(complete(doc, needs))


def run_cases(cases_file: Path, registry: Registry | None = None, ruleset: Ruleset | None = None) -> CasesReport:
    """Run every case of ``cases_file`` against its rules file; raises :class:`CasesError` when
    the cases file or the rules file is invalid."""
    spec, locate = load_cases(cases_file)
    rules_path = rules_file_for(cases_file, spec.rules)
    if ruleset is None:
        try:
            ruleset = load_ruleset(rules_path, registry)
        except RulesValidationError as exc:
            raise CasesError(str(exc)) from None
    results = []
    for i, case in enumerate(spec.cases):
        line = locate.line(("cases", i))
        base = CaseResult(str(cases_file), line, case.name, False, case.verdict.value, case.categories)
        try:
            decision = ruleset.evaluate(_analysis_of(case, cases_file, ruleset.needs))
        except (OSError, ValueError, RulesError) as exc:
            results.append(replace(base, message=f"cannot evaluate: {exc}"))
            continue
        problems = []
        if decision.verdict != case.verdict:
            problems.append(f"expected verdict {case.verdict.value}, got {decision.verdict.value}")
        if case.categories is not None and sorted(set(case.categories)) != sorted(decision.categories):
            problems.append(f"expected categories {case.categories}, got {decision.categories}")
        message = "; ".join(problems)
        if problems:
            message += "\n    " + describe_decision(decision).replace("\n", "\n    ")
        results.append(replace(base, passed=not problems, verdict=decision.verdict.value,
                               categories=list(decision.categories), message=message))
    return CasesReport(str(cases_file), str(rules_path), results)
