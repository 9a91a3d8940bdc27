"""Fixtures of the plugin tests: the Pulumi program runner of tests/infra."""

from tests.infra.conftest import run_with

__all__ = ["run_with"]
