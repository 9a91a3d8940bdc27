"""Back-testing a rules change: judge the same stored analyses with two rulesets, compare.

Pure: the cases (analyses, keyed by image) come from whoever reads the history (result records in
S3, an ``imgpipe run --out`` folder, recordings); nothing here calls a detector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rules.analysis import Analysis
from rules.planning import judge_stored
from rules.ruleset import Decision, Match, Ruleset

DEFAULT = "(default_verdict)"


@dataclass(frozen=True, slots=True)
class Case:
    """One image of the history: its key and the analysis it was judged on."""

    key: str
    analysis: Analysis | None
    stored_verdict: str | None = None
    unusable: str | None = None  # why it cannot be judged again (no stored analysis, ...)


@dataclass(frozen=True, slots=True)
class Change:
    """One image whose verdict or categories differ under the new rules."""

    key: str
    old: Decision
    new: Decision
    rules: tuple[str, ...]  # rules whose match differs (or DEFAULT)

    @property
    def verdict_changed(self) -> bool:
        return self.old.verdict != self.new.verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old": {"verdict": self.old.verdict.value, "categories": list(self.old.categories),
                    "why": explain(self.old)},
            "new": {"verdict": self.new.verdict.value, "categories": list(self.new.categories),
                    "why": explain(self.new)},
            "rules": list(self.rules),
        }


@dataclass(slots=True)
class RuleImpact:
    verdict_flips: int = 0
    category_changes: int = 0


@dataclass(slots=True)
class BacktestResult:
    """The comparison over a whole history."""

    old_source: str
    new_source: str
    total: int = 0
    judged: int = 0
    changes: list[Change] = field(default_factory=list)
    not_judgeable: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_rule: dict[str, RuleImpact] = field(default_factory=dict)
    #: images whose stored verdict differs from the OLD file's (OLD is not what judged them)
    stored_disagreements: int = 0

    @property
    def verdict_flips(self) -> int:
        return sum(1 for c in self.changes if c.verdict_changed)

    @property
    def category_changes(self) -> int:
        return sum(1 for c in self.changes if c.old.categories != c.new.categories)

    def examples(self, limit: int = 5) -> list[Change]:
        flips = [c for c in self.changes if c.verdict_changed]
        others = [c for c in self.changes if not c.verdict_changed]
        return (flips + others)[:limit]

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        return {
            "old": self.old_source,
            "new": self.new_source,
            "total": self.total,
            "judged": self.judged,
            "not_judgeable": dict(self.not_judgeable),
            "verdict_flips": self.verdict_flips,
            "category_changes": self.category_changes,
            "transitions": [{"from": a, "to": b, "count": n}
                            for (a, b), n in sorted(self.transitions.items())],
            "by_rule": {name: {"verdict_flips": i.verdict_flips,
                               "category_changes": i.category_changes}
                        for name, i in sorted(self.by_rule.items())},
            "stored_disagreements": self.stored_disagreements,
            "examples": [c.to_dict() for c in self.examples(examples)],
        }


def explain(decision: Decision) -> str:
    """One line: the verdict and the rules (with their first evidence) that made it."""
    deciding = [m for m in decision.matches if m.outcome != "tag"]
    if not deciding:
        tags = ", ".join(m.rule for m in decision.matches)
        suffix = f"; tags: {tags}" if tags else ""
        return f"{decision.verdict.value}: no deciding rule matched, default_verdict{suffix}"
    parts = [f"{m.rule} -> {m.outcome}{_evidence(m)}" for m in decision.matches]
    return f"{decision.verdict.value}: " + "; ".join(parts)


def _evidence(match: Match) -> str:
    if not match.evidence:
        return ""
    item = dict(match.evidence[0])
    what = item.get("label") or item.get("path") or item.get("text") or item.get("name") or ""
    conf = item.get("confidence")
    pct = f" {conf:.1f}%" if isinstance(conf, int | float) else ""
    return f" ({what}{pct})" if what or pct else ""


def _signature(decision: Decision) -> dict[str, tuple[str, str]]:
    return {m.rule: (m.outcome, m.category) for m in decision.matches}


def involved_rules(old: Decision, new: Decision) -> tuple[str, ...]:
    """Rules that matched in one decision and not the other, or with another outcome/category."""
    a, b = _signature(old), _signature(new)
    names = [n for n in dict.fromkeys([*a, *b]) if a.get(n) != b.get(n)]
    return tuple(names) or (DEFAULT,)


def backtest(old: Ruleset, new: Ruleset, cases: Iterable[Case]) -> BacktestResult:
    """Judge every case with both rulesets and collect what changes."""
    result = BacktestResult(old.source, new.source)
    for case in cases:
        result.total += 1
        if case.analysis is None:
            result.not_judgeable[case.unusable or "no stored analysis"] += 1
            continue
        # an analysis of an economical plan lacks the calls it skipped: judged as a fresh run
        # would be if they could not change the verdict (rules.planning.judge_stored)
        was, now = judge_stored(old, case.analysis), judge_stored(new, case.analysis)
        if was.decision is None or now.decision is None:
            missing = sorted(set(was.lacking) | set(now.lacking))
            result.not_judgeable[f"analysis lacks {', '.join(missing)}"] += 1
            continue
        before, after = was.decision, now.decision
        result.judged += 1
        if case.stored_verdict and case.stored_verdict != before.verdict.value:
            result.stored_disagreements += 1
        if before.verdict == after.verdict and before.categories == after.categories:
            continue
        change = Change(case.key, before, after, involved_rules(before, after))
        result.changes.append(change)
        if change.verdict_changed:
            result.transitions[(before.verdict.value, after.verdict.value)] += 1
        for name in change.rules:
            impact = result.by_rule.setdefault(name, RuleImpact())
            if change.verdict_changed:
                impact.verdict_flips += 1
            if before.categories != after.categories:
                impact.category_changes += 1
    return result


def summary_line(result: BacktestResult) -> str:
    """One line for logs and previews: images, flips, by rule."""
    text = (f"rules back-test {result.old_source} -> {result.new_source}: {result.total} past "
            f"image(s), {result.judged} judged again, {result.verdict_flips} verdict flip(s), "
            f"{result.category_changes} category change(s)")
    if result.transitions:
        text += " [" + ", ".join(f"{a}->{b}: {n}" for (a, b), n in
                                 sorted(result.transitions.items())) + "]"
    if result.by_rule:
        text += "; by rule: " + ", ".join(f"{name} {i.verdict_flips}" for name, i in
                                          sorted(result.by_rule.items()))
    if result.not_judgeable:
        text += f"; {sum(result.not_judgeable.values())} not re-judgeable"
    return text
