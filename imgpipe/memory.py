"""In-memory storage and notifier: dry runs, benchmarks and tests of code built on the ports."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from analyzer.ports import BytesImage, ImageSource, Notification, ObjectInfo, ObjectRef
from analyzer.results import dumps


class MemoryStorage:
    """A thread-safe dict of key -> bytes, with metadata, tags and JSON records."""

    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        self.objects: dict[str, bytes] = dict(objects or {})
        self.metadata: dict[str, dict[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self.objects[key] = data
            self.metadata[key] = dict(metadata or {})

    def head(self, key: str) -> ObjectInfo | None:
        with self._lock:
            data = self.objects.get(key)
            metadata = dict(self.metadata.get(key, {}))
        if data is None:
            return None
        etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
        return ObjectInfo(key=key, size=len(data), etag=etag, metadata=metadata)

    def read_head(self, key: str, length: int) -> bytes:
        with self._lock:
            return self.objects[key][:length]

    def image_source(self, info: ObjectInfo, ref: ObjectRef) -> ImageSource:
        with self._lock:
            return BytesImage(self.objects[info.key], name=info.key)

    def copy(self, info: ObjectInfo, dest_key: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self.objects[dest_key] = self.objects[info.key]
            self.metadata[dest_key] = dict(self.metadata.get(info.key, {}))
            self.tags[dest_key] = dict(tags)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        text = dumps(record)
        with self._lock:
            self.records[key] = json.loads(text)

    def get_record(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self.records.get(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)
            self.metadata.pop(key, None)


class ListNotifier:
    """Keeps every notification in a list."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)
