"""A broken plugin breaks only itself (issue 11 item 3), in the CLI and in the Lambda.

Static problems are clear messages naming the plugin and the rule (exit 2, no traceback); at
evaluation a failing rule gives the documented ``rule_error`` outcome (review, category
``rule_error``, logged and counted) while the other rules still decide; plugin output never
reaches the CLI's stdout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from rules import RULE_ERROR, default_registry, load_ruleset
from tests.support.paths import EVENTS, ROOT
from tests.support.plugins import MadePlugin, install_site, make_plugin

ANALYSIS = EVENTS / "analysis" / "deer_two.json"

HEADER = '''
from typing import ClassVar, Literal
from rules import Analysis, EvalContext, Needs, Rule, RuleResult
'''
ABSTRACT = HEADER + '''
class TestRule(Rule):
    """Forgot evaluate()."""
    type: Literal["{t}"] = "{t}"
    def needs(self) -> Needs:
        return Needs(labels=frozenset({{"GENERAL_LABELS"}}))
'''
BAD_NEEDS = HEADER + '''
class TestRule(Rule):
    """needs() returns a string."""
    type: Literal["{t}"] = "{t}"
    def needs(self):
        return "labels"
    def evaluate(self, analysis, ctx):
        return RuleResult(True)
'''
NO_LITERAL = HEADER + '''
class TestRule(Rule):
    """type is a plain str."""
    type: str = "{t}"
    def needs(self) -> Needs:
        return Needs()
    def evaluate(self, analysis, ctx):
        return RuleResult(True)
'''
NO_DOC = HEADER + '''
class TestRule(Rule):
    type: Literal["{t}"] = "{t}"
    def needs(self) -> Needs:
        return Needs()
    def evaluate(self, analysis, ctx):
        return RuleResult(True)
'''
IMPORT_ERROR = "import imgpipe_no_such_module_anywhere\n"
EXITS = "import sys\nsys.exit(3)\n"
PRINTS = 'print("hello from a plugin")\n' + NO_DOC.replace("class TestRule(Rule):", 'class TestRule(Rule):\n    """Prints."""')
MARKUP_DOC = NO_DOC.replace("class TestRule(Rule):", 'class TestRule(Rule):\n    """Matches [/] and [bold]tricky[/bold] text."""')
RAISES = HEADER + '''
class TestRule(Rule):
    """Raises on every image."""
    type: Literal["{t}"] = "{t}"
    def needs(self) -> Needs:
        return Needs(labels=frozenset({{"GENERAL_LABELS"}}))
    def evaluate(self, analysis, ctx):
        print("noise from evaluate")
        raise RuntimeError("boom")
'''
RETURNS_NONE = RAISES.replace('raise RuntimeError("boom")', "return None").replace("Raises", "Returns None")
# issue 12 composed with the rule_error outcome: non-finite evidence (the analysis parser refuses
# NaN/Infinity in responses) and escape sequences in a plugin's error message
RETURNS_NAN = RAISES.replace(
    'raise RuntimeError("boom")', 'return RuleResult(True, ({{"label": "Deer", "confidence": float("nan")}},))'
).replace("Raises on every image", "Returns NaN evidence")
RETURNS_INF = RETURNS_NAN.replace('float("nan")', 'float("inf")').replace("NaN", "Infinity")
RAISES_ESCAPES = RAISES.replace('raise RuntimeError("boom")', 'raise RuntimeError("boom\\x1b[2J\\x1b]0;pwned\\x07")')


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], MadePlugin]]:
    def _install(type_name: str, body: str) -> MadePlugin:
        plugin = make_plugin(tmp_path / type_name, type_name, body.format(t=type_name), source=False)
        install_site(monkeypatch, plugin.site)
        default_registry.cache_clear()
        return plugin

    default_registry.cache_clear()
    yield _install
    default_registry.cache_clear()


def _rules(tmp_path: Path, type_name: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\ndefault_verdict: failure\nrules:\n"
        f"  - name: fancy\n    type: {type_name}\n    outcome: success\n"
        "  - name: deer\n    type: label_match\n    labels: [Deer]\n    outcome: success\n"
    )
    return path


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


STATIC = [
    ("bp_abstract", ABSTRACT, "does not implement evaluate()"),
    ("bp_no_literal", NO_LITERAL, "type must be declared as Literal['<type name>']"),
    ("bp_no_doc", NO_DOC, "has neither a docstring nor a `summary`"),
    ("bp_import_error", IMPORT_ERROR, "ModuleNotFoundError: No module named 'imgpipe_no_such_module_anywhere'"),
    ("bp_exits", EXITS, "called sys.exit(3) while being imported"),
    ("bp_prints", PRINTS, "printed to stdout while being imported ('hello from a plugin')"),
]


@pytest.mark.parametrize(("type_name", "body", "why"), STATIC, ids=[s[0] for s in STATIC])
def test_static_problems_are_clear_messages_at_validate_and_types(
    tmp_path: Path, install: Callable[[str, str], MadePlugin], type_name: str, body: str, why: str
) -> None:
    plugin = install(type_name, body)
    rules = _rules(tmp_path, type_name)
    # rules validate: exit 2, FILE:LINE: path: message naming the rule and the plugin
    result = _cli("rules", "validate", rules)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    assert f"{rules}:5: rules[0].type: rule 'fancy' uses type '{type_name}'" in result.stderr
    assert plugin.distribution in result.stderr and why in result.stderr
    assert "hello from a plugin" not in result.stdout
    # rules types: the table, then exit 2 with the message on stderr
    result = _cli("rules", "types", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert "label_match" in [t["type"] for t in data["types"]]
    broken = {b["type"]: b["error"] for b in data["broken"]}
    assert why in broken[type_name] and plugin.distribution in broken[type_name]
    # a file that does not use the broken plugin is unaffected
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\nrules:\n  - {name: deer, type: label_match, labels: [Deer], outcome: success}\n")
    assert _cli("rules", "validate", other).exit_code == 0


def test_invalid_needs_is_reported_at_validate(tmp_path: Path, install: Callable[[str, str], MadePlugin]) -> None:
    plugin = install("bp_bad_needs", BAD_NEEDS)
    result = _cli("rules", "validate", _rules(tmp_path, "bp_bad_needs"))
    assert result.exit_code == 2
    assert "rules[0]: rule 'fancy': plugin" in result.stderr and plugin.distribution in result.stderr
    assert "needs() returned str, not rules.Needs" in result.stderr


def test_markup_in_a_plugin_docstring_does_not_crash_types(install: Callable[[str, str], MadePlugin]) -> None:
    install("bp_markup", MARKUP_DOC)
    result = _cli("rules", "types")
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout and "[bold]tricky" in result.stdout  # printed as text
    data = json.loads(_cli("rules", "types", "--json").stdout)
    summary = next(t["summary"] for t in data["types"] if t["type"] == "bp_markup")
    assert summary == "Matches [/] and [bold]tricky[/bold] text."


@pytest.mark.parametrize(("type_name", "body", "error"), [
    ("bp_raises", RAISES, "RuntimeError: boom"),
    ("bp_returns_none", RETURNS_NONE, "TypeError: evaluate() returned NoneType, not a RuleResult"),
    ("bp_returns_nan", RETURNS_NAN, "ValueError: evidence holds NaN or Infinity, which JSON cannot carry"),
    ("bp_returns_inf", RETURNS_INF, "ValueError: evidence holds NaN or Infinity, which JSON cannot carry"),
])
def test_a_rule_failing_at_evaluation_goes_to_review_and_the_others_still_decide(
    tmp_path: Path, install: Callable[[str, str], MadePlugin], type_name: str, body: str, error: str
) -> None:
    plugin = install(type_name, body)
    rules = _rules(tmp_path, type_name)
    # WHEN the CLI evaluates a deer photo
    result = _cli("rules", "evaluate", rules, ANALYSIS)
    # THEN no traceback, JSON on stdout untouched by the plugin's print, a warning on stderr
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "review"
    assert data["categories"] == [RULE_ERROR, "deer"]
    assert data["matches"][0]["rule"] == "fancy" and data["matches"][0]["outcome"] == "review"
    assert data["errors"] == [{"rule": "fancy", "type": type_name, "error": error,
                               "plugin": f"plugin '{plugin.module}:TestRule' ({plugin.distribution} 0.1.0)"}]
    assert f"rule 'fancy' (type '{type_name}'" in result.stderr and error in result.stderr
    assert "Traceback" not in result.stderr


def test_the_lambda_routes_a_rule_error_to_review_logs_and_counts_it(
    tmp_path: Path, install: Callable[[str, str], MadePlugin], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from aws_lambda_powertools import Logger, Metrics

    from analyzer.app import Analyzer
    from analyzer.config import Settings
    from tests.support.fakes import FakeContext, FakeDetector, MemoryStorage
    from tests.support.images import picture

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "imgpipe-test")
    install("bp_lambda_raises", RAISES)
    ruleset = load_ruleset(_rules(tmp_path, "bp_lambda_raises"))
    # GIVEN a batch of two images, one a deer
    storage = MemoryStorage({"images/a.jpg": picture(), "images/b.jpg": picture()})
    deer = json.loads(ANALYSIS.read_text())["labels"]
    analyzer = Analyzer(Settings.from_env({"RULES_PATH": "rules.yaml"}), ruleset, s3_client=None,
                        detector=FakeDetector({"labels": deer}), notifier=None,
                        storage_factory=lambda bucket: storage, metrics=Metrics(namespace="imgpipe-test"),
                        logger=Logger(service="rule-error-test", stream=(log := io.StringIO())))
    event = _sqs_event("bucket", ["images/a.jpg", "images/b.jpg"])
    # WHEN the handler runs
    response = analyzer.handle(event, FakeContext())
    # THEN no message fails, both images are routed to review, with the rule error recorded
    assert response == {"batchItemFailures": []}
    for name in ("a", "b"):
        record = storage.get_record(f"results/review/{name}.jpg.json")
        assert record is not None and record["verdict"] == "review"
        assert record["categories"] == [RULE_ERROR, "deer"]
        assert record["matches"][0]["evidence"][0]["error"] == "RuntimeError: boom"
    warnings = [json.loads(line) for line in log.getvalue().splitlines() if '"WARNING"' in line]
    assert [w["message"] for w in warnings] == ["rule error: image routed by the other rules and to review"] * 2
    assert warnings[0]["rule_errors"][0][0]["plugin"].startswith("plugin 'imgpipe_test_bp_lambda_raises:TestRule'")
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith("{") and "_aws" in line]
    assert any(m.get("RuleErrors") in (2.0, [2.0]) for m in metrics), metrics


def _sqs_event(bucket: str, keys: list[str]) -> dict[str, Any]:
    events = EVENTS / "analyzer"
    records = []
    for i, key in enumerate(keys):
        body = json.loads((events / "s3_put_notification.json").read_text())
        body["Records"][0]["s3"]["bucket"]["name"] = bucket
        body["Records"][0]["s3"]["object"]["key"] = key
        message = json.loads((events / "sqs_message_template.json").read_text())
        message.update(messageId=f"m{i}", body=json.dumps(body))
        records.append(message)
    return {"Records": records}


def test_imgpipe_run_gives_the_same_rule_error_outcome_and_keeps_stdout_json(
    tmp_path: Path, install: Callable[[str, str], MadePlugin]
) -> None:
    from analyzer.ports import BytesImage, Detection, ImageSource
    from imgpipe.local.replay import RecordingDetector, RecordingStore
    from rules import Needs

    install("bp_run_raises", RAISES)
    rules = _rules(tmp_path, "bp_run_raises")
    deer = json.loads(ANALYSIS.read_text())["labels"]

    class Canned:
        def detect(self, image: ImageSource, needs: Needs) -> Detection:
            detection = Detection()
            detection.responses["labels"] = deer
            return detection

    # GIVEN a recorded analysis of one image (replayed: no models, no AWS)
    images = tmp_path / "in"
    images.mkdir()
    data = (ROOT / "samples" / "animals").glob("*.jpg").__next__().read_bytes()
    (images / "deer.jpg").write_bytes(data)
    store = RecordingStore(tmp_path / "rec")
    RecordingDetector(Canned(), store, backend="rekognition").detect(BytesImage(data, "deer.jpg"), Needs.of("labels"))
    # WHEN imgpipe run replays it with --json
    result = _cli("run", images, "--rules", rules, "--backend", "replay", "--record", tmp_path / "rec",
                  "--out", tmp_path / "out", "--json", "--quiet")
    # THEN exit 0, the image is in review with the rule error, and stdout is one JSON document
    assert result.exit_code == 0, result.output
    assert "noise from evaluate" not in result.stdout
    doc = json.loads(result.stdout)
    text = json.dumps(doc)
    assert RULE_ERROR in text and "RuntimeError: boom" in text
    assert (tmp_path / "out" / "analyzed" / "review" / "deer.jpg").is_file()
    assert "Traceback" not in result.stderr


def test_a_plugin_error_message_reaches_the_terminal_without_escape_sequences(
    tmp_path: Path, install: Callable[[str, str], MadePlugin]
) -> None:
    # GIVEN a plugin rule whose exception message clears the screen and retitles the terminal
    install("bp_raises_escapes", RAISES_ESCAPES)
    rules = _rules(tmp_path, "bp_raises_escapes")
    # WHEN evaluated and explained
    evaluated = _cli("rules", "evaluate", rules, ANALYSIS)
    explained = _cli("rules", "explain", rules, ANALYSIS)
    # THEN the warning on stderr and the explain table carry no escape sequence (imgpipe.textsafe);
    # the JSON keeps the message, with the control characters JSON-escaped
    assert evaluated.exit_code == 0 and explained.exit_code == 0, evaluated.output + explained.output
    assert "RuntimeError: boom" in evaluated.stderr and "\x1b" not in evaluated.stderr
    assert "\x1b" not in explained.stdout + explained.stderr and "\x07" not in explained.stdout
    assert json.loads(evaluated.stdout)["errors"][0]["error"] == "RuntimeError: boom\x1b[2J\x1b]0;pwned\x07"
