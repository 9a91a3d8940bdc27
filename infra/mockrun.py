"""Run the Pulumi program offline under ``pulumi.runtime.set_mocks`` and record what it declares.

Used by ``imgpipe plan`` (a preview for users without the CLI or credentials) and by the tests.
Mocks return plausible physical names and ARNs for one fake account, so policies built from them
can be replayed in moto verbatim.
"""

from __future__ import annotations

import hashlib
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from infra._pulumi_private import evaluate_program
from infra.settings import PROJECT, encode_value, stack_config

__all__ = [
    "ProgramRun", "RecordedResource", "RecordingMocks", "encode_value", "run_program",
    "stack_config",
]

ACCOUNT_ID = "123456789012"  # moto's default account: generated ARNs replay in moto as-is
DEFAULT_REGION = "us-east-1"


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str


@dataclass
class ProgramRun:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise LookupError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def named(self, name: str) -> RecordedResource:
        for r in self.resources:
            if r.name == name:
                return r
        raise LookupError(name)


def _suffix(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs, add the outputs AWS would compute (names, ARNs, URLs)."""

    def __init__(self, region: str = DEFAULT_REGION, account: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account = account
        self.resources: list[RecordedResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        out = dict(inputs)
        rid = f"{args.name}-id"
        auto = f"{args.name}-{_suffix(args.name)}"
        region, account, t = self.region, self.account, args.typ
        if t == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or auto
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            rid = bucket
        elif t == "aws:sqs/queue:Queue":
            qname = inputs.get("name") or auto
            url = f"https://sqs.{region}.amazonaws.com/{account}/{qname}"
            out.update(name=qname, url=url, arn=f"arn:aws:sqs:{region}:{account}:{qname}")
            rid = url
        elif t == "aws:sns/topic:Topic":
            tname = inputs.get("name") or auto
            arn = f"arn:aws:sns:{region}:{account}:{tname}"
            out.update(name=tname, arn=arn)
            rid = arn
        elif t == "aws:dynamodb/table:Table":
            tname = inputs.get("name") or auto
            out.update(name=tname, arn=f"arn:aws:dynamodb:{region}:{account}:table/{tname}")
            rid = tname
        elif t == "aws:iam/role:Role":
            rname = inputs.get("name") or auto
            out.update(name=rname, arn=f"arn:aws:iam::{account}:role/{rname}")
            rid = rname
        elif t == "aws:cloudwatch/logGroup:LogGroup":
            lname = inputs.get("name") or auto
            out.update(name=lname, arn=f"arn:aws:logs:{region}:{account}:log-group:{lname}")
            rid = lname
        elif t == "aws:lambda/function:Function":
            fname = inputs.get("name") or auto
            out.update(name=fname, arn=f"arn:aws:lambda:{region}:{account}:function:{fname}")
            rid = fname
        elif t == "aws:lambda/layerVersion:LayerVersion":
            arn = f"arn:aws:lambda:{region}:{account}:layer:{inputs.get('layerName', auto)}:1"
            out.update(arn=arn, layer_arn=arn.rsplit(":", 1)[0], version="1")
            rid = arn
        elif t == "aws:kms/key:Key":
            key_id = f"{_suffix(args.name)}-0000-4000-8000-000000000000"
            out.update(key_id=key_id, arn=f"arn:aws:kms:{region}:{account}:key/{key_id}")
            rid = key_id
        elif "arn" not in out:
            out["arn"] = f"arn:aws:{t.split(':')[1].split('/')[0]}:{region}:{account}:{auto}"
        self.resources.append(RecordedResource(t, args.name, inputs, out, rid))
        return rid, out

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{self.account}:user/mock"
            return {"accountId": self.account, "arn": arn, "userId": "MOCK", "id": self.account}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []


def run_program(
    stack: str,
    config: dict[str, str],
    program: Path,
    project: str = PROJECT,
) -> ProgramRun:
    """Evaluate ``program`` for ``stack`` with ``config``; the process-global mock state is reset.

    The program's exceptions propagate unchanged (e.g. :class:`infra.errors.StackConfigError`).
    """
    region = config.get("aws:region", DEFAULT_REGION)
    mocks = RecordingMocks(region=region)
    run = ProgramRun(stack=stack, resources=mocks.resources)

    def set_up() -> None:
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
        pulumi.runtime.set_all_config(dict(config))

    def program_body() -> None:
        runpy.run_path(str(program), run_name="__main__")

    run.outputs = evaluate_program(set_up, program_body)
    return run
