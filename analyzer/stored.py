"""Stored analyses: the raw responses a verdict was judged on, kept in the result record.

Every routed record carries an ``analysis`` field so that the image can be judged again later
(``imgpipe rules diff``, re-judging) without calling Rekognition again::

    "analysis": {"format": 1, "encoding": "gzip+base64",
                 "features": ["labels", "moderation"],
                 "model_versions": {"DetectLabels": "3.0"},
                 "bytes": 812, "raw_bytes": 5310,
                 "data": "H4sIAAAAAAAC/..."}

``data`` is the JSON object ``{"labels": <DetectLabels>, "moderation": ..., "text": ...,
"faces": <DetectFaces>, ...}`` (the ANALYSIS.json shape of ``imgpipe rules evaluate``: every
registered analysis of :mod:`rules.analyses`, ``ResponseMetadata`` removed), compact JSON, gzip
level 9, then base64. ``features`` lists exactly the analyses that were made (what the rules of
the time needed, less what an economical call plan skipped): a later rules file needing more is
judged without them only where they could not change its verdict
(:func:`rules.planning.judge_stored`).

Records without the field (written before it existed, or pre-check rejections, which never had
an analysis) are reported as not re-judgeable by :func:`unpack_analysis`'s callers.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from typing import Any

from analyzer.errors import AnalyzerError
from rules.analyses import default_analyses

FORMAT = 1
ENCODING = "gzip+base64"
#: The core analyses, in their canonical order; registered further ones follow, sorted.
FEATURE_KEYS = ("labels", "moderation", "text")


def _ordered(keys: list[str]) -> list[str]:
    """Core analyses in their canonical order, then the others sorted."""
    return [k for k in FEATURE_KEYS if k in keys] + sorted(k for k in keys if k not in FEATURE_KEYS)


class StoredAnalysisError(AnalyzerError):
    """A record's stored analysis cannot be decoded."""


def pack_analysis(
    responses: Mapping[str, Mapping[str, Any]],
    model_versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``analysis`` field of a result record for these raw responses."""
    registry = default_analyses()
    doc = {k: _strip(v) for k, v in responses.items() if registry.knows(k)}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    # mtime=0: the same responses always pack to the same bytes (records compare equal)
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    data = base64.b64encode(packed).decode("ascii")
    return {
        "format": FORMAT,
        "encoding": ENCODING,
        "features": _ordered(list(doc)),
        "model_versions": dict(model_versions or {}),
        "bytes": len(data),
        "raw_bytes": len(raw),
        "data": data,
    }


def unpack_analysis(field: Any) -> dict[str, Any]:
    """The raw responses of an ``analysis`` field; StoredAnalysisError if it is unusable."""
    if not isinstance(field, Mapping):
        raise StoredAnalysisError("no stored analysis")
    if field.get("format") != FORMAT or field.get("encoding") != ENCODING:
        raise StoredAnalysisError(
            f"unknown stored analysis format {field.get('format')!r}/{field.get('encoding')!r}"
        )
    try:
        raw = gzip.decompress(base64.b64decode(str(field.get("data", "")), validate=True))
        doc = json.loads(raw)
    except (ValueError, OSError, EOFError) as exc:
        raise StoredAnalysisError(f"stored analysis is corrupt: {exc}") from exc
    if not isinstance(doc, dict):
        raise StoredAnalysisError("stored analysis is not a JSON object")
    return doc


def record_analysis(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The raw responses stored in a result record, or None when it has none."""
    field = record.get("analysis")
    if field is None:
        return None
    return unpack_analysis(field)


def _strip(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}
