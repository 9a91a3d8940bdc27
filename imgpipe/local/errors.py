"""Errors of the local (offline) adapters; all derive from :class:`LocalError`."""

from __future__ import annotations

from imgpipe.errors import ImgpipeError

EXTRA_HINT = "install the `local` extra: pip install 'image-pipeline[local]'"


class LocalError(ImgpipeError):
    """Base class of the local adapters' errors."""


class MissingExtraError(LocalError):
    """An optional package of the ``local`` extra is not installed."""

    def __init__(self, package: str) -> None:
        super().__init__(f"the local models need the package {package!r}; {EXTRA_HINT}")
        self.package = package


class ModelLoadError(LocalError):
    """A bundled model file could not be read or converted."""


class RecordingNotFoundError(LocalError):
    """``--backend replay`` found no recorded response for an image."""


class RecordingMismatchError(LocalError):
    """A recording lacks an analysis that the rules need (record again with those rules)."""


class NoOfflineModelError(LocalError):
    """The rules need an analysis (e.g. ``faces``) for which no offline model stands in."""
