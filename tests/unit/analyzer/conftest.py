"""Fixtures of the analyzer's pure tests.

The helpers live in ``analyzer_testkit.py`` (shared with ``tests/aws``); with pytest's importlib
import mode test folders are not on ``sys.path``, so the kit is registered here by file path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _register_kit() -> None:
    if "analyzer_testkit" in sys.modules:
        return
    path = Path(__file__).with_name("analyzer_testkit.py")
    spec = importlib.util.spec_from_file_location("analyzer_testkit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["analyzer_testkit"] = module
    spec.loader.exec_module(module)


_register_kit()
