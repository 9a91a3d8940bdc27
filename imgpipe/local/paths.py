"""Path safety of ``imgpipe run``: a run touches only its own outputs.

Checked before any work (a clash is a usage error, exit 2):

- ``--out`` must be a folder (or creatable as one): not a file, not under a file;
- no input (a file named explicitly, or a folder) may lie inside ``--out``: the run writes
  ``OUT/analyzed/<verdict>/<name>`` and first removes that image's earlier outputs, so an output
  re-checked in place (``imgpipe run out/analyzed/success/cat.jpg``) would be deleted by its own
  run. Copy it out of ``--out`` first, or pick another ``--out``;
- ``--report`` and ``--screenshot`` must not be a folder, an input image, the rules file, each
  other, or under the folders the run manages in ``--out``; an existing ``--report`` file is only
  replaced if it is an imgpipe report;
- every output name must fit the file system (``<name>.json`` records: a 252-byte image name
  cannot have one), so a run never leaves a copy without its record.

Folders are walked with :func:`walk_folder`, which reports what it could not read instead of
skipping it silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.layout import DEFAULT_LAYOUT
from imgpipe.local.errors import LocalError

#: Sub-folders of ``--out`` the run writes and cleans: the layout's copies and records (the local
#: runner uses the default layout) and the analyses (``imgpipe.local.runner.ANALYSES_PREFIX``).
MANAGED = (DEFAULT_LAYOUT.output_prefix.strip("/"), DEFAULT_LAYOUT.results_prefix.strip("/"), "analyses")
#: Suffix added to an image's name for its result record and its analysis.
RECORD_SUFFIX = ".json"
#: What the first bytes of a report written by imgpipe contain.
REPORT_MARK = "<title>imgpipe report"


class PathClashError(LocalError):
    """The run's paths would overwrite or delete something that is not its own output."""


@dataclass
class WalkReport:
    """What walking the input folders left out, so nothing is skipped without a word."""

    ignored: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "ignored": len(self.ignored),
            "unreadable": [{"path": str(p), "error": why} for p, why in self.unreadable],
        }


def walk_folder(root: Path, report: WalkReport | None = None) -> list[Path]:
    """Every regular file under ``root`` (sorted); folders that cannot be read go to ``report``."""
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        if report is not None:
            report.unreadable.append((Path(exc.filename or root), exc.strerror or str(exc)))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs.sort()
        base = Path(folder)
        for name in files:
            path = base / name
            if path.is_file():
                found.append(path)
    return sorted(found)


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_out(out: Path) -> None:
    """``--out`` is a folder, or can be created as one."""
    if out.exists() and not out.is_dir():
        raise PathClashError(f"--out {out}: is a file; give a folder for the run's outputs")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PathClashError(f"--out {out}: {parent} is a file, not a folder")
            break


def check_inputs(inputs: Sequence[Path], out: Path) -> None:
    """No input lies inside ``--out`` (its outputs would be deleted by the run itself)."""
    out_r = _resolved(out)
    for raw in inputs:
        if not raw.exists():
            continue  # reported by collect_inputs
        path = _resolved(raw)
        if _inside(path, out_r):
            what = "folder" if path.is_dir() else "file"
            raise PathClashError(
                f"{raw}: this {what} is inside --out {out}, the run's own output folder; a run "
                "replaces its outputs, so it would delete it. Copy it elsewhere first, or give "
                "another --out"
            )


def check_report(
    option: str,
    target: Path,
    *,
    out: Path,
    images: Iterable[Path],
    rules: Path,
    others: Sequence[tuple[str, Path]] = (),
    mark: str | None = None,
) -> None:
    """``--report``/``--screenshot`` will not replace an input, the rules, a folder or a managed
    output; an existing file is only replaced when its first bytes contain ``mark``."""
    resolved = _resolved(target)
    if target.exists() and target.is_dir():
        raise PathClashError(f"{option} {target}: is a folder; give a file name")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PathClashError(f"{option} {target}: {parent} is a file, not a folder")
            break
    if resolved == _resolved(rules):
        raise PathClashError(f"{option} {target}: is the rules file")
    for name, other in others:
        if other is not None and resolved == _resolved(other):
            raise PathClashError(f"{option} {target}: is also the {name} path")
    inputs = {_resolved(p) for p in images}
    if resolved in inputs:
        raise PathClashError(f"{option} {target}: is one of the input images")
    out_r = _resolved(out)
    for sub in MANAGED:
        if _inside(resolved, out_r / sub):
            raise PathClashError(
                f"{option} {target}: is inside {out / sub}, which the run manages; "
                f"put it beside (e.g. {out / target.name})"
            )
    if mark is not None and target.is_file():
        try:
            with open(target, "rb") as fh:
                head = fh.read(4096).decode("utf-8", "replace")
        except OSError as exc:
            raise PathClashError(f"{option} {target}: cannot read it: {exc.strerror or exc}") from None
        if mark not in head:
            raise PathClashError(
                f"{option} {target}: exists and is not an imgpipe report; not replacing it "
                "(remove it or choose another name)"
            )


def name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system under ``folder`` takes."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return int(os.pathconf(candidate, "PC_NAME_MAX"))
            except (OSError, ValueError, AttributeError):
                break
    return 255


def check_names(rels: Iterable[str], out: Path) -> None:
    """Every output of every image has a name the file system accepts (records add '.json')."""
    limit = name_max(out)
    too_long = []
    for rel in rels:
        name = rel.rsplit("/", 1)[-1]
        if len(os.fsencode(name + RECORD_SUFFIX)) > limit:
            too_long.append(rel)
    if too_long:
        shown = ", ".join(repr(r) for r in too_long[:3]) + (" ..." if len(too_long) > 3 else "")
        raise PathClashError(
            f"{len(too_long)} input name(s) too long for their result records "
            f"(name + '{RECORD_SUFFIX}' over {limit} bytes): {shown}; rename them"
        )
