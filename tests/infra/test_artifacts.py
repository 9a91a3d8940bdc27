"""Lambda artifacts: right content for python3.13 on arm64, inside Lambda's limits, deterministic."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.artifacts import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    RULES_IN_PACKAGE,
    Artifact,
    build_artifacts,
    build_code_zip,
    build_layer_zip,
    deterministic_zip,
)
from tests.support.paths import ROOT

REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"
RULES = ROOT / "rules" / "dev.yaml"
EM_AARCH64 = 183  # ELF e_machine


@pytest.fixture(scope="module")
def layer() -> Artifact:
    """The project's cached layer (built on first use; later runs reuse it)."""
    return build_layer_zip(REQUIREMENTS, ROOT / ".cache" / "imgpipe-artifacts")


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return build_code_zip(ROOT, RULES, tmp_path_factory.mktemp("code-cache"))


def _names(artifact: Artifact) -> list[str]:
    with zipfile.ZipFile(artifact.path) as zf:
        return zf.namelist()


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit ELF
    return int.from_bytes(data[18:20], "little")


def test_layer_has_native_wheels_for_aarch64_cpython_313(layer: Artifact) -> None:
    with zipfile.ZipFile(layer.path) as zf:
        natives = {n: zf.read(n) for n in zf.namelist() if n.endswith(".so")}
    core = [n for n in natives if n.startswith("python/pydantic_core/_pydantic_core.")]
    assert core == ["python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"]
    assert "python/yaml/_yaml.cpython-313-aarch64-linux-gnu.so" in natives
    # google-re2 publishes its cp313 aarch64 wheel as manylinux_2_28 only (Target.platforms)
    assert "python/re2/_re2.cpython-313-aarch64-linux-gnu.so" in natives
    for name, data in natives.items():
        assert _elf_machine(data) == EM_AARCH64, name


def test_layer_holds_every_pinned_requirement_and_no_boto(layer: Artifact) -> None:
    names = _names(layer)
    assert all(n.startswith("python/") for n in names)
    dist_infos = {n.split("/")[1].split("-")[0].lower() for n in names if ".dist-info/" in n}
    pinned = {
        line.split("==")[0].strip().lower().replace("-", "_")
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert dist_infos == pinned
    assert not any(n.startswith(("python/boto3/", "python/botocore/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_sizes_are_inside_lambda_limits(layer: Artifact, code: Artifact) -> None:
    assert code.size <= 1024 * 1024  # our own target: code zip <= 1 MB
    assert layer.size <= MAX_ZIPPED_BYTES
    assert layer.unzipped_size + code.unzipped_size <= MAX_UNZIPPED_BYTES


def test_code_zip_content(code: Artifact) -> None:
    names = _names(code)
    assert "analyzer/handler.py" in names and "rules/__init__.py" in names
    assert "rules/presets/wildlife.yaml" in names
    assert not any(n.startswith(("imgpipe/cli/", "imgpipe/local/")) for n in names)
    assert "rules/dev.yaml" not in names and "rules/prod.yaml" not in names
    assert not any("__pycache__" in n for n in names)
    with zipfile.ZipFile(code.path) as zf:
        assert zf.read(RULES_IN_PACKAGE) == RULES.read_bytes()
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


def test_code_zip_is_byte_identical_when_built_twice(tmp_path: Path, code: Artifact) -> None:
    again = build_code_zip(ROOT, RULES, tmp_path)
    assert again.cached is False  # really rebuilt, in another cache
    assert again.path.read_bytes() == code.path.read_bytes()


def test_layer_is_byte_identical_when_built_twice(tmp_path: Path, layer: Artifact) -> None:
    # WHEN the layer is downloaded and zipped again from scratch in an empty cache
    fresh = build_layer_zip(REQUIREMENTS, tmp_path)
    # THEN the zip is the same bytes (so previews show no diff)
    assert fresh.cached is False
    assert fresh.sha256 == layer.sha256


def test_zip_order_of_inputs_does_not_matter() -> None:
    files = [("b.py", b"b"), ("a/x.py", b"x"), ("a.py", b"a")]
    assert deterministic_zip(files) == deterministic_zip(list(reversed(files)))
    with zipfile.ZipFile(io.BytesIO(deterministic_zip(files))) as zf:
        assert zf.namelist() == ["a.py", "a/x.py", "b.py"]


def test_rules_only_change_rebuilds_only_the_code_zip(tmp_path: Path, layer: Artifact) -> None:
    # GIVEN artifacts built for the dev rules
    cache = ROOT / ".cache" / "imgpipe-artifacts"
    before = build_artifacts(ROOT, RULES, REQUIREMENTS, cache)
    # WHEN only the rules file changes
    edited = tmp_path / "dev.yaml"
    edited.write_text(RULES.read_text() + "\n# a comment changes the bytes\n")
    after = build_artifacts(ROOT, edited, REQUIREMENTS, cache)
    # THEN the layer is reused as is and only the code zip is new
    assert after.layer.cached and after.layer.sha256 == before.layer.sha256 == layer.sha256
    assert after.code.sha256 != before.code.sha256


def test_handler_imports_from_the_code_zip_without_cli_or_local_deps(
    tmp_path: Path, code: Artifact
) -> None:
    # GIVEN the code zip unpacked like /var/task
    task = tmp_path / "task"
    with zipfile.ZipFile(code.path) as zf:
        zf.extractall(task)
    script = f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {{'typer', 'rich', 'numpy', 'cv2', 'onnxruntime', 'PIL', 'pulumi'}}:
            raise ImportError('not in the Lambda: ' + name)
sys.meta_path.insert(0, Block())
import analyzer.handler
assert analyzer.handler.__file__.startswith({str(task)!r}), analyzer.handler.__file__
print(analyzer.handler.ANALYZER.ruleset.name)
"""
    env = {
        **os.environ,
        "RULES_PATH": str(task / RULES_IN_PACKAGE),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONSAFEPATH": "1",
        "PYTHONPATH": str(task),  # first on the path, like /var/task
    }
    # WHEN the handler module is imported (it loads settings and rules at init)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
        check=False,
    )
    # THEN it works with only the zip + the layer's packages
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "dev-wildlife"
