"""Call planning: which Rekognition calls to make for one image, in what order, and which to skip.

``calls: complete`` (the default) makes every call the rules need. ``calls: economical`` calls
one analysis at a time, cheapest-decision-first — analyses whose rules can decide the strongest
verdict (failure > review > success) first, cheaper ones first among equals — and after each
call skips every remaining analysis whose rules can no longer change the verdict: none of them
has an outcome stronger than the strongest outcome already matched. An analysis a ``tag`` rule
needs is never skipped (its categories belong in the record). Rules whose analyses were skipped
are not evaluated; the record lists each skipped call with its reason.

Pure: the caller supplies ``fetch(name, needs) -> response`` (the analyzer's detector).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from rules.analysis import Analysis
from rules.base import Outcome, Rule
from rules.features import Feature, Needs
from rules.ruleset import Decision, Ruleset

#: How strongly an outcome decides; ``tag`` never decides.
STRENGTH: dict[str, int] = {"tag": 0, "success": 1, "review": 2, "failure": 3}


class CallPlan(StrEnum):
    """The ``calls:`` setting of a rules file."""

    COMPLETE = "complete"
    ECONOMICAL = "economical"


def needs_for(needs: Needs, name: str) -> Needs:
    """The part of ``needs`` that one analysis (``labels``, ``faces``, ...) covers."""
    match name:
        case Feature.LABELS.value:
            return Needs(labels=needs.labels)
        case Feature.MODERATION.value:
            return Needs(moderation=True)
        case Feature.TEXT.value:
            return Needs(text=True)
    return Needs(extra=frozenset({name}))


def _rules_of(ruleset: Ruleset, name: str) -> list[Rule]:
    return [r for r in ruleset.rules if name in r.needs().features]


def order(ruleset: Ruleset, prices: Mapping[str, float] | None = None) -> list[str]:
    """The economical order of the needed analyses: strongest possible outcome first, then
    cheapest (``prices``: analysis name -> USD per 1,000), then the canonical order."""
    names = ruleset.needs.features
    prices = prices or {}

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        index, name = item
        strongest = max((STRENGTH[r.outcome.value] for r in _rules_of(ruleset, name)), default=0)
        return (-strongest, prices.get(name, 1.0), index)

    return [name for _, name in sorted(enumerate(names), key=key)]


def skip_reason(ruleset: Ruleset, name: str, matched: Decision) -> str | None:
    """Why the call for ``name`` can be skipped after ``matched`` (None: it must be made)."""
    rules = _rules_of(ruleset, name)
    if any(r.outcome is Outcome.TAG for r in rules):
        return None
    current = max((STRENGTH[m.outcome] for m in matched.matches), default=0)
    if current == 0:
        return None
    if any(STRENGTH[r.outcome.value] > current for r in rules):
        return None
    decider = next(m for m in matched.matches if STRENGTH[m.outcome] == current)
    return (
        f"verdict already {matched.verdict} (rule {decider.rule!r}); the rules needing {name} "
        f"({', '.join(r.name for r in rules)}) cannot change it"
    )


@dataclass
class PlanRun:
    """What a planned analysis did: responses got, calls skipped with reasons, the decision."""

    responses: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # analysis name -> reason
    order: list[str] = field(default_factory=list)
    decision: Decision | None = None


def _subset(ruleset: Ruleset, done: set[str]) -> Ruleset:
    rules = tuple(r for r in ruleset.rules if set(r.needs().features) <= done)
    return replace(ruleset, rules=rules)


def _analysis(responses: Mapping[str, Any]) -> Analysis:
    core = {f.value for f in Feature}
    return Analysis.from_responses(
        labels=responses.get("labels"),
        moderation=responses.get("moderation"),
        text=responses.get("text"),
        extra={k: v for k, v in responses.items() if k not in core},
    )


def run_plan(
    ruleset: Ruleset,
    fetch: Callable[[str, Needs], Any],
    plan: CallPlan | str = CallPlan.ECONOMICAL,
    prices: Mapping[str, float] | None = None,
) -> PlanRun:
    """Call ``fetch`` per analysis as ``plan`` says; decide on what was fetched."""
    run = PlanRun(order=order(ruleset, prices) if plan == CallPlan.ECONOMICAL else ruleset.needs.features)
    done: set[str] = set()
    for name in run.order:
        if plan == CallPlan.ECONOMICAL and done:
            partial = _subset(ruleset, done)
            if partial.rules:
                reason = skip_reason(ruleset, name, partial.evaluate(_analysis(run.responses)))
                if reason is not None:
                    run.skipped[name] = reason
                    continue
        run.responses[name] = fetch(name, needs_for(ruleset.needs, name))
        done.add(name)
    final = ruleset if not run.skipped else _subset(ruleset, done)
    run.decision = final.evaluate(_analysis(run.responses))
    return run


def analysis_of(responses: Mapping[str, Any]) -> Analysis:
    """The analysis of raw responses keyed by analysis name (``labels``, ``faces``, ...): what a
    stored analysis or a plan run holds. Raises :class:`~rules.errors.AnalysisError` for a response
    not shaped as Rekognition answers, :class:`~rules.errors.PluginError` for an unknown analysis."""
    return _analysis(responses)


@dataclass(frozen=True, slots=True)
class StoredJudgement:
    """:func:`judge_stored`'s answer: a decision (with the analyses it did without, and why), or
    the analyses it would need."""

    decision: Decision | None
    skipped: dict[str, str] = field(default_factory=dict)  # analysis name -> why not needed
    lacking: tuple[str, ...] = ()  # analyses needed to decide (decision is None)


def judge_stored(ruleset: Ruleset, analysis: Analysis) -> StoredJudgement:
    """Judge an analysis made earlier (a stored analysis, possibly from an economical plan that
    skipped calls) with ``ruleset``, as a fresh run under ``ruleset`` would decide it.

    Everything ``ruleset`` needs is there: its decision. Some is missing and ``ruleset`` is
    ``calls: economical``: the rules of the analyses present decide, provided every missing
    analysis could have been skipped after them (:func:`skip_reason`: none of its rules can change
    the verdict, none is a ``tag`` rule); the skipped ones come with their reasons. Otherwise (a
    ``complete`` ruleset, or a missing analysis that could change the verdict) there is no
    decision, only the analyses it lacks.
    """
    missing = ruleset.missing(analysis)
    if not missing:
        return StoredJudgement(ruleset.evaluate(analysis))
    if ruleset.calls != CallPlan.ECONOMICAL:
        return StoredJudgement(None, lacking=tuple(missing))
    present = set(ruleset.needs.features) - set(missing)
    partial = _subset(ruleset, present)
    if not partial.rules:
        return StoredJudgement(None, lacking=tuple(missing))
    decision = partial.evaluate(analysis)
    skipped: dict[str, str] = {}
    for name in missing:
        reason = skip_reason(ruleset, name, decision)
        if reason is None:
            return StoredJudgement(None, lacking=tuple(missing))
        skipped[name] = reason
    return StoredJudgement(decision, skipped)
