"""Names a flow may use, in one registry: actions, predicates, context providers,
callback-prefix handlers, commands answered in code (not a dialog: `/staff` in a group),
handlers of events that are not dialog input, handlers of the messages of a kind of chat (a
group's chatter is no dialog input), the fallback answers
of events a handler left unanswered, input types of `ask` (with the hint templates each may
answer with), template filters, and the texts code outside any action renders by name.

Actions, callbacks and event handlers declare a contract (engine.contracts) as they are
registered: what they read, give and report, and the templates and flows they name; the
checker reads `contracts` to hold the flows and the texts to them.

Every kind has a `register_*` method and a decorator that is sugar over it (as Flask's
`route` over `add_url_rule`). A name can be registered once per kind; after `freeze()`
(done when the engine starts) nothing can be added and the tables are read-only, so the
checker's view of the registry is the one the running bot uses.

The engine's own input types and filters are not module globals: `engine.builtins.register`
puts them into the registry an engine is given. A project extends the class with its own
kinds (helpdesk.registry adds jobs and sync entities) through `_add`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable

from .contracts import Contract, _names, contract_of

__all__ = ["Registry", "ActionSpec", "InputType"]

# validator(event, ask spec) -> (True, value) or (False, name of the hint template)
InputType = Callable[[Any, dict], tuple[bool, Any]]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    fn: Callable[..., Any]
    contract: Contract = Contract()
    doc: str = ""

    @property
    def gives(self) -> tuple[str, ...]:
        return self.contract.gives

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.contract.outcomes


def _table():
    return field(default_factory=dict)


@dataclass
class Registry:
    actions: dict[str, ActionSpec] = _table()
    predicates: dict[str, Callable[..., bool]] = _table()
    providers: dict[str, Callable[..., Any]] = _table()
    callbacks: dict[str, Callable[..., Any]] = _table()
    commands: dict[str, Callable[..., Any]] = _table()     # name -> fn(ctx, args: str)
    event_handlers: dict[str, Callable[..., Any]] = _table()
    chat_handlers: dict[str, Callable[..., bool]] = _table()    # chat type -> fn(ctx) -> taken
    chat_commands: dict[str, bool] = _table()   # chat type -> its handler sees dialog commands
    fallbacks: dict[str, Callable[..., list]] = _table()
    input_types: dict[str, InputType] = _table()
    input_hints: dict[str, tuple[str, ...]] = _table()   # type -> templates it may answer with
    filters: dict[str, Callable[..., Any]] = _table()
    contracts: dict[str, Contract] = _table()    # "action NAME" / "callback PREFIX" / "event KIND"
                                                 # / "command NAME" / "chat TYPE"
    frozen: bool = False

    # -- register_* : the one way in -------------------------------------------------------
    def register_action(self, name: str, fn: Callable, **contract) -> None:
        """`contract`: reads, gives, outcomes, templates, flows (engine.contracts.Contract)."""
        spec = ActionSpec(name, fn, contract_of(fn, **contract), (fn.__doc__ or "").strip())
        self._add(self.actions, name, spec)
        self._add(self.contracts, f"action {name}", spec.contract)

    def register_predicate(self, name: str, fn: Callable[..., bool]) -> None:
        self._add(self.predicates, name, fn)

    def register_provider(self, name: str, fn: Callable[..., Any]) -> None:
        self._add(self.providers, name, fn)

    def register_callback(self, prefix: str, fn: Callable[..., Any], **contract) -> None:
        """`contract`: templates, flows (and the gives of the flows it starts)."""
        self._add(self.callbacks, _callback_prefix(prefix), fn)
        self._add(self.contracts, f"callback {prefix}", contract_of(fn, **contract))

    def register_command(self, name: str, fn: Callable[..., Any], **contract) -> None:
        """`fn(ctx, args)` answers `/name args` in any chat, before settings' commands (which
        start a flow): a one-shot command with no dialog to end in (a flow's end shows the
        menu, which a group must not get). `contract`: templates, flows."""
        self._add(self.commands, name.lower(), fn)
        self._add(self.contracts, f"command {name.lower()}", contract_of(fn, **contract))

    def register_event_handler(self, kind: str, fn: Callable[..., Any], **contract) -> None:
        self._add(self.event_handlers, kind, fn)
        self._add(self.contracts, f"event {kind}", contract_of(fn, **contract))

    def register_chat_handler(self, chat_type: str, fn: Callable[..., bool], *,
                              commands: bool = False, **contract) -> None:
        """`fn(ctx)` sees every message of a chat of `chat_type` (Event.chat_type) before the
        dialogs do, except commands and button presses (they keep their ordinary ways); it
        returns True when it took the message, False to leave it to the dialogs. With
        `commands`, it sees the commands that start a dialog too (`ctx.is_dialog_command()`:
        a group answers them without opening a dialog in front of everyone); commands
        answered in code keep their way still."""
        self._add(self.chat_handlers, chat_type, fn)
        self._add(self.chat_commands, chat_type, commands)
        self._add(self.contracts, f"chat {chat_type}", contract_of(fn, **contract))

    def register_fallback(self, kind: str, fn: Callable[..., list]) -> None:
        self._add(self.fallbacks, kind, fn)

    def register_input_type(self, name: str, fn: InputType, hints=()) -> None:
        """`hints`: every template `fn` may answer with; the checker requires them."""
        self._add(self.input_types, name, fn)
        self._add(self.input_hints, name, tuple(hints))

    def register_filter(self, name: str, fn: Callable[..., Any]) -> None:
        self._add(self.filters, name, fn)

    def register_texts(self, owner: str, templates) -> None:
        """Templates that code outside any action renders by name (a job, the API, the
        demo's banner): declared like a contract's, so `flows check` holds them to exist
        in every language and counts them among the texts it traces. Call it at the
        module's top level; the checker's messages point to that line."""
        caller = sys._getframe(1)
        where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        self._add(self.contracts, f"texts {owner}", Contract(templates=_names(templates), where=where))

    # -- decorators: sugar over register_* --------------------------------------------------
    def action(self, name: str | None = None, **contract):
        """Decorator: `@registry.action("place_order", reads=("item",), gives=("order",),
        outcomes=("placed", "sold_out"), templates=("shop/sold_out",))`."""
        return _decorator(lambda fn: self.register_action(name or fn.__name__, fn, **contract))

    def predicate(self, name: str | None = None):
        """Decorator for a named condition usable in `if:`/`when:` as `is_registered()`."""
        return _decorator(lambda fn: self.register_predicate(name or fn.__name__, fn))

    def provider(self, name: str):
        """Decorator for a template variable computed per step, e.g. `user`."""
        return _decorator(lambda fn: self.register_provider(name, fn))

    def callback(self, prefix: str, **contract):
        """Decorator for inline buttons outside dialogs, e.g. `wg:take:12` in a group."""
        _callback_prefix(prefix)                        # refused at the decorator's line
        return _decorator(lambda fn: self.register_callback(prefix, fn, **contract))

    def command(self, name: str, **contract):
        """Decorator for a command answered in code: `@registry.command("staff")`."""
        return _decorator(lambda fn: self.register_command(name, fn, **contract))

    def on_event(self, kind: str, **contract):
        """Decorator for events that are not dialog input, by `Event.kind`."""
        return _decorator(lambda fn: self.register_event_handler(kind, fn, **contract))

    def on_chat(self, chat_type: str, *, commands: bool = False, **contract):
        """Decorator for the messages of chats of a type: `@registry.on_chat("group")`, so
        a group's chatter never starts a dialog (see register_chat_handler)."""
        return _decorator(lambda fn: self.register_chat_handler(chat_type, fn, commands=commands,
                                                                **contract))

    def fallback(self, kind: str):
        """Decorator for the answer to an event of `kind` that must be answered when its
        handler gave none (it failed: the step rolled back): `fn(event, templates)` returns
        the replies. Telegram fails a pre-checkout query left unanswered for 10 s, so
        the transport asks for this answer instead."""
        return _decorator(lambda fn: self.register_fallback(kind, fn))

    def input_type(self, name: str, *, hints=()):
        """Decorator for an `ask: {type: NAME}` validator (see engine.inputs); `hints` are
        the templates it may answer with."""
        return _decorator(lambda fn: self.register_input_type(name, fn, hints))

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
