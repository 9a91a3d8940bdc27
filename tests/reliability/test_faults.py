"""A fault at every external call the analyzer makes, as an error and as a crash.

Each case uploads the same four images (space, '+', unicode, nested folder) into a moto stack,
injects its fault, drains the queue like Lambda's event source mapping (redelivery until success
or maxReceiveCount, then the DLQ) and checks the invariant over the whole bucket and both queues:
every image is either under ``images/`` with its message in the DLQ, or analysed exactly once;
never both, never neither; at most one notification per image; a permanent error is not retried.
"""

from __future__ import annotations

import pytest
from reliability_kit import (
    FAULT_MATRIX,
    INPUT,
    MAX_RECEIVE_COUNT,
    SCENARIO_IMAGES,
    TARGET,
    Case,
    CaseRun,
    ChaosPlan,
    MotoStack,
    expected_verdict,
    picture,
    ruleset,
    run_case,
)

from imgpipe.ops import redrive

pytestmark = pytest.mark.usefixtures("aws")
RULES = ruleset()


def assert_invariant(run: CaseRun) -> None:
    t = run.tally
    assert t.problems == [], t.problems
    assert t.lost == 0
    assert t.in_two_places == 0
    assert t.duplicate_notifications == 0
    assert t.images == len(SCENARIO_IMAGES)
    assert t.analysed + t.in_dlq == t.images


def assert_verdicts(run: CaseRun, keys: list[str]) -> None:
    all_keys = run.stack.keys("analyzed/")
    for key in keys:
        verdict = expected_verdict(RULES, key)
        assert f"analyzed/{verdict}/{key[len(INPUT):]}" in all_keys, key


def _params(cases: list[Case]) -> list[object]:
    return [
        pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.known_bug))
        if c.known_bug else pytest.param(c, id=c.id)
        for c in cases
    ]


@pytest.mark.parametrize("case", _params(FAULT_MATRIX))
def test_fault_keeps_the_invariant(case: Case) -> None:
    # GIVEN four uploaded images and one injected fault
    # WHEN the queue is drained with redelivery and the DLQ
    run = run_case(case)

    # THEN the fault happened, and every image is in exactly one place
    assert run.plan.total_fired >= 1, "the fault never fired: the call is not made"
    assert_invariant(run)
    t = run.tally
    keys = [INPUT + rel for rel in SCENARIO_IMAGES]
    if case.expect == "analysed":
        assert t.analysed == len(keys)
        assert_verdicts(run, keys)
        assert t.missed_notifications <= (1 if case.notify_gap else 0)
        assert t.notifications >= len(keys) - (1 if case.notify_gap else 0)
    elif case.expect == "dlq":
        assert t.in_dlq == 1
        assert run.stack.dlq_keys()[TARGET] == 1
        assert TARGET in run.stack.keys(INPUT)
        assert_verdicts(run, [k for k in keys if k != TARGET])
        # retried until maxReceiveCount, then no more
        assert run.plan.fired[case.faults[0].name] == MAX_RECEIVE_COUNT
        assert t.missed_notifications == 0
    elif case.expect == "announce-dlq":
        assert t.analysed == len(keys) and t.missed_notifications == 1
        assert run.stack.dlq_keys()[TARGET] == 1
        # the topic policy is fixed, the DLQ redriven: the owed announcement is made, once
        run.plan.left = dict.fromkeys(run.plan.left, 0)
        redrive(run.stack.sqs, run.stack.dlq_url, run.stack.queue_url, wait_seconds=0)
        run.stack.drain(run.stack.analyzer(run.plan).handle)
        after = run.stack.check(run.plan)
        assert after.problems == [] and after.missed_notifications == 0
        assert after.notifications == len(keys)
    elif case.expect == "all-dlq":
        assert t.in_dlq == len(keys)
        assert t.notifications == 0
    else:
        reason = case.expect.removeprefix("failure:")
        rel = TARGET[len(INPUT):]
        record = run.stack.record("failure", rel)
        assert record is not None and record["reason"] == reason
        assert t.analysed == len(keys)
        # permanent: decided on the first delivery, never retried
        assert run.stats.item_failures == 0 and run.stats.invocations == 1
        assert run.plan.fired[case.faults[0].name] == 1
        assert t.missed_notifications == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chaos_every_call_may_fail_or_crash(seed: int) -> None:
    # GIVEN 40 images; every external call fails 5% of the time and crashes 1% of the time right
    # after succeeding (seeded, one worker: reproducible); maxReceiveCount high enough that the
    # DLQ path (covered by the matrix) is not taken
    stack = MotoStack(max_receive_count=25)
    image = picture()
    keys = [stack.upload(f"chaos/{i:02d}/{name}", image)
            for i in range(10) for name in SCENARIO_IMAGES]
    plan = ChaosPlan(seed, p=0.05, crash_p=0.01)

    # WHEN the queue is drained
    stats = stack.drain(stack.analyzer(plan).handle)

    # THEN many faults happened, and every image was analysed exactly once, announced at most once
    assert plan.total_fired >= 10 and stats.crashes >= 1
    tally = stack.check(plan, keys=keys)
    assert tally.problems == [], tally.problems
    assert tally.analysed == len(keys) and tally.in_dlq == 0
    assert tally.lost == 0 and tally.in_two_places == 0 and tally.duplicate_notifications == 0
    assert_verdicts_of(stack, keys)


def assert_verdicts_of(stack: MotoStack, keys: list[str]) -> None:
    analysed = stack.keys("analyzed/")
    for key in keys:
        assert f"analyzed/{expected_verdict(RULES, key)}/{key[len(INPUT):]}" in analysed, key
