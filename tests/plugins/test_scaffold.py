"""`imgpipe plugin new NAME` writes a plugin whose tests pass out of the box in a fresh venv, and
which the stack packaging picks up once installed (issue 11 item 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from infra.artifacts import LAMBDA, build_layer_zip, plugins_used
from rules import default_registry, load_ruleset
from tests.support.paths import ROOT
from tests.support.plugins import install_site

CACHE = ROOT / ".cache" / "imgpipe-artifacts"


def _new(tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"imgpipe-{name.replace('_', '-')}"
    result = CliRunner().invoke(app, ["plugin", "new", name, "--dir", str(target), "--json"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert sorted(Path(f).relative_to(target).as_posix() for f in files) == [
        "README.md", "pyproject.toml", f"src/imgpipe_{name}/__init__.py", "tests/test_rule.py"]
    return target


def test_refuses_bad_names_and_non_empty_folders(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["plugin", "new", "Sky Ratio"]).exit_code == 2
    target = _new(tmp_path, "sky_ratio")
    assert CliRunner().invoke(app, ["plugin", "new", "sky_ratio", "--dir", str(target)]).exit_code == 2


@pytest.mark.slow
def test_the_scaffold_tests_pass_in_a_fresh_venv(tmp_path: Path) -> None:
    # GIVEN a scaffolded plugin and a fresh venv with the engine and pytest (from pip's cache)
    plugin = _new(tmp_path, "sky_ratio")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}

    def pip(*args: str) -> None:
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                              capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]

    # the engine only (image-pipeline without its AWS and CLI dependencies), as a plugin author needs
    pip("--no-deps", "-e", str(ROOT))
    pip("pydantic>=2.7,<3", "PyYAML>=6.0", "google-re2>=1.1", "pytest>=8")
    # WHEN the plugin is installed in editable mode and its tests run
    pip("--no-deps", "-e", str(plugin))
    proc = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin)],
                          capture_output=True, text=True, env=env, cwd=plugin, check=False)
    # THEN they pass, the kit's pytest fixtures are there, and the entry point is registered
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
    probe = ("from rules import build_registry; r = build_registry(); "
             "print(r.names, r.plugins['sky_ratio'].distribution, r.broken)")
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    assert "'sky_ratio'" in out and "imgpipe-sky-ratio" in out and out.strip().endswith("{}")


def test_the_stack_packaging_picks_up_an_installed_scaffold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a scaffolded plugin installed from its folder (pip records the folder, PEP 610)
    plugin = _new(tmp_path, "pkg_probe")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(site), str(plugin)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    install_site(monkeypatch, site)
    default_registry.cache_clear()
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text("version: 1\nrules:\n  - {name: dogs, type: pkg_probe, labels: [Dog], outcome: review}\n")
        registry = default_registry()
        found = plugins_used(load_ruleset(rules, registry), registry)
        # WHEN the function's layer is built
        assert [p.distribution for p in found] == ["imgpipe-pkg-probe"] and found[0].source_dir == plugin.resolve()
        layer = build_layer_zip(ROOT / "infra" / "lambda-requirements.txt", CACHE, found, LAMBDA)
    finally:
        default_registry.cache_clear()
    # THEN the plugin is in it with its entry point, and image-pipeline is not packaged twice
    names = zipfile.ZipFile(layer.path).namelist()
    assert "python/imgpipe_pkg_probe/__init__.py" in names
    assert "python/imgpipe_pkg_probe-0.1.0.dist-info/entry_points.txt" in names
    assert not [n for n in names if n.startswith("python/image_pipeline")]
