"""Least privilege follows the rules: the function may call exactly the Rekognition APIs its
stack's rules need — DetectFaces only when a rule needs faces, a Custom Labels model or a
moderation adapter only when a rule names it, and no other — proven under moto's IAM enforcement
with the policy the program generates.

moto checks Rekognition calls against the project version the request names (the
``resource_scoped_moto`` fixture teaches it), and answers DetectModerationLabels with
NotImplementedError *after* IAM let the call through: a denied call is a ClientError first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
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

Call = Callable[[Any, dict[str, Any], str], Any]

#: Each Rekognition API the registry knows, called the way the analyzer calls it. ``API@`` is the
#: call with a custom model (like the analysis id ``name@ARN``): the ARN goes into the parameter
#: the registry binds (ProjectVersionArn / ProjectVersion).
CALLS: dict[str, Call] = {
    "DetectLabels": lambda r, img, _: r.detect_labels(Image=img, Features=["GENERAL_LABELS"]),
    "DetectModerationLabels": lambda r, img, _: r.detect_moderation_labels(Image=img),
    "DetectText": lambda r, img, _: r.detect_text(Image=img),
    "DetectFaces": lambda r, img, _: r.detect_faces(Image=img, Attributes=["ALL"]),
    "DetectProtectiveEquipment": lambda r, img, _: r.detect_protective_equipment(Image=img),
    "DetectCustomLabels@": lambda r, img, arn: r.detect_custom_labels(
        Image=img, ProjectVersionArn=arn, MinConfidence=0),
    "DetectModerationLabels@": lambda r, img, arn: r.detect_moderation_labels(
        Image=img, ProjectVersion=arn),
}

_VERSION = "arn:aws:rekognition:eu-west-1:123456789012:project/{0}/version/{0}.2026-11-30/1764460800000"
#: the model and the adapter tests/events/rules/custom-models.yaml names
MODEL = "arn:aws:rekognition:eu-west-1:123456789012:project/sneakers/version/sneakers.2026-11-30/1764460800000"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/audience/version/audience.2026-10-15/1760486400000"
#: a model and an adapter of the same account that no rule names
OTHER_MODEL, OTHER_ADAPTER = _VERSION.format("handbags"), _VERSION.format("strict")
CUSTOM_MODELS = "tests/events/rules/custom-models.yaml"


def _denied(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"AccessDenied", "AccessDeniedException", "403"}
    except NotImplementedError:  # moto lacks the API: IAM let the call through to it
        return False
    return False


def _function_user(run: ProgramRun) -> tuple[Any, dict[str, Any]]:
    """The stack deployed in moto; a Rekognition client with the function's policy, an image."""
    admin = boto3.Session(region_name="eu-west-1")
    w = apply_everything(run, admin)
    iam = admin.client("iam")
    iam.create_user(UserName="imgpipe-analyzer")
    iam.put_user_policy(UserName="imgpipe-analyzer", PolicyName="fn", PolicyDocument=w.policy)
    key = iam.create_access_key(UserName="imgpipe-analyzer")["AccessKey"]
    user = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key=key["SecretAccessKey"], region_name=w.region)
    return user.client("rekognition"), {"S3Object": {"Bucket": w.bucket, "Name": "images/a.jpg"}}


def _allowed(rekognition: Any, image: dict[str, Any], models: Iterable[str]) -> set[str]:
    """The calls of :data:`CALLS` the credentials may make: ``API``, or ``API@ARN`` for each
    model tried with a call that takes one."""
    attempts: dict[str, Callable[[], Any]] = {}
    for key, call in CALLS.items():
        for arn in models if key.endswith("@") else [""]:
            attempts[key + arn] = partial(call, rekognition, image, arn)
    with enable_iam_authentication():
        return {name for name, attempt in attempts.items() if not _denied(attempt)}


def test_every_registered_api_is_covered_here() -> None:
    specs = build_analyses(load_plugins=False).specs.values()
    assert {s.api for s in specs} == {key.rstrip("@") for key in CALLS}
    # and every API a custom model is called through has its call with the model
    assert {s.api for s in specs if s.argument} == {k.rstrip("@") for k in CALLS if k.endswith("@")}


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
    rekognition, image = _function_user(run_with("dev", rulesFile=rules_file))
    # WHEN each Rekognition API is called with the function's credentials (any model: none named)
    allowed = _allowed(rekognition, image, [OTHER_MODEL])
    # THEN exactly the APIs the rules need are allowed; no Custom Labels model at all
    assert {name.split("@")[0] for name in allowed} == expected
    # (DetectModerationLabels on "*" covers an adapter too: rules with base moderation may use any)
    assert (f"DetectModerationLabels@{OTHER_MODEL}" in allowed) == ("DetectModerationLabels" in expected)


@pytest.mark.parametrize(
    ("rules_file", "expected"),
    [
        # the model, the adapter and labels: nothing else, not even moderation without the adapter
        (CUSTOM_MODELS,
         {"DetectLabels", f"DetectCustomLabels@{MODEL}", f"DetectModerationLabels@{ADAPTER}"}),
        # with base moderation too, DetectModerationLabels is granted on "*": any adapter, or none
        ("tests/events/rules/custom-models-and-moderation.yaml",
         {f"DetectCustomLabels@{MODEL}", "DetectModerationLabels",
          *(f"DetectModerationLabels@{arn}" for arn in (MODEL, ADAPTER, OTHER_MODEL, OTHER_ADAPTER))}),
    ],
    ids=["custom-models", "custom-models-and-moderation"],
)
def test_custom_models_are_granted_by_arn(
    rules_file: str, expected: set[str], run_with: Callable[..., ProgramRun], aws: None,
    resource_scoped_moto: None,  # noqa: F811
) -> None:
    # GIVEN the dev stack deployed with rules naming a Custom Labels model and a moderation adapter
    rekognition, image = _function_user(run_with("dev", rulesFile=rules_file))
    # WHEN every API is called, the custom-model ones with each of the four project versions
    allowed = _allowed(rekognition, image, [MODEL, ADAPTER, OTHER_MODEL, OTHER_ADAPTER])
    # THEN exactly the calls the rules make are allowed: the model only for DetectCustomLabels,
    # the adapter only for DetectModerationLabels, another model or adapter never
    assert allowed == expected
