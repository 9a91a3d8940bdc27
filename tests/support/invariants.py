"""The invariant over the whole bucket and both queues, after a run.

Every uploaded image is either under the input prefix with its message in the DLQ, or analysed
exactly once (one verdict folder, with its result record); never both, never neither; announced
at most once; nothing else written outside the result records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analyzer.layout import DEFAULT_LAYOUT, VERDICTS
from tests.support.faults import FaultPlan

if TYPE_CHECKING:
    from tests.support.world import MotoStack

INPUT = DEFAULT_LAYOUT.input_prefix
OUTPUT = DEFAULT_LAYOUT.output_prefix
RESULTS = DEFAULT_LAYOUT.results_prefix


@dataclass(slots=True)
class Tally:
    """The invariant's figures over one run."""

    images: int = 0
    analysed: int = 0
    in_dlq: int = 0
    lost: int = 0  # neither under images/ with a DLQ message, nor analysed exactly once
    in_two_places: int = 0
    notifications: int = 0
    duplicate_notifications: int = 0
    missed_notifications: int = 0  # analysed, announced never
    problems: list[str] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)


def check(
    stack: MotoStack, plan: FaultPlan, *, keys: Iterable[str] | None = None, records: bool = True
) -> Tally:
    """The invariant over the whole bucket and both queues."""
    tally = Tally()
    all_keys = stack.keys()
    main_left = stack.queue_messages(stack.queue_url)
    if main_left:
        tally.problems.append(f"{len(main_left)} message(s) still in the source queue")
    in_flight = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
    if int(in_flight):
        tally.problems.append(f"{in_flight} message(s) still in flight in the source queue")
    dlq = stack.dlq_keys()
    published = Counter(str(p.get("source_key")) for p in plan.published)
    expected = sorted(keys if keys is not None else stack.uploaded)
    for key in expected:
        tally.images += 1
        rel = key[len(INPUT):]
        in_input = key in all_keys
        analysed = [v for v in VERDICTS if f"{OUTPUT}{v}/{rel}" in all_keys]
        if in_input and analysed:
            tally.in_two_places += 1
            tally.problems.append(f"{key}: under {INPUT} and analysed as {analysed}")
        elif len(analysed) > 1:
            tally.in_two_places += 1
            tally.problems.append(f"{key}: analysed as {analysed}")
        elif analysed:
            tally.analysed += 1
            tally.verdicts[analysed[0]] += 1
            if records and stack.record(analysed[0], rel) is None:
                tally.problems.append(f"{key}: no result record for {analysed[0]}")
            if published[key] == 0:
                tally.missed_notifications += 1
        elif in_input and dlq[key] > 0:
            tally.in_dlq += 1
        else:
            tally.lost += 1
            where = "under images/ without a DLQ message" if in_input else "nowhere"
            tally.problems.append(f"{key}: {where}")
        if published[key] > 1:
            tally.duplicate_notifications += published[key] - 1
            tally.problems.append(f"{key}: announced {published[key]} times")
    tally.notifications = sum(published[k] for k in expected)
    allowed = {k for k in expected} | {f"{OUTPUT}{v}/{k[len(INPUT):]}" for k in expected
                                       for v in VERDICTS}
    stray = {k for k in all_keys if not k.startswith(RESULTS)} - allowed
    if stray:
        tally.problems.append(f"unexpected objects: {sorted(stray)[:5]}")
    return tally
