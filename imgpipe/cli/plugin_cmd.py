"""`imgpipe plugin new NAME` — scaffold a rule-type plugin whose tests pass out of the box."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Annotated

import typer

from imgpipe.cli._common import fail, print_json

app = typer.Typer(help="Write rule-type plugins.", no_args_is_help=True)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def files_for(type_name: str) -> dict[str, str]:
    """The scaffold's files (path -> text) for a rule type called ``type_name``."""
    module = f"imgpipe_{type_name}"
    dist = f"imgpipe-{type_name.replace('_', '-')}"
    cls = "".join(part.capitalize() for part in type_name.split("_")) + "Rule"
    return {
        "pyproject.toml": f'''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "imgpipe rule type `{type_name}`."
requires-python = ">=3.11"
# Runtime dependencies go here; they are packaged into the function's layer for arm64 /
# CPython 3.13, so compiled ones need published aarch64 wheels. image-pipeline (the engine,
# with pydantic, PyYAML and google-re2) is in the function already and is never packaged twice.
dependencies = ["image-pipeline"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point's name is the rule type used in YAML; it loads the rule class.
[project.entry-points."imgpipe.rules"]
{type_name} = "{module}:{cls}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
addopts = "--import-mode=importlib"
pythonpath = ["src"]
''',
        f"src/{module}/__init__.py": f'''\
"""``{type_name}`` — an imgpipe rule type (edit me)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from rules import Analysis, Confidence, EvalContext, Evidence, Needs, Rule, RuleResult

__all__ = ["{cls}"]


class {cls}(Rule):
    """Matches when one of ``labels`` is detected with at least ``min_confidence``."""

    summary: ClassVar[str] = "labels (DetectLabels): any of the given names"

    type: Literal["{type_name}"] = "{type_name}"
    labels: list[str] = Field(min_length=1)
    min_confidence: Confidence | None = None

    def needs(self) -> Needs:
        return Needs(labels=frozenset({{"GENERAL_LABELS"}}))

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        wanted = {{name.casefold() for name in self.labels}}
        threshold = self.threshold(ctx)
        evidence: list[Evidence] = [
            {{"label": label.name, "confidence": round(label.confidence, 2)}}
            for label in analysis.labels or ()
            if label.name.casefold() in wanted and label.confidence >= threshold
        ]
        reasons = (f"{{len(evidence)}} of {{sorted(wanted)}} at >= {{threshold:g}}",) if ctx.explain else ()
        return RuleResult(bool(evidence), tuple(evidence), reasons)
''',
        "tests/test_rule.py": f'''\
"""Tests of the `{type_name}` rule type, with imgpipe's test kit (rules.testing)."""

from __future__ import annotations

from {module} import {cls}

from rules.testing import analysis, assert_decision, check_rule_type, load_rules

RULES = """
version: 1
default_verdict: success
rules:
  - name: mine
    type: {type_name}
    labels: [Dog]
    min_confidence: 90
    outcome: review
"""


def test_the_rule_type_keeps_the_plugin_contract() -> None:
    check_rule_type({cls}, examples=[{{"labels": ["Dog"]}}, {{"labels": ["Cat"], "min_confidence": 50}}])


def test_a_dog_goes_to_review() -> None:
    rules = load_rules(RULES, plugins=[{cls}])
    assert_decision(rules, analysis(labels=[("Dog", 97)]), verdict="review", categories=["mine"])


def test_a_doubtful_dog_does_not_match() -> None:
    rules = load_rules(RULES, plugins=[{cls}])
    assert_decision(rules, analysis(labels=[("Dog", 85)]), verdict="success", categories=[])
''',
        "README.md": f'''\
# {dist}

An [imgpipe](https://github.com/) rule type: `{type_name}`.

```yaml
rules:
  - name: mine
    type: {type_name}
    labels: [Dog]
    min_confidence: 90
    outcome: review
```

## Develop

```sh
pip install -e .            # in imgpipe's environment (.venv): registers the entry point
pip install pytest && pytest
imgpipe rules types         # `{type_name}` is listed
```

Use it in a stack's rules file (e.g. `rules/dev.yaml`), then `imgpipe plan --stack dev`: the
plugin is packaged into the function's layer (built from this folder) with its dependencies.
See imgpipe's docs/plugins-kit.md for the whole path.
''',
    }


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The rule type, e.g. `sky_ratio` (lowercase, digits, _).")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write it (default: ./imgpipe-<name>).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="List the written files as JSON.")] = False,
) -> None:
    """Write a plugin package: pyproject with the entry point, the rule class, tests, a README."""
    type_name = name.replace("-", "_")
    if not _NAME.match(type_name):
        fail(f"{name!r}: a rule type name is lowercase letters, digits and '_', starting with a letter")
    target = directory or Path(f"imgpipe-{type_name.replace('_', '-')}")
    if target.exists() and any(target.iterdir()):
        fail(f"{target}: exists and is not empty")
    written = []
    for rel, text in files_for(type_name).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        written.append(str(path))
    if as_json:
        print_json({"type": type_name, "directory": str(target), "files": written})
        return
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: pip install -e {target} && pytest {target}")
