"""Editors help while typing (the rules file's JSON Schema) and non-programmers pin what a rules
file must decide (``NAME.cases.yml``, ``imgpipe rules test``, enforced at preview)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from imgpipe.cli import app
from infra.errors import RulesFileError
from infra.mockrun import ProgramRun
from rules import build_registry, default_registry
from rules.schema import CASES_SCHEMA_FILE, SCHEMA_FILE, cases_schema, rules_schema
from tests.support.paths import ROOT

SHIPPED = sorted([*(ROOT / "rules" / "presets").glob("*.yaml"), ROOT / "rules/dev.yaml", ROOT / "rules/prod.yaml"])
CASES = sorted((ROOT / "rules").rglob("*.cases.yml"))
INVALID = ROOT / "tests" / "unit" / "rules" / "invalid"
#: broken files of the loader's corpus whose mistake a JSON Schema can express
SCHEMA_REJECTS = ["01_unknown_key_typo", "02_missing_version", "03_version_2", "04_empty_rules",
                  "05_rule_min_confidence_over_100", "06_file_min_confidence_negative", "07_unknown_rule_type",
                  "08_missing_type", "14_bad_outcome", "15_bad_rule_name", "17_min_instances_zero",
                  "18_detection_type_lowercase", "19_labels_empty", "21_default_verdict_tag",
                  "22_rule_not_a_mapping", "23_not_a_mapping"]


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# -- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_schema_accepts_every_shipped_rules_file_and_they_point_at_it(path: Path) -> None:
    validator = _validator(rules_schema(build_registry(load_plugins=False)))
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path}: first line should be the yaml-language-server $schema comment"
    assert (path.parent / match.group(1)).resolve() == ROOT / "rules" / SCHEMA_FILE


@pytest.mark.parametrize("name", SCHEMA_REJECTS)
def test_the_schema_rejects_known_bad_files(name: str) -> None:
    validator = _validator(rules_schema(build_registry(load_plugins=False)))
    data = yaml.safe_load((INVALID / f"{name}.yaml").read_text())
    assert list(validator.iter_errors(data)), name


def test_the_shipped_schema_files_are_up_to_date() -> None:
    built_in = rules_schema(build_registry(load_plugins=False))
    assert json.loads((ROOT / "rules" / SCHEMA_FILE).read_text()) == built_in, (
        "regenerate: python -c 'from pathlib import Path; from rules.schema import write_schemas; "
        "write_schemas(Path(\"rules\"))'"
    )
    assert json.loads((ROOT / "rules" / CASES_SCHEMA_FILE).read_text()) == cases_schema()


def test_rules_schema_command_includes_installed_plugin_types() -> None:
    result = _cli("rules", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "image_quality" in schema["properties"]["rules"]["items"]["properties"]["type"]["enum"]
    validator = _validator(schema)
    good = {"version": 1, "rules": [{"name": "q", "type": "image_quality", "min_sharpness": 30, "outcome": "failure"}]}
    assert list(validator.iter_errors(good)) == []
    bad = {"version": 1, "rules": [{"name": "q", "type": "image_quality", "min_sharpnes": 30, "outcome": "failure"}]}
    assert list(validator.iter_errors(bad))
    assert "image_quality" not in json.dumps(json.loads(_cli("rules", "schema", "--builtin-only").stdout))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_the_cases_schema_accepts_every_shipped_cases_file(path: Path) -> None:
    assert list(_validator(cases_schema()).iter_errors(yaml.safe_load(path.read_text()))) == []


# -- rules test ---------------------------------------------------------------------------------


def test_every_shipped_rules_file_has_cases_and_they_pass() -> None:
    for rules in SHIPPED:
        assert rules.with_name(rules.stem + ".cases.yml") in CASES, rules
    result = _cli("rules", "test", *SHIPPED)
    assert result.exit_code == 0, result.output
    assert re.search(r"==== \d+ passed in [\d.]+s ====", result.stdout)


def _copy(tmp_path: Path, name: str = "wildlife") -> tuple[Path, Path]:
    rules = tmp_path / f"{name}.yaml"
    shutil.copy(ROOT / "rules" / "presets" / "wildlife.yaml", rules)
    cases = tmp_path / f"{name}.cases.yml"
    cases.write_text(
        "cases:\n"
        "  - name: a fox\n    labels: {Fox: 92}\n    verdict: success\n    categories: [canines]\n"
        "  - name: wrong on purpose\n    labels: {Person: 97}\n    verdict: success\n"
    )
    return rules, cases


def test_a_failing_case_exits_1_with_a_readable_message(tmp_path: Path) -> None:
    rules, cases = _copy(tmp_path)
    result = _cli("rules", "test", rules)
    assert result.exit_code == 1
    assert f"{cases} .F" in result.stdout
    assert f"FAILED {cases}:6: case 'wrong on purpose': expected verdict success, got review" in result.stdout
    assert "matched rule 'people' (label_match) -> review" in result.stdout
    assert "==== 1 failed, 1 passed in" in result.stdout
    # --json: the same, for machines
    data = json.loads(_cli("rules", "test", cases, "--json").stdout)
    assert (data["passed"], data["failed"]) == (1, 1)
    failed = [c for c in data["files"][0]["cases"] if not c["passed"]]
    assert failed[0]["got"] == {"verdict": "review", "categories": ["people"]}


def test_an_invalid_cases_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    rules, cases = _copy(tmp_path)
    cases.write_text("cases:\n  - name: typo\n    label: {Fox: 92}\n    verdict: success\n")
    result = _cli("rules", "test", rules)
    assert result.exit_code == 2
    assert f"{cases}:3: cases[0].label: unknown key 'label'" in result.stderr
    assert _cli("rules", "test", tmp_path / "nope.yaml").exit_code == 2


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    path = ROOT / ".cache" / "test-stacks" / tmp_path.name
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_preview_refuses_a_rules_file_failing_its_own_cases(
    stack_dir: Path, run_with: Callable[..., ProgramRun]
) -> None:
    rules, _ = _copy(stack_dir)
    with pytest.raises(RulesFileError) as caught:
        run_with("dev", rulesFile=str(rules.relative_to(ROOT)))
    text = str(caught.value)
    assert "1 of 2 rule test cases fail (run: imgpipe rules test" in text
    assert "case 'wrong on purpose': expected verdict success, got review" in text


def test_default_registry_is_untouched() -> None:
    assert default_registry().get("label_match") is not None
