"""Flood benchmark: N uploads through moto S3 -> SQS -> the handler with W workers.

    .venv/bin/python bench/flood_bench.py [IMAGES] [WORKERS] [WAVE]     # default 1000 4 500

The harness is the tests' (:mod:`tests.support`: the moto stack, the event-source emulator, the
invariant), imported as a package from the project root; the checks are those of
``tests/reliability/test_flood.py`` (every image analysed once, queue and DLQ empty, one
notification each), at sizes that do not fit in ``make test``: ``make bench`` runs the default
1,000 (about a minute); 5,000 is ``flood_bench.py 5000 4 500`` (about 7 minutes). Prints the
figures (``--write-docs``: also into docs/reliability.md); the throughput is bounded by
in-process moto, not by the analyzer (see docs/reliability.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("reliability.md", "flood")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project root, so that the package ``tests`` imports
    sys.path.insert(0, str(ROOT))

def main() -> None:
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    wave = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from moto import mock_aws

    from tests.support.flood import flood

    with mock_aws():
        figures = flood(images, workers, wave)
    print(
        f"flood: {figures['images']} images, {figures['workers']} workers, "
        f"{figures['invocations']} invocations; uploads {figures['upload_s']} s; "
        f"drain {figures['drain_s']} s = {figures['images_per_s']} images/s; "
        "every image analysed once, queue and DLQ empty, one notification each"
    )


if __name__ == "__main__":
    _docs.main(main, BLOCK)
