"""Folder storage and input collection (pure file-system tests, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.ports import BytesImage, Notification, ObjectRef, Storage
from imgpipe.local.notifier import ConsoleNotifier
from imgpipe.local.runner import InputError, collect_inputs, format_evidence
from imgpipe.local.storage import FolderStorage, UnsafeKeyError


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_folder_storage_is_a_storage_that_never_touches_originals(tmp_path: Path) -> None:
    # GIVEN an original registered as images/a b/c.jpg
    original = _tree(tmp_path / "in", {"a b/c.jpg": b"\xff\xd8\xffdata"}) / "a b" / "c.jpg"
    storage = FolderStorage(tmp_path / "out", {"images/a b/c.jpg": original})
    assert isinstance(storage, Storage)

    # WHEN the core copies it, records it and deletes the source
    info = storage.head("images/a b/c.jpg")
    assert info is not None and info.size == 7 and info.etag
    assert storage.read_head("images/a b/c.jpg", 3) == b"\xff\xd8\xff"
    storage.copy(info, "analyzed/success/a b/c.jpg", {"verdict": "success"})
    storage.put_record("results/success/a b/c.jpg.json", {"verdict": "success"})
    storage.delete("images/a b/c.jpg")

    # THEN the copy and record exist under OUT, and the original is still there, unchanged
    assert (tmp_path / "out/analyzed/success/a b/c.jpg").read_bytes() == b"\xff\xd8\xffdata"
    assert storage.get_record("results/success/a b/c.jpg.json") == {"verdict": "success"}
    assert original.read_bytes() == b"\xff\xd8\xffdata"
    image = storage.image_source(info, ObjectRef(key=info.key))
    assert isinstance(image, BytesImage) and image.data == b"\xff\xd8\xffdata"
    # AND missing keys are None, outputs can be deleted
    assert storage.head("analyzed/review/a b/c.jpg") is None
    storage.delete("analyzed/success/a b/c.jpg")
    assert storage.head("analyzed/success/a b/c.jpg") is None


@pytest.mark.parametrize("key", ["../escape.jpg", "/etc/passwd", "analyzed/../../x", ""])
def test_keys_cannot_escape_the_output_folder(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafeKeyError):
        FolderStorage(tmp_path).path_for(key)


def test_one_folder_keeps_paths_relative_to_it_and_skips_docs(tmp_path: Path) -> None:
    root = _tree(tmp_path / "photos", {
        "b.jpg": b"x", "sub/a.png": b"x", "README.md": b"x", "rules.yaml": b"x", ".hidden.jpg": b"x",
        ".git/obj.jpg": b"x", "notes.txt": b"x", "sub/clip.gif": b"x",
    })
    found = collect_inputs([root])
    assert [(i.rel, i.key) for i in found] == [
        ("b.jpg", "images/b.jpg"), ("sub/a.png", "images/sub/a.png"), ("sub/clip.gif", "images/sub/clip.gif"),
    ]


def test_several_inputs_are_prefixed_by_their_names(tmp_path: Path) -> None:
    a = _tree(tmp_path / "cam-a", {"x.jpg": b"x"})
    b = _tree(tmp_path / "cam-b", {"x.jpg": b"x"})
    single = _tree(tmp_path / "loose", {"README.md": b"named explicitly, so processed"}) / "README.md"
    assert [i.rel for i in collect_inputs([a, b, single])] == ["cam-a/x.jpg", "cam-b/x.jpg", "README.md"]


def test_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        collect_inputs([tmp_path / "absent"])
    with pytest.raises(InputError, match="no files found"):
        collect_inputs([_tree(tmp_path / "empty", {"README.md": b""})])
    one = _tree(tmp_path / "one", {"x.jpg": b"1"}) / "x.jpg"
    two = _tree(tmp_path / "two", {"x.jpg": b"2"}) / "x.jpg"
    with pytest.raises(InputError, match=r"would both be stored as 'x\.jpg'"):
        collect_inputs([one, two])


def test_evidence_is_shown_briefly() -> None:
    assert format_evidence({"label": "Cat", "confidence": 91.53}) == "Cat 91.5%"
    assert format_evidence({"label": "Deer", "confidence": 88.0, "instances": 3}) == "Deer 88.0% x3"
    assert format_evidence({"label": "Explicit Nudity", "confidence": 93.0, "path": "Explicit > Explicit Nudity"}) == (
        "Explicit > Explicit Nudity 93.0%"
    )
    assert format_evidence({"text": "SN-123456 OK", "match": "SN-123456", "confidence": 99.0, "type": "LINE"}) == (
        "'SN-123456' in 'SN-123456 OK' 99.0%"
    )


def test_console_notifier_keeps_what_sns_would_get() -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    notifier = ConsoleNotifier(console, strip_prefix="images/")
    note = Notification("imgpipe success: cat.jpg (cats)", {"source_key": "images/cat.jpg"}, "success", ("cats",))
    notifier.notify(note)
    assert notifier.sent == [note]
    assert console.export_text().strip() == "success cat.jpg  (cats)"


def test_the_output_and_recordings_folders_are_never_inputs(tmp_path: Path) -> None:
    # GIVEN a folder holding photos, an earlier run's output and recordings
    root = _tree(tmp_path / "work", {
        "a.jpg": b"x", "out/analyzed/success/a.jpg": b"x", "rec/abc.bin": b"x", "sub/b.jpg": b"x",
    })

    # WHEN collected with the run's output and recordings folders excluded
    found = collect_inputs([root], exclude=[root / "out", root / "rec"])

    # THEN only the photos are inputs
    assert [i.rel for i in found] == ["a.jpg", "sub/b.jpg"]
