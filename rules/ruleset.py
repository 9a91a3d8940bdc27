"""A validated ruleset, and the verdict it gives an analysis."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rules._guard import plugin_code
from rules.analysis import Analysis
from rules.base import EvalContext, Evidence, Outcome, Rule, RuleResult, Verdict
from rules.errors import Issue, MissingAnalysisError
from rules.features import Feature, Needs

# failure beats review beats success
_PRECEDENCE: tuple[Outcome, ...] = (Outcome.FAILURE, Outcome.REVIEW, Outcome.SUCCESS)

#: The category (and reason) of a rule that failed while judging an image: its ``evaluate()``
#: raised, or returned something that is not a :class:`RuleResult` with JSON-able evidence. Such a
#: rule counts as a matched rule with outcome ``review``: the image goes to review (unless another
#: rule says failure), the other rules still decide, and the error is in the match's evidence.
RULE_ERROR = "rule_error"


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
class RuleError:
    """A rule that failed on one image (see :data:`RULE_ERROR`)."""

    rule: str
    type: str
    origin: str  # "built-in" or "plugin 'module:Class' (distribution version)"
    error: str

    def __str__(self) -> str:
        return f"rule '{self.rule}' (type '{self.type}', {self.origin}) failed: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "type": self.type, "plugin": self.origin, "error": self.error}


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one image."""

    verdict: Verdict
    categories: list[str]
    matches: list[Match]
    features: list[str]
    errors: tuple[RuleError, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict.value,
            "categories": list(self.categories),
            "matches": [m.to_dict() for m in self.matches],
            "features": list(self.features),
        }
        if self.errors:
            out["errors"] = [e.to_dict() for e in self.errors]
        return out


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


def _check_evidence(evidence: tuple[Evidence, ...]) -> None:
    """Evidence must be strict JSON: NaN/Infinity (refused in responses by the analysis parser)
    would reach records and messages as non-JSON, so a rule giving them is a rule error."""
    try:
        json.dumps(evidence, allow_nan=False)
    except ValueError as exc:
        if not str(exc).startswith("Out of range float"):
            raise  # e.g. a circular reference
        raise ValueError("evidence holds NaN or Infinity, which JSON cannot carry") from None


@dataclass(frozen=True)
class Ruleset:
    """An ordered list of rules with the file-level settings."""

    rules: tuple[Rule, ...]
    default_verdict: Verdict = Verdict.FAILURE
    #: the call plan: ``complete`` | ``economical`` (see rules.planning)
    calls: str = "complete"
    min_confidence: float = 80.0
    name: str | None = None
    source: str = "<string>"
    text: str = field(default="", repr=False)
    #: likely mistakes in a valid file (``FILE:LINE: path: warning: ...``), e.g. an unknown label
    warnings: tuple[Issue, ...] = field(default=(), repr=False)
    #: rule type -> where it comes from, for plugin types (named in rule errors)
    origins: Mapping[str, str] = field(default_factory=dict, repr=False)

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
    def _features(self) -> tuple[str, ...]:
        return tuple(self.needs.features)

    def missing(self, analysis: Analysis) -> list[str]:
        """Needed analyses that ``analysis`` lacks, by ANALYSIS.json name."""
        missing = [f for f in self._features if not analysis.has(f)]
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

    def _run(self, rule: Rule, analysis: Analysis, ctx: EvalContext) -> RuleResult | RuleError:
        """One rule on one image; a failing rule gives a :class:`RuleError`, never an exception."""
        try:
            with plugin_code():
                result = rule.evaluate(analysis, ctx)
            if not isinstance(result, RuleResult):
                raise TypeError(f"evaluate() returned {type(result).__name__}, not a RuleResult")
            if result.matched and result.evidence:
                _check_evidence(result.evidence)
        except Exception as exc:  # one broken rule must not take the others down
            origin = self.origins.get(rule.type, "built-in")
            return RuleError(rule.name, rule.type, origin, f"{type(exc).__name__}: {exc}")
        return result

    def evaluate(self, analysis: Analysis) -> Decision:
        """The verdict, categories and matches for one image."""
        self._check(analysis)
        ctx = self._context
        matches = []
        errors = []
        for rule in self.rules:
            result = self._run(rule, analysis, ctx)
            if isinstance(result, RuleError):
                errors.append(result)
                matches.append(Match(rule.name, rule.type, Outcome.REVIEW.value, RULE_ERROR, (result.to_dict(),)))
            elif result.matched:
                matches.append(
                    Match(rule.name, rule.type, rule.outcome.value, rule.effective_category, result.evidence)
                )
        return Decision(
            verdict=decide(matches, self.default_verdict),
            categories=list(dict.fromkeys(m.category for m in matches)),
            matches=matches,
            features=list(self._features),
            errors=tuple(errors),
        )

    def explain(self, analysis: Analysis) -> list[RuleExplanation]:
        """Per rule: matched or not, and why."""
        self._check(analysis)
        ctx = EvalContext(min_confidence=self.min_confidence, explain=True)
        explanations = []
        for rule in self.rules:
            result = self._run(rule, analysis, ctx)
            if isinstance(result, RuleError):
                explanations.append(
                    RuleExplanation(rule.name, rule.type, Outcome.REVIEW.value, True,
                                    (f"{RULE_ERROR}: {result}",), (result.to_dict(),))
                )
                continue
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
