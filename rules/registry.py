"""Rule types by name: the built-ins plus plugins registered under ``imgpipe.rules``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import get_args

from rules.base import Rule
from rules.builtin import BUILTIN_RULES
from rules.errors import PluginError

ENTRY_POINT_GROUP = "imgpipe.rules"


def rule_type_name(cls: type[Rule]) -> str:
    """The tag of a rule class: the single value of its ``type: Literal[...]`` field."""
    annotation = cls.model_fields["type"].annotation
    values = get_args(annotation)
    if len(values) != 1 or not isinstance(values[0], str):
        raise PluginError(f"{cls.__qualname__}.type must be declared as Literal['<type name>']")
    return values[0]


@dataclass
class Registry:
    """Known rule types, and plugins that failed to load (reported when a file uses them)."""

    types: dict[str, type[Rule]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def register(self, cls: type[Rule], origin: str = "built-in") -> None:
        if not (isinstance(cls, type) and issubclass(cls, Rule)):
            raise PluginError(f"{origin}: {cls!r} is not a subclass of rules.Rule")
        name = rule_type_name(cls)
        if name in self.types:
            raise PluginError(f"{origin}: rule type '{name}' is already provided by {self.origin[name]}")
        self.types[name] = cls
        self.origin[name] = origin

    def get(self, name: str) -> type[Rule] | None:
        return self.types.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self.types)


def build_registry(load_plugins: bool = True) -> Registry:
    """A fresh registry with the built-ins and (by default) every installed plugin."""
    registry = Registry()
    for cls in BUILTIN_RULES:
        registry.register(cls)
    if not load_plugins:
        return registry
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"plugin {ep.value!r} ({ep.dist.name if ep.dist else 'unknown distribution'})"
        try:
            cls = ep.load()
            registry.register(cls, origin)
            declared = rule_type_name(cls)
            if declared != ep.name:
                del registry.types[declared], registry.origin[declared]
                raise PluginError(
                    f"{origin}: entry point '{ep.name}' loads a class whose type is '{declared}'"
                )
        except Exception as exc:  # a broken plugin must not break the other rule types
            registry.broken[ep.name] = f"{origin} failed to load: {exc}"
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (entry points are scanned once)."""
    return build_registry()
