"""``imgpipe run`` without the CLI: inputs -> the pipeline core with folder storage -> results.

Every image goes through :class:`analyzer.pipeline.Pipeline`, the code the Lambda runs, with a
:class:`FolderStorage` and a console notifier instead of S3 and SNS; so pre-checks, rejection
reasons, verdicts, destinations and result records are the cloud's. Images are processed in
parallel by a thread pool (the models release the GIL while they compute).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.layout import DEFAULT_LAYOUT, VERDICTS, KeyLayout
from analyzer.messages import evidence_words
from analyzer.pipeline import Pipeline, PipelineSettings
from analyzer.ports import BytesImage, Detection, Detector, ImageSource, Notifier
from analyzer.results import ImageOutcome
from imgpipe.local.errors import LocalError
from imgpipe.local.paths import WalkReport, walk_folder
from imgpipe.local.storage import FolderStorage
from rules import Needs, Ruleset

#: The bucket's layout, in the output folder: ``OUT/analyzed/<verdict>/...``, ``OUT/results/...``.
LAYOUT: KeyLayout = DEFAULT_LAYOUT
#: Raw responses per image in the ANALYSIS.json shape, for `imgpipe rules evaluate/explain`.
ANALYSES_PREFIX = "analyses/"
#: Files skipped when walking folders (name them explicitly to process them anyway): these exact
#: names without a suffix (``README.jpg`` is an image like any other), and the suffixes below.
SKIPPED_NAMES = ("README", "LICENSE", "NOTICE", "COPYING")
SKIPPED_SUFFIXES = (".md", ".txt", ".rst", ".yaml", ".yml", ".json")


class InputError(LocalError):
    """Bad inputs: a missing path, nothing to process, two inputs with one name."""


@dataclass(frozen=True, slots=True)
class InputImage:
    """One file to process and its key (``images/<relative path>``)."""

    path: Path
    rel: str

    @property
    def key(self) -> str:
        return LAYOUT.source_key(self.rel)


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _skipped(path: Path) -> bool:
    name = path.name
    return (
        name.startswith(".")
        or name.upper() in SKIPPED_NAMES
        or path.suffix.lower() in SKIPPED_SUFFIXES
    )


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder) for folder in folders)


def collect_inputs(
    inputs: Sequence[Path], exclude: Sequence[Path] = (), walk: WalkReport | None = None
) -> list[InputImage]:
    """Files and folders (recursive) -> images with unique relative paths, in a stable order.

    One folder: paths are relative to it. Several inputs: each is prefixed with its own name, so
    ``run a/ b/`` keeps ``a/x.jpg`` and ``b/x.jpg`` apart. Hidden files, documentation and
    configuration files (README*, LICENSE*, *.md, *.txt, *.yaml, *.json) found in folders are
    skipped, and so is anything under ``exclude`` (the run's output and recordings folders, so
    ``imgpipe run .`` never re-reads its own copies); a file named explicitly is always processed.
    ``walk`` receives what was left out: files ignored by those rules, folders that could not be read.
    """
    if not inputs:
        raise InputError("no input given")
    excluded = [Path(p).resolve() for p in exclude]
    found: list[InputImage] = []
    single = len(inputs) == 1
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for file in walk_folder(path, walk):
                rel_parts = file.relative_to(path).parts
                if any(part.startswith(".") for part in rel_parts) or _skipped(file):
                    if walk is not None:
                        walk.ignored.append(file)
                    continue
                if excluded and _inside(file, excluded):
                    continue
                rel = "/".join(rel_parts if single else (path.resolve().name, *rel_parts))
                found.append(InputImage(file, rel))
        elif path.is_file():
            found.append(InputImage(path, path.name))
        else:
            raise InputError(f"{path}: no such file or folder")
    seen: dict[str, Path] = {}
    for image in found:
        if image.rel in seen:
            raise InputError(
                f"{seen[image.rel]} and {image.path} would both be stored as {image.rel!r}; "
                "run them separately or rename one"
            )
        seen[image.rel] = image.path
    if not found:
        raise InputError("no files found in " + ", ".join(str(p) for p in inputs))
    return found


class CapturingDetector:
    """Keeps each image's raw responses (the report draws their boxes)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self.responses: dict[str, dict[str, Any]] = {}

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        detection = self.inner.detect(image, needs)
        if isinstance(image, BytesImage):
            with self._lock:
                self.responses[image.name] = dict(detection.responses)
        return detection


