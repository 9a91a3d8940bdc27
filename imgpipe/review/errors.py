"""Errors of the review package; all derive from :class:`ReviewError`."""

from __future__ import annotations

from typing import Any

from imgpipe.errors import ImgpipeError


class ReviewError(ImgpipeError):
    """Base class of every review error."""


class NotUnderReviewError(ReviewError):
    """The image is not waiting for a decision (never was, or its key is wrong)."""


class DecisionConflictError(ReviewError):
    """Someone else already decided this image differently; ``decision`` is their record."""

    def __init__(self, message: str, decision: dict[str, Any]) -> None:
        super().__init__(message)
        self.decision = decision
