"""Deterministic Lambda artifacts: a dependency layer and a small code zip.

* The **layer** holds the pinned runtime dependencies (``infra/lambda-requirements.txt``) as
  manylinux aarch64 wheels for the runtime's CPython, downloaded with pip and unpacked under
  ``python/``. It is cached by the hash of (requirements, platform, Python version), so only a
  change of requirements rebuilds it.
* The **code zip** is built by inclusion: exactly the files matched by :data:`CODE_INCLUDE`
  (the function's package ``analyzer/`` and the engine ``rules/`` with its presets, never the
  other stacks' rules files nor the ``imgpipe`` tool package) and the stack's rules file at
  :data:`RULES_IN_PACKAGE`.

Both zips are byte-identical for identical inputs: entries sorted, fixed timestamps and
permissions, no ``__pycache__``. This module does not import pulumi.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from infra.errors import ArtifactBuildError

RUNTIME = "python3.13"
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"
ARCHITECTURE = "arm64"
HANDLER = "analyzer.handler.handler"
#: Where the stack's rules file lands in the code zip (RULES_PATH points at /var/task/<this>).
RULES_IN_PACKAGE = "stack_rules/rules.yaml"
LAMBDA_TASK_ROOT = "/var/task"

#: Lambda's documented limits: 50 MB zipped for a direct upload, 250 MB unzipped for a function
#: together with all its layers.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_BUILDER_VERSION = "2"  # bump to invalidate every cached artifact
#: Everything the function's code zip holds besides the stack's rules file, as globs relative to
#: the project root. A list of what goes in, so a new top-level package never leaks into the zip.
CODE_INCLUDE = (
    "analyzer/**/*.py",
    "rules/**/*.py",
    "rules/py.typed",
    "rules/presets/*.yaml",
)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A built zip and what tests, the plan command and the bench want to know about it."""

    path: Path
    sha256: str  # hex digest of the zip bytes
    size: int  # zipped bytes
    unzipped_size: int
    entries: int
    cached: bool  # True when an identical zip was already in the cache

    @property
    def source_code_hash(self) -> str:
        """Base64 SHA-256, the form Lambda's ``source_code_hash`` expects."""
        import base64

        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def default_cache_dir(project_root: Path) -> Path:
    return project_root / ".cache" / "imgpipe-artifacts"


# ---- deterministic zip writing ---------------------------------------------------------------


def deterministic_zip(files: Iterable[tuple[str, bytes]]) -> bytes:
    """Zip ``(archive path, content)`` pairs reproducibly (sorted, fixed time and mode)."""
    seen: dict[str, bytes] = {}
    for name, data in files:
        seen[name] = data  # later wins (wheels never overlap in practice)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(seen):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr is read as a mode
            info.external_attr = (0o100644 << 16)
            zf.writestr(info, seen[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def _write_cached(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{id(data)}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: parallel builds never see half a zip


def describe(path: Path, cached: bool) -> Artifact:
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    return Artifact(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        unzipped_size=sum(i.file_size for i in infos),
        entries=len(infos),
        cached=cached,
    )


# ---- code zip --------------------------------------------------------------------------------


def code_files(project_root: Path, rules_file: Path) -> Iterator[tuple[str, bytes]]:
    """What the function's code zip contains, as (archive path, bytes): :data:`CODE_INCLUDE`."""
    chosen: set[Path] = set()
    for pattern in CODE_INCLUDE:
        chosen.update(p for p in project_root.glob(pattern) if p.is_file())
    for path in sorted(chosen):
        rel = path.relative_to(project_root).as_posix()
        if "__pycache__" not in rel:
            yield rel, path.read_bytes()
    yield RULES_IN_PACKAGE, rules_file.read_bytes()


def build_code_zip(project_root: Path, rules_file: Path, cache_dir: Path) -> Artifact:
    """Build (or reuse) the code zip; its name is the hash of its inputs."""
    files = list(code_files(project_root, rules_file))
    digest = hashlib.sha256(_BUILDER_VERSION.encode())
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    path = cache_dir / "code" / f"code-{digest.hexdigest()[:32]}.zip"
    if path.exists():
        return describe(path, cached=True)
    _write_cached(path, deterministic_zip(files))
    artifact = describe(path, cached=False)
    _check_limits(artifact, "code zip")
    return artifact


# ---- layer -----------------------------------------------------------------------------------


def layer_key(requirements: Path) -> str:
    digest = hashlib.sha256()
    for part in (_BUILDER_VERSION, PLATFORM, PYTHON_VERSION, requirements.read_text("utf-8")):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:32]


def download_wheels(requirements: Path, dest: Path) -> list[Path]:
    """pip-download the pinned wheels for the Lambda platform (no sdists, no resolution)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--no-deps",
        "--platform", PLATFORM, "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "-d", str(dest), "-r", str(requirements),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ArtifactBuildError(
            f"pip download for {PLATFORM} / CPython {PYTHON_VERSION} failed "
            f"(exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}"
        )
    return sorted(dest.glob("*.whl"))


def layer_files(wheels: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """Unpack wheels under ``python/`` (Lambda adds /opt/python to sys.path)."""
    for wheel in sorted(wheels, key=lambda p: p.name):
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.is_dir() or "__pycache__" in name or name.endswith(".pyc"):
                    continue
                yield str(PurePosixPath("python") / name), zf.read(info)


def build_layer_zip(requirements: Path, cache_dir: Path) -> Artifact:
    """Build (or reuse) the dependency layer for the requirements' exact content."""
    key = layer_key(requirements)
    path = cache_dir / "layer" / f"layer-{key}.zip"
    if path.exists():
        return describe(path, cached=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="wheels-", dir=cache_dir))
    try:
        wheels = download_wheels(requirements, workdir)
        if not wheels:
            raise ArtifactBuildError(f"no wheels downloaded for {requirements}")
        _write_cached(path, deterministic_zip(layer_files(wheels)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    artifact = describe(path, cached=False)
    _check_limits(artifact, "layer")
    return artifact


def _check_limits(artifact: Artifact, what: str) -> None:
    if artifact.size > MAX_ZIPPED_BYTES:
        artifact.path.unlink(missing_ok=True)
        raise ArtifactBuildError(
            f"{what} is {artifact.size} bytes zipped; Lambda accepts {MAX_ZIPPED_BYTES}"
        )
    if artifact.unzipped_size > MAX_UNZIPPED_BYTES:
        artifact.path.unlink(missing_ok=True)
        raise ArtifactBuildError(
            f"{what} is {artifact.unzipped_size} bytes unzipped; Lambda accepts "
            f"{MAX_UNZIPPED_BYTES} for code and layers together"
        )


@dataclass(frozen=True, slots=True)
class Artifacts:
    code: Artifact
    layer: Artifact


def build_artifacts(
    project_root: Path, rules_file: Path, requirements: Path, cache_dir: Path | None = None
) -> Artifacts:
    cache = cache_dir or default_cache_dir(project_root)
    layer = build_layer_zip(requirements, cache)
    code = build_code_zip(project_root, rules_file, cache)
    if code.unzipped_size + layer.unzipped_size > MAX_UNZIPPED_BYTES:
        raise ArtifactBuildError(
            f"code + layer unzipped = {code.unzipped_size + layer.unzipped_size} bytes; "
            f"Lambda accepts {MAX_UNZIPPED_BYTES}"
        )
    return Artifacts(code=code, layer=layer)
