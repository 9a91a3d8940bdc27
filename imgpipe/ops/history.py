"""Where past analyses are read from, for ``imgpipe rules diff --history SOURCE`` and ``plan``.

SOURCE is one of:

- ``stack`` or ``stack:NAME`` — the results of a deployed stack: the bucket named by the stack
  outputs (``--outputs FILE``, from ``pulumi stack output --json``), prefix ``results/``;
- ``s3://BUCKET/PREFIX`` — result records under a prefix (default ``results/``);
- a local folder — an ``imgpipe run --out`` folder (``results/`` records, falling back to its
  ``analyses/`` files for records written before stored analyses), a recordings folder
  (``--record DIR``: ``<sha256>.json``), or any folder of ANALYSIS.json files
  (``{"labels": ..., "moderation": ..., "text": ...}``) such as ``tests/events/analysis``.

Every reader yields :class:`rules.backtest.Case` objects; none of them calls Rekognition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer.layout import DEFAULT_LAYOUT
from analyzer.stored import StoredAnalysisError, record_analysis
from imgpipe.local.runner import ANALYSES_PREFIX
from imgpipe.local.runner import LAYOUT as LOCAL_LAYOUT
from imgpipe.ops.errors import OpsError
from rules import Analysis
from rules.analyses import default_analyses
from rules.backtest import Case
from rules.errors import AnalysisError, PluginError
from rules.planning import analysis_of as planned_analysis


class HistoryError(OpsError):
    """The history source cannot be read or is not understood."""


@dataclass(frozen=True, slots=True)
class HistorySource:
    """A parsed SOURCE: ``kind`` is ``s3`` or ``local``."""

    kind: str
    location: str
    bucket: str = ""
    prefix: str = ""

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.kind == "s3" else self.location


def parse_source(
    source: str,
    *,
    bucket_from_outputs: str | None = None,
    results_prefix: str = DEFAULT_LAYOUT.results_prefix,
) -> HistorySource:
    """Parse SOURCE (see the module docstring)."""
    if source == "stack" or source.startswith("stack:"):
        if not bucket_from_outputs:
            raise HistoryError(f"--history {source}: pass --outputs FILE (pulumi stack output "
                               "--json) with a bucket_name output")
        return HistorySource("s3", source, bucket_from_outputs, results_prefix)
    if source.startswith("s3://"):
        bucket, _, prefix = source[len("s3://"):].partition("/")
        if not bucket:
            raise HistoryError(f"--history {source}: no bucket")
        return HistorySource("s3", source, bucket, prefix or results_prefix)
    path = Path(source)
    if not path.exists():
        raise HistoryError(f"--history {source}: no such folder, and not s3://... or stack")
    return HistorySource("local", str(path))


def analysis_of(responses: dict[str, Any]) -> Analysis:
    """The analysis of raw responses by analysis name (``faces`` and other registered analyses
    included); :class:`rules.errors.AnalysisError` if they are not shaped as Rekognition answers,
    :class:`rules.errors.PluginError` for an analysis not installed here."""
    return planned_analysis(responses)


def _case(name: str, responses: dict[str, Any], stored: str | None = None) -> Case:
    """A judgeable case, or one reported as unreadable (never a crash of the whole back-test)."""
    try:
        return Case(name, analysis_of(responses), stored)
    except (AnalysisError, PluginError) as exc:
        return Case(name, None, stored, f"analysis unreadable ({exc})")


def case_from_record(key: str, record: dict[str, Any],
                     fallback: dict[str, Any] | None = None) -> Case:
    """A result record (``imgpipe.result/1``) as a case; its stored verdict is the rules' (for
    an image a reviewer decided, the verdict before the decision: ``review.previous_verdict``)."""
    verdict = record.get("verdict")
    review = record.get("review")
    if isinstance(review, dict) and review.get("decision") and review.get("previous_verdict"):
        verdict = review["previous_verdict"]
    stored = str(verdict) if verdict else None
    name = str(record.get("source_key") or key)
    try:
        responses = record_analysis(record)
    except StoredAnalysisError as exc:
        return Case(name, None, stored, str(exc))
    if responses is None and fallback is not None:
        responses = fallback
    if responses is None:
        why = (f"rejected before analysis ({record['reason']})" if record.get("reason")
               else "no stored analysis (older record)")
        return Case(name, None, stored, why)
    return _case(name, responses, stored)


def _is_analysis_doc(doc: Any) -> bool:
    registry = default_analyses()
    return isinstance(doc, dict) and bool(doc) and all(registry.knows(k) for k in doc)


def case_from_document(key: str, doc: Any, fallback: dict[str, Any] | None = None) -> Case | None:
    """Any of the three local shapes as a case; None for an unrelated JSON file."""
    if not isinstance(doc, dict):
        return None
    if doc.get("schema", "").startswith("imgpipe.result/") or "source_key" in doc:
        return case_from_record(key, doc, fallback)
    if "responses" in doc and "format" in doc:  # a recording (imgpipe.local.replay)
        name = str(doc.get("name") or key)
        error = doc.get("error")
        if error:
            return Case(name, None, None, f"rejected before analysis ({error.get('reason')})")
        return _case(name, dict(doc.get("responses") or {}))
    if _is_analysis_doc(doc):
        return _case(key, doc)
    return None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def local_cases(root: Path) -> Iterator[Case]:
    """Cases of a local folder (an ``--out`` folder, recordings, or ANALYSIS.json files)."""
    results = root / LOCAL_LAYOUT.results_prefix
    if results.is_dir():  # an --out folder: records, with analyses/ as the fallback
        for path in sorted(results.rglob("*.json")):
            parts = path.relative_to(results).parts
            rel = "/".join(parts[1:])  # results/<verdict>/<rel>.json
            fallback = _read(root / ANALYSES_PREFIX / rel) if rel else None
            case = case_from_document(
                str(path.relative_to(root)), _read(path),
                fallback if _is_analysis_doc(fallback) else None,
            )
            if case is not None:
                yield case
        return
    for path in sorted(root.rglob("*.json") if root.is_dir() else [root]):
        case = case_from_document(str(path.relative_to(root) if root.is_dir() else path),
                                  _read(path))
        if case is not None:
            yield case


def s3_record_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents") or []:
            if obj["Key"].endswith(".json"):
                yield obj["Key"]


def s3_cases(s3: Any, bucket: str, prefix: str, *, workers: int = 16) -> Iterator[Case]:
    """Cases of the result records under ``s3://bucket/prefix`` (read concurrently)."""

    def one(key: str) -> Case:
        try:
            doc = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ValueError:
            return Case(key, None, None, "record is not JSON")
        if not isinstance(doc, dict):
            return Case(key, None, None, "record is not a JSON object")
        return case_from_record(key, doc)

    keys = list(s3_record_keys(s3, bucket, prefix))
    if workers <= 1:
        yield from (one(k) for k in keys)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, keys)


def read_cases(source: HistorySource, s3: Any = None) -> Iterator[Case]:
    if source.kind == "local":
        yield from local_cases(Path(source.location))
        return
    if s3 is None:
        raise HistoryError("an S3 history needs an S3 client")
    yield from s3_cases(s3, source.bucket, source.prefix)
