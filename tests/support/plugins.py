"""Make plugin distributions in a temporary folder, installed the way pip would install them.

``make_plugin`` writes a source folder (pyproject + module) and an "installed" copy in a site
folder: the module plus a ``.dist-info`` with METADATA, ``entry_points.txt`` and a PEP 610
``direct_url.json`` pointing at the source folder (as ``pip install -e`` / ``pip install PATH``
records it). :func:`install_site` makes a site folder's modules and distributions visible to
this process for one test (``importlib.metadata`` finds the entry point) without editing
``sys.path``; a subprocess gets the folder through ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from importlib.metadata import Distribution, DistributionFinder
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GOOD_BODY = '''
from typing import ClassVar, Literal

from rules import Analysis, EvalContext, Needs, Rule, RuleResult


class {cls}(Rule):
    """Matches every image (a test plugin)."""

    type: Literal["{type}"] = "{type}"

    def needs(self) -> Needs:
        return Needs(labels=frozenset({{"GENERAL_LABELS"}}))

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        return RuleResult(True, ({{"plugin": "{type}"}},))
'''


@dataclass(frozen=True)
class MadePlugin:
    site: Path
    source: Path
    distribution: str
    module: str
    type: str


def make_plugin(
    root: Path,
    type_name: str,
    body: str | None = None,
    *,
    requires: tuple[str, ...] = (),
    cls: str = "TestRule",
    source: bool = True,
) -> MadePlugin:
    """A plugin whose entry point ``type_name`` loads ``<module>:<cls>`` from ``body``."""
    module = f"imgpipe_test_{type_name}"
    dist = f"imgpipe-test-{type_name.replace('_', '-')}"
    code = textwrap.dedent(body if body is not None else GOOD_BODY.format(cls=cls, type=type_name))
    src = root / "src" / dist
    (src / module).mkdir(parents=True, exist_ok=True)
    (src / module / "__init__.py").write_text(code)
    deps = ", ".join(json.dumps(r) for r in requires)
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "0.1.0"
        dependencies = [{deps}]

        [project.entry-points."imgpipe.rules"]
        {type_name} = "{module}:{cls}"

        [tool.setuptools]
        packages = ["{module}"]
        """))
    site = root / "site"
    (site / module).mkdir(parents=True, exist_ok=True)
    (site / module / "__init__.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    meta = ["Metadata-Version: 2.1", f"Name: {dist}", "Version: 0.1.0",
            *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    (info / "entry_points.txt").write_text(f"[imgpipe.rules]\n{type_name} = {module}:{cls}\n")
    if source:
        (info / "direct_url.json").write_text(
            json.dumps({"url": src.resolve().as_uri(), "dir_info": {"editable": True}})
        )
    return MadePlugin(site, src, dist, module, type_name)


class SiteFinder(MetaPathFinder):
    """Top-level modules and distributions of one site folder, as if it were on ``sys.path``."""

    def __init__(self, site: Path) -> None:
        self.site = str(site)

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is not None:  # submodules are found through their package's __path__
            return None
        return PathFinder.find_spec(fullname, [self.site])

    def find_distributions(
        self, context: DistributionFinder.Context | None = None
    ) -> Iterable[Distribution]:
        name = context.name if context is not None else None
        return PathFinder.find_distributions(DistributionFinder.Context(name=name, path=[self.site]))

    def invalidate_caches(self) -> None:
        PathFinder.invalidate_caches()


def install_site(monkeypatch: pytest.MonkeyPatch, site: Path) -> None:
    """Make ``site`` (a pip ``--target`` folder) installed in this process for one test."""
    monkeypatch.setattr(sys, "meta_path", [SiteFinder(site), *sys.meta_path])
