"""Deterministic Lambda artifacts: a dependency layer and a small code zip.

* The **layer** holds the pinned runtime dependencies (``infra/lambda-requirements.txt``) as
  manylinux aarch64 wheels for the runtime's CPython, downloaded with pip and unpacked under
  ``python/``, plus exactly the **plugin distributions the stack's rules file uses** (with their
  ``.dist-info``, so their ``imgpipe.rules`` entry points are found in the function) and their
  runtime dependencies. A plugin installed from a local folder or in editable mode is built into
  a wheel from its source; a published one is downloaded for the function's platform; its
  dependencies are pinned to the versions installed here. It is cached by the hash of all of
  those inputs (requirements, target, plugin sources and pins), so only a change rebuilds it.
* The **target** (:data:`LAMBDA` by default) is the platform wheels are chosen for;
  :meth:`Target.host` builds the same artifacts for this machine, which is how the tests run the
  handler from the unpacked artifacts.
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
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from infra.errors import ArtifactBuildError

if TYPE_CHECKING:
    from rules import Registry, Ruleset

RUNTIME = "python3.13"
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"
#: The runtime's glibc is newer than 2.28, so wheels tagged manylinux_2_28 load there too.
PLATFORMS = (PLATFORM, "manylinux_2_28_aarch64")
ARCHITECTURE = "arm64"
#: The distribution of this project: the code zip provides it, never the layer.
PROJECT_DISTRIBUTION = "image-pipeline"
HANDLER = "analyzer.handler.handler"
#: Where the stack's rules file lands in the code zip (RULES_PATH points at /var/task/<this>).
RULES_IN_PACKAGE = "stack_rules/rules.yaml"
LAMBDA_TASK_ROOT = "/var/task"

#: Lambda's documented limits: 50 MB zipped for a direct upload, 250 MB unzipped for a function
#: together with all its layers.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_BUILDER_VERSION = "3"  # bump to invalidate every cached artifact
#: Everything the function's code zip holds besides the stack's rules file, as globs relative to
#: the project root. A list of what goes in, so a new top-level package never leaks into the zip.
CODE_INCLUDE = (
    "analyzer/**/*.py",
    "rules/**/*.py",
    "rules/py.typed",
    "rules/presets/*.yaml",
)
#: Matched by CODE_INCLUDE but not for the function: the pytest plugin of the test kit imports
#: pytest, which the function does not have.
CODE_EXCLUDE = ("rules/pytest_plugin.py",)


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
        if "__pycache__" not in rel and rel not in CODE_EXCLUDE:
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


# ---- target platform ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The platform and Python the layer's wheels are chosen for."""

    name: str
    platforms: tuple[str, ...]  # pip --platform tags
    python_version: str  # "3.13"
    machine: str  # platform_machine of environment markers

    @classmethod
    def host(cls) -> Target:
        """This machine: the same artifacts, loadable here (tests run the handler from them)."""
        machine = platform.machine()
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return cls(
            name=f"host-{machine}-cp{version}",
            platforms=(f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"),
            python_version=version,
            machine=machine,
        )

    def pip_args(self) -> list[str]:
        args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python_version]
        for tag in self.platforms:
            args += ["--platform", tag]
        return args

    def marker_environment(self) -> dict[str, str]:
        return {
            "python_version": self.python_version,
            "python_full_version": f"{self.python_version}.0",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": self.machine,
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "extra": "",
        }

    def describe(self) -> str:
        return f"{self.platforms[0]} / CPython {self.python_version}"


LAMBDA = Target(name="lambda", platforms=PLATFORMS, python_version=PYTHON_VERSION, machine="aarch64")


# ---- plugins -------------------------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PluginDist:
    """An installed plugin distribution that the stack's rules file uses."""

    distribution: str
    version: str
    rules: tuple[str, ...]  # "rule 'blurry' (type 'image_quality')", for messages
    source_dir: Path | None  # installed from a local folder / editable: build from here
    requires: tuple[str, ...] = ()  # its Requires-Dist

    def describe(self) -> str:
        return f"plugin {self.distribution} {self.version}, used by {', '.join(self.rules)}"


