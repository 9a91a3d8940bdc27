"""Fixtures of the reliability suites: fake credentials, an active ``mock_aws``, the harness.

The harness lives in ``reliability_kit.py`` (also used by ``bench/``); with pytest's importlib
import mode test folders are not on ``sys.path``, so it is registered here by file path.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _register_kit() -> None:
    if "reliability_kit" in sys.modules:
        return
    path = Path(__file__).with_name("reliability_kit.py")
    spec = importlib.util.spec_from_file_location("reliability_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability_kit"] = module
    spec.loader.exec_module(module)


_register_kit()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and an in-process moto for every AWS service."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield
