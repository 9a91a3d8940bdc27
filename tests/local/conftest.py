"""Fixtures of the local-pipeline tests: the sample photos, the offline models (loaded once per
test process), recordings of every sample made with the local backend, and headless Chromium."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage
from imgpipe.local.detector import LocalDetector
from imgpipe.local.replay import RecordingDetector, RecordingStore
from imgpipe.report.browser import find_chromium
from rules import Needs
from tests.support.fakes import ALL_NEEDS
from tests.support.paths import SAMPLES

#: what the recordings hold: the three analyses and faces (boxes only, offline)
RECORDED = ALL_NEEDS | Needs(extra=frozenset({"faces"}))


@pytest.fixture(scope="session")
def detector() -> LocalDetector:
    """One local detector (models load lazily, once) for the whole test process."""
    return LocalDetector(threads=1)


@pytest.fixture(scope="session")
def recordings(detector: LocalDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Recordings of every sample file (all three analyses) made with the local backend."""
    root = tmp_path_factory.mktemp("recordings")
    recorder = RecordingDetector(detector, RecordingStore(root), backend="local")
    for path in sorted(SAMPLES.rglob("*")):
        if path.is_file() and path.suffix in (".jpg", ".png", ".gif"):
            # the text file disguised as .jpg is recorded as a permanent error
            with contextlib.suppress(PermanentImageError):
                recorder.detect(BytesImage(path.read_bytes(), path.name), RECORDED)
    return root


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; `make browser`)")
    yield exe
