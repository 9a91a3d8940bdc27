"""The JSON Schema of a rules file (version 1), built from the registered rule types.

Editors that speak the yaml-language-server protocol (VS Code's YAML extension, JetBrains IDEs,
Neovim, ...) use it to complete keys and flag mistakes while typing; the shipped rules files
point at ``rules/rules.schema.json`` (built-ins only) with a ``# yaml-language-server: $schema=``
comment, and ``imgpipe rules schema`` prints one that includes the installed plugins' types.
The loader stays the authority: the schema cannot express everything it checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rules.base import Verdict
from rules.registry import Registry, rule_summary

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "rules.schema.json"  # beside this module, built-in types only
CASES_SCHEMA_FILE = "cases.schema.json"


def rules_schema(registry: Registry) -> dict[str, Any]:
    """The schema of a rules file whose rules may use every type in ``registry``."""
    defs: dict[str, Any] = {}
    refs = []
    for name in registry.names:
        cls = registry.types[name]
        schema = cls.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        schema["required"] = sorted({*schema.get("required", ()), "type"})
        schema["title"] = name
        schema["description"] = rule_summary(cls)
        if registry.is_plugin(name):
            schema["description"] += f" ({registry.origin[name]})"
        key = f"rule_{name}"
        defs[key] = schema
        refs.append({"$ref": f"#/$defs/{key}"})
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "imgpipe rules file, version 1",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "rules"],
        "properties": {
            "version": {"const": 1, "description": "The rules file format; must be 1."},
            "name": {"type": "string"},
            "default_verdict": {
                "enum": [v.value for v in Verdict],
                "default": "failure",
                "description": "The verdict when no deciding rule matched.",
            },
            "min_confidence": {
                "type": "number", "minimum": 0, "maximum": 100, "default": 80,
                "description": "Threshold (0-100) for rules that set none.",
            },
            "rules": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "type", "outcome"],
                    "properties": {"type": {"enum": registry.names}},
                    "oneOf": refs,
                },
            },
        },
        "$defs": defs,
    }


def cases_schema() -> dict[str, Any]:
    """The schema of a rules test cases file (``NAME.cases.yml``)."""
    from rules.cases import CasesFile

    schema = CasesFile.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "imgpipe rules test cases"
    return schema


def write_schemas(folder: Path) -> None:
    """Regenerate the shipped schema files (built-in rule types only)."""
    from rules.registry import build_registry

    rules_text = json.dumps(rules_schema(build_registry(load_plugins=False)), indent=2, sort_keys=True)
    (folder / SCHEMA_FILE).write_text(rules_text + "\n", encoding="utf-8")
    cases_text = json.dumps(cases_schema(), indent=2, sort_keys=True)
    (folder / CASES_SCHEMA_FILE).write_text(cases_text + "\n", encoding="utf-8")
