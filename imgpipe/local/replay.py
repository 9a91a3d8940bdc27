"""Record detector responses once, replay them forever: ``--record DIR`` and ``--backend replay``.

A recording is one JSON file per image **content** (``DIR/<sha256 of the bytes>.json``), so a
replay finds it whatever the file is called or wherever it lies. It holds the raw responses keyed
by feature (``labels``, ``moderation``, ``text``), exactly as the recorded backend returned them,
or the permanent error the backend gave for that image. Recording again with rules that need
more analyses adds them to the same file.

Typical use: ``imgpipe run photos --rules r.yaml --backend rekognition --record rec/`` once
(paid), then ``imgpipe run photos --rules r2.yaml --backend replay --record rec/`` as often as
the rules change (free, offline, same verdicts as the cloud for the same responses).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage, Detection, Detector, ImageSource
from imgpipe.local.errors import RecordingMismatchError, RecordingNotFoundError
from rules.analyses import spec as analysis_spec
from rules.features import Needs

FORMAT_VERSION = 1


def content_hash(data: bytes) -> str:
    """The key of an image's recording: sha256 of its bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def _image_bytes(image: ImageSource) -> bytes:
    if not isinstance(image, BytesImage):
        raise TypeError(f"recordings are keyed by image bytes; got {type(image).__name__}")
    return image.data


class RecordingStore:
    """The folder of recordings."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def path_for(self, digest: str) -> Path:
        return self.root / f"{digest}.json"

    def load(self, digest: str) -> dict[str, Any] | None:
        path = self.path_for(digest)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return None
        doc: dict[str, Any] = json.loads(text)
        return doc

    def save(
        self,
        digest: str,
        name: str,
        *,
        detection: Detection | None = None,
        backend: str = "",
        error: PermanentImageError | None = None,
    ) -> Path:
        """Merge ``detection`` (or ``error``) into the image's recording, atomically."""
        with self._lock:
            doc = self.load(digest) or {
                "format": FORMAT_VERSION,
                "sha256": digest,
                "name": name,
                "responses": {},
                "model_versions": {},
            }
            if backend:
                doc["backend"] = backend
            if detection is not None:
                old_labels = doc["responses"].get("labels") or {}
                doc["responses"].update(detection.responses)
                new_labels = doc["responses"].get("labels")
                if new_labels is not None and "ImageProperties" in old_labels:
                    doc["responses"]["labels"] = {
                        "ImageProperties": old_labels["ImageProperties"],
                        **new_labels,
                    }
                doc["model_versions"].update(detection.model_versions)
                doc.pop("error", None)
            if error is not None:
                doc["error"] = {"reason": error.reason, "message": error.message}
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.path_for(digest)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".rec-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, path)
            return path


class RecordingDetector:
    """Wraps a detector and saves every response (and permanent error) it gives."""

    def __init__(self, inner: Detector, store: RecordingStore, *, backend: str = "") -> None:
        self.inner = inner
        self.store = store
        self.backend = backend

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        data = _image_bytes(image)
        digest = content_hash(data)
        name = image.name if isinstance(image, BytesImage) else ""
        try:
            detection = self.inner.detect(image, needs)
        except PermanentImageError as exc:
            self.store.save(digest, name, backend=self.backend, error=exc)
            raise
        self.store.save(digest, name, detection=detection, backend=self.backend)
        return detection


class ReplayDetector:
    """Answers from recordings only: no model, no network, no cost."""

    def __init__(self, store: RecordingStore) -> None:
        self.store = store

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        data = _image_bytes(image)
        digest = content_hash(data)
        name = image.name if isinstance(image, BytesImage) else digest
        doc = self.store.load(digest)
        if doc is None:
            raise RecordingNotFoundError(
                f"no recording for {name} (sha256 {digest[:12]}…) in {self.store.root}; "
                "record it first with --backend local|rekognition --record DIR"
            )
        error = doc.get("error")
        if error:
            raise PermanentImageError(str(error.get("reason", "")), str(error.get("message", "")))
        responses: dict[str, Any] = doc.get("responses", {})
        missing = [f for f in needs.features if f not in responses]
        if "IMAGE_PROPERTIES" in needs.labels and "ImageProperties" not in responses.get(
            "labels", {}
        ):
            missing.append("labels.ImageProperties")
        if missing:
            raise RecordingMismatchError(
                f"the recording of {name} lacks {', '.join(missing)}; the rules need it: "
                "record again with these rules"
            )
        detection = Detection()
        versions: dict[str, str] = doc.get("model_versions", {})
        for feature in needs.features:
            detection.responses[feature] = responses[feature]
            api = analysis_spec(feature).api
            detection.timings_ms[api] = 0.0
            if api in versions:
                detection.model_versions[api] = versions[api]
        return detection
