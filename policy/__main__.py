"""The imgpipe policy pack: `pulumi preview --policy-pack policy` (needs the Pulumi CLI).

Constructing PolicyPack starts the analyzer's gRPC server and blocks: keep it in this file only.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="imgpipe-security",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
