"""Human review of the ``review`` verdict: decisions with an audit trail, and a local review page.

:class:`ReviewService` does the work on a stack's bucket over injected boto3 clients;
:mod:`imgpipe.review.web` serves the page (Flask, the ``review`` extra).
"""

from __future__ import annotations

from imgpipe.review.errors import DecisionConflictError, NotUnderReviewError, ReviewError
from imgpipe.review.service import (
    DECISIONS,
    DecisionResult,
    ReviewItem,
    ReviewLayout,
    ReviewService,
)

__all__ = [
    "DECISIONS",
    "DecisionConflictError",
    "DecisionResult",
    "NotUnderReviewError",
    "ReviewError",
    "ReviewItem",
    "ReviewLayout",
    "ReviewService",
]
