"""Fault matrix: run every fault case of tests/reliability and print the table of docs/reliability.md.

    .venv/bin/python bench/fault_matrix.py

The cases, harness and checks of ``tests/reliability/test_faults.py``, imported as a package
from the project root; prints one row per
service (cases, faults injected, images, where they ended, lost, duplicates) plus totals, and
the cases known to break the invariant (marked xfail in the tests).
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("reliability.md", "fault-matrix")

ROOT = Path(__file__).resolve().parents[1]


if str(ROOT) not in sys.path:  # the project root, so that the package ``tests`` imports
    sys.path.insert(0, str(ROOT))


def main() -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from moto import mock_aws

    from tests.reliability import test_faults as kit

    rows: dict[str, Counter[str]] = defaultdict(Counter)
    known: list[str] = []
    for case in kit.FAULT_MATRIX:
        with mock_aws():
            run = kit.run_case(case)
        t = run.tally
        bugs = t.lost + t.in_two_places + t.duplicate_notifications
        key = "known bug" if case.known_bug else case.faults[-1].service
        row = rows[key]
        row["cases"] += 1
        row["faults"] += run.plan.total_fired
        row["crashes"] += run.stats.crashes
        row["images"] += t.images
        row["analysed"] += t.analysed
        row["in_dlq"] += t.in_dlq
        row["lost"] += t.lost
        row["two_places"] += t.in_two_places
        row["notifications"] += t.notifications
        row["dup_notifications"] += t.duplicate_notifications
        row["missed_notifications"] += t.missed_notifications
        if case.known_bug:
            known.append(f"{case.id}: lost={t.lost} two_places={t.in_two_places} "
                         f"dup={t.duplicate_notifications} ({case.known_bug})")
        elif bugs or t.problems:
            known.append(f"UNEXPECTED {case.id}: {t.problems}")
    cols = ["cases", "faults", "crashes", "images", "analysed", "in_dlq", "lost", "two_places",
            "notifications", "dup_notifications", "missed_notifications"]
    print("| calls faulted | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    total: Counter[str] = Counter()
    for service in sorted(rows, key=lambda s: (s == "known bug", s)):
        if service != "known bug":
            total.update(rows[service])
        print(f"| {service} | " + " | ".join(str(rows[service][c]) for c in cols) + " |")
    print("| **all but known bugs** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")
    for line in known:
        print(line)


if __name__ == "__main__":
    _docs.main(main, BLOCK)
