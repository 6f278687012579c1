"""Names a flow may use, registered by decorators: actions, predicates, context providers,
callback-prefix handlers and handlers of non-dialog events (payments).

The decorators are sugar over `register_*` methods. A name can be registered once; after
`freeze()` (done when the engine starts) nothing can be added, so the checker's view of the
registry is the one the running bot uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Registry", "ActionSpec", "Go"]


@dataclass(frozen=True)
class Go:
    """An action's request to continue at another state of the current flow."""
    state: str


@dataclass
class ActionSpec:
    name: str
    fn: Callable[..., Any]
    provides: tuple[str, ...] = ()     # template variables the action's result offers
    doc: str = ""


@dataclass
class Registry:
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    predicates: dict[str, Callable[..., bool]] = field(default_factory=dict)
    providers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    callbacks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    event_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    frozen: bool = False

    def register_action(self, name: str, fn: Callable, provides=()) -> None:
        self._add(self.actions, name, ActionSpec(name, fn, tuple(provides), (fn.__doc__ or "").strip()))

    def action(self, name: str | None = None, *, provides=()):
        """Decorator: `@registry.action("create_ticket", provides=["ticket"])`."""
        def deco(fn):
            self.register_action(name or fn.__name__, fn, provides)
            return fn
        return deco

    def predicate(self, name: str | None = None):
        """Decorator for a named condition usable in `if:`/`when:` as `is_registered()`."""
        def deco(fn):
            self._add(self.predicates, name or fn.__name__, fn)
            return fn
        return deco

    def provider(self, name: str):
        """Decorator for a template variable computed per step, e.g. `user`."""
        def deco(fn):
            self._add(self.providers, name, fn)
            return fn
        return deco

    def callback(self, prefix: str):
        """Decorator for inline buttons outside dialogs, e.g. `wg:take:12` in a group."""
        if ":" in prefix or prefix.startswith("f"):
            raise ValueError(f"callback prefix {prefix!r}: no ':' and not starting with 'f'")
        def deco(fn):
            self._add(self.callbacks, prefix, fn)
            return fn
        return deco

    def on_event(self, kind: str):
        """Decorator for events that are not dialog input: `pre_checkout`, `payment`."""
        def deco(fn):
            self._add(self.event_handlers, kind, fn)
            return fn
        return deco

    def freeze(self) -> None:
        self.frozen = True

    def _add(self, table: dict, name: str, value: Any) -> None:
        if self.frozen:
            raise RuntimeError(f"registry is frozen; cannot add {name!r} after start")
        if name in table:
            raise ValueError(f"{name!r} is registered twice")
        table[name] = value
