"""Local (offline) adapters: detector backends, folder storage, console notifier, runner.

Light to import: the models (``imgpipe.local.detector`` and what it loads: numpy, onnxruntime,
OpenCV, RapidOCR) are imported only when the ``local`` backend is built, so ``imgpipe rules ...``
and ``--backend replay`` work without the ``local`` extra.

- :mod:`imgpipe.local.detector` — :class:`LocalDetector`, the ``local`` backend
- :mod:`imgpipe.local.replay` — ``--record`` / ``--backend replay``
- :mod:`imgpipe.local.backends` — ``--backend`` -> a detector
- :mod:`imgpipe.local.storage` — :class:`FolderStorage`
- :mod:`imgpipe.local.notifier` — :class:`ConsoleNotifier`
- :mod:`imgpipe.local.runner` — ``imgpipe run`` without the CLI
"""

from __future__ import annotations

import os

# An offline run writes nothing outside --out and the report, and sends nothing anywhere:
# onnxruntime (>= 1.2x on Linux) otherwise creates ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
# (a device id and an event store) for its telemetry. Set before onnxruntime is first imported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from imgpipe.local.backends import Backend, make_detector
from imgpipe.local.errors import (
    LocalError,
    MissingExtraError,
    ModelLoadError,
    RecordingMismatchError,
    RecordingNotFoundError,
)
from imgpipe.local.notifier import ConsoleNotifier
from imgpipe.local.replay import RecordingDetector, RecordingStore, ReplayDetector
from imgpipe.local.storage import FolderStorage

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
