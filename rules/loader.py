"""Load a rules file (YAML, version 1) into a validated :class:`Ruleset`.

Every problem is reported as ``FILE:LINE: field.path: message``; all problems of a file are
collected, not just the first.

Hostile files are refused before they cost anything: a file over :data:`MAX_RULES_BYTES`, nesting
deeper than :data:`MAX_DEPTH` (checked on the parser's event stream, before the recursive
composer runs) and aliases that expand to more than :data:`MAX_NODES` values (an alias bomb).
Warnings (a valid file with a likely mistake, such as a label name Rekognition never returns)
are kept on :attr:`Ruleset.warnings`.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules import label_names
from rules._guard import plugin_code
from rules.base import Confidence, Rule, Verdict
from rules.builtin import LabelMatchRule
from rules.errors import Issue, RulesValidationError
from rules.features import Needs
from rules.registry import Registry, default_registry
from rules.ruleset import Ruleset

Loc = tuple[str | int, ...]

#: Largest rules file read (bytes); real files are a few KB.
MAX_RULES_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences (a valid file needs 4).
MAX_DEPTH = 32
#: Most values a file may expand to through aliases (guards against alias bombs).
MAX_NODES = 100_000

_BOOL_TAG = "tag:yaml.org,2002:bool"
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


class RulesFile(BaseModel):
    """The top level of a rules file, version 1 (rules are validated per type afterwards)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    name: str | None = None
    default_verdict: Verdict = Verdict.FAILURE
    min_confidence: Confidence = 80.0
    calls: Literal["complete", "economical"] = "complete"  # the call plan, see rules.planning
    rules: list[Any] = Field(min_length=1)


