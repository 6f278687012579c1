"""What a parsed flow file is: `Flow`, its `State`s and their parts, each remembering where
it came from (`Pos`: file, line, column) so every problem can point at its line.

`engine.flows` builds these from YAML; the checker, the interpreter and the diagrams read
them. `CONTINUE` is the one target of `on:` that is not a state: the outcome carries on
with the rest of the same state (its `say`, question, buttons, `next`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Pos", "Flow", "State", "ButtonSpec", "DynButtons", "ActionCall", "Transition",
           "CONTINUE"]

CONTINUE = "continue"


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Transition:
    go: str
    cond: str | None
    pos: Pos
    cond_pos: Pos | None = None     # where the `if` is (condition errors point there)


@dataclass
class ButtonSpec:
    pos: Pos
    text: str = ""
    go: str | None = None
    value: Any = None
    save: str | None = None
    when: str | None = None
    url: str | None = None
    text_pos: Pos | None = None     # where `text` is (a missing label template points there)
    when_pos: Pos | None = None


@dataclass
class DynButtons:
    pos: Pos
    source: str
    save: str | None = None
    go: str | None = None
    args: dict = field(default_factory=dict)
    columns: int = 1
    extra: list[ButtonSpec] = field(default_factory=list)
    empty: str | None = None


@dataclass
class ActionCall:
    name: str
    pos: Pos
    args: dict = field(default_factory=dict)
    save: str | None = None


@dataclass
class State:
    name: str
    pos: Pos
    say: list[tuple[str, Pos]] = field(default_factory=list)
    ask: dict | None = None
    ask_pos: Pos | None = None
    buttons: list[ButtonSpec] = field(default_factory=list)
    dynamic: DynButtons | None = None
    do: list[ActionCall] = field(default_factory=list)
    next: list[Transition] = field(default_factory=list)
    call: tuple[str, Pos] | None = None
    end: bool = False
    when: tuple[str, Pos] | None = None
    timeout: dict | None = None
    timeout_pos: Pos | None = None
    edit: bool = False
    on: dict[str, tuple[str, Pos]] = field(default_factory=dict)   # outcome -> (state, where)
    on_pos: Pos | None = None

    @property
    def waits(self) -> bool:
        """A state that stops and waits for the user."""
        return bool(self.ask or self.buttons or self.dynamic)

    def targets(self) -> list[tuple[str, Pos]]:
        """Every state this one can lead to within the flow."""
        out = [(t.go, t.pos) for t in self.next]
        out += [(go, pos) for go, pos in self.on.values() if go != CONTINUE]
        out += [(b.go, b.pos) for b in self.buttons if b.go]
        if self.dynamic:
            out += [(self.dynamic.go, self.dynamic.pos)] if self.dynamic.go else []
            out += [(b.go, b.pos) for b in self.dynamic.extra if b.go]
        return out

    def all_buttons(self) -> list[ButtonSpec]:
        return self.buttons + (self.dynamic.extra if self.dynamic else [])


@dataclass
class Flow:
    name: str
    file: str
    pos: Pos
    start: str = ""
    start_pos: Pos | None = None
    states: dict[str, State] = field(default_factory=dict)
    description: str = ""
