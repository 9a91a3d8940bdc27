"""A validated ruleset, and the verdict it gives an analysis."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rules.analysis import Analysis
from rules.base import EvalContext, Evidence, Outcome, Rule, Verdict
from rules.errors import Issue, MissingAnalysisError
from rules.features import Feature, Needs

# failure beats review beats success
_PRECEDENCE: tuple[Outcome, ...] = (Outcome.FAILURE, Outcome.REVIEW, Outcome.SUCCESS)


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched, with what made it match."""

    rule: str
    type: str
    outcome: str
    category: str
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "type": self.type,
            "outcome": self.outcome,
            "category": self.category,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one image."""

    verdict: Verdict
    categories: list[str]
    matches: list[Match]
    features: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "categories": list(self.categories),
            "matches": [m.to_dict() for m in self.matches],
            "features": list(self.features),
        }


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    """Why a rule matched or not (``imgpipe rules explain``)."""

    rule: str
    type: str
    outcome: str
    matched: bool
    reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "type": self.type,
            "outcome": self.outcome,
            "matched": self.matched,
            "reasons": list(self.reasons),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Ruleset:
    """An ordered list of rules with the file-level settings."""

    rules: tuple[Rule, ...]
    default_verdict: Verdict = Verdict.FAILURE
    min_confidence: float = 80.0
    name: str | None = None
    source: str = "<string>"
    text: str = field(default="", repr=False)
    #: likely mistakes in a valid file (``FILE:LINE: path: warning: ...``), e.g. an unknown label
    warnings: tuple[Issue, ...] = field(default=(), repr=False)

    @cached_property
    def needs(self) -> Needs:
        """The union of what the rules need: the analyzer calls exactly these APIs."""
        needs = Needs()
        for rule in self.rules:
            needs = needs | rule.needs()
        return needs

    @cached_property
    def digest(self) -> str:
        """sha256 of the rules file text (recorded with every result; changes with the rules)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @cached_property
    def _context(self) -> EvalContext:
        return EvalContext(min_confidence=self.min_confidence)

    @cached_property
    def _features(self) -> tuple[Feature, ...]:
        return tuple(Feature(f) for f in self.needs.features)

    def missing(self, analysis: Analysis) -> list[str]:
        """Needed analyses that ``analysis`` lacks, by ANALYSIS.json name."""
        missing = [f.value for f in self._features if not analysis.has(f)]
        if (
            "IMAGE_PROPERTIES" in self.needs.labels
            and analysis.has(Feature.LABELS)
            and analysis.image_properties is None
        ):
            missing.append("labels.ImageProperties")
        return missing

    def _check(self, analysis: Analysis) -> None:
        missing = self.missing(analysis)
        if missing:
            raise MissingAnalysisError(missing)

    def evaluate(self, analysis: Analysis) -> Decision:
        """The verdict, categories and matches for one image."""
        self._check(analysis)
        ctx = self._context
        matches = []
        for rule in self.rules:
            result = rule.evaluate(analysis, ctx)
            if result.matched:
                matches.append(
                    Match(rule.name, rule.type, rule.outcome.value, rule.effective_category, result.evidence)
                )
        return Decision(
            verdict=decide(matches, self.default_verdict),
            categories=list(dict.fromkeys(m.category for m in matches)),
            matches=matches,
            features=[f.value for f in self._features],
        )

    def explain(self, analysis: Analysis) -> list[RuleExplanation]:
        """Per rule: matched or not, and why."""
        self._check(analysis)
        ctx = EvalContext(min_confidence=self.min_confidence, explain=True)
        explanations = []
        for rule in self.rules:
            result = rule.evaluate(analysis, ctx)
            explanations.append(
                RuleExplanation(
                    rule.name, rule.type, rule.outcome.value, result.matched, result.reasons, result.evidence
                )
            )
        return explanations


def decide(matches: Sequence[Match], default: Verdict) -> Verdict:
    """failure > review > success > the default; ``tag`` outcomes never decide."""
    outcomes = {m.outcome for m in matches}
    for outcome in _PRECEDENCE:
        if outcome.value in outcomes:
            return Verdict(outcome.value)
    return default
