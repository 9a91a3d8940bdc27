"""Rule types by name: the built-ins plus plugins registered under ``imgpipe.rules``.

A plugin that cannot be used (import error, ``sys.exit`` or output while being imported, an
abstract class, no ``Literal`` type, no docstring nor summary, ...) never breaks the others: it
is recorded in :attr:`Registry.broken` with a message naming the plugin, and a rules file that
uses its type gets that message at the rule's ``type`` line.
"""

from __future__ import annotations

import inspect
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import get_args

from rules._guard import plugin_code
from rules.base import Rule
from rules.builtin import BUILTIN_RULES
from rules.custom import CustomLabelsRule
from rules.errors import PluginError
from rules.faces import FacesRule
from rules.ppe import ProtectiveEquipmentRule

ENTRY_POINT_GROUP = "imgpipe.rules"
BUILTIN = "built-in"


def rule_type_name(cls: type[Rule]) -> str:
    """The tag of a rule class: the single value of its ``type: Literal[...]`` field."""
    field_info = cls.model_fields.get("type")
    values = get_args(field_info.annotation) if field_info is not None else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise PluginError(f"{cls.__qualname__}.type must be declared as Literal['<type name>']")
    return values[0]


def rule_summary(cls: type[Rule]) -> str:
    """The one-line description of a rule type: ``summary``, else its docstring's first line."""
    if cls.summary:
        return cls.summary
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return doc.splitlines()[0] if doc else ""


def rule_class_problems(cls: object) -> list[str]:
    """Why ``cls`` cannot be a rule type (empty when it is fine)."""
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        return [f"{cls!r} is not a subclass of rules.Rule"]
    problems = []
    if inspect.isabstract(cls):
        missing = ", ".join(f"{m}()" for m in sorted(getattr(cls, "__abstractmethods__", ())))
        problems.append(f"{cls.__qualname__} does not implement {missing}")
    try:
        rule_type_name(cls)
    except PluginError as exc:
        problems.append(str(exc))
    if not rule_summary(cls):
        problems.append(
            f"{cls.__qualname__} has neither a docstring nor a `summary` (shown by `imgpipe rules types`)"
        )
    return problems


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """Where a plugin rule type comes from."""

    type: str
    entry_point: str  # "module:Class"
    distribution: str | None  # the installed distribution's name
    version: str | None

    @property
    def origin(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "unknown distribution"
        return f"plugin {self.entry_point!r} ({dist})"


@dataclass
class Registry:
    """Known rule types, and plugins that failed to load (reported when a file uses them)."""

    types: dict[str, type[Rule]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)  # loaded and broken ones

    def register(self, cls: type[Rule], origin: str = BUILTIN) -> None:
        problems = rule_class_problems(cls)
        if problems:
            raise PluginError(f"{origin}: " + "; ".join(problems))
        name = rule_type_name(cls)
        if name in self.types:
            raise PluginError(f"{origin}: rule type '{name}' is already provided by {self.origin[name]}")
        self.types[name] = cls
        self.origin[name] = origin

    def get(self, name: str) -> type[Rule] | None:
        return self.types.get(name)

    def is_plugin(self, name: str) -> bool:
        return self.origin.get(name, BUILTIN) != BUILTIN

    @property
    def names(self) -> list[str]:
        return sorted(self.types)

    def load_plugin(self, ep: EntryPoint) -> None:
        """Register one entry point; on any problem record it in :attr:`broken` instead."""
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, ep.value, dist.name if dist else None, dist.version if dist else None)
        self.plugins[ep.name] = info
        try:
            cls = _load_quietly(ep)
            if isinstance(cls, type) and issubclass(cls, Rule) and not rule_class_problems(cls):
                declared = rule_type_name(cls)
                if declared != ep.name:
                    raise PluginError(f"entry point '{ep.name}' loads a class whose type is '{declared}'")
            self.register(cls, info.origin)  # type: ignore[arg-type]  # register() checks it
        except PluginError as exc:
            self.broken[ep.name] = f"{info.origin} is broken: {str(exc).removeprefix(info.origin + ': ')}"
        except Exception as exc:  # a broken plugin must not break the other rule types
            self.broken[ep.name] = f"{info.origin} failed to load: {type(exc).__name__}: {exc}"


def _load_quietly(ep: EntryPoint) -> object:
    """``ep.load()`` with its output captured: ``sys.exit`` and printing count as broken."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with plugin_code(), redirect_stdout(out), redirect_stderr(err):
            loaded = ep.load()
    except SystemExit as exc:
        raise PluginError(f"called sys.exit({exc.code!r}) while being imported") from None
    finally:
        if err.getvalue():
            sys.stderr.write(err.getvalue())
    printed = out.getvalue().strip()
    if printed:
        first = printed.splitlines()[0][:80]
        raise PluginError(
            f"printed to stdout while being imported ({first!r}); plugins must not print "
            "(it would corrupt JSON output): use logging"
        )
    return loaded


def build_registry(load_plugins: bool = True) -> Registry:
    """A fresh registry with the built-ins and (by default) every installed plugin."""
    registry = Registry()
    builtins: tuple[type[Rule], ...] = (*BUILTIN_RULES, FacesRule, ProtectiveEquipmentRule, CustomLabelsRule)
    for cls in builtins:
        registry.register(cls)
    if not load_plugins:
        return registry
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        registry.load_plugin(ep)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (entry points are scanned once)."""
    return build_registry()
