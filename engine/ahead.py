"""The questions a flow will ask from a state on, as far as what is known now decides it.

A dialog that announces "N questions" counts them here instead of writing the number into
a text: adding or skipping a question in the YAML changes the count by itself. The walk
follows the flow from `start`: a state whose `when` is false now is skipped; a state with
`ask` is counted; a `next` with conditions is evaluated now, except right after a question
(its answer may decide the way). It stops where the way depends on something not known
yet: an action (`do`), buttons, a sub-flow (`call`), the end, or a state seen before.
"""
from __future__ import annotations

from typing import Callable

from .flowmodel import Flow, State

__all__ = ["asks_ahead"]

MAX_STATES = 100          # a walk through more states than any dialog has is a loop


def asks_ahead(flow: Flow, start: str, condition: Callable[[str], bool]) -> list[str]:
    """Names of the states with `ask` that `flow` reaches from `start`, in order.

    `condition` evaluates a `when`/`if` source with the conversation's variables now."""
    asks: list[str] = []
    name, seen = start, set()
    while name in flow.states and name not in seen and len(seen) < MAX_STATES:
        seen.add(name)
        st = flow.states[name]
        skipped = st.when is not None and not condition(st.when[0])
        if not skipped and _decided_later(st):
            break
        if not skipped and st.ask:
            asks.append(name)
        name = _next(st, condition, after_question=bool(st.ask) and not skipped)
    return asks


def _decided_later(st: State) -> bool:
    return bool(st.do or st.buttons or st.dynamic or st.call or st.end)


def _next(st: State, condition: Callable[[str], bool], *, after_question: bool) -> str | None:
    for t in st.next:
        if t.cond is None:
            return t.go
        if after_question:
            return None
        if condition(t.cond):
            return t.go
    return None
