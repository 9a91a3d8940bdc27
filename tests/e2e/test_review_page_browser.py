"""The review page end to end: `imgpipe review serve` in its own process against a moto server
(real HTTP, standing in for AWS), driven by headless Chromium through Playwright.

Images reach analyzed/review/ through the real pipeline core (S3 storage adapter, rules, result
records) with recorded analyses of the sample photos (tests/events/review/, made once with the
local models; Rekognition's response shapes). A reviewer works with the keyboard; then two tabs
decide the same image and the second is told who decided first.

Set IMGPIPE_DOCS_SCREENSHOT=docs/img/review-page.png to refresh the screenshot in the docs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from analyzer.pipeline import Pipeline, PipelineSettings
from analyzer.ports import Detection, ImageSource
from analyzer.s3 import S3Storage
from rules import Needs, load_ruleset

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events" / "review"
REGION = "eu-west-1"
BUCKET = "imgpipe-review-e2e"
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"
RULES = r"""
version: 1
name: qc-review
default_verdict: success
rules:
  - name: people
    type: label_match
    labels: [Person]
    outcome: review
    category: people
  - name: printed-text
    type: text_detection
    pattern: '[A-Za-z]{5,}'
    outcome: review
    category: documents
"""
IMAGES = {  # relative key -> (sample, recorded analysis)
    "cams/north/astronaut.jpg": ("people/astronaut.jpg", "astronaut"),
    "cams/north/grace-hopper.jpg": ("people/grace-hopper.jpg", "grace-hopper"),
    "scans/printed-page.png": ("documents/printed-page.png", "printed-page"),
}
STATE = """() => ({
  ready: document.body.dataset.ready,
  items: Array.from(document.querySelectorAll('#queue .item')).map(li => [li.dataset.key, li.dataset.state]),
  current: document.querySelector('#current').dataset.key,
  decided: Number(document.querySelector('#progress').dataset.decided),
  left: Number(document.querySelector('#progress').dataset.left),
  progress: document.querySelector('#progress').textContent,
  status: [document.querySelector('#status').dataset.kind, document.querySelector('#status').textContent],
  image: (() => { const i = document.querySelector('#current .thumb img'); return i && i.complete ? i.naturalWidth : 0; })(),
  thumbs: Array.from(document.querySelectorAll('#queue img')).filter(i => i.complete && i.naturalWidth > 0).length,
  labelBoxes: document.querySelectorAll('#current .box.label').length,
  textBoxes: document.querySelectorAll('#current .box.text').length,
  reasons: Array.from(document.querySelectorAll('#current ul.reasons li')).map(li => li.textContent),
})"""


class RecordedDetector:
    """Answers with the recorded analysis of the image named in the key."""

    API = {"labels": "DetectLabels", "moderation": "DetectModerationLabels", "text": "DetectText"}

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        key = getattr(image, "key", "")
        name = next(a for rel, (_, a) in IMAGES.items() if key.endswith(rel))
        recorded = json.loads((EVENTS / f"{name}.json").read_text())
        detection = Detection()
        for feature in needs.features:
            detection.responses[feature] = recorded.get(feature, {})
            detection.calls[self.API[feature]] = 1
        return detection


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; `make browser`)")
    pytest.importorskip("playwright.sync_api")
    return exe


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def aws_env(moto_server: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_server}


@pytest.fixture(scope="module")
def stack(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A bucket with three images under review (through the pipeline core), a topic with an SQS
    inbox, and the stack outputs file the CLI reads."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    client = lambda name: session.client(name, endpoint_url=aws_env["AWS_ENDPOINT_URL"])  # noqa: E731
    s3, sns, sqs = client("s3"), client("sns"), client("sqs")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    topic = sns.create_topic(Name="verdicts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES)
    pipeline = Pipeline(load_ruleset(rules), RecordedDetector(), S3Storage(s3, BUCKET, region=REGION),
                        None, PipelineSettings(bucket=BUCKET))
    for rel, (sample, analysis) in IMAGES.items():
        s3.put_object(Bucket=BUCKET, Key=f"images/{rel}",
                      Body=(ROOT / "samples" / sample).read_bytes())
        outcome = pipeline.process(f"images/{rel}")
        assert outcome.verdict == "review", (rel, outcome.to_dict())
        # the record names its analysis, so the page can draw the boxes
        s3.put_object(Bucket=BUCKET, Key=f"analyses/{rel}.json",
                      Body=(EVENTS / f"{analysis}.json").read_bytes())
        record_key = f"results/review/{rel}.json"
        record = json.loads(s3.get_object(Bucket=BUCKET, Key=record_key)["Body"].read())
        s3.put_object(Bucket=BUCKET, Key=record_key,
                      Body=json.dumps({**record, "analysis_key": f"analyses/{rel}.json"}).encode())
    outputs = tmp_path_factory.mktemp("stack") / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": BUCKET, "topic_arn": topic,
                                   "function_name": "image-pipeline-dev-analyzer"}))
    return {"s3": s3, "sqs": sqs, "inbox": inbox, "outputs": outputs}


@pytest.fixture(scope="module")
def page_url(stack: dict[str, Any], aws_env: dict[str, str]) -> Iterator[str]:
    exe = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
    assert exe
    env = {**os.environ, **aws_env}
    proc = subprocess.Popen(
        [exe, "review", "serve", "--outputs", str(stack["outputs"]), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Review page: http://127.0.0.1:"), (line, proc.poll())
        yield line.split()[2]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def state(page: Any) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(STATE)
    return data


def wait_for(page: Any, condition: str, timeout: float = 15_000) -> None:
    page.wait_for_function(condition, timeout=timeout)


def test_review_page_in_headless_chromium(chromium: str, page_url: str, stack: dict[str, Any],
                                          tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    s3 = stack["s3"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            # GIVEN the page open on the queue
            page.goto(page_url)
            try:
                wait_for(page, "document.body.dataset.ready === 'true'")
            except Exception:
                raise AssertionError(f"page never ready: {errors}") from None
            wait_for(page, "document.querySelector('#current .thumb img').complete && "
                           "document.querySelector('#current .thumb img').naturalWidth > 0")
            wait_for(page, "Array.from(document.querySelectorAll('#queue img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
            s = state(page)
            # THEN every image waiting is listed with its thumbnail (presigned from moto), the
            # first is shown with its reasons and boxes, and the progress says what is left
            assert [k for k, _ in s["items"]] == list(IMAGES)
            assert {st for _, st in s["items"]} == {"pending"}
            assert s["thumbs"] == 3 and s["image"] > 0
            assert s["current"] == "cams/north/astronaut.jpg"
            assert s["labelBoxes"] == 1  # the face, labelled Face/Person as in the HTML report
            inside = page.evaluate("""() => {
              const i = document.querySelector('#current .thumb img').getBoundingClientRect();
              const b = document.querySelector('#current .box.label').getBoundingClientRect();
              return b.left >= i.left && b.right <= i.right && b.top >= i.top && b.bottom <= i.bottom
                     && (b.left - i.left) / i.width > 0.3 && (b.right - i.left) / i.width < 0.6;
            }""")
            assert inside  # drawn on the face (left third to middle), not on the frame around it
            [reason] = s["reasons"]
            assert reason.startswith('rule "people" (label_match) -> review: Person')
            assert (s["decided"], s["left"]) == (0, 3) and s["progress"] == "0 decided · 3 left"
            shot = Path(os.environ.get("IMGPIPE_DOCS_SCREENSHOT") or tmp_path / "review.png")
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            # WHEN the reviewer presses `a` THEN the image is approved and the next one shown
            page.keyboard.press("a")
            wait_for(page, "document.querySelector('#progress').dataset.decided === '1'")
            s = state(page)
            assert s["items"][0] == ["cams/north/astronaut.jpg", "approved"]
            assert s["current"] == "cams/north/grace-hopper.jpg" and s["left"] == 2
            assert s["status"][0] == "ok" and "approved" in s["status"][1]
            record = json.loads(s3.get_object(
                Bucket=BUCKET, Key="results/success/cams/north/astronaut.jpg.json")["Body"].read())
            assert record["review"]["reviewer"] == MOTO_CALLER
            assert record["review"]["decision"] == "approve"

            # WHEN `r` is pressed without a reason THEN it asks for one and nothing happens
            page.keyboard.press("r")
            s = state(page)
            assert s["status"][0] == "hint" and "needs a reason" in s["status"][1]
            assert s["left"] == 2
            # WHEN a reason is typed and Enter pressed THEN it is rejected with that reason
            page.keyboard.type("not a camera-trap subject")
            page.keyboard.press("Enter")
            wait_for(page, "document.querySelector('#progress').dataset.decided === '2'")
            s = state(page)
            assert s["items"][1] == ["cams/north/grace-hopper.jpg", "rejected"]
            assert s["current"] == "scans/printed-page.png" and s["textBoxes"] >= 5  # its lines
            record = json.loads(s3.get_object(
                Bucket=BUCKET, Key="results/failure/cams/north/grace-hopper.jpg.json")["Body"].read())
            assert record["review"]["reason"] == "not a camera-trap subject"

            # j / k move between images without deciding
            page.keyboard.press("k")
            assert state(page)["current"] == "cams/north/grace-hopper.jpg"
            page.keyboard.press("j")
            assert state(page)["current"] == "scans/printed-page.png"

            # WHEN two more tabs show the last image and both decide it at once
            tab1, tab2 = browser.new_page(), browser.new_page()
            for tab in (tab1, tab2):
                tab.goto(page_url)
                wait_for(tab, "document.body.dataset.ready === 'true'")
                assert state(tab)["current"] == "scans/printed-page.png"
            tab2.keyboard.press("e")
            tab2.keyboard.type("unreadable scan")
            tab2.keyboard.press("Escape")
            tab1.keyboard.press("a")  # both requests leave before either answer is back
            tab2.keyboard.press("r")
            settled = ("['ok', 'conflict'].includes("
                       "document.querySelector('#status').dataset.kind)")
            wait_for(tab1, settled)
            wait_for(tab2, settled)
            # THEN exactly one wins; the other is told clearly who decided first; nothing else
            one, two = state(tab1), state(tab2)
            kinds = sorted([one["status"][0], two["status"][0]])
            assert kinds == ["conflict", "ok"], (one["status"], two["status"])
            winner, loser = (one, two) if one["status"][0] == "ok" else (two, one)
            won = "approved" if winner is one else "rejected"
            assert winner["items"][-1] == ["scans/printed-page.png", won]
            assert loser["items"][-1] == ["scans/printed-page.png", "conflict"]
            assert f"already {won} by" in loser["status"][1]
            assert MOTO_CALLER in loser["status"][1] and loser["decided"] == 0
            dest = "success" if won == "approved" else "failure"
            keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="analyzed/")
                          ["Contents"])
            assert keys == sorted(["analyzed/failure/cams/north/grace-hopper.jpg",
                            "analyzed/success/cams/north/astronaut.jpg",
                            f"analyzed/{dest}/scans/printed-page.png"])

            # AND a reload shows an empty queue
            page.keyboard.press("u")
            wait_for(page, "document.querySelectorAll('#queue .item').length === 0")
            assert "nothing left" in page.inner_text("#current").lower() or \
                "nothing is waiting" in page.inner_text("#current").lower()
        finally:
            browser.close()
    # AND every decision was announced once, with its attributes
    time.sleep(0.2)
    got = stack["sqs"].receive_message(QueueUrl=stack["inbox"], MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", [])
    decisions = sorted(json.loads(m["Body"])["MessageAttributes"]["decision"]["Value"] for m in got)
    assert len(decisions) == 3 and decisions.count("reject") in (1, 2)
