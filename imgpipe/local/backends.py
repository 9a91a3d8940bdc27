"""``--backend local|rekognition|replay`` (+ ``--record DIR``) -> a :class:`Detector`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from analyzer.ports import Detector
from imgpipe.local._deps import distribution_for
from imgpipe.local.errors import LocalError, MissingExtraError
from imgpipe.local.replay import RecordingDetector, RecordingStore, ReplayDetector
from rules.features import Needs


class Backend(StrEnum):
    """Where the analyses come from."""

    LOCAL = "local"
    REKOGNITION = "rekognition"
    REPLAY = "replay"


class BackendConfigError(LocalError):
    """An impossible backend/record combination (a usage error)."""


def rekognition_detector(client: Any = None) -> Detector:
    """The Lambda's Rekognition adapter, over a default boto3 client (the user's credentials)."""
    from analyzer.rekognition import RekognitionDetector, client_config

    if client is None:
        import boto3
        from botocore.exceptions import BotoCoreError

        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise LocalError(
                "no AWS credentials found (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID); "
                "--backend local or replay need none"
            )
        try:
            client = session.client("rekognition", config=client_config())
        except BotoCoreError as exc:  # e.g. no region configured
            raise LocalError(f"cannot create a Rekognition client: {exc}") from exc
    return RekognitionDetector(client)


def make_detector(
    backend: Backend | str,
    *,
    record_dir: Path | None = None,
    threads: int | None = None,
    rekognition_client: Any = None,
) -> Detector:
    """Build the detector for a run; ``record_dir`` records (or, for replay, is read)."""
    backend = Backend(backend)
    if backend is Backend.REPLAY:
        if record_dir is None:
            raise BackendConfigError("--backend replay reads recordings: give --record DIR")
        if not record_dir.is_dir():
            raise BackendConfigError(f"--record {record_dir}: no such folder of recordings")
        return ReplayDetector(RecordingStore(record_dir))
    detector: Detector
    if backend is Backend.LOCAL:
        try:
            from imgpipe.local.detector import LocalDetector
        except ImportError as exc:  # numpy / Pillow missing
            raise MissingExtraError(distribution_for(exc.name or "numpy")) from exc

        detector = LocalDetector(threads=threads)
    else:
        detector = rekognition_detector(rekognition_client)
    if record_dir is not None:
        detector = RecordingDetector(detector, RecordingStore(record_dir), backend=backend.value)
    return detector


def warm_up(detector: Detector, needs: Needs) -> dict[str, float]:
    """Load the local models ``needs`` asks for now (so a missing package fails before any work).

    Returns the load time of each model in milliseconds (empty for other backends). Wrappers
    (recording, capturing) are looked through via their ``inner`` detector.
    """
    inner: Any = detector
    while not hasattr(inner, "models") and hasattr(inner, "inner"):
        inner = inner.inner
    models = getattr(inner, "models", None)
    if models is None:
        return {}
    models.load(needs)
    return dict(models.load_ms)
