"""What the program does before it builds anything: read and validate everything.

``load_stack`` reads the stack config, validates it (:mod:`infra.settings`), validates the stack's
rules file with the rule engine (and that its custom models are in the stack's region), checks the
analyzer environment and builds the Lambda artifacts.
Any problem stops the program at preview with ``FILE:LINE: path: message`` lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi
import yaml

from infra.artifacts import Artifacts, PluginDist, build_artifacts, plugins_used
from infra.environment import check_environment
from infra.errors import RulesFileError, StackConfigError
from infra.settings import (
    PROJECT,
    StackSettings,
    _child,
    config_keys,
    load_settings,
    stack_config,
)

if TYPE_CHECKING:
    from rules import Ruleset

REQUIREMENTS = Path("infra") / "lambda-requirements.txt"


@dataclass(frozen=True)
class LoadedStack:
    settings: StackSettings
    rules_file: Path
    #: the Rekognition APIs called per image (an API twice for two models), for the dashboard
    rekognition_apis: list[str]
    #: IAM action -> the resources the rules need it on (:func:`rules.analyses.iam_grants`)
    rekognition_grants: Mapping[str, Sequence[str]]
    artifacts: Artifacts
    function_name: str


def load_stack(project_root: Path) -> LoadedStack:
    stack = pulumi.get_stack()
    project = pulumi.get_project() or PROJECT
    stack_file = project_root / f"Pulumi.{stack}.yaml"
    present = stack_file if stack_file.exists() else None
    raw = read_config(project, present)
    settings = load_settings(raw, stack, present, project)
    env_problems = check_environment(settings)
    if env_problems:
        raise StackConfigError([f"{stack_file.name}: {p}" for p in env_problems])
    rules_file, ruleset = validate_rules(project_root, settings)
    region = stack_region()
    if region is not None:
        problems = model_region_problems(ruleset, region, _relative(str(rules_file), project_root))
        if problems:
            raise RulesFileError(problems)
    check_rule_cases(project_root, rules_file)
    from infra.backtest import log_preview_backtest

    log_preview_backtest(project_root, settings.rules_path)
    plugins = stack_plugins(project_root, rules_file)
    artifacts = build_artifacts(project_root, rules_file, project_root / REQUIREMENTS, plugins=plugins)
    return LoadedStack(
        settings=settings,
        rules_file=rules_file,
        rekognition_apis=list(ruleset.needs.api_calls),
        rekognition_grants=_iam_grants(ruleset),
        artifacts=artifacts,
        function_name=f"{project}-{stack}-analyzer",
    )


def read_config(project: str, stack_file: Path | None) -> dict[str, str]:
    """The project's config as the engine's ``project:key -> str`` map, through ``pulumi.Config``.

    The public API reads keys by name and cannot list them, so the names asked for are every
    setting :class:`~infra.settings.StackSettings` knows plus every key of the project written in
    the stack file: a known key set anywhere (file, ``--config``, an ESC environment) is read, and
    a typo in the file still reaches validation and is reported with its line.
    """
    names = set(config_keys())
    if stack_file is not None:
        prefix = f"{project}:"
        names |= {k[len(prefix):] for k in stack_config(stack_file) if k.startswith(prefix)}
    config = pulumi.Config(project)
    values = {name: config.get(name) for name in sorted(names)}
    return {f"{project}:{name}": value for name, value in values.items() if value is not None}


def validate_rules(project_root: Path, settings: StackSettings) -> tuple[Path, Ruleset]:
    """Load the stack's rules file with the rule engine; return its path and the ruleset."""
    from rules import RulesError, RulesValidationError, load_ruleset

    path = project_root / settings.rules_path
    if not path.is_file():
        raise RulesFileError(
            [f"{settings.rules_path}: file not found (set image-pipeline:rulesFile, default "
             f"rules/<stack>.yaml)"]
        )
    try:
        ruleset = load_ruleset(path)
    except RulesValidationError as exc:
        raise RulesFileError([_relative(str(issue), project_root) for issue in exc.issues]) from None
    except RulesError as exc:
        raise RulesFileError([f"{settings.rules_path}: {exc}"]) from None
    return path, ruleset


def _iam_grants(ruleset: Ruleset) -> dict[str, tuple[str, ...]]:
    from rules.analyses import iam_grants

    return iam_grants(ruleset.needs.features)


def stack_region() -> str | None:
    """The region the stack deploys to, as the AWS provider finds it: ``aws:region``, else
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; None when only a profile would say (unknown here)."""
    return (
        pulumi.Config("aws").get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )


def model_region_problems(ruleset: Ruleset, region: str, rules_file: str) -> list[str]:
    """One ``FILE:LINE: rules[i]: ...`` line per rule calling a custom model (a Custom Labels
    model or a moderation adapter) outside ``region``: Rekognition runs a model only in its own
    region, so every call would fail. (The ARN's account is not checked: the deploying account
    is known only from a call, after preview.)"""
    from rules.analyses import split_id
    from rules.custom import arn_region

    problems = []
    for index, rule in enumerate(ruleset.rules):
        for analysis_id in sorted(rule.needs().extra):
            kind, arn = split_id(analysis_id)
            if arn is None:
                continue
            try:
                model_region = arn_region(arn)
            except ValueError:  # a plugin's argument that is no project version ARN
                continue
            if model_region != region:
                line = _rule_line(ruleset.text, index, arn)
                problems.append(
                    f"{rules_file}:{line}: rules[{index}]: rule {rule.name!r} ({kind}): the model "
                    f"{arn} is in {model_region}, the stack in {region} (aws:region); "
                    "Rekognition can only call a model in its own region"
                )
    return problems


def _rule_line(text: str, index: int, needle: str) -> int:
    """1-based line of ``needle`` inside ``rules[index]`` (else the rule's first line)."""
    rules = _child(yaml.compose(text), "rules")
    if not isinstance(rules, yaml.SequenceNode) or index >= len(rules.value):
        return 1
    node = rules.value[index]
    first, last = int(node.start_mark.line), int(node.end_mark.line)
    for number, line in enumerate(text.splitlines()[first : last + 1], start=first + 1):
        if needle in line:
            return number
    return first + 1


def stack_plugins(project_root: Path, rules_file: Path) -> list[PluginDist]:
    """The plugin distributions the stack's rules use: they go into the function's layer."""
    from rules import default_registry, load_ruleset

    registry = default_registry()
    ruleset = load_ruleset(rules_file, registry)
    return plugins_used(ruleset, registry, _relative(str(rules_file), project_root))


def check_rule_cases(project_root: Path, rules_file: Path) -> None:
    """Run the rules file's own test cases (``<name>.cases.yml`` beside it), if it has any:
    a rules file that fails its cases is never deployed."""
    from rules.cases import CasesError, cases_file_for, run_cases

    cases = cases_file_for(rules_file)
    if cases is None:
        return
    try:
        report = run_cases(cases)
    except CasesError as exc:
        raise RulesFileError([_relative(line, project_root) for line in str(exc).splitlines()]) from None
    if report.failed:
        raise RulesFileError(
            [f"{_relative(str(cases), project_root)}: {len(report.failed)} of {len(report.results)} "
             "rule test cases fail (run: imgpipe rules test " + _relative(str(rules_file), project_root) + ")"]
            + [_relative(f"  {r.describe()}", project_root) for r in report.failed]
        )


def _relative(message: str, project_root: Path) -> str:
    prefix = f"{project_root.resolve()}/"
    return message.replace(prefix, "")


def account_id() -> pulumi.Output[str]:
    import pulumi_aws as aws

    return aws.get_caller_identity_output().account_id
