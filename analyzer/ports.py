"""Ports of the pipeline core: what it needs from the outside world, and nothing more.

The same core runs in the Lambda (AWS adapters with injected boto3 clients) and on a laptop
(folder storage, offline models, console notifier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rules import Needs


@dataclass(frozen=True, slots=True)
class S3Image:
    """An image by S3 reference (what Rekognition is given in the cloud)."""

    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class BytesImage:
    """An image by value (local files, the `rekognition` backend of `imgpipe run`)."""

    data: bytes
    name: str = "<bytes>"


ImageSource = S3Image | BytesImage


@dataclass(slots=True)
class Detection:
    """Raw analysis responses keyed by feature name (``labels``, ``moderation``, ``text``)."""

    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # API name -> number of calls made
    timings_ms: dict[str, float] = field(default_factory=dict)  # API name -> latency
    model_versions: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Analyses one image for exactly the features it is asked for."""

    def detect(self, image: ImageSource, needs: Needs) -> Detection: ...
