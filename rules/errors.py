"""Errors of the rule engine. Every error derives from :class:`RulesError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RulesError(Exception):
    """Base class of every error raised by the rule engine."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a rules file: where it is and what is wrong."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RulesValidationError(RulesError):
    """A rules file is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class MissingAnalysisError(RulesError):
    """A rule needs an analysis (labels, moderation, text) that was not provided."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing: list[str] = list(missing)
        names = ", ".join(self.missing)
        super().__init__(f"the rules need analyses that are missing: {names}")


class PluginError(RulesError):
    """A rule-type plugin is broken (cannot be imported, or is not a valid Rule class)."""


class AnalysisError(RulesError, ValueError):
    """An analysis (Rekognition responses) is not shaped as Rekognition returns it."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)
