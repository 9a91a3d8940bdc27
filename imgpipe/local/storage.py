"""Folders as the pipeline's :class:`~analyzer.ports.Storage`: originals are copied, never touched.

Inputs are registered under keys ``<input_prefix><relative path>`` (the same key shape as the
bucket's ``images/...``); every other key is a path under the output folder, so the core's
``analyzed/<verdict>/<relative path>`` and ``results/<verdict>/<relative path>.json`` land in
``OUT/analyzed/...`` and ``OUT/results/...``. ``delete`` never deletes an original.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from json import loads
from pathlib import Path, PurePosixPath
from typing import Any

from analyzer.ports import BytesImage, ImageSource, ObjectInfo, ObjectRef
from analyzer.results import dumps
from imgpipe.local.errors import LocalError


class UnsafeKeyError(LocalError):
    """A key that would escape the output folder."""


class ForeignFileError(LocalError):
    """A write or delete aimed at a file the run did not create (an input)."""


class FolderStorage:
    """Reads registered input files; writes copies and records under ``out_dir``."""

    def __init__(self, out_dir: str | Path, sources: Mapping[str, Path] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.sources: dict[str, Path] = dict(sources or {})
        self._resolved_sources: set[Path] = set()
        self._resolved_count = -1

    def add_source(self, key: str, path: Path) -> None:
        self.sources[key] = path

    def path_for(self, key: str) -> Path:
        """Where ``key`` lives: its input file, or a path under the output folder."""
        if key in self.sources:
            return self.sources[key]
        rel = PurePosixPath(key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise UnsafeKeyError(f"key {key!r} would leave the output folder")
        return self.out_dir.joinpath(*rel.parts)

    def _writable(self, key: str) -> Path:
        """The output path of ``key``, refusing any that is (through links) an input file."""
        path = self.path_for(key)
        if key not in self.sources:
            if self._resolved_count != len(self.sources):  # sources added since
                self._resolved_sources = {src.resolve() for src in self.sources.values()}
                self._resolved_count = len(self.sources)
            if path.resolve() in self._resolved_sources:
                raise ForeignFileError(f"{path} is an input of this run; not replacing or deleting it")
        return path

    # -- Storage port -----------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=_md5(path),
            content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        )

    def read_head(self, key: str, length: int) -> bytes:
        with open(self.path_for(key), "rb") as fh:
            return fh.read(length)

    def image_source(self, info: ObjectInfo, ref: ObjectRef) -> ImageSource:
        return BytesImage(data=self.path_for(info.key).read_bytes(), name=info.key)

    def copy(self, info: ObjectInfo, dest_key: str, tags: Mapping[str, str]) -> None:
        """Copy the file (content and times); tags are kept in the result record, not here."""
        dest = self._writable(dest_key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path_for(info.key), dest)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        dest = self._writable(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".rec-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dumps(record, indent=2) + "\n")
            os.replace(tmp, dest)
        except BaseException:  # never leave a temporary file behind
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_record(self, key: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = loads(self.path_for(key).read_text("utf-8"))
        except FileNotFoundError:
            return None
        return data

    def delete(self, key: str) -> None:
        """Originals are never deleted or modified locally; other keys are removed if present."""
        if key in self.sources:
            return
        self._writable(key).unlink(missing_ok=True)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