def plugins_used(ruleset: Ruleset, registry: Registry, rules_file: str = "the rules file") -> list[PluginDist]:
    """The plugin distributions providing the rule types ``ruleset`` uses, in name order."""
    users: dict[str, list[str]] = {}
    for rule in ruleset.rules:
        info = registry.plugins.get(rule.type)
        if info is None or not registry.is_plugin(rule.type):
            continue
        if info.distribution is None:
            raise ArtifactBuildError(
                f"{rules_file}: rule '{rule.name}' uses type '{rule.type}' from {info.origin}, which is "
                "not an installed distribution, so it cannot be packaged for the function. "
                "What to do: install the plugin as a package (pip install -e PATH)."
            )
        users.setdefault(info.distribution, []).append(f"rule '{rule.name}' (type '{rule.type}')")
    found = []
    for name in sorted(users):
        dist = metadata.distribution(name)
        found.append(
            PluginDist(
                distribution=dist.metadata["Name"],
                version=dist.version,
                rules=tuple(users[name]),
                source_dir=_local_source(dist),
                requires=tuple(dist.requires or ()),
            )
        )
    return found


def _local_source(dist: metadata.Distribution) -> Path | None:
    """The folder a distribution was installed from (PEP 610 ``direct_url.json``), if local."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    data = json.loads(text)
    url = urlparse(str(data.get("url", "")))
    if url.scheme != "file" or "dir_info" not in data:
        return None
    path = Path(unquote(url.path))
    return path if path.is_dir() else None


_SKIP_SOURCE = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache",
                ".mypy_cache", ".ruff_cache", ".tox", ".nox"}


def source_digest(folder: Path) -> str:
    """Hash of a plugin's source tree (what a wheel built from it depends on)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p in _SKIP_SOURCE or p.endswith(".egg-info") for p in rel.parts):
            continue
        if path.suffix in {".pyc", ".pyo"}:
            continue
        digest.update(rel.as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def dependency_pins(plugin: PluginDist, target: Target, provided: set[str]) -> list[str]:
    """The plugin's runtime dependencies for ``target``, transitively, pinned to the versions
    installed here (reproducible); names in ``provided`` (the layer's requirements, the project)
    are left out. A dependency not installed here stays as its plugin declares it."""
    from packaging.requirements import Requirement

    env = target.marker_environment()
    pins: dict[str, str] = {}
    queue = list(plugin.requires)
    while queue:
        req = Requirement(queue.pop(0))
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonical(req.name)
        if name in provided or name in pins:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pins[name] = str(req).split(";")[0].strip()
            continue
        pins[name] = f"{dist.metadata['Name']}=={dist.version}"
        queue.extend(dist.requires or ())
    return [pins[k] for k in sorted(pins)]


def _pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _pip_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("WARNING: Location")]
    return "\n".join(lines)[-1500:]


