"""The analyzer's environment, as a typed, validated settings model.

docs/contracts.md §5 fixes ``RULES_PATH``, ``TOPIC_ARN``, ``INPUT_PREFIX``, ``OUTPUT_PREFIX`` and
``IDEMPOTENCY_TABLE``; every further variable has a default. Each field's alias is the
environment variable name; docs/function.md (Environment) documents them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analyzer.errors import ConfigError
from analyzer.layout import (
    DEFAULT_INPUT_PREFIX,
    DEFAULT_OUTPUT_PREFIX,
    DEFAULT_RESULTS_PREFIX,
    VERDICTS,
    KeyLayout,
    folder,
)
from analyzer.pipeline import PipelineSettings
from analyzer.precheck import MAX_BYTES, MAX_PX, MIN_PX, SNIFF_BYTES, Limits
from rules import Verdict


class Settings(BaseModel):
    """Analyzer settings, read from the environment with :meth:`from_env`."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    rules_path: str = Field(alias="RULES_PATH", min_length=1)
    topic_arn: str | None = Field(default=None, alias="TOPIC_ARN")
    input_prefix: str = Field(default=DEFAULT_INPUT_PREFIX, alias="INPUT_PREFIX")
    output_prefix: str = Field(default=DEFAULT_OUTPUT_PREFIX, alias="OUTPUT_PREFIX")
    idempotency_table: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE")

    bucket_name: str | None = Field(default=None, alias="BUCKET_NAME")
    results_prefix: str = Field(default=DEFAULT_RESULTS_PREFIX, alias="RESULTS_PREFIX")
    notify_verdicts: frozenset[Verdict] = Field(
        default=frozenset(VERDICTS), alias="NOTIFY_VERDICTS"
    )
    max_workers: int = Field(default=10, ge=1, le=64, alias="MAX_WORKERS")
    delete_source: bool = Field(default=True, alias="DELETE_SOURCE")
    max_image_bytes: int = Field(default=MAX_BYTES, ge=1, le=MAX_BYTES, alias="MAX_IMAGE_BYTES")
    min_image_px: int = Field(default=MIN_PX, ge=1, alias="MIN_IMAGE_PX")
    max_image_px: int = Field(default=MAX_PX, ge=1, le=MAX_PX, alias="MAX_IMAGE_PX")
    sniff_bytes: int = Field(default=SNIFF_BYTES, ge=64, le=1024 * 1024, alias="SNIFF_BYTES")
    labels_min_confidence: float | None = Field(
        default=None, ge=0, le=100, alias="LABELS_MIN_CONFIDENCE"
    )
    moderation_min_confidence: float | None = Field(
        default=None, ge=0, le=100, alias="MODERATION_MIN_CONFIDENCE"
    )
    max_labels: int | None = Field(default=None, ge=1, le=1000, alias="MAX_LABELS")
    rekognition_retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard", alias="REKOGNITION_RETRY_MODE"
    )
    rekognition_max_attempts: int = Field(
        default=5, ge=1, le=20, alias="REKOGNITION_MAX_ATTEMPTS"
    )
    idempotency_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, alias="IDEMPOTENCY_TTL_SECONDS"
    )
    tracing: bool = Field(default=False, alias="TRACING")

    @field_validator("topic_arn", "idempotency_table", "bucket_name", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("input_prefix", "output_prefix", "results_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        return folder(value)

    @field_validator("notify_verdicts", mode="before")
    @classmethod
    def _verdict_list(cls, value: object) -> object:
        if isinstance(value, str):
            items = {v.strip().lower() for v in value.replace(";", ",").split(",") if v.strip()}
            if items & {"none", "-"}:
                return frozenset()
            if "all" in items:
                return frozenset(VERDICTS)
            unknown = items - set(VERDICTS)
            if unknown:
                raise ValueError(f"unknown verdicts {sorted(unknown)}; use {', '.join(VERDICTS)}")
            return frozenset(Verdict(v) for v in items)
        return value

    @model_validator(mode="after")
    def _no_recursion(self) -> Settings:
        for name, prefix in (("OUTPUT_PREFIX", self.output_prefix),
                             ("RESULTS_PREFIX", self.results_prefix)):
            if not prefix:
                raise ValueError(f"{name} must not be empty")
            if prefix.startswith(self.input_prefix) or self.input_prefix.startswith(prefix):
                raise ValueError(
                    f"{name}={prefix!r} overlaps INPUT_PREFIX={self.input_prefix!r}: "
                    "written objects would trigger the pipeline again"
                )
        if self.min_image_px > self.max_image_px:
            raise ValueError("MIN_IMAGE_PX must not exceed MAX_IMAGE_PX")
        return self

    @property
    def limits(self) -> Limits:
        return Limits(self.max_image_bytes, self.min_image_px, self.max_image_px)

    @property
    def layout(self) -> KeyLayout:
        return KeyLayout(self.input_prefix, self.output_prefix, self.results_prefix)

    def pipeline(self, bucket: str) -> PipelineSettings:
        """The pipeline core's settings for ``bucket`` (the one place they are derived)."""
        return PipelineSettings(
            layout=self.layout,
            notify_verdicts=self.notify_verdicts,
            delete_source=self.delete_source,
            limits=self.limits,
            sniff_bytes=self.sniff_bytes,
            bucket=bucket,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default: ``os.environ``); raise ConfigError if invalid."""
        env = os.environ if environ is None else environ
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in names})
        except ValidationError as exc:
            problems = "; ".join(
                f"{_alias(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
            )
            raise ConfigError(f"invalid analyzer environment: {problems}") from exc


def _alias(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "environment"
    field = Settings.model_fields.get(str(loc[0]))
    return (field.alias if field and field.alias else str(loc[0]))
