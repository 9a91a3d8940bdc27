"""Every private Pulumi API imgpipe uses, fenced in one place.

Pulumi's documented unit-test method (``pulumi.runtime.set_mocks`` + ``@pulumi.runtime.test``)
runs a program inside a test function; ``imgpipe plan`` and the infra tests need the same thing
outside pytest, several times in one process, with the stack outputs of each run. The SDK has no
public call for that, so this module uses three private names, and nothing else in the project
does:

- ``pulumi.runtime.settings.ROOT`` — the root stack resource of the process; reset so each run
  gets a fresh root (and only its own outputs);
- ``pulumi.runtime.stack.run_pulumi_func`` — runs a function the way the engine runs a program
  (waits for every outstanding resource registration);
- ``pulumi.runtime.sync_await._sync_await`` — drives that coroutine to completion from sync code.

:func:`check` names whichever of them a Pulumi upgrade removed; ``tests/infra/test_pulumi_private.py``
calls it, so an upgrade fails one clear test instead of every infra test at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: (module, attribute) pairs this module relies on.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "get_root_resource"),
    ("pulumi.runtime.stack", "run_pulumi_func"),
    ("pulumi.runtime.sync_await", "_sync_await"),
)


def missing() -> list[str]:
    """The private names that this Pulumi version lacks, as ``module.attribute``."""
    absent: list[str] = []
    for module_name, attr in PRIVATE_NAMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            absent.append(f"{module_name} (module)")
            continue
        if not hasattr(module, attr):
            absent.append(f"{module_name}.{attr}")
    return absent


def check() -> None:
    """Raise RuntimeError naming every private Pulumi API that is gone."""
    absent = missing()
    if absent:
        import pulumi

        raise RuntimeError(
            f"pulumi {getattr(pulumi, '__version__', '?')} lacks private APIs that "
            f"infra/_pulumi_private.py uses: {', '.join(absent)}; adapt that module"
        )


def evaluate_program(set_up: Callable[[], None], body: Callable[[], None]) -> dict[str, Any]:
    """Run ``body`` as a program under a fresh root stack; return the stack's resolved outputs.

    ``set_up`` runs first (set mocks and config: both are process-global).
    """
    check()
    from pulumi import Output
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    runtime_settings.ROOT.set(None)  # a fresh root stack per run: outputs of this run only
    set_up()
    result: dict[str, Any] = {}

    async def evaluate() -> None:
        body()
        root = runtime_settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}) or {})
        result.update(await Output.from_input(outputs).future() or {})

    _sync_await(run_pulumi_func(evaluate))
    return result
