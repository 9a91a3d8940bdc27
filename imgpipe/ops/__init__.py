"""Operations behind ``imgpipe dlq``, ``imgpipe reprocess`` and ``imgpipe cost``.

Logic only: every AWS client is injected, so the same code runs against the real stack (clients
from a boto3 session) and against moto in the tests. The CLI (:mod:`imgpipe.cli.ops_cmd`) only
parses options, builds clients and prints.
"""

from __future__ import annotations

from imgpipe.ops.cost import PRICES, PRICES_CHECKED_ON, CostEstimate, estimate_cost
from imgpipe.ops.dlq import DlqMessage, RedriveResult, inspect_dlq, redrive
from imgpipe.ops.errors import OpsError, OutputsError, RedriveError
from imgpipe.ops.outputs import StackOutputs, load_outputs
from imgpipe.ops.reprocess import ReprocessItem, ReprocessResult, reprocess

__all__ = [
    "PRICES",
    "PRICES_CHECKED_ON",
    "CostEstimate",
    "DlqMessage",
    "OpsError",
    "OutputsError",
    "RedriveError",
    "RedriveResult",
    "ReprocessItem",
    "ReprocessResult",
    "StackOutputs",
    "estimate_cost",
    "inspect_dlq",
    "load_outputs",
    "redrive",
    "reprocess",
]