def load_ruleset(path: str | PathLike[str], registry: Registry | None = None) -> Ruleset:
    """Read and validate a rules file; raises :class:`RulesValidationError`."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RULES_BYTES + 1)
        if len(data) > MAX_RULES_BYTES:
            raise RulesValidationError([Issue(name, 1, "", _too_big())])
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RulesValidationError([Issue(name, 1, "", f"cannot read the rules file: {reason}")]) from exc
    return parse_ruleset(text, name, registry)


def parse_ruleset(text: str, filename: str = "<string>", registry: Registry | None = None) -> Ruleset:
    """Validate rules given as YAML text; ``filename`` is used in messages."""
    registry = registry or default_registry()
    if len(text) > MAX_RULES_BYTES:
        raise RulesValidationError([Issue(filename, 1, "", _too_big())])
    data, lines, issues, booleans = _read_yaml(text, filename)
    if issues and not lines:  # a syntax error: nothing more can be checked
        raise RulesValidationError(issues)
    locate = _Locator(filename, lines, booleans)

    if not isinstance(data, Mapping):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RulesValidationError(
            [*issues, locate.issue((), f"expected a mapping with 'version' and 'rules', found {found}")]
        )

    try:
        top = RulesFile.model_validate(data)
    except ValidationError as exc:
        # report top-level problems; still check the rules when the list itself is usable
        issues.extend(locate.pydantic(exc, (), RulesFile))
        raw_rules = data.get("rules")
        if isinstance(raw_rules, list):
            _validate_rules(raw_rules, registry, locate, issues)
        raise RulesValidationError(sorted(issues, key=lambda i: i.line)) from None

    rules = _validate_rules(top.rules, registry, locate, issues)
    if issues:
        raise RulesValidationError(sorted(issues, key=lambda i: i.line))
    warnings = _warnings(rules, locate)
    return Ruleset(
        rules=tuple(rules),
        origins={r.type: registry.origin[r.type] for r in rules if registry.is_plugin(r.type)},
        default_verdict=top.default_verdict,
        min_confidence=top.min_confidence,
        calls=top.calls,
        name=top.name,
        source=filename,
        text=text,
        warnings=tuple(warnings),
    )


def _too_big() -> str:
    return f"the file is larger than {MAX_RULES_BYTES // 1024} KB; a rules file is a few KB"


def _warnings(rules: list[Rule], locate: _Locator) -> list[Issue]:
    """Likely mistakes in a valid file: label names DetectLabels never returns."""
    found: list[Issue] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, LabelMatchRule):
            continue
        for j, label in enumerate(rule.labels):
            problem = label_names.check(label)
            if problem:
                found.append(locate.issue(("rules", i, "labels", j), f"warning: {problem}"))
    return found


def _validate_rules(raw_rules: list[Any], registry: Registry, locate: _Locator, issues: list[Issue]) -> list[Rule]:
    rules: list[Rule] = []
    first_seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        at: Loc = ("rules", i)
        if not isinstance(raw, Mapping):
            issues.append(locate.issue(at, f"each rule must be a mapping with 'name', 'type', 'outcome'; found {_short.repr(raw)}"))
            continue
        name = raw.get("name")
        if isinstance(name, str):
            name = name.strip()  # as the rule model stores it: 'dog ' and 'dog' are one name
        if isinstance(name, str) and name in first_seen:
            issues.append(
                locate.issue(
                    (*at, "name"), f"duplicate rule name '{name}' (first used at line {first_seen[name]})"
                )
            )
        elif isinstance(name, str):
            first_seen[name] = locate.line((*at, "name"))
        type_name = raw.get("type")
        if type_name is None:
            issues.append(locate.issue((*at, "type"), f"required field is missing; rule types: {', '.join(registry.names)}"))
            continue
        cls = registry.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            if isinstance(type_name, str) and type_name in registry.broken:
                message = f"rule {name!r} uses type '{type_name}', but {registry.broken[type_name]}"
            else:
                close = difflib.get_close_matches(str(type_name), registry.names, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                message = f"unknown rule type {_short.repr(type_name)}; {hint}known types: {', '.join(registry.names)}"
                if isinstance(type_name, bool):
                    message += _bool_hint(locate.booleans.get((*at, "type")))
            issues.append(locate.issue((*at, "type"), message))
            continue
        try:
            with plugin_code():
                rule = cls.model_validate(raw)
        except ValidationError as exc:
            issues.extend(locate.pydantic(exc, at, cls))
            continue
        except Exception as exc:  # a plugin's validator crashed: report it, never a traceback
            issues.append(locate.issue(at, f"rule {name!r}: {registry.origin.get(type_name)} raised "
                                           f"{type(exc).__name__} while validating: {exc}"))
            continue
        problem = _needs_problem(rule)
        if problem:
            issues.append(locate.issue(at, f"rule {name!r}: {registry.origin.get(type_name)}: {problem}"))
            continue
        rules.append(rule)
    return rules


def _needs_problem(rule: Rule) -> str | None:
    """Why ``rule.needs()`` is unusable, or None."""
    try:
        with plugin_code():
            needs = rule.needs()
    except Exception as exc:
        return f"needs() raised {type(exc).__name__}: {exc}"
    if not isinstance(needs, Needs):
        return f"needs() returned {type(needs).__name__}, not rules.Needs"
    return None


# -- YAML with line numbers ------------------------------------------------------------------


class _TooComplex(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the event stream (PyYAML's parser is iterative;
    its composer and constructor recurse, and would die with a RecursionError)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise _TooComplex(line, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _count_nodes(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond MAX_NODES values (an alias bomb):
    sizes are memoised per node, so this costs one visit per distinct node."""
    sizes: dict[int, int] = {}
    # iterative post-order walk; the depth is already bounded, the fan-out is not
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                children.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes[id(c)] for c in children)
        if total > MAX_NODES:
            raise _TooComplex(
                node.start_mark.line + 1,
                f"the document expands to more than {MAX_NODES} values through aliases",
            )
        sizes[id(node)] = total


