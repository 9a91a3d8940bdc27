"""Local (offline) adapters: detector backends, folder storage, console notifier, runner.

Light to import: the models (``analyzer.local.detector`` and what it loads: numpy, onnxruntime,
OpenCV, RapidOCR) are imported only when the ``local`` backend is built, so ``imgpipe rules ...``
and ``--backend replay`` work without the ``local`` extra.

- :mod:`analyzer.local.detector` — :class:`LocalDetector`, the ``local`` backend
- :mod:`analyzer.local.replay` — ``--record`` / ``--backend replay``
- :mod:`analyzer.local.backends` — ``--backend`` -> a detector
- :mod:`analyzer.local.storage` — :class:`FolderStorage`
- :mod:`analyzer.local.notifier` — :class:`ConsoleNotifier`
- :mod:`analyzer.local.runner` — ``imgpipe run`` without the CLI
"""

from __future__ import annotations

from analyzer.local.backends import Backend, make_detector
from analyzer.local.errors import (
    LocalError,
    MissingExtraError,
    ModelLoadError,
    RecordingMismatchError,
    RecordingNotFoundError,
)
from analyzer.local.notifier import ConsoleNotifier
from analyzer.local.replay import RecordingDetector, RecordingStore, ReplayDetector
from analyzer.local.storage import FolderStorage

__all__ = [
    "Backend",
    "ConsoleNotifier",
    "FolderStorage",
    "LocalError",
    "MissingExtraError",
    "ModelLoadError",
    "RecordingDetector",
    "RecordingMismatchError",
    "RecordingNotFoundError",
    "RecordingStore",
    "ReplayDetector",
    "make_detector",
]
