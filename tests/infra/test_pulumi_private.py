"""The private Pulumi APIs fenced in ``infra/_pulumi_private.py`` still exist in this version."""

from __future__ import annotations

import pytest

from infra import _pulumi_private


def test_every_private_pulumi_api_we_use_exists() -> None:
    assert _pulumi_private.missing() == [], (
        "this Pulumi version changed private APIs that infra/_pulumi_private.py uses: "
        f"{_pulumi_private.missing()}"
    )


def test_a_missing_private_api_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import stack

    # GIVEN a Pulumi version without run_pulumi_func
    monkeypatch.delattr(stack, "run_pulumi_func")
    # THEN the check names it
    assert _pulumi_private.missing() == ["pulumi.runtime.stack.run_pulumi_func"]
    with pytest.raises(RuntimeError, match=r"pulumi\.runtime\.stack\.run_pulumi_func"):
        _pulumi_private.check()


def test_nothing_else_uses_private_pulumi_apis() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    private = ("runtime.config.CONFIG", "runtime.settings", "run_pulumi_func", "_sync_await")
    files = [root / "__main__.py"] + [
        path for folder in ("infra", "imgpipe", "policy", "bootstrap")
        for path in (root / folder).rglob("*.py")
    ]
    users = sorted(
        str(path.relative_to(root)) for path in files
        if path.name != "_pulumi_private.py"
        and any(name in path.read_text(encoding="utf-8") for name in private)
    )
    assert users == [], f"private Pulumi APIs outside infra/_pulumi_private.py: {users}"
