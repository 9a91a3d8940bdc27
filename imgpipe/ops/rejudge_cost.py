"""Re-judging vs re-analysing N images: what each costs (``imgpipe cost --compare-rejudge``).

Re-judging reads the stored analysis from the record and writes the record back: S3 requests,
SQS messages, a little Lambda time, two idempotency writes; a changed verdict adds a copy, a
second record write, two deletes and one SNS publish; an archived copy whose verdict changed
adds a restore. Re-analysing does all of that **plus** every Rekognition API the rules need,
per image (:func:`imgpipe.ops.cost.estimate_cost`).

Prices: ONE table, :data:`AWS_PRICES`, US East list prices as recorded on
:data:`AWS_PRICES_CHECKED_ON` (not fetched live; check the pricing pages before quoting).
Request counts per image are the analyzer's (``analyzer/rejudge.py``), counted in
``tests/reliability/test_rejudge_cost.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from imgpipe.ops.cost import PRICES_CHECKED_ON, estimate_cost
from rules.features import Needs

AWS_PRICES_CHECKED_ON = "2026-12-02"

#: USD per unit named in the key (US East list prices; edit here, nowhere else).
AWS_PRICES: dict[str, Decimal] = {
    "s3_put_per_1000": Decimal("0.005"),  # PUT, COPY, POST, LIST
    "s3_get_per_1000": Decimal("0.0004"),  # GET, HEAD
    "s3_standard_gb_month": Decimal("0.023"),
    "sqs_per_million": Decimal("0.40"),
    "lambda_arm_gb_second": Decimal("0.0000133334"),
    "lambda_per_million": Decimal("0.20"),
    "dynamodb_write_per_million": Decimal("0.625"),  # on-demand write request units
    "sns_publish_per_million": Decimal("0.50"),
    "glacier_restore_bulk_per_1000": Decimal("0.025"),
    "glacier_restore_bulk_gb": Decimal("0"),
    "glacier_restore_standard_per_1000": Decimal("0.05"),
    "glacier_restore_standard_gb": Decimal("0.01"),
    "glacier_restore_expedited_per_1000": Decimal("10"),
    "glacier_restore_expedited_gb": Decimal("0.03"),
}

#: S3 requests the function makes per re-judged image (analyzer/rejudge.py).
REJUDGE_GETS = 3  # the record looked up under each verdict folder
REJUDGE_PUTS_UNCHANGED = 1  # the record, with the new rules and a history entry
CHANGED_EXTRA_GETS = 2  # HeadObject of the copy (storage class), the tags' source
CHANGED_EXTRA_PUTS = 2  # CopyObject, the record marked notified
#: What re-analysing adds per image on top of Rekognition (the requeue path: copy back, then the
#: pipeline's head, first bytes, copy, two record writes, delete).
REANALYSE_GETS = 4
REANALYSE_PUTS = 4


@dataclass(frozen=True, slots=True)
class CostAssumptions:
    changed_fraction: Decimal = Decimal("0.05")
    archived_fraction: Decimal = Decimal("0")
    restore_tier: str = "Bulk"
    image_kb: int = 500
    per_message: int = 20
    memory_mb: int = 1024
    seconds_per_image: Decimal = Decimal("0.12")  # wall time, S3 latencies; see docs/rejudge.md
    max_workers: int = 4
    rekognition_call_seconds: Decimal = Decimal("0.4")  # prod's rekognitionCallSeconds


@dataclass(slots=True)
class Side:
    name: str
    lines: dict[str, Decimal] = field(default_factory=dict)

    @property
    def usd(self) -> Decimal:
        return sum(self.lines.values(), Decimal("0"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "usd": str(_q(self.usd)),
                "lines": {k: str(_q(v)) for k, v in self.lines.items()}}


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def compare(needs: Needs, images: int, a: CostAssumptions | None = None,
            prices: dict[str, Decimal] | None = None) -> tuple[Side, Side]:
    """(re-judge, re-analyse) for ``images`` images under these assumptions."""
    a = a or CostAssumptions()
    p = AWS_PRICES if prices is None else prices
    n = Decimal(images)
    changed = n * a.changed_fraction
    archived_changed = changed * a.archived_fraction
    messages = n / a.per_message
    gb_seconds = (n * a.seconds_per_image / a.max_workers) * Decimal(a.memory_mb) / 1024
    invocations = messages / 10  # ten messages per batch at least
    common = {
        "sqs": messages * 3 * p["sqs_per_million"] / 1_000_000,  # send, receive, delete
        "lambda": gb_seconds * p["lambda_arm_gb_second"]
        + invocations * p["lambda_per_million"] / 1_000_000,
        "dynamodb_idempotency": n * 2 * p["dynamodb_write_per_million"] / 1_000_000,
        "sns": changed * p["sns_publish_per_million"] / 1_000_000,
    }
    tier = a.restore_tier.lower()

    def restores(count: Decimal) -> Decimal:
        return (count * p[f"glacier_restore_{tier}_per_1000"] / 1000
                + count * Decimal(a.image_kb) / 1024 / 1024 * p[f"glacier_restore_{tier}_gb"])

    rejudge = Side("rejudge", {
        "rekognition": Decimal("0"),
        "s3_requests": (n * REJUDGE_GETS + changed * CHANGED_EXTRA_GETS) * p["s3_get_per_1000"]
        / 1000 + (n * REJUDGE_PUTS_UNCHANGED + changed * CHANGED_EXTRA_PUTS)
        * p["s3_put_per_1000"] / 1000,
        **common,
        "glacier_restores": restores(archived_changed),
    })
    rekognition = estimate_cost(needs, images).usd
    calls_seconds = n * a.rekognition_call_seconds * len(needs.api_calls) / a.max_workers
    reanalyse = Side("reanalyse", {
        "rekognition": rekognition,
        "s3_requests": n * REANALYSE_GETS * p["s3_get_per_1000"] / 1000
        + n * REANALYSE_PUTS * p["s3_put_per_1000"] / 1000,
        **common,
        "lambda": common["lambda"] + calls_seconds * Decimal(a.memory_mb) / 1024
        * p["lambda_arm_gb_second"],
        # every archived copy must be restored before Rekognition can read it
        "glacier_restores": restores(n * a.archived_fraction),
    })
    return rejudge, reanalyse


def stored_analysis_storage_usd(images: int, bytes_per_image: int, months: int = 1) -> Decimal:
    """What keeping the stored analyses costs in S3 Standard (records are not archived)."""
    gb = Decimal(images) * bytes_per_image / (1024**3)
    return _q(gb * AWS_PRICES["s3_standard_gb_month"] * months)


def comparison_dict(needs: Needs, images: int, a: CostAssumptions) -> dict[str, Any]:
    rejudge, reanalyse = compare(needs, images, a)
    ratio = (reanalyse.usd / rejudge.usd) if rejudge.usd else None
    return {
        "images": images,
        "assumptions": {"changed_fraction": str(a.changed_fraction),
                        "archived_fraction": str(a.archived_fraction),
                        "restore_tier": a.restore_tier, "image_kb": a.image_kb,
                        "per_message": a.per_message, "memory_mb": a.memory_mb,
                        "seconds_per_image": str(a.seconds_per_image),
                        "max_workers": a.max_workers},
        "rejudge": rejudge.to_dict(),
        "reanalyse": reanalyse.to_dict(),
        "reanalyse_over_rejudge": f"{ratio:.1f}" if ratio is not None else None,
        "prices_checked_on": {"aws": AWS_PRICES_CHECKED_ON, "rekognition": PRICES_CHECKED_ON},
    }
