"""The rule base class — also the plugin API.

A rule type is a frozen pydantic model with a ``type: Literal["..."]`` field, a ``needs()`` method
saying which analyses it reads, and an ``evaluate()`` method returning a :class:`RuleResult`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from rules.analysis import Analysis
from rules.features import Needs


class Verdict(StrEnum):
    """Where an image ends up."""

    SUCCESS = "success"
    FAILURE = "failure"
    REVIEW = "review"


class Outcome(StrEnum):
    """What a matching rule contributes: a verdict, or only a category (``tag``)."""

    SUCCESS = "success"
    FAILURE = "failure"
    REVIEW = "review"
    TAG = "tag"


Confidence = Annotated[float, Field(ge=0, le=100, strict=True)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=64)]
Evidence = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Settings from the ruleset that every rule sees."""

    min_confidence: float = 80.0
    explain: bool = False  # when True, rules also fill RuleResult.reasons


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The result of one rule on one image.

    ``evidence`` are JSON-able dicts saying what matched (e.g. ``{"label": "Dog", "confidence":
    97.1}``); ``reasons`` are human sentences for ``imgpipe rules explain``.
    """

    matched: bool
    evidence: tuple[Evidence, ...] = ()
    reasons: tuple[str, ...] = ()


class Rule(BaseModel, ABC):
    """Base class of every rule type, built-in or plugin.

    Subclasses declare ``type: Literal["my_type"]`` plus their own fields; unknown keys are
    rejected and instances are immutable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    #: short human description shown by ``imgpipe rules validate``; optional for plugins
    summary: ClassVar[str] = ""

    type: str
    name: RuleName
    outcome: Outcome
    category: str | None = Field(default=None, min_length=1)
    min_confidence: Confidence | None = None

    @property
    def effective_category(self) -> str:
        return self.category or self.name

    def threshold(self, ctx: EvalContext) -> float:
        """The confidence threshold of this rule: its own, else the ruleset's."""
        return ctx.min_confidence if self.min_confidence is None else self.min_confidence

    @abstractmethod
    def needs(self) -> Needs:
        """The analyses this rule reads."""

    @abstractmethod
    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        """Judge one image. Only the analyses declared by :meth:`needs` are guaranteed present."""
