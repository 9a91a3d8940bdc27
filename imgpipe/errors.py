"""The base error of the tool package; every error it raises derives from :class:`ImgpipeError`."""

from __future__ import annotations


class ImgpipeError(Exception):
    """Base class of the errors raised by the ``imgpipe`` tool (CLI, local run, report, ops)."""
