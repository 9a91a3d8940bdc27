"""Errors of the infrastructure program; each is a clean preview failure (no traceback)."""

from __future__ import annotations

import pulumi


class InfraError(pulumi.RunError):
    """Base of every error the Pulumi program raises on purpose."""


class StackConfigError(InfraError):
    """The stack's configuration (Pulumi.<stack>.yaml) is invalid."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("invalid stack configuration:\n" + "\n".join(issues))


class RulesFileError(InfraError):
    """The stack's rules file is missing or invalid; it must never be deployed."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("invalid rules file:\n" + "\n".join(issues))


class ArtifactBuildError(InfraError):
    """The Lambda artifacts could not be built (pip download failed, size limit exceeded, ...)."""
