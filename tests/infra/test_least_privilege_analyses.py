"""Least privilege follows the rules: the function may call exactly the Rekognition APIs its
stack's rules need — DetectFaces only when a rule needs faces — proven under moto's IAM
enforcement with the policy the program generates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication

from infra.mockrun import ProgramRun
from rules import load_ruleset
from rules.analyses import build_analyses
from tests.infra.test_least_privilege import resource_scoped_moto  # noqa: F401  (a fixture)
from tests.support.deployed import apply_everything
from tests.support.paths import ROOT

#: Each Rekognition API the registry knows, called the way the analyzer calls it.
CALLS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "DetectLabels": lambda r, img: r.detect_labels(Image=img, Features=["GENERAL_LABELS"]),
    "DetectModerationLabels": lambda r, img: r.detect_moderation_labels(Image=img),
    "DetectText": lambda r, img: r.detect_text(Image=img),
    "DetectFaces": lambda r, img: r.detect_faces(Image=img, Attributes=["ALL"]),
    "DetectProtectiveEquipment": lambda r, img: r.detect_protective_equipment(Image=img),
}


def _denied(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"AccessDenied", "AccessDeniedException", "403"}
    except NotImplementedError:  # moto lacks the API: IAM let the call through to it
        return False
    return False


def test_every_registered_api_is_covered_here() -> None:
    assert {s.api for s in build_analyses(load_plugins=False).specs.values()} == set(CALLS)


@pytest.mark.parametrize(
    ("rules_file", "expected"),
    [
        ("rules/dev.yaml", {"DetectLabels", "DetectModerationLabels"}),
        ("rules/presets/content-moderation.yaml", {"DetectModerationLabels", "DetectText", "DetectFaces"}),
        ("tests/events/rules/workplace-safety.yaml", {"DetectProtectiveEquipment"}),
    ],
)
def test_rekognition_grants_follow_the_rules(
    rules_file: str, expected: set[str], run_with: Callable[..., ProgramRun], aws: None,
    resource_scoped_moto: None,  # noqa: F811
) -> None:
    # GIVEN the dev stack deployed with these rules, and a user holding the function's policy
    assert set(load_ruleset(ROOT / rules_file).needs.api_calls) == expected
    admin = boto3.Session(region_name="eu-west-1")
    w = apply_everything(run_with("dev", rulesFile=rules_file), admin)
    iam = admin.client("iam")
    iam.create_user(UserName="imgpipe-analyzer")
    iam.put_user_policy(UserName="imgpipe-analyzer", PolicyName="fn", PolicyDocument=w.policy)
    key = iam.create_access_key(UserName="imgpipe-analyzer")["AccessKey"]
    user = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key=key["SecretAccessKey"], region_name=w.region)
    rekognition = user.client("rekognition")
    image = {"S3Object": {"Bucket": w.bucket, "Name": "images/a.jpg"}}

    # WHEN each Rekognition API is called with the function's credentials
    with enable_iam_authentication():
        allowed = {api for api, call in CALLS.items()
                   if not _denied(lambda call=call: call(rekognition, image))}

    # THEN exactly the APIs the rules need are allowed
    assert allowed == expected
