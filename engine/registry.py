"""Names a flow may use, in one registry: actions, predicates, context providers,
callback-prefix handlers, handlers of non-dialog events (payments), the fallback answers of
events a handler left unanswered, input types of `ask` and template filters.

Every kind has a `register_*` method and a decorator that is sugar over it (as Flask's
`route` over `add_url_rule`). A name can be registered once per kind; after `freeze()`
(done when the engine starts) nothing can be added and the tables are read-only, so the
checker's view of the registry is the one the running bot uses.

The engine's own input types and filters are not module globals: `engine.builtins.register`
puts them into the registry an engine is given. A project extends the class with its own
kinds (helpdesk.registry adds jobs and sync entities) through `_add`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable

__all__ = ["Registry", "ActionSpec", "Go", "InputType"]

# validator(event, ask spec) -> (True, value) or (False, name of the hint template)
InputType = Callable[[Any, dict], tuple[bool, Any]]


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


def _table():
    return field(default_factory=dict)


@dataclass
class Registry:
    actions: dict[str, ActionSpec] = _table()
    predicates: dict[str, Callable[..., bool]] = _table()
    providers: dict[str, Callable[..., Any]] = _table()
    callbacks: dict[str, Callable[..., Any]] = _table()
    event_handlers: dict[str, Callable[..., Any]] = _table()
    fallbacks: dict[str, Callable[..., list]] = _table()
    input_types: dict[str, InputType] = _table()
    filters: dict[str, Callable[..., Any]] = _table()
    frozen: bool = False

    # -- register_* : the one way in -------------------------------------------------------
    def register_action(self, name: str, fn: Callable, provides=()) -> None:
        self._add(self.actions, name, ActionSpec(name, fn, tuple(provides), (fn.__doc__ or "").strip()))

    def register_predicate(self, name: str, fn: Callable[..., bool]) -> None:
        self._add(self.predicates, name, fn)

    def register_provider(self, name: str, fn: Callable[..., Any]) -> None:
        self._add(self.providers, name, fn)

    def register_callback(self, prefix: str, fn: Callable[..., Any]) -> None:
        self._add(self.callbacks, _callback_prefix(prefix), fn)

    def register_event_handler(self, kind: str, fn: Callable[..., Any]) -> None:
        self._add(self.event_handlers, kind, fn)

    def register_fallback(self, kind: str, fn: Callable[..., list]) -> None:
        self._add(self.fallbacks, kind, fn)

    def register_input_type(self, name: str, fn: InputType) -> None:
        self._add(self.input_types, name, fn)

    def register_filter(self, name: str, fn: Callable[..., Any]) -> None:
        self._add(self.filters, name, fn)

    # -- decorators: sugar over register_* --------------------------------------------------
    def action(self, name: str | None = None, *, provides=()):
        """Decorator: `@registry.action("create_ticket", provides=["ticket"])`."""
        return _decorator(lambda fn: self.register_action(name or fn.__name__, fn, provides))

    def predicate(self, name: str | None = None):
        """Decorator for a named condition usable in `if:`/`when:` as `is_registered()`."""
        return _decorator(lambda fn: self.register_predicate(name or fn.__name__, fn))

    def provider(self, name: str):
        """Decorator for a template variable computed per step, e.g. `user`."""
        return _decorator(lambda fn: self.register_provider(name, fn))

    def callback(self, prefix: str):
        """Decorator for inline buttons outside dialogs, e.g. `wg:take:12` in a group."""
        _callback_prefix(prefix)                        # refused at the decorator's line
        return _decorator(lambda fn: self.register_callback(prefix, fn))

    def on_event(self, kind: str):
        """Decorator for events that are not dialog input: `pre_checkout`, `payment`."""
        return _decorator(lambda fn: self.register_event_handler(kind, fn))

    def fallback(self, kind: str):
        """Decorator for the answer to an event of `kind` that must be answered when its
        handler gave none (it failed: the step rolled back): `fn(event, templates)` returns
        the replies. Telegram fails a pre-checkout query left unanswered for 10 s, so
        the transport asks for this answer instead."""
        return _decorator(lambda fn: self.register_fallback(kind, fn))

    def input_type(self, name: str):
        """Decorator for an `ask: {type: NAME}` validator (see engine.inputs)."""
        return _decorator(lambda fn: self.register_input_type(name, fn))

    def template_filter(self, name: str | None = None):
        """Decorator for a Jinja filter every template may use: `{{ x | NAME }}`."""
        return _decorator(lambda fn: self.register_filter(name or fn.__name__, fn))

    # -- start --------------------------------------------------------------------------------
    def freeze(self) -> None:
        """No more names: the tables become read-only views (idempotent)."""
        if self.frozen:
            return
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                setattr(self, f.name, MappingProxyType(value))
        self.frozen = True

    def _add(self, table: dict, name: str, value: Any) -> None:
        if self.frozen:
            raise RuntimeError(f"registry is frozen; cannot add {name!r} after start")
        if name in table:
            raise ValueError(f"{name!r} is registered twice")
        table[name] = value


def _decorator(register: Callable[[Callable], None]):
    """A decorator that registers the function and returns it unchanged."""
    def deco(fn):
        register(fn)
        return fn
    return deco


def _callback_prefix(prefix: str) -> str:
    """A callback prefix has no ':' and does not start with 'f' (the dialogs' own buttons)."""
    if ":" in prefix or prefix.startswith("f"):
        raise ValueError(f"callback prefix {prefix!r}: no ':' and not starting with 'f'")
    return prefix