def plugin_wheel(plugin: PluginDist, target: Target, cache_dir: Path) -> Path:
    """The plugin's own wheel: built from its source folder, else downloaded for ``target``."""
    if plugin.source_dir is not None:
        key = source_digest(plugin.source_dir)
        out = cache_dir / "plugin-wheels" / f"{canonical(plugin.distribution)}-{key}"
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        if not wheels:
            tmp = Path(tempfile.mkdtemp(prefix="build-", dir=_mkdir(cache_dir / "plugin-wheels")))
            try:
                proc = _pip(["wheel", "--no-deps", "-w", str(tmp), str(plugin.source_dir)])
                built = sorted(tmp.glob("*.whl"))
                if proc.returncode != 0 or len(built) != 1:
                    raise ArtifactBuildError(_cannot_package(
                        plugin, target, f"building its wheel from {plugin.source_dir} failed:\n"
                        f"{_pip_error(proc)}",
                        "fix the plugin's build (try: pip wheel --no-deps PATH)"))
                _mkdir(out)
                shutil.move(str(built[0]), out / built[0].name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            wheels = sorted(out.glob("*.whl"))
        wheel = wheels[0]
        tag = wheel.name.removesuffix(".whl").split("-")[-1]
        if tag != "any" and target != Target.host():
            raise ArtifactBuildError(_cannot_package(
                plugin, target, f"it contains compiled code: its wheel built here is for this "
                f"machine ({tag}), not for the function",
                f"publish wheels for {target.describe()} and install the plugin from them"))
        return wheel
    dest = _mkdir(cache_dir / "plugin-wheels" / f"{target.name}-{canonical(plugin.distribution)}-{plugin.version}")
    wheels = sorted(dest.glob("*.whl"))
    if wheels:
        return wheels[0]
    proc = _pip(["download", "--no-deps", *target.pip_args(), "-d", str(dest),
                 f"{plugin.distribution}=={plugin.version}"])
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ArtifactBuildError(_cannot_package(
            plugin, target, f"no wheel of {plugin.distribution}=={plugin.version} for "
            f"{target.describe()} could be downloaded:\n{_pip_error(proc)}",
            "install the plugin from its source folder (pip install -e PATH), or publish a wheel"))
    return wheels[0]


def _cannot_package(plugin: PluginDist, target: Target, why: str, todo: str) -> str:
    return (f"{plugin.describe()}: cannot be packaged for the function ({target.describe()}): "
            f"{why}\nWhat to do: {todo}; or remove those rules from the stack's rules file.")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- layer -----------------------------------------------------------------------------------


def requirement_names(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text("utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(canonical(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]))
    return names


def layer_key(
    requirements: Path, target: Target = LAMBDA, extra: Sequence[str] = ()
) -> str:
    digest = hashlib.sha256()
    parts = (_BUILDER_VERSION, target.name, *target.platforms, target.python_version,
             requirements.read_text("utf-8"), *extra)
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:32]


def download_wheels(
    requirements: Path | Sequence[str], dest: Path, target: Target = LAMBDA
) -> list[Path]:
    """pip-download pinned wheels for the target platform (no sdists, no resolution)."""
    dest.mkdir(parents=True, exist_ok=True)
    specs = ["-r", str(requirements)] if isinstance(requirements, Path) else list(requirements)
    proc = _pip(["download", "--no-deps", *target.pip_args(), "-d", str(dest), *specs])
    if proc.returncode != 0:
        raise ArtifactBuildError(
            f"pip download for {target.describe()} failed "
            f"(exit {proc.returncode}):\n{_pip_error(proc)}"
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
                parts = name.split("/")
                if parts[0].endswith(".data"):  # wheel .data: only purelib/platlib are importable
                    if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                        continue
                    name = "/".join(parts[2:])
                yield str(PurePosixPath("python") / name), zf.read(info)


@dataclass(frozen=True)
class _PluginPlan:
    plugin: PluginDist
    source_key: str  # source digest, or "index" for a published wheel
    pins: tuple[str, ...] = field(default=())


def build_layer_zip(
    requirements: Path,
    cache_dir: Path,
    plugins: Sequence[PluginDist] = (),
    target: Target = LAMBDA,
) -> Artifact:
    """Build (or reuse) the layer: the requirements, plus the plugins and their dependencies."""
    provided = requirement_names(requirements) | {canonical(PROJECT_DISTRIBUTION)}
    plans = [
        _PluginPlan(p, source_digest(p.source_dir) if p.source_dir else "index",
                    tuple(dependency_pins(p, target, provided)))
        for p in plugins
    ]
    extra = [f"{p.plugin.distribution}=={p.plugin.version}@{p.source_key}:{','.join(p.pins)}" for p in plans]
    key = layer_key(requirements, target, extra)
    path = cache_dir / "layer" / f"layer-{key}.zip"
    if path.exists():
        return describe(path, cached=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="wheels-", dir=cache_dir))
    try:
        wheels: list[Path] = []
        for plan in plans:  # first: a plugin that cannot be packaged fails fast
            wheels.append(plugin_wheel(plan.plugin, target, cache_dir))
            if plan.pins:
                try:
                    wheels += download_wheels(list(plan.pins), workdir / canonical(plan.plugin.distribution), target)
                except ArtifactBuildError as exc:
                    raise ArtifactBuildError(_cannot_package(
                        plan.plugin, target,
                        f"its dependencies ({', '.join(plan.pins)}) have no wheel for it: {exc}",
                        "use versions of those dependencies that publish wheels for "
                        f"{target.describe()}, or make the dependency optional in the plugin")) from None
        base = download_wheels(requirements, workdir / "base", target)
        if not base:
            raise ArtifactBuildError(f"no wheels downloaded for {requirements}")
        wheels += base
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
    project_root: Path,
    rules_file: Path,
    requirements: Path,
    cache_dir: Path | None = None,
    plugins: Sequence[PluginDist] = (),
    target: Target = LAMBDA,
) -> Artifacts:
    """The stack's code zip and layer (with the ``plugins`` its rules use) for ``target``."""
    cache = cache_dir or default_cache_dir(project_root)
    layer = build_layer_zip(requirements, cache, plugins, target)
    code = build_code_zip(project_root, rules_file, cache)
    if code.unzipped_size + layer.unzipped_size > MAX_UNZIPPED_BYTES:
        raise ArtifactBuildError(
            f"code + layer unzipped = {code.unzipped_size + layer.unzipped_size} bytes; "
            f"Lambda accepts {MAX_UNZIPPED_BYTES}"
        )
    return Artifacts(code=code, layer=layer)
