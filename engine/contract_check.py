"""The checker's view of the contracts (engine.contracts): flows held to what the Python
code they call promises, and the Python code held to the texts and flows it names.

* a `do` state maps every outcome of its actions in `on:`, and nothing else;
* a name some action gives is read (in a condition, a text, an action's `with`) only where
  every way from the flow's start has given it: a name read after an action that does not
  give it is reported;
* what an action reads is something a state saves or some action gives;
* every template a contract names exists in every language, every flow it starts exists.

Every problem is `file:line:col: message` (a contract's problems point at the function's
`file:line`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from jinja2 import TemplateSyntaxError

from .flowmodel import CONTINUE, Flow, Pos, State
from .registry import Registry
from .templates import Templates

__all__ = ["outcome_problems", "flow_given_problems", "contract_problems", "state_saves",
           "started_with"]


# -- on: every outcome mapped ---------------------------------------------------------------
def outcome_problems(flow: Flow, st: State, registry: Registry) -> Iterator[str]:
    outcomes = {o: c.name for c in st.do if c.name in registry.actions
                for o in registry.actions[c.name].outcomes}
    for outcome, action in outcomes.items():
        if outcome not in st.on:
            where = st.on_pos or next(c.pos for c in st.do if c.name == action)
            yield (f"{where}: outcome '{outcome}' of action '{action}' has no state: add "
                   f"'on: {{{outcome}: <state>}}' (or '{CONTINUE}' to go on with this state)")
    for outcome, (_, pos) in st.on.items():
        if outcome not in outcomes:
            reported = ", ".join(sorted(outcomes)) or "nothing (no action of this state has outcomes)"
            yield f"{pos}: no action of state '{st.name}' reports outcome '{outcome}'; they report: {reported}"
    if CONTINUE in flow.states:
        yield f"{flow.states[CONTINUE].pos}: '{CONTINUE}' is not a state name: in 'on:' it means 'go on here'"


# -- names given before they are read -----------------------------------------------------
def state_saves(st: State, registry: Registry) -> set[str]:
    """What entering and leaving `st` may put into the slots."""
    out = {b.save for b in st.all_buttons() if b.save}
    out |= {c.save for c in st.do if c.save}
    out |= {g for c in st.do if c.name in registry.actions for g in registry.actions[c.name].gives}
    if st.ask and st.ask.get("save"):
        out.add(str(st.ask["save"]))
    if st.dynamic:
        out |= {st.dynamic.save} if st.dynamic.save else set()
        spec = registry.actions.get(st.dynamic.source)
        out |= set(spec.gives) if spec else set()
    return out


def started_with(registry: Registry) -> dict[str, set[str]]:
    """flow -> the slots Python code that starts it gives (a callback's contract)."""
    out: dict[str, set[str]] = {}
    for contract in registry.contracts.values():
        for flow in contract.flows:
            out.setdefault(flow, set()).update(contract.gives)
    return out


def flow_given_problems(flows: dict[str, Flow], templates: Templates, registry: Registry,
                        free: set[str], fresh: set[str]) -> list[str]:
    """Names actions give, read where some way from the flow's start has not given them.
    `free`: names that are always there (providers, predicates, the engine's own);
    `fresh`: flows that commands (and the menu) start with empty slots."""
    given_by: dict[str, list[str]] = {}
    for name, spec in registry.actions.items():
        for g in spec.gives:
            given_by.setdefault(g, []).append(name)
    given_in = _given_on_entry(flows, registry, fresh)
    problems = []
    for flow in flows.values():
        for st in flow.states.values():
            before = given_in.get((flow.name, st.name))
            if before is None:          # unreachable: reported as such elsewhere
                continue
            after = before | state_saves(st, registry)
            for name, pos, has in _reads(st, templates, before, after, registry):
                if name in given_by and name not in has and name not in free:
                    problems.append(_not_given(flow, st, name, pos, given_by[name], registry))
    return problems


def _not_given(flow: Flow, st: State, name: str, pos: Pos, givers: list[str], registry) -> str:
    mine = [c.name for c in st.do if c.name in registry.actions]
    after = f"after action '{mine[-1]}', which does not give it" if mine else \
        f"where not every way from '{flow.start}' has given it"
    return f"{pos}: '{name}' is read {after}; it is given by {', '.join(sorted(givers))}"


def _given_on_entry(flows: dict[str, Flow], registry: Registry,
                    fresh: set[str]) -> dict[tuple[str, str], set[str]]:
    """(flow, state) -> the names given on every way into the state (a must-analysis over
    the flows; a flow starts with what every starter gives: nothing for a command, the
    calling state's slots for `call`, a callback's `gives` for a flow it starts)."""
    universe = set().union(*(state_saves(st, registry) for f in flows.values() for st in f.states.values()),
                           *started_with(registry).values())
    starts = started_with(registry)
    callers = {(f.name, st.name): st.call[0] for f in flows.values() for st in f.states.values() if st.call}
    into: dict[tuple[str, str], set[str]] = {}
    for _ in range(4 * len(flows) + 4):         # narrows only: ends long before this
        changed = False
        for flow in flows.values():
            entry = _flow_entry(flow, flows, registry, into, callers, starts, universe, fresh)
            for key, value in _must(flow, registry, entry, into, universe).items():
                if into.get(key) != value:
                    into[key], changed = value, True
        if not changed:
            break
    return into


def _flow_entry(flow, flows, registry, into, callers, starts, universe, fresh) -> set[str]:
    ways = [starts[flow.name]] if flow.name in starts else []
    if flow.name in fresh:
        ways.append(set())          # started by a command (or as the menu): fresh slots
    for (parent, state), called in callers.items():
        if called == flow.name and (parent, state) in into:
            st = flows[parent].states[state]
            ways.append(into[(parent, state)] | state_saves(st, registry))
    return set.intersection(*ways) if ways else set(universe)


def _must(flow: Flow, registry, entry: set[str], into, universe) -> dict[tuple[str, str], set[str]]:
    if flow.start not in flow.states:
        return {}
    state_in = {flow.start: set(entry)}
    queue = [flow.start]
    while queue:
        name = queue.pop()
        st = flow.states[name]
        out = state_in[name] | state_saves(st, registry)
        for target, _ in st.targets():
            if target not in flow.states:
                continue
            new = out if target not in state_in else state_in[target] & out
            if target not in state_in or new != state_in[target]:
                state_in[target] = new
                queue.append(target)
    return {(flow.name, n): v for n, v in state_in.items()}


def _reads(st: State, t: Templates, before: set[str], after: set[str], registry) -> Iterator:
    """(name, where, what is given there) for every name the state reads."""
    if st.when:
        yield from ((v, st.when[1], before) for v in _expr_vars(t, st.when[0]))
    has = set(before)
    for call in st.do:
        yield from ((v, call.pos, has) for value in call.args.values() for v in _value_vars(t, value))
        spec = registry.actions.get(call.name)
        has = has | (set(spec.gives) if spec else set()) | ({call.save} if call.save else set())
    for text, pos in st.say:
        yield from ((v, pos, after) for v in _template_vars(t, text))
    for b in st.all_buttons():
        if b.text:
            yield from ((v, b.text_pos or b.pos, after) for v in _template_vars(t, b.text))
        if b.when:
            yield from ((v, b.when_pos or b.pos, after) for v in _expr_vars(t, b.when))
    if st.dynamic:
        yield from ((v, st.dynamic.pos, before) for value in st.dynamic.args.values()
                    for v in _value_vars(t, value))
    for tr in st.next:
        if tr.cond:
            yield from ((v, tr.cond_pos or tr.pos, after) for v in _expr_vars(t, tr.cond))


def _expr_vars(t: Templates, source: str) -> set[str]:
    try:
        return t.expression_variables(source)
    except TemplateSyntaxError:
        return set()                   # reported with the condition


def _value_vars(t: Templates, value) -> set[str]:
    return _expr_vars(t, value) if isinstance(value, str) and "{{" in value else set()


def _template_vars(t: Templates, name: str) -> set[str]:
    if not t.exists(name, t.default):
        return set()                   # reported as missing
    try:
        return t.variables(name, t.default)
    except TemplateSyntaxError:
        return set()


# -- what the Python side names -----------------------------------------------------------
def contract_problems(flows: dict[str, Flow], templates: Templates, registry: Registry,
                      known: set[str], root: str = "") -> list[str]:
    """Templates a contract names exist in every language; flows it starts exist; what an
    action of these flows reads is saved or given somewhere."""
    used = {f"action {c.name}" for f in flows.values() for st in f.states.values() for c in st.do}
    used |= {f"action {st.dynamic.source}" for f in flows.values() for st in f.states.values() if st.dynamic}
    problems = []
    for key, contract in sorted(registry.contracts.items()):
        where = contract.shown_where(root)
        for name in contract.templates:
            for lang in templates.languages:
                if not templates.exists(name, lang):
                    shown = templates.path(name, lang)
                    shown = os.path.relpath(shown, root) if root else shown
                    problems.append(f"{where}: {key} names template '{name}', which is missing "
                                    f"in '{lang}' ({shown})")
        for flow in contract.flows:
            if flow not in flows:
                problems.append(f"{where}: {key} starts flow '{flow}', which does not exist")
        for name in contract.reads if key in used or not key.startswith("action ") else ():
            if name not in known:
                problems.append(f"{where}: {key} reads '{name}', which no state saves and no "
                                "action gives")
    return problems
