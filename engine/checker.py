"""The second pass over flow files: cross references. Every problem of every file is
collected and reported as `flows/FILE.yaml:LINE:COL: message`; a flow set with problems is
never loaded (transitions checks target states lazily, so this is where bad names stop).
"""
from __future__ import annotations

import difflib
import glob
import os
from collections import deque
from collections.abc import Collection, Mapping

from jinja2 import TemplateSyntaxError

from . import contract_check
from .flowmodel import CONTINUE, Flow, Pos, State
from .flows import parse_flow_file
from .registry import Registry
from .templates import Templates, strip_braces

__all__ = ["check_flows", "parse_all", "traced_templates", "ENGINE_TEMPLATES", "BUILTIN_VARS",
           "slot_names"]

# Texts the engine itself says; they must exist like any other template. The hints of the
# input types are the registry's (Registry.input_hints), checked the same way.
ENGINE_TEMPLATES = [
    "common/use_buttons", "common/stale_button", "common/button_refused", "common/unknown_command",
    "common/session_lost", "common/cancelled", "common/error", "common/btn_share_contact",
    "common/file_received", "common/too_many", "common/unsupported_message",
    # the terminal chat's own (engine/console.py)
    "console/contact_hint", "console/ask_phone", "console/now_as", "console/personas",
    "console/unknown_persona", "console/unread", "console/link", "console/topic_header",
    "console/topic_op", "console/topics", "console/in_topic", "console/picture",
    "console/invoice", "console/edited", "console/reply_how",
]
BUILTIN_VARS = {"lang", "now", "slots", "event", "page", "ask",
                "console"}    # the terminal chat's own texts: what it shows (engine/console.py)


def parse_all(flows_dir: str, root: str = "") -> tuple[dict[str, Flow], list[str]]:
    """Parse every flows/*.yaml; names shown relative to `root` (the project folder)."""
    flows: dict[str, Flow] = {}
    problems: list[str] = []
    paths = sorted(glob.glob(os.path.join(flows_dir, "*.yaml")))
    if not paths:
        problems.append(f"{_rel(flows_dir, root)}: no flow files (*.yaml) found")
    for path in paths:
        flow, found = parse_flow_file(path, _rel(path, root))
        problems += found
        if flow is None:
            continue
        if flow.name in flows:
            problems.append(f"{flow.pos}: flow '{flow.name}' is already defined in {flows[flow.name].file}")
            continue
        flows[flow.name] = flow
    return flows, problems


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root) if root else path


def slot_names(flows: dict[str, Flow], registry: Registry) -> set[str]:
    """Every variable some state saves, some used action gives, or Python code that starts
    a flow gives it."""
    names: set[str] = set().union(*contract_check.started_with(registry).values())
    for flow in flows.values():
        for st in flow.states.values():
            names.update(contract_check.state_saves(st, registry))
    return names


def check_flows(flows: dict[str, Flow], templates: Templates, registry: Registry,
                *, menu_flow: str, commands: dict[str, str], root: str = "",
                restricted: Mapping[str, tuple[Collection[str], str]] | None = None) -> list[str]:
    """Every cross-reference problem of the flow set.

    `restricted`: variable -> (the dotted paths it offers, where to add one), e.g.
    {"settings": (["pay.use"], "engine.template_settings")}: any template or condition that
    reads another path of that variable is reported (the value offers nothing else either).
    """
    known = BUILTIN_VARS | set(registry.providers) | set(registry.predicates) | slot_names(flows, registry)
    checker = _Checker(flows, templates, registry, known, root, dict(restricted or {}))
    for flow in flows.values():
        checker.flow(flow)
    checker.globals(menu_flow, commands)
    free = BUILTIN_VARS | set(registry.providers) | set(registry.predicates) | \
        set(templates._envs[templates.default].globals)
    checker.problems += contract_check.flow_given_problems(
        flows, templates, registry, free, set(commands.values()) | {menu_flow})
    checker.problems += contract_check.contract_problems(flows, templates, registry, known, root)
    return checker.problems


def traced_templates(flows: dict[str, Flow], templates: Templates, registry: Registry,
                     *, menu_flow: str, commands: dict[str, str]) -> set[str]:
    """Every template name `flows check` holds to something: named by a flow, said by the
    engine or an input type, or declared in a contract. A text rendered from any other
    template is one nobody checked (the walk-through test holds the product to this)."""
    known = BUILTIN_VARS | set(registry.providers) | set(registry.predicates) | slot_names(flows, registry)
    checker = _Checker(flows, templates, registry, known, "", {})
    for flow in flows.values():
        checker.flow(flow)
    checker.globals(menu_flow, commands)
    named = {name for contract in registry.contracts.values() for name in contract.templates}
    return {name for name, _ in checker._seen_templates} | named