def _read_yaml(
    text: str, filename: str
) -> tuple[Any, dict[Loc, int], list[Issue], dict[Loc, str]]:
    """Parse YAML; return the data, a map from field path to 1-based line, syntax issues, and the
    source text of plain scalars that YAML read as booleans (``on``, ``NO``), by field path."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character the YAML reader refuses
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return None, {}, [Issue(filename, line, "", f"YAML error: character {exc.character!r} is not allowed")], {}
    try:
        _check_depth(text)
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        issues: list[Issue] = []
        booleans: dict[Loc, str] = {}
        if node is not None:
            _count_nodes(node)
            _index(node, (), lines, issues, filename, booleans)
        data = loader.construct_document(node) if node is not None else None
    except _TooComplex as exc:
        return None, {}, [Issue(filename, exc.line, "", f"refused: {exc.message}")], {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, {}, [Issue(filename, line, "", f"YAML syntax error: {problem}")], {}
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return None, {}, [Issue(filename, line, "", f"YAML error: character {exc.character!r} is not allowed")], {}
    except yaml.YAMLError as exc:
        return None, {}, [Issue(filename, 1, "", f"YAML error: {' '.join(str(exc).split())}")], {}
    except (RecursionError, MemoryError):  # not reachable within the limits above; never a traceback
        return None, {}, [Issue(filename, 1, "", "refused: the document is too complex")], {}
    finally:
        loader.dispose()
    return data, lines, issues, booleans


def _index(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    issues: list[Issue],
    filename: str,
    booleans: dict[Loc, str],
) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG and node.style is None:
        booleans[loc] = str(node.value)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' — later keys override it
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    Issue(filename, line, _path((*loc, key)), f"duplicate key (first at line {seen[key]})")
                )
                continue
            seen[key] = line
            lines[(*loc, key)] = line
            _index(value_node, (*loc, key), lines, issues, filename, booleans)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, issues, filename, booleans)


def _path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Locator:
    """Turns field paths into ``Issue`` objects with the right line."""

    def __init__(self, filename: str, lines: dict[Loc, int], booleans: dict[Loc, str] | None = None) -> None:
        self.filename = filename
        self.lines = lines
        self.booleans = booleans or {}

    def line(self, loc: Loc) -> int:
        for end in range(len(loc), -1, -1):
            found = self.lines.get(tuple(str(p) if isinstance(p, str) else p for p in loc[:end]))
            if found is not None:
                return found
        return 1

    def issue(self, loc: Loc, message: str) -> Issue:
        return Issue(self.filename, self.line(loc), _path(loc), message)

    def pydantic(self, exc: ValidationError, prefix: Loc, model: type[BaseModel]) -> list[Issue]:
        found = []
        for err in exc.errors(include_url=False):
            loc: Loc = (*prefix, *err["loc"])
            message = _message(err, model)
            if isinstance(err.get("input"), bool) and err["type"] in _NOT_A_BOOL:
                message += _bool_hint(self.booleans.get(loc))
            found.append(self.issue(loc, message))
        return found


_NOT_A_BOOL = frozenset({"string_type", "literal_error", "enum", "string_pattern_mismatch"})


def _bool_hint(source: str | None) -> str:
    if source is None:
        return ""
    return f"; YAML reads the bare word {source} as a boolean: quote it ('{source}') if you meant the name"


def _message(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = err["type"]
    loc = err["loc"]
    value = err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = list(model.model_fields) if len(loc) == 1 else []
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listed = f" (allowed keys: {', '.join(allowed)})" if allowed and not close else ""
        return f"unknown key '{key}'{hint}{listed}"
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return "must not be empty" if least == 1 else f"needs at least {least} items"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "name":
        return f"use only letters, digits, '-' and '_' (got {_short.repr(value)})"
    message = str(err["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return message
    if kind == "assertion_error":
        return message.removeprefix("Assertion failed, ")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {_short.repr(value)})"
    return message
