"""Errors of the operations package; all derive from :class:`OpsError`."""

from __future__ import annotations

from imgpipe.errors import ImgpipeError


class OpsError(ImgpipeError):
    """Base class of every operations error."""


class OutputsError(OpsError):
    """The stack outputs file is missing, unreadable or lacks a needed output."""


class RedriveError(OpsError):
    """Messages could not be moved back from the DLQ."""


class ReprocessError(OpsError):
    """Analysed images could not be sent back through the pipeline."""
