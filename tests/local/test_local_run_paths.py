"""Issue 12, `imgpipe run` paths: a run never deletes or overwrites a file that is not its own
output; clashes are refused before any work (exit 2), and nothing is skipped without a word.

Severe case 1: re-checking one of the run's own outputs (`imgpipe run out/analyzed/success/cat.jpg
--out out`) used to delete it and every output of it, exiting 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imgpipe.local.paths import WalkReport, walk_folder
from imgpipe.local.runner import collect_inputs
from imgpipe.local.storage import FolderStorage, ForeignFileError
from tests.support.paths import DEMO_RULES, SAMPLES

IMGPIPE = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
CAT = SAMPLES / "animals" / "cat.jpg"


def imgpipe(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert IMGPIPE
    return subprocess.run([IMGPIPE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False, env=env)


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def finished_run(tmp_path: Path, recordings: Path) -> Path:
    """OUT of a real run over the animal photos (replayed responses)."""
    out = tmp_path / "out"
    result = imgpipe("run", SAMPLES / "animals", "--rules", DEMO_RULES, "--backend", "replay",
                     "--record", recordings, "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    return out


def test_rechecking_an_output_in_place_is_refused_and_deletes_nothing(finished_run: Path, recordings: Path) -> None:
    # GIVEN a finished run and one of its copies
    out = finished_run
    [copy] = list((out / "analyzed").rglob("cat.jpg"))
    before = tree(out)

    # WHEN that copy is named as an input of a run into the same --out (file, then its folder)
    for target in (copy, copy.parent, out):
        result = imgpipe("run", target, "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings, "--out", out)

        # THEN the run is refused before any work, and every output is still there
        assert result.returncode == 2, result.stderr
        assert "inside --out" in result.stderr and "would delete it" in result.stderr
        assert tree(out) == before


def test_rechecking_with_the_default_out_is_refused_too(tmp_path: Path, recordings: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(SAMPLES / "animals", work / "photos")
    first = imgpipe("run", "photos", "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings, cwd=work)
    assert first.returncode == 0, first.stderr
    before = tree(work / "out")
    [copy] = list((work / "out" / "analyzed").rglob("cat.jpg"))
    again = imgpipe("run", copy.relative_to(work), "--rules", DEMO_RULES, "--backend", "replay",
                    "--record", recordings, cwd=work)
    assert again.returncode == 2
    assert tree(work / "out") == before


def test_storage_never_replaces_or_deletes_an_input(tmp_path: Path) -> None:
    # defence in depth below the CLI check: an input that is also an output path
    out = tmp_path / "out"
    victim = out / "analyzed" / "success" / "cat.jpg"
    victim.parent.mkdir(parents=True)
    shutil.copy(CAT, victim)
    storage = FolderStorage(out, {"images/cat.jpg": victim})
    with pytest.raises(ForeignFileError):
        storage.delete("analyzed/success/cat.jpg")
    info = storage.head("images/cat.jpg")
    assert info is not None
    with pytest.raises(ForeignFileError):
        storage.copy(info, "analyzed/success/cat.jpg", {})
    assert victim.read_bytes() == CAT.read_bytes()


@pytest.mark.parametrize("where", ["input", "rules", "folder", "managed", "foreign"])
def test_report_clashes_are_refused_before_any_work(tmp_path: Path, where: str) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(SAMPLES / "animals", photos)
    rules = tmp_path / "rules.yaml"
    shutil.copy(DEMO_RULES, rules)
    foreign = tmp_path / "notes.html"
    foreign.write_text("<p>my notes</p>")
    report = {
        "input": photos / "cat.jpg", "rules": rules, "folder": photos,
        "managed": tmp_path / "out" / "results" / "r.html", "foreign": foreign,
    }[where]
    before = tree(tmp_path)
    result = imgpipe("run", photos, "--rules", rules, "--backend", "replay", "--record", tmp_path / "none",
                     "--out", tmp_path / "out", "--report", report)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("--report")
    assert tree(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_screenshot_may_not_replace_an_input(tmp_path: Path) -> None:
    result = imgpipe("run", SAMPLES / "animals", "--rules", DEMO_RULES, "--backend", "replay",
                     "--record", tmp_path, "--out", tmp_path / "out", "--report", tmp_path / "r.html",
                     "--screenshot", CAT)
    assert result.returncode == 2
    assert "--screenshot" in result.stderr and "input images" in result.stderr


def test_out_naming_a_file_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("keep me")
    for target in (out, out / "sub"):
        result = imgpipe("run", CAT, "--rules", DEMO_RULES, "--backend", "replay", "--record", tmp_path, "--out", target)
        assert result.returncode == 2
        assert "--out" in result.stderr
    assert out.read_text() == "keep me"


def test_name_too_long_for_its_record_is_refused_before_any_copy(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(CAT, photos / ("c" * 250 + ".jpg"))  # 254 bytes: fine; its record's 259 is not
    out = tmp_path / "out"
    result = imgpipe("run", photos, "--rules", DEMO_RULES, "--backend", "replay", "--record", tmp_path / "rec", "--out", out)
    assert result.returncode == 2
    assert "too long for their result records" in result.stderr
    assert not out.exists()


def test_put_record_leaves_no_temp_file_when_it_fails(tmp_path: Path) -> None:
    storage = FolderStorage(tmp_path)
    with pytest.raises(OSError):
        storage.put_record("results/" + "r" * 300 + ".json", {"a": 1})
    assert list(tmp_path.rglob("*.json")) == []


def test_names_with_newlines_and_markup_stay_on_one_line(tmp_path: Path, recordings: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    odd = "cat\n[red]x\x1b[2J.jpg"
    shutil.copy(CAT, photos / odd)
    result = imgpipe("run", photos, "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings,
                     "--out", tmp_path / "out")
    text = result.stdout + result.stderr
    assert "\x1b" not in text
    assert "cat\\n[red]x" in text  # shown escaped, on one line, markup as text
    data = json.loads(imgpipe("run", photos, "--rules", DEMO_RULES, "--backend", "replay", "--record",
                              recordings, "--out", tmp_path / "out", "--json").stdout)
    assert data["images"][0]["relative_path"] == odd  # machines get the exact name


def test_readme_named_images_are_processed_and_ignored_files_are_counted(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("README.jpg", "LICENSE-plate.jpg", "README", "notes.md", ".hidden.jpg"):
        (root / name).write_bytes(b"x")
    walk = WalkReport()
    found = [i.rel for i in collect_inputs([root], walk=walk)]
    assert found == ["LICENSE-plate.jpg", "README.jpg"]
    assert sorted(p.name for p in walk.ignored) == [".hidden.jpg", "README", "notes.md"]


def test_unreadable_folders_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    (root / "locked").mkdir(parents=True)
    (root / "ok.jpg").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    walk = WalkReport()
    assert walk_folder(root, walk) == [root / "ok.jpg"]
    assert walk.unreadable == [(root / "locked", "Permission denied")]
    assert walk.to_dict()["unreadable"] == [{"path": str(root / "locked"), "error": "Permission denied"}]


def test_offline_run_writes_nothing_outside_out_and_report(tmp_path: Path) -> None:
    # GIVEN an empty HOME and cache folders
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    work = tmp_path / "work"
    work.mkdir()

    # WHEN the local backend runs every model (onnxruntime among them)
    result = imgpipe("run", SAMPLES / "documents", "--rules", DEMO_RULES, "--out", work / "out",
                     "--report", work / "r.html", "-q", env=env, cwd=work)

    # THEN only --out and the report were written
    assert result.returncode == 0, result.stderr
    assert list(home.rglob("*")) == []
    assert sorted(p.name for p in work.iterdir()) == ["out", "r.html"]
