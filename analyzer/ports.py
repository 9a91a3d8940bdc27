"""Ports of the pipeline core: what it needs from the outside world, and nothing more.

The same core runs in the Lambda (AWS adapters with injected boto3 clients) and on a laptop
(folder storage, offline models, console notifier).

Keys are plain strings, ``/``-separated. A storage resolves them against its own root: the S3
storage against its bucket, a folder storage against its input folder (source keys) and its output
folder (destination and result keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rules.features import Needs

# --- images handed to a detector -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3Image:
    """An image by S3 reference (what Rekognition is given in the cloud)."""

    bucket: str
    key: str
    version_id: str | None = None
    region: str | None = None  # the bucket's region; Rekognition must be called there


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
    """Analyses one image for exactly the features it is asked for.

    Raises :class:`analyzer.errors.PermanentImageError` for an image that can never be analysed;
    lets throttling and transient errors propagate unwrapped (they are retried by redelivery);
    raises :class:`analyzer.errors.ModelUnavailableError` for a custom model that cannot answer
    (retried too: it is not the image's fault).
    """

    def detect(self, image: ImageSource, needs: Needs) -> Detection: ...


# --- storage ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """What an event (or a folder walk) says about one object to process."""

    key: str
    bucket: str = ""  # S3 bucket; a folder storage may leave it empty or name its root
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    size: int | None = None
    region: str | None = None
    event_time: str | None = None

    @property
    def identity(self) -> str:
        """The upload's identity for exactly-once effects: version id, else sequencer, else ETag.

        The sequencer (unique per S3 event of a key) comes before the ETag so that re-uploading
        identical bytes after the first copy was processed counts as a new upload.
        """
        return self.version_id or self.sequencer or self.etag or ""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a storage knows about an existing object (S3 HeadObject, or a file's stat)."""

    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    last_modified: str | None = None  # ISO 8601


@runtime_checkable
class Storage(Protocol):
    """Where images come from and go to (an S3 bucket, or folders on a laptop)."""

    def head(self, key: str) -> ObjectInfo | None:
        """Metadata of ``key``, or None if it does not exist."""
        ...

    def read_head(self, key: str, length: int) -> bytes:
        """The first ``length`` bytes of ``key`` (fewer if the object is shorter)."""
        ...

    def image_source(self, info: ObjectInfo, ref: ObjectRef) -> ImageSource:
        """How a detector should see this object: an S3 reference, or its bytes."""
        ...

    def copy(self, info: ObjectInfo, dest_key: str, tags: Mapping[str, str]) -> None:
        """Copy the object to ``dest_key`` with its metadata and content type, plus ``tags``.

        Returns only once the copy exists. A folder storage may ignore tags.
        """
        ...

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        """Write a JSON result record at ``key``."""
        ...

    def get_record(self, key: str) -> dict[str, Any] | None:
        """Read a JSON result record, or None if absent."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object at ``key``: the source, a copy or a record being moved (re-judging);
        a no-op for a storage's originals when it never moves them."""
        ...


# --- notifications ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """One announcement of a verdict. ``body`` is the JSON message of docs/contracts.md §5."""

    subject: str
    body: Mapping[str, Any]
    verdict: str
    categories: tuple[str, ...] = ()


@runtime_checkable
class Notifier(Protocol):
    """Announces verdicts (SNS in the cloud, the console on a laptop)."""

    def notify(self, notification: Notification) -> None: ...
