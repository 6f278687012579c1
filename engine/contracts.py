"""What Python code a flow calls promises, and the one door it goes through.

A `Contract` is declared when a name is registered (`@registry.action(..., reads=...,
gives=..., outcomes=..., templates=..., flows=...)`): the slots it reads, the slots it
gives, the outcomes it reports (a `do` state maps each in `on:`), the templates it names
and the flows it starts. The checker holds the flows to it; the interpreter holds the
code to it (an action that reports an outcome or gives a slot it did not declare fails
with `flow/state/action`).

An action reports one way only: it returns the values it gives (a dict, or None), or,
when it declares outcomes, an `Outcome` naming one of them with the values.

`ActionContext` is everything such code may touch: slots, texts, buttons, replies,
starting a flow for a chat, and the services. The interpreter's `Step` implements it;
nothing else of the interpreter (session fields, states, the flow set) is part of it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .errors import ActionError
from .events import Button, Event, Reply

__all__ = ["Contract", "Outcome", "ActionContext", "Texts", "contract_of", "results_of"]


@dataclass(frozen=True)
class Contract:
    """What a registered function promises; `where` is its `file:line`."""
    reads: tuple[str, ...] = ()
    gives: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    where: str = ""

    def shown_where(self, root: str = "") -> str:
        """`file:line` relative to `root` (the project folder) when given."""
        path, _, line = self.where.rpartition(":")
        return f"{os.path.relpath(path, root) if root and path else path}:{line}"


def contract_of(fn: Callable, *, reads=(), gives=(), outcomes=(), templates=(), flows=()) -> Contract:
    """The contract of `fn`, remembering where it is defined (checker messages point there)."""
    code = getattr(fn, "__code__", None)
    where = f"{code.co_filename}:{code.co_firstlineno}" if code else getattr(fn, "__qualname__", "?")
    return Contract(_names(reads), _names(gives), _names(outcomes), _names(templates),
                    _names(flows), where)


def _names(values) -> tuple[str, ...]:
    if isinstance(values, str):          # ("one") is a string, not a tuple: a common slip
        raise TypeError(f"contract names must be a list or tuple, got the string {values!r}")
    return tuple(str(v) for v in values)


class Outcome:
    """An action's report: one of its declared outcomes, and the slots it gives with it.

        return Outcome("placed", order=order_view(order))
    """
    __slots__ = ("name", "values")

    def __init__(self, name: str, **values: Any):
        self.name, self.values = name, values

    def __repr__(self) -> str:
        return f"Outcome({self.name!r}, {self.values!r})"


def results_of(name: str, contract: Contract, out: Any, where: str) -> tuple[str | None, dict]:
    """(outcome, given values) of what action `name` returned, held to its contract."""
    if isinstance(out, Outcome):
        if out.name not in contract.outcomes:
            raise ActionError(f"{where} action={name}", f"reported outcome {out.name!r}, which is "
                              f"not one of its outcomes {list(contract.outcomes)}")
        outcome, values = out.name, out.values
    elif contract.outcomes:
        raise ActionError(f"{where} action={name}", "declares outcomes "
                          f"{list(contract.outcomes)} but returned {type(out).__name__}, not an Outcome")
    else:
        outcome, values = None, out if isinstance(out, Mapping) else {}
    stray = sorted(set(values) - set(contract.gives))
    if stray:
        raise ActionError(f"{where} action={name}", f"gave {stray}, which its contract does not "
                          f"declare in gives {list(contract.gives)}")
    return outcome, dict(values)


class Texts(Protocol):
    """The texts (templates) of the running flow set, for services writing to other people."""
    default: str

    def render(self, name: str, lang: str | None, variables: dict) -> str: ...
    def render_label(self, name: str, lang: str | None, variables: dict) -> str: ...


class ActionContext(Protocol):
    """What an action, a provider, a callback or an event handler is given."""
    event: Event                   # what the user did (read only)
    services: Any                  # the application's services (helpdesk.app.Services)

    @property
    def user_id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def lang(self) -> str: ...
    @property
    def slots(self) -> MutableMapping[str, Any]: ...
    @property
    def templates(self) -> Texts: ...

    def variables(self, **extra) -> dict[str, Any]: ...
    def render(self, template: str, **extra) -> str: ...
    def label(self, template: str, **extra) -> str: ...
    def button(self, template: str, *, data: str | None = None, url: str | None = None,
               **extra) -> Button: ...
    def say(self, template: str, **extra) -> Reply: ...
    def answer(self, template: str = ..., **extra) -> Reply: ...
    def send(self, chat_id: int, template: str, lang: str | None = None, **extra) -> Reply: ...
    def reply(self, reply: Reply) -> Reply: ...
    def has_flow(self, name: str) -> bool: ...
    def is_dialog_command(self) -> bool: ...
    @property
    def in_dialog(self) -> bool: ...
    def asks_ahead(self, start: str) -> list[str]: ...
    def start_flow(self, name: str, slots: Mapping[str, Any] | None = None, *,
                   chat_id: int | None = None) -> None: ...
