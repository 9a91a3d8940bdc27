"""The imgpipe policy pack: `pulumi preview --policy-pack policy` (needs the Pulumi CLI).

Constructing PolicyPack starts the analyzer's gRPC server and blocks: keep it in this file only.
"""

from policies import POLICIES  # run by the CLI with this folder as the working directory
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="imgpipe-security",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