@dataclass(slots=True)
class ImageResult:
    """What ``imgpipe run`` did with one input."""

    image: InputImage
    outcome: ImageOutcome | None = None
    responses: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.outcome is None or self.outcome.verdict is None:
            return "error"
        return str(self.outcome.verdict)

    def top_evidence(self) -> str:
        """A short human summary of the first match's first evidence (or the reason)."""
        if self.error:
            return self.error
        outcome = self.outcome
        if outcome is None:
            return ""
        if outcome.reason:
            return outcome.reason_text or outcome.reason
        for match in outcome.matches:
            for item in match.get("evidence") or ():
                return f"{match.get('rule')}: {format_evidence(item)}"
        return "no rule matched"

    def to_dict(self) -> dict[str, Any]:
        outcome = self.outcome
        return {
            "path": str(self.image.path),
            "relative_path": self.image.rel,
            "verdict": self.verdict,
            "categories": list(outcome.categories) if outcome else [],
            "matches": list(outcome.matches) if outcome else [],
            "reason": outcome.reason if outcome else None,
            "reason_text": outcome.reason_text if outcome else None,
            "destination": outcome.destination_key if outcome else None,
            "record": outcome.record_key if outcome else None,
            "analysis": f"{ANALYSES_PREFIX}{self.image.rel}.json" if self.responses else None,
            "calls": dict(outcome.calls) if outcome else {},
            "timings_ms": dict(outcome.timings_ms) if outcome else {},
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }


def format_evidence(item: dict[str, Any]) -> str:
    """``Cat 91.5%`` / ``'SN-123456' in 'SN-123456 OK' 99.1%``: the notifications' wording, with
    image text in ``repr`` quotes for the terminal and the report."""
    return evidence_words(item, quote=repr)


@dataclass(slots=True)
class RunSummary:
    results: list[ImageResult]
    elapsed: float
    workers: int

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.verdict for r in self.results)
        return {v: counts.get(v, 0) for v in (*VERDICTS, "error")}

    @property
    def errors(self) -> list[ImageResult]:
        return [r for r in self.results if r.error]


class LocalRun:
    """Runs the pipeline core over local files into ``out_dir``."""

    def __init__(
        self,
        ruleset: Ruleset,
        detector: Detector,
        out_dir: Path,
        *,
        notifier: Notifier | None = None,
        workers: int | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.capture = CapturingDetector(detector)
        self.out_dir = Path(out_dir)
        self.storage = FolderStorage(self.out_dir)
        self.workers = workers
        self.pipeline = Pipeline(
            ruleset,
            self.capture,
            self.storage,
            notifier,
            PipelineSettings(layout=LAYOUT, delete_source=False, bucket="local"),
        )

    def analysis_key(self, image: InputImage) -> str:
        """Where the image's raw responses go (``OUT/analyses/<relative path>.json``)."""
        return f"{ANALYSES_PREFIX}{image.rel}.json"

    def _clean_previous(self, image: InputImage) -> None:
        """Remove this image's outputs of an earlier run (its verdict may have changed)."""
        self.storage.delete(self.analysis_key(image))
        for _verdict, destination, record in LAYOUT.destinations(image.key):
            self.storage.delete(destination)
            self.storage.delete(record)

    def _one(self, image: InputImage) -> ImageResult:
        started = time.perf_counter()
        result = ImageResult(image)
        try:
            self._clean_previous(image)
            result.outcome = self.pipeline.process(image.key)
            result.responses = self.capture.responses.get(image.key, {})
            if result.responses:
                self.storage.put_record(self.analysis_key(image), result.responses)
        except Exception as exc:  # one image's runtime failure must not stop the others
            result.error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - started
        return result

    def run(
        self, images: Iterable[InputImage], on_done: Callable[[ImageResult], None] | None = None
    ) -> RunSummary:
        todo = list(images)
        for image in todo:
            self.storage.add_source(image.key, image.path)
        workers = max(1, min(self.workers or cpu_count(), len(todo) or 1))
        started = time.perf_counter()
        results: dict[str, ImageResult] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgpipe") as pool:
            futures = [pool.submit(self._one, image) for image in todo]
            for future in as_completed(futures):
                result = future.result()
                results[result.image.key] = result
                if on_done is not None:
                    on_done(result)
        ordered = [results[image.key] for image in todo]
        return RunSummary(ordered, time.perf_counter() - started, workers)
