"""Proof from the artifacts themselves (issue 11 item 2, issue 10 item 2).

The stack's artifacts are built by the same code path as ``pulumi preview`` / ``imgpipe plan``,
for this machine's platform (``Target.host()``), with a rules file that uses the example plugin.
Code zip + layer are unpacked into a fresh folder and the handler runs there in a subprocess with
nothing of the project on ``sys.path`` (only a stand-in for the boto3 the Lambda runtime
provides), against moto: the plugin rule decides the verdict.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.artifacts import RULES_IN_PACKAGE, Artifacts, Target, build_artifacts, plugins_used
from rules import default_registry, load_ruleset
from tests.support.paths import ROOT

CACHE = ROOT / ".cache" / "imgpipe-artifacts"
REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"
EVENTS = ROOT / "tests" / "events" / "analyzer"
REGION = "us-east-1"

# moto's DetectLabels is canned: one "Mobile Phone" label; the image quality is patched below
# (sharpness 12.5).
# Without the plugin the verdict would be success (the phone); the plugin says failure.
RULES = """\
version: 1
name: plugin-proof
default_verdict: review
rules:
  - name: phone
    type: label_match
    labels: [Mobile Phone]
    outcome: success
  - name: blurry
    type: image_quality
    min_sharpness: 60
    outcome: failure
"""
#: what the Lambda runtime provides besides the layer (boto3 is not packaged, on purpose)
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Artifacts, Path]:
    rules_file = tmp_path_factory.mktemp("stack") / "rules.yaml"
    rules_file.write_text(RULES)
    registry = default_registry()
    if registry.get("image_quality") is None:
        pytest.fail("the example plugin is not installed: make venv")
    plugins = plugins_used(load_ruleset(rules_file, registry), registry)
    built = build_artifacts(ROOT, rules_file, REQUIREMENTS, CACHE, plugins=plugins, target=Target.host())
    return built, rules_file


@pytest.fixture(scope="module")
def unpacked(artifacts: tuple[Artifacts, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/var/task, /opt and the runtime's own packages, as three folders of a fresh tree."""
    built, _ = artifacts
    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(built.code.path) as zf:
        zf.extractall(root / "task")
    with zipfile.ZipFile(built.layer.path) as zf:
        zf.extractall(root / "opt")
    runtime = root / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return root


