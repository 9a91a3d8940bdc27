"""The stack's outputs (``pulumi stack output --json > outputs.json``) as typed settings.

Output names are the ones ``__main__.py`` exports. Every command also takes each value as an
explicit option, which wins over the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from imgpipe.ops.errors import OutputsError


class StackOutputs(BaseModel):
    """The outputs the operations commands use; unknown outputs are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    bucket_name: str | None = None
    upload_prefix: str | None = None
    queue_url: str | None = None
    dlq_url: str | None = None
    topic_arn: str | None = None
    function_name: str | None = None
    table_name: str | None = None

    def require(self, name: str) -> str:
        """The output ``name`` or an OutputsError naming the option to pass instead."""
        value = getattr(self, name, None)
        if not value:
            option = "--" + name.replace("_name", "").replace("_", "-")
            raise OutputsError(f"no {name!r}: pass {option} or --outputs FILE with that output")
        return str(value)


def load_outputs(path: Path | None) -> StackOutputs:
    """Read a ``pulumi stack output --json`` file (None: no outputs)."""
    if path is None:
        return StackOutputs()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OutputsError(f"{path}: cannot read stack outputs: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise OutputsError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise OutputsError(f"{path}: stack outputs must be a JSON object")
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OutputsError(f"{path}: output {where}: {first['msg']}") from exc
