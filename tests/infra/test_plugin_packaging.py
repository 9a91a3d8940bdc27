"""The stack's artifacts hold exactly the plugins its rules use, for the function's platform;
a plugin that cannot be packaged stops the preview with a message naming it, the rule, and what
to do (issue 11 item 1)."""

from __future__ import annotations

import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.artifacts import LAMBDA, PluginDist, Target, build_artifacts, plugins_used
from infra.errors import ArtifactBuildError
from infra.mockrun import ProgramRun
from rules import default_registry, load_ruleset
from tests.support.paths import ROOT
from tests.support.plugins import MadePlugin, install_site, make_plugin

CACHE = ROOT / ".cache" / "imgpipe-artifacts"
REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"
QUALITY_RULES = """\
version: 1
rules:
  - name: blurry
    type: image_quality
    min_sharpness: 40
    outcome: failure
  - name: dog
    type: label_match
    labels: [Dog]
    outcome: success
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MadePlugin]]:
    """Install made-up plugins for this test only (the registry is rebuilt around it)."""

    def _install(type_name: str, **kwargs: object) -> MadePlugin:
        plugin = make_plugin(tmp_path / type_name, type_name, **kwargs)  # type: ignore[arg-type]
        install_site(monkeypatch, plugin.site)
        default_registry.cache_clear()
        return plugin

    default_registry.cache_clear()
    yield _install
    default_registry.cache_clear()


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder inside the project (the program wants the stack's rules file there)."""
    path = ROOT / ".cache" / "test-stacks" / tmp_path.name
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _rules(folder: Path, type_name: str) -> Path:
    path = folder / "rules.yaml"
    path.write_text(
        f"version: 1\nrules:\n  - name: fancy\n    type: {type_name}\n    outcome: review\n"
        "  - name: dog\n    type: label_match\n    labels: [Dog]\n    outcome: success\n"
    )
    return path


def test_preview_packages_the_plugin_the_rules_use_for_arm64(
    stack_dir: Path, run_with: Callable[..., ProgramRun]
) -> None:
    rules = stack_dir / "quality.yaml"
    rules.write_text(QUALITY_RULES)
    run = run_with("dev", rulesFile=str(rules))
    layer = run.one("aws:lambda/layerVersion:LayerVersion").inputs["code"]
    names = zipfile.ZipFile(layer.path).namelist()
    assert "python/imgpipe_image_quality/__init__.py" in names
    assert "python/imgpipe_image_quality-0.1.0.dist-info/entry_points.txt" in names
    assert "python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so" in names


def test_rules_without_plugins_get_a_layer_without_plugins(dev: ProgramRun) -> None:
    layer = dev.one("aws:lambda/layerVersion:LayerVersion").inputs["code"]
    names = zipfile.ZipFile(layer.path).namelist()
    assert not [n for n in names if "imgpipe_image_quality" in n]


def test_plugin_artifacts_are_reproducible(tmp_path: Path) -> None:
    # GIVEN the same inputs built twice, the second time from an empty cache
    rules = tmp_path / "quality.yaml"
    rules.write_text(QUALITY_RULES)
    registry = default_registry()
    plugins = plugins_used(load_ruleset(rules, registry), registry)
    first = build_artifacts(ROOT, rules, REQUIREMENTS, CACHE, plugins=plugins, target=Target.host())
    again = build_artifacts(ROOT, rules, REQUIREMENTS, tmp_path / "cold", plugins=plugins, target=Target.host())
    # THEN the bytes are identical
    assert (first.layer.sha256, first.code.sha256) == (again.layer.sha256, again.code.sha256)
    assert not again.layer.cached


def test_a_plugin_with_a_compiled_dependency_without_an_arm64_wheel_fails_the_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: Callable[..., MadePlugin],
    run_with: Callable[..., ProgramRun], stack_dir: Path,
) -> None:
    # GIVEN a plugin depending on a compiled package published only for x86_64
    links = tmp_path / "links"
    links.mkdir()
    wheel = links / "imgpipe_testonly_native_dep-1.0-cp313-cp313-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("imgpipe_testonly_native_dep/__init__.py", "")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    plugin = installed("native_thing", requires=("imgpipe-testonly-native-dep==1.0",))
    # WHEN the stack's rules use it
    with pytest.raises(ArtifactBuildError) as caught:
        run_with("dev", rulesFile=str(_rules(stack_dir, "native_thing")))
    # THEN preview fails naming the plugin, the rule, the dependency and what to do
    message = str(caught.value)
    assert f"plugin {plugin.distribution} 0.1.0, used by rule 'fancy' (type 'native_thing')" in message
    assert "cannot be packaged for the function (manylinux2014_aarch64 / CPython 3.13)" in message
    assert "imgpipe-testonly-native-dep==1.0" in message
    assert "What to do:" in message


def test_a_plugin_installed_without_source_and_not_published_fails_the_preview(
    stack_dir: Path, installed: Callable[..., MadePlugin], run_with: Callable[..., ProgramRun]
) -> None:
    plugin = installed("unpublished_thing", source=False)
    with pytest.raises(ArtifactBuildError) as caught:
        run_with("dev", rulesFile=str(_rules(stack_dir, "unpublished_thing")))
    message = str(caught.value)
    assert f"plugin {plugin.distribution} 0.1.0, used by rule 'fancy'" in message
    assert "pip install -e PATH" in message


def test_a_plugin_from_a_local_folder_is_built_from_source(
    tmp_path: Path, installed: Callable[..., MadePlugin]
) -> None:
    # GIVEN a pure plugin installed from a folder, with no published wheel
    plugin = installed("local_thing")
    rules = _rules(tmp_path, "local_thing")
    registry = default_registry()
    found = plugins_used(load_ruleset(rules, registry), registry)
    assert found == [PluginDist(plugin.distribution, "0.1.0", ("rule 'fancy' (type 'local_thing')",),
                                plugin.source.resolve(), ())]
    # WHEN the function's layer is built
    built = build_artifacts(ROOT, rules, REQUIREMENTS, CACHE, plugins=found, target=LAMBDA)
    # THEN its module and entry point are in it
    names = zipfile.ZipFile(built.layer.path).namelist()
    assert f"python/{plugin.module}/__init__.py" in names
    assert any(n.endswith(".dist-info/entry_points.txt") and "imgpipe_test_local_thing" in n for n in names)
    assert str(plugin.site) not in sys.path  # installed for this test only, sys.path untouched
