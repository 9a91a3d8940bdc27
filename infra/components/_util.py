"""Small helpers shared by the components."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi


def policy_json(build: Callable[..., dict[str, Any]], *args: pulumi.Input[Any]) -> pulumi.Output[str]:
    """Render a pure policy builder once its (output) arguments are known."""
    return pulumi.Output.all(*args).apply(lambda values: json.dumps(build(*values), indent=None))


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)