class _Checker:
    def __init__(self, flows, templates: Templates, registry: Registry, known: set[str], root: str,
                 restricted: dict[str, tuple[Collection[str], str]]):
        self.flows, self.t, self.reg, self.known, self.root = flows, templates, registry, known, root
        self.restricted = restricted
        self.problems: list[str] = []
        self._seen_templates: dict[tuple[str, str], list[str]] = {}

    def err(self, pos: Pos | str, message: str) -> None:
        self.problems.append(f"{pos}: {message}")

    # -- per flow ------------------------------------------------------------------------
    def flow(self, flow: Flow) -> None:
        if flow.start and flow.start not in flow.states:
            self.err(flow.start_pos, f"start state '{flow.start}' is not defined{_hint(flow.start, flow.states)}")
        for st in flow.states.values():
            self.state(flow, st)
        self.reachability(flow)

    def state(self, flow: Flow, st: State) -> None:
        for target, pos in st.targets():
            if target not in flow.states:
                self.err(pos, f"state '{target}' is not defined in flow '{flow.name}'{_hint(target, flow.states)}")
        self.way_out(flow, st)
        self.transitions(st)
        for text, pos in st.say:
            self.template(text, pos)
        for b in st.all_buttons():
            self.template(b.text, b.text_pos or b.pos) if b.text else None
            self.condition(b.when, b.when_pos or b.pos) if b.when else None
        if st.when:
            self.condition(*st.when)
        for t in st.next:
            self.condition(t.cond, t.cond_pos or t.pos) if t.cond else None
        self.actions(st)
        self.problems += contract_check.outcome_problems(flow, st, self.reg)
        self.ask(st)
        self.timeout(st)
        if st.call and st.call[0] not in self.flows:
            self.err(st.call[1], f"sub-flow '{st.call[0]}' does not exist{_hint(st.call[0], self.flows)}")

    def way_out(self, flow: Flow, st: State) -> None:
        if st.waits and not st.say:
            self.err(st.pos, f"state '{st.name}' waits for the user but says nothing: add 'say'")
        leaves = bool(st.next) or st.end or (bool(st.on) and CONTINUE not in [g for g, _ in st.on.values()])
        if not st.waits and not leaves:
            self.err(st.pos, f"state '{st.name}' has no way out: add 'next', 'buttons', 'ask' or 'end: true'")
        if st.ask and not (st.next or st.end) and st.ask.get("save") and not st.ask.get("many"):
            self.err(st.pos, f"state '{st.name}' asks but has no 'next' for the answer")
        if st.call and not (st.next or st.end):
            self.err(st.call[1], f"state '{st.name}' calls a sub-flow but has no 'next' for its return")
        if st.when and not st.next:
            self.err(st.when[1], f"state '{st.name}' has 'when' but no 'next' to skip to")
        if st.dynamic and not (st.dynamic.go or st.next or st.dynamic.extra):
            self.err(st.dynamic.pos, "dynamic buttons need 'go' or the state's 'next'")
        for b in st.all_buttons():
            if b.save and not b.go and not st.next:
                self.err(b.pos, "a button that saves a value needs 'go' or the state's 'next'")

    def transitions(self, st: State) -> None:
        for i, t in enumerate(st.next[:-1]):
            if t.cond is None:
                self.err(st.next[i + 1].pos, "this transition is never taken: the one before it has no 'if'")
        if st.next and st.next[-1].cond is not None and not st.waits:
            self.err(st.next[-1].pos, "the last transition needs no 'if' (a fallback), "
                                      "or the dialog can get stuck")

    def reachability(self, flow: Flow) -> None:
        if flow.start not in flow.states:
            return
        seen, queue = {flow.start}, deque([flow.start])
        while queue:
            for target, _ in flow.states[queue.popleft()].targets():
                if target in flow.states and target not in seen:
                    seen.add(target)
                    queue.append(target)
        for name, st in flow.states.items():
            if name not in seen:
                self.err(st.pos, f"state '{name}' is unreachable from start '{flow.start}'")

    def actions(self, st: State) -> None:
        calls = [(c.name, c.pos) for c in st.do]
        if st.dynamic and st.dynamic.source:
            calls.append((st.dynamic.source, st.dynamic.pos))
        for name, pos in calls:
            if name and name not in self.reg.actions:
                self.err(pos, f"unknown action '{name}'{_hint(name, self.reg.actions)}")

    def ask(self, st: State) -> None:
        if not st.ask:
            return
        kind = st.ask.get("type")
        where = st.ask["_pos"].get("type", st.ask_pos)
        if kind not in self.reg.input_types:
            self.err(where, f"unknown input type '{kind}'{_hint(str(kind), self.reg.input_types)}")
        if kind == "choice" and not st.ask.get("options"):
            self.err(where, "a 'choice' input needs 'options'")
        for key in ("invalid", "button"):
            if st.ask.get(key):
                self.template(str(st.ask[key]), st.ask["_pos"][key])

    def timeout(self, st: State) -> None:
        if not st.timeout:
            return
        if not st.waits:
            self.err(st.timeout_pos, "'timeout' only makes sense on a state that waits for the user")
        for key in ("remind", "abandon"):
            if st.timeout.get(key):
                self.template(str(st.timeout[key]), st.timeout_pos)

    # -- templates and expressions -------------------------------------------------------
    def template(self, name: str, pos: Pos | str) -> None:
        for lang in self.t.languages:
            if not self.t.exists(name, lang):
                where = os.path.relpath(self.t.path(name, lang), self.root) if self.root else self.t.path(name, lang)
                self.err(pos, f"template '{name}' is missing in '{lang}' ({where})")
                continue
            for problem in self._template_problems(name, lang):
                self.err(pos, problem)

    def _template_problems(self, name: str, lang: str) -> list[str]:
        key = (name, lang)
        if key not in self._seen_templates:
            self._seen_templates[key] = self._inspect(name, lang)
            return self._seen_templates[key]
        return []  # reported once, at its first use

    def _inspect(self, name: str, lang: str) -> list[str]:
        path = self.t.path(name, lang)
        shown = os.path.relpath(path, self.root) if self.root else path
        try:
            used = self.t.variables(name, lang)
        except TemplateSyntaxError as e:
            return [f"template '{name}' ({shown}:{e.lineno}): {e.message}"]
        unknown = sorted(used - self.known - set(self.t._envs[lang].globals))
        return [f"template '{name}' ({shown}) uses '{v}', which no slot, action or context "
                f"provides{_hint(v, self.known)}" for v in unknown]

    def condition(self, source: str, pos: Pos) -> None:
        if source.strip().startswith("{{"):
            bare = strip_braces(source)
            self.err(pos, f"condition '{source}': write conditions without {{{{ }}}}, as \"{bare}\" "
                          "(braces are for texts and 'with' values)")
            return
        try:
            self.t.expression(source)
            used = self.t.expression_variables(source)
        except TemplateSyntaxError as e:
            self.err(pos, f"condition '{strip_braces(source)}': {e.message}")
            return
        for v in sorted(used - self.known - set(self.t._envs[self.t.default].globals)):
            self.err(pos, f"condition uses '{v}', which no slot, action or context provides{_hint(v, self.known)}")
        for var in self.restricted:
            for path, _ in self.t.expression_reads(source, var):
                if not self._offered(var, path):
                    self.err(pos, f"condition reads {self._not_offered(var, path)}")

    def _includes(self, name: str, lang: str, shown: str) -> None:
        try:
            included = self.t.includes_of(name, lang)
        except TemplateSyntaxError:
            return                                 # reported with its line elsewhere
        for file_name, line in included:
            if not self.t.loadable(file_name, lang):
                self.problems.append(f"{shown}:{line}:1: template '{name}' includes '{file_name}', "
                                     f"which is not a template file (*.j2) of '{lang}'")

    def _offered(self, var: str, path: str) -> bool:
        return any(path == p or path.startswith(p + ".") for p in self.restricted[var][0])

    def _not_offered(self, var: str, path: str) -> str:
        paths, where = self.restricted[var]
        shown = f"{var}.{path}" if path else var
        return (f"'{shown}', which is not offered to templates (add it to {where}; "
                f"secrets can never be){_hint(path, paths)}")

    def restricted_reads(self) -> None:
        """Every template file, used by a flow or rendered by an action, read by paths, and
        what it includes: only templates (*.j2) that exist, so nothing unchecked is shown."""
        for lang in self.t.languages:
            for name in self.t.all_names(lang):
                shown = os.path.relpath(self.t.path(name, lang), self.root) if self.root else self.t.path(name, lang)
                self._includes(name, lang, shown)
                for var in self.restricted:
                    try:
                        reads = self.t.reads_of(name, lang, var)
                    except TemplateSyntaxError:
                        continue                  # reported with its line elsewhere
                    for path, line in reads:
                        if not self._offered(var, path):
                            self.problems.append(f"{shown}:{line}:1: template '{name}' reads "
                                                 f"{self._not_offered(var, path)}")

    # -- the whole set -------------------------------------------------------------------
    def globals(self, menu_flow: str, commands: dict[str, str]) -> None:
        settings_pos = "settings.yaml"
        if menu_flow not in self.flows:
            self.err(settings_pos, f"engine.menu_flow '{menu_flow}' is not a flow{_hint(menu_flow, self.flows)}")
        for command, flow in commands.items():
            if flow not in self.flows:
                self.err(settings_pos, f"engine.commands.{command}: flow '{flow}' does not exist{_hint(flow, self.flows)}")
        hints = sorted({h for names in self.reg.input_hints.values() for h in names})
        for name in ENGINE_TEMPLATES + hints:
            self.template(name, f"{self.t.root if not self.root else os.path.relpath(self.t.root, self.root)}")
        self.stray_templates()
        self.restricted_reads()

    def stray_templates(self) -> None:
        """Syntax errors in templates no flow names (actions render some by name)."""
        for lang in self.t.languages:
            for name in self.t.all_names(lang):
                if (name, lang) not in self._seen_templates:
                    for problem in self._syntax_only(name, lang):
                        self.problems.append(problem)

    def _syntax_only(self, name: str, lang: str) -> list[str]:
        path = self.t.path(name, lang)
        shown = os.path.relpath(path, self.root) if self.root else path
        try:
            self.t.variables(name, lang)
        except TemplateSyntaxError as e:
            return [f"{shown}:{e.lineno}:1: {e.message}"]
        return []


def _hint(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