def _python(root: Path, script: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``script`` with only the artifacts (-s -S: no site-packages; the path is exactly
    PYTHONPATH: /var/task, /opt/python and the runtime's own packages, as Lambda orders them)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "VIRTUAL_ENV"))}
    path = os.pathsep.join(str(p) for p in (root / "task", root / "opt" / "python", root / "runtime"))
    return subprocess.run(
        [sys.executable, "-s", "-S", "-c", script],
        input=stdin, capture_output=True, text=True, cwd=root / "task",
        env={**clean, **env, "PYTHONPATH": path, "PYTHONSAFEPATH": "1"},
        timeout=120, check=False,
    )


def test_code_zip_holds_no_tool_package_and_layer_holds_the_plugin(artifacts: tuple[Artifacts, Path]) -> None:
    built, _ = artifacts
    code = zipfile.ZipFile(built.code.path).namelist()
    assert not [n for n in code if n.startswith("imgpipe/")]
    assert not [n for n in code if n.startswith(("infra/", "tests/", "examples/"))]
    assert "rules/pytest_plugin.py" not in code
    assert RULES_IN_PACKAGE in code
    layer = zipfile.ZipFile(built.layer.path).namelist()
    assert "python/imgpipe_image_quality/__init__.py" in layer
    entry_points = [n for n in layer if n.endswith(".dist-info/entry_points.txt") and "imgpipe_image_quality" in n]
    assert len(entry_points) == 1
    text = zipfile.ZipFile(built.layer.path).read(entry_points[0]).decode()
    assert "[imgpipe.rules]" in text and "image_quality" in text
    assert not [n for n in layer if n.startswith("python/image_pipeline")]  # the project is the code zip


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.rekognition.models import RekognitionBackend
    from moto.server import ThreadedMotoServer

    # moto 5.2 nests ImageProperties twice in its canned DetectLabels; answer like Rekognition
    # does (the server runs in this process, so the patch applies to every client)
    quality = {"Quality": {"Brightness": 55.0, "Sharpness": 12.5, "Contrast": 40.0}, "DominantColors": []}
    monkeypatch.setattr(RekognitionBackend, "_image_properties", lambda self: quality)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def _event(bucket: str, key: str, size: int) -> dict[str, Any]:
    body = json.loads((EVENTS / "s3_put_notification.json").read_text())
    body["Records"][0]["awsRegion"] = REGION
    body["Records"][0]["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    body["Records"][0]["s3"]["object"].update(key=key, size=size)
    message = json.loads((EVENTS / "sqs_message_template.json").read_text())
    message["body"] = json.dumps(body)
    return {"Records": [message]}


HANDLER_SCRIPT = """
import json, sys
import analyzer.handler as h
import rules, imgpipe_image_quality
try:
    import imgpipe
except ImportError:
    tool = None
else:
    tool = imgpipe.__file__

class Context:
    aws_request_id = "req-1"
    function_name = "analyzer"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:analyzer"
    def get_remaining_time_in_millis(self):
        return 60000

response = h.handler(json.loads(sys.stdin.read()), Context())
print("RESULT " + json.dumps({"response": response, "rules": rules.__file__,
      "plugin": imgpipe_image_quality.__file__, "imgpipe": tool, "path": sys.path}))
"""


def test_handler_from_the_unpacked_artifacts_lets_a_plugin_rule_decide(unpacked: Path, moto_server: str) -> None:
    # GIVEN a bucket with an image, in moto (a separate process reaches it by endpoint URL)
    env = _aws_env(moto_server)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = "proof-images"
    s3.create_bucket(Bucket=bucket)
    image = (ROOT / "samples" / "animals").glob("*.jpg").__next__().read_bytes()
    s3.put_object(Bucket=bucket, Key="images/cam/a.jpg", Body=image)
    # WHEN Lambda's init and one invocation run from the unpacked artifacts only
    env.update(RULES_PATH=str(unpacked / "task" / RULES_IN_PACKAGE), BUCKET_NAME=bucket,
               POWERTOOLS_METRICS_NAMESPACE="proof")
    proc = _python(unpacked, HANDLER_SCRIPT, env, json.dumps(_event(bucket, "images/cam/a.jpg", len(image))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    # THEN the engine came from the code zip, the plugin from the layer, the tool package from nowhere
    assert result["response"] == {"batchItemFailures": []}
    assert result["rules"].startswith(str(unpacked / "task"))
    assert result["plugin"].startswith(str(unpacked / "opt" / "python"))
    assert result["imgpipe"] is None
    assert not [p for p in result["path"] if str(ROOT) in p or "site-packages" in p]
    # AND the plugin rule decided: failure beats the phone's success
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert "analyzed/failure/cam/a.jpg" in keys, keys
    record = json.loads(s3.get_object(Bucket=bucket, Key="results/failure/cam/a.jpg.json")["Body"].read())
    assert record["verdict"] == "failure"
    assert [m["rule"] for m in record["matches"]] == ["phone", "blurry"]
    assert record["matches"][1]["type"] == "image_quality"


IMPORT_ALL = """
import importlib, json, sys, pathlib
task, opt = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
failed = {}
names = []
for path in sorted(task.rglob("*.py")):
    parts = list(path.relative_to(task).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    names.append(".".join(parts))
for child in sorted(opt.iterdir()):  # every top-level module and package of the layer
    if child.suffix == ".py":
        names.append(child.stem)
    elif (child / "__init__.py").is_file():
        names.append(child.name)
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
from importlib.metadata import entry_points
loaded = sorted(ep.name for ep in entry_points(group="imgpipe.rules") if ep.load())
print("RESULT " + json.dumps({"imported": names, "failed": failed, "plugins": loaded}))
"""


def test_every_module_of_the_artifacts_imports_with_only_the_artifacts(unpacked: Path) -> None:
    env = {"RULES_PATH": str(unpacked / "task" / RULES_IN_PACKAGE), "AWS_DEFAULT_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    script = IMPORT_ALL.replace("sys.argv[1]", repr(str(unpacked / "task"))).replace(
        "sys.argv[2]", repr(str(unpacked / "opt" / "python")))
    proc = _python(unpacked, script, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")).removeprefix("RESULT "))
    assert result["failed"] == {}
    imported = set(result["imported"])
    assert {"analyzer.handler", "analyzer.app", "rules.loader", "rules.testing", "rules.cases",
            "pydantic", "yaml", "aws_lambda_powertools", "imgpipe_image_quality"} <= imported
    assert not [n for n in imported if n.split(".")[0] in {"imgpipe", "infra", "tests"}]
    assert result["plugins"] == ["image_quality"]  # exactly the plugins the rules use
