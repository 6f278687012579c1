"""A checked, compiled set of flows: what the engine runs and what hot reload swaps.

Each flow is compiled once into one `transitions.Machine` shared by every conversation
(no Machine per user: one per user costs memory and start-up per user). The conversation's
state lives in the database, so the machine moves a stand-in: each thread keeps its own
cursors, attached to the machine once and set to the conversation's state before each
trigger (`fire`). Attaching a model for every trigger and detaching it after cost 85-266 µs
a fire (`add_model` binds a partial per trigger and scans `Machine.models`), setting the
state ~1 µs; bench/engine.py prints `fire_us`.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from transitions import Machine

from .checker import check_flows, parse_all, slot_names
from .errors import FlowConfigError
from .flows import Flow
from .registry import Registry
from .templates import Templates

__all__ = ["FlowSet", "load_flowset", "check_flowset"]


class _Cursor:
    """The model transitions moves: only a `state` attribute, set before each trigger."""
    state: str


@dataclass
class FlowSet:
    flows: dict[str, Flow]
    templates: Templates
    menu_flow: str
    commands: dict[str, str]
    slot_names: set[str]
    version: str
    machines: dict[str, Machine] = field(default_factory=dict)
    slot_defaults: dict[str, None] = field(default_factory=dict)
    # per thread: flow -> its idle cursors. Engine steps run in worker threads at once, and
    # a cursor is one conversation's position while it moves; per FlowSet, so a reload's new
    # machines get new cursors and the old ones go with the old set
    _idle: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.slot_defaults = dict.fromkeys(self.slot_names)

    def fire(self, flow: str, state: str, trigger: str, scope: Any) -> str | None:
        """Run `trigger` from `state`; the destination, or None when no transition passed."""
        machine = self.machines[flow]
        idle = self._idle_cursors(flow)
        # taken off the list while it moves: a fire inside a condition gets a cursor of its own
        cursor = idle.pop() if idle else self._new_cursor(machine, state)
        try:
            machine.set_state(state, model=cursor)     # ValueError for a state the flow lacks
            moved = cursor.trigger(trigger, scope=scope)
            return cursor.state if moved else None
        finally:
            idle.append(cursor)

    def _idle_cursors(self, flow: str) -> list[_Cursor]:
        cursors = getattr(self._idle, "by_flow", None)
        if cursors is None:
            cursors = self._idle.by_flow = {}
        return cursors.setdefault(flow, [])

    @staticmethod
    def _new_cursor(machine: Machine, state: str) -> _Cursor:
        """A cursor attached to `machine` for good (once per thread, flow and nesting depth)."""
        cursor = _Cursor()
        machine.add_model(cursor, initial=state)
        return cursor

    def has_state(self, flow: str | None, state: str | None) -> bool:
        return flow in self.flows and state in self.flows[flow].states


def check_flowset(flows_dir: str, templates_dir: str, registry: Registry, *, languages: list[str],
                  default_language: str, menu_flow: str, commands: dict[str, str],
                  root: str = "", timezone: str = "UTC",
                  restricted=None) -> tuple[dict[str, Flow], Templates, list[str]]:
    """Both passes over the files: (flows, templates, every problem found). `restricted`:
    see `check_flows` (variables templates may read only some paths of)."""
    flows, problems = parse_all(flows_dir, root)
    templates = Templates(templates_dir, languages, default_language, timezone, registry.filters)
    problems += check_flows(flows, templates, registry, menu_flow=menu_flow,
                            commands=commands, root=root, restricted=restricted)
    return flows, templates, problems


def load_flowset(flows_dir: str, templates_dir: str, registry: Registry, **options) -> FlowSet:
    """Check and compile the flow set; raise FlowConfigError listing every problem."""
    flows, templates, problems = check_flowset(flows_dir, templates_dir, registry, **options)
    if problems:
        raise FlowConfigError(problems)
    templates.preload()   # the checked texts are the served ones, even after a file is edited
    fs = FlowSet(flows, templates, options["menu_flow"], dict(options["commands"]),
                 slot_names(flows, registry), _version(flows_dir, templates_dir))
    fs.machines = {name: _compile(flow, templates) for name, flow in flows.items()}
    return fs


def _compile(flow: Flow, templates: Templates) -> Machine:
    machine = Machine(model=None, states=list(flow.states), initial=flow.start,
                      auto_transitions=False, send_event=True)
    for st in flow.states.values():
        for t in st.next:
            conditions = [_condition(templates, t.cond)] if t.cond else []
            machine.add_transition("next", st.name, t.go, conditions=conditions)
        for target in sorted(_button_gos(st)):
            machine.add_transition("go_" + target, st.name, target)
    return machine


def _button_gos(st) -> set[str]:
    gos = {b.go for b in st.all_buttons() if b.go}
    return gos | ({st.dynamic.go} if st.dynamic and st.dynamic.go else set())


def _condition(templates: Templates, source: str) -> Callable:
    expr = templates.expression(source)

    def check(event_data) -> bool:
        return bool(expr(**event_data.kwargs["scope"].variables()))
    check.__name__ = f"if {source}"
    return check


def _version(*folders: str) -> str:
    """A hash of every flow and template file: changes when an admin edits one."""
    digest = hashlib.sha1()
    for folder in folders:
        for base, _, files in sorted(os.walk(folder)):
            for name in sorted(files):
                path = os.path.join(base, name)
                digest.update(path.encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:12]
