"""The HTML report in a real headless Chromium: it loads, one card per image, boxes are drawn, the
verdict filter works when clicked, and a screenshot is a real PNG. Skipped (with the reason) only
when chromium is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imgpipe.local.replay import RecordingStore, ReplayDetector
from imgpipe.local.runner import LocalRun, RunSummary, collect_inputs
from imgpipe.report import Browser, render_report
from rules import load_ruleset
from tests.support.paths import DEMO_RULES, SAMPLES

pytestmark = pytest.mark.browser

STATE = """JSON.stringify({
  cards: document.querySelectorAll('.card').length,
  visible: Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden && c.offsetParent !== null)
             .map(c => c.dataset.verdict),
  images: Array.from(document.querySelectorAll('.card img')).filter(i => i.complete && i.naturalWidth > 0).length,
  labelBoxes: document.querySelectorAll('.box.label').length,
  kinds: Object.fromEntries(['person', 'face', 'animal', 'vehicle', 'object']
             .map(k => [k, document.querySelectorAll('.box.label.' + k).length])),
  textBoxes: document.querySelectorAll('.box.text').length,
  counts: Object.fromEntries(Array.from(document.querySelectorAll('[data-count]'))
             .map(n => [n.dataset.count, Number(n.textContent)])),
  pressed: Array.from(document.querySelectorAll('.filters button[aria-pressed="true"]')).map(b => b.dataset.filter),
  hash: location.hash,
})"""


@pytest.fixture(scope="module")
def report(recordings: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    out = tmp_path_factory.mktemp("report")
    summary = LocalRun(
        load_ruleset(DEMO_RULES), ReplayDetector(RecordingStore(recordings)), out
    ).run(collect_inputs([SAMPLES]))
    path = out / "report.html"
    path.write_text(
        render_report(
            summary.results, rules_name="demo", rules_path=str(DEMO_RULES), backend="replay"
        )
    )
    return path, summary


def state(browser: Browser) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(browser.evaluate(STATE))
    return data


def test_report_is_self_contained(report: tuple[Path, RunSummary]) -> None:
    html = report[0].read_text()
    # no external resource: scripts, styles and thumbnails are inline
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/jpeg;base64,') == 8  # every readable image, GIF included


def test_report_in_headless_chromium(
    chromium: str, report: tuple[Path, RunSummary], tmp_path: Path
) -> None:
    path, summary = report
    expected = [r.verdict for r in summary.results]
    with Browser(chromium, width=1280, height=900) as browser:
        # GIVEN the report open in a real browser
        browser.open(path.resolve().as_uri())
        page = state(browser)

        # THEN one card per image, all visible, thumbnails decoded, counts in the header
        assert page["cards"] == len(summary.results) == 9
        assert sorted(page["visible"]) == sorted(expected)
        assert page["images"] == 8
        assert page["counts"] == {"success": 5, "review": 2, "failure": 2}
        # AND the person and face boxes of the astronaut and Grace Hopper, the cat's box and the
        # page's text lines are drawn (one box per person since the object detector, issue 16;
        # before, the face box stood for the person)
        assert page["kinds"]["person"] == 2 and page["kinds"]["face"] == 2
        assert page["kinds"]["animal"] >= 1
        assert page["labelBoxes"] == sum(page["kinds"].values())
        assert page["textBoxes"] >= 7

        # WHEN the "failure" filter is clicked
        browser.evaluate(
            "document.querySelector('.filters button[data-filter=\"failure\"]').click()"
        )
        page = state(browser)

        # THEN only the two failures remain visible, the button is pressed, the URL says so
        assert page["visible"] == ["failure", "failure"]
        assert page["pressed"] == ["failure"] and page["hash"] == "#failure"

        # WHEN "all" is clicked THEN every card is back
        browser.evaluate("document.querySelector('.filters button[data-filter=\"all\"]').click()")
        assert len(state(browser)["visible"]) == 9

        # AND a full-page screenshot of all cards is a real PNG taller than one screen
        shot = browser.screenshot(tmp_path / "report.png")

        # AND a shared link to a filtered view opens filtered
        browser.open(path.resolve().as_uri() + "#review")
        assert state(browser)["visible"] == ["review", "review"]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 900


def test_run_writes_report_and_screenshot(chromium: str, recordings: Path, tmp_path: Path) -> None:
    # GIVEN imgpipe run with --report and --screenshot
    exe = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
    assert exe
    result = subprocess.run(
        [
            exe,
            "run",
            str(SAMPLES / "animals"),
            "--rules",
            str(DEMO_RULES),
            "--backend",
            "replay",
            "--record",
            str(recordings),
            "--out",
            str(tmp_path),
            "--report",
            str(tmp_path / "r.html"),
            "--screenshot",
            str(tmp_path / "r.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "IMGPIPE_CHROMIUM": chromium},
    )

    # THEN both files exist, the report has a card per image and the PNG is a PNG
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.html").read_text().count('class="card"') == 2
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "warning" not in result.stderr
