"""Flow files: `flows/*.yaml` parsed into `Flow` objects that remember where every part
came from (file, line, column).

Parsing is the first of two passes (schema: known keys, value types); `engine.checker`
is the second (cross references). Both collect problems instead of stopping at the first.
The reference of the format, for support admins, is docs/flows.md.
"""
from __future__ import annotations

import difflib
import os
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .flowmodel import ActionCall, ButtonSpec, DynButtons, Flow, Pos, State, Transition
from .yamlutil import plain as _plain

__all__ = ["Pos", "Flow", "State", "ButtonSpec", "DynButtons", "ActionCall", "Transition",
           "parse_flow_file", "parse_duration", "FLOW_KEYS", "STATE_KEYS"]

FLOW_KEYS = {"flow", "start", "states", "description"}
STATE_KEYS = {"say", "ask", "buttons", "do", "on", "next", "call", "end", "when", "timeout",
              "edit", "description"}
ASK_KEYS = {"type", "save", "min", "max", "invalid", "options", "button", "accept",
            "max_size", "many", "own_only"}
BUTTON_KEYS = {"text", "go", "value", "save", "when", "url"}
DYN_KEYS = {"from", "save", "go", "with", "columns", "extra", "empty"}
NEXT_KEYS = {"if", "go"}
DO_KEYS = {"action", "save", "with"}
TIMEOUT_KEYS = {"remind_after", "remind", "abandon_after", "abandon"}
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
_STD_TAG = re.compile(r"^tag:yaml\.org,2002:(str|int|float|bool|null|map|seq|omap|set|timestamp)$")


class _Ctx:
    """Collects problems while walking one file."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[str] = []

    def at(self, node: Any, key: Any = None) -> Pos:
        lc = getattr(node, "lc", None)
        pos = None
        if lc is not None and lc.data is not None and key is not None:
            try:
                pos = lc.key(key) if isinstance(node, CommentedMap) else lc.item(key)
            except (KeyError, IndexError, TypeError):
                pos = None
        if pos is None and lc is not None:
            pos = (lc.line, lc.col)
        return Pos(self.file, (pos or (0, 0))[0] + 1, (pos or (0, 0))[1] + 1)

    def value_at(self, node: CommentedMap, key: Any) -> Pos:
        try:
            line, col = node.lc.value(key)
            return Pos(self.file, line + 1, col + 1)
        except (KeyError, TypeError, AttributeError):
            return self.at(node, key)

    def error(self, pos: Pos, message: str) -> None:
        self.problems.append(f"{pos}: {message}")

    def keys(self, node: CommentedMap, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f"; allowed: {', '.join(sorted(allowed))}"
                self.error(self.at(node, key), f"unknown key '{key}' in {what}{hint}")


def parse_flow_file(path: str, display: str | None = None) -> tuple[Flow | None, list[str]]:
    """Parse one flow file; return the flow (None when unusable) and its problems."""
    ctx = _Ctx(display or path)
    try:
        with open(path, encoding="utf-8") as f:
            data = YAML(typ="rt").load(f)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or e.context or str(e)).strip()
        return None, [f"{ctx.file}:{mark.line + 1}:{mark.column + 1}: {problem}"]
    if not isinstance(data, CommentedMap):
        return None, [f"{ctx.file}:1:1: a flow file must be a mapping with 'flow', 'start', 'states'"]
    flow = _flow(ctx, data, os.path.splitext(os.path.basename(path))[0])
    _reject_tags(ctx, data)
    return flow, ctx.problems


def _reject_tags(ctx: _Ctx, node: Any, pos: Pos | None = None) -> None:
    """YAML tags (`!!python/...`) are never honoured; report them as errors."""
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag and not _STD_TAG.match(tag):   # `!!python/x` expands to tag:yaml.org,2002:python/x
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        ctx.error(pos or ctx.at(node), f"YAML tag '{shown}' is not allowed in flows")
    if isinstance(node, dict):
        for key, child in node.items():
            _reject_tags(ctx, child, ctx.value_at(node, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            _reject_tags(ctx, child, ctx.at(node, i))


def _flow(ctx: _Ctx, data: CommentedMap, stem: str) -> Flow:
    ctx.keys(data, FLOW_KEYS, "the flow")
    name = str(data.get("flow", stem))
    flow = Flow(name=name, file=ctx.file, pos=ctx.at(data, "flow"))
    if "flow" not in data:
        ctx.error(Pos(ctx.file, 1, 1), "missing 'flow: <name>'")
    flow.description = str(data.get("description", ""))
    flow.start = str(data.get("start", ""))
    flow.start_pos = ctx.value_at(data, "start") if "start" in data else Pos(ctx.file, 1, 1)
    if "start" not in data:
        ctx.error(flow.start_pos, "missing 'start: <state>'")
    states = data.get("states")
    if not isinstance(states, CommentedMap) or not states:
        ctx.error(ctx.at(data, "states") if "states" in data else Pos(ctx.file, 1, 1),
                  "'states' must be a non-empty mapping of state names")
        return flow
    for sname, body in states.items():
        pos = ctx.at(states, sname)
        if not NAME.match(str(sname)):
            ctx.error(pos, f"state name '{sname}': use lower_case letters, digits and _")
        if not isinstance(body, CommentedMap):
            ctx.error(pos, f"state '{sname}' must be a mapping (say/ask/buttons/do/next...)")
            continue
        flow.states[str(sname)] = _state(ctx, str(sname), body, pos)
    return flow


def _state(ctx: _Ctx, name: str, node: CommentedMap, pos: Pos) -> State:
    ctx.keys(node, STATE_KEYS, f"state '{name}'")
    st = State(name=name, pos=pos)
    st.say = _say(ctx, node)
    st.do = _do(ctx, node)
    st.next = _next(ctx, node)
    if "on" in node:
        st.on, st.on_pos = _on(ctx, node["on"], ctx.at(node, "on")), ctx.at(node, "on")
    if "ask" in node:
        st.ask, st.ask_pos = _ask(ctx, node["ask"], ctx.at(node, "ask")), ctx.at(node, "ask")
    if "buttons" in node:
        st.buttons, st.dynamic = _buttons(ctx, node["buttons"], ctx.at(node, "buttons"))
    if "call" in node:
        st.call = (str(node["call"]), ctx.value_at(node, "call"))
    if "when" in node:
        st.when = (str(node["when"]), ctx.value_at(node, "when"))
    if "timeout" in node:
        st.timeout, st.timeout_pos = _timeout(ctx, node["timeout"], ctx.at(node, "timeout"))
    st.end = _bool(ctx, node, "end")
    st.edit = _bool(ctx, node, "edit")
    return st


def _bool(ctx: _Ctx, node: CommentedMap, key: str) -> bool:
    value = node.get(key, False)
    if not isinstance(value, bool):
        ctx.error(ctx.value_at(node, key), f"'{key}' must be true or false")
        return False
    return value


def _say(ctx: _Ctx, node: CommentedMap) -> list[tuple[str, Pos]]:
    if "say" not in node:
        return []
    value = node["say"]
    if isinstance(value, str):
        return [(value, ctx.value_at(node, "say"))]
    if isinstance(value, CommentedSeq) and all(isinstance(v, str) for v in value):
        return [(v, ctx.at(value, i)) for i, v in enumerate(value)]
    ctx.error(ctx.at(node, "say"), "'say' must be a template name or a list of them")
    return []


def _do(ctx: _Ctx, node: CommentedMap) -> list[ActionCall]:
    if "do" not in node:
        return []
    value = node["do"]
    items = value if isinstance(value, CommentedSeq) else [value]
    calls = []
    for i, item in enumerate(items):
        pos = ctx.at(value, i) if isinstance(value, CommentedSeq) else ctx.value_at(node, "do")
        if isinstance(item, str):
            calls.append(ActionCall(item, pos))
        elif isinstance(item, CommentedMap):
            ctx.keys(item, DO_KEYS, "an action call")
            args = item.get("with", {})
            if not isinstance(args, dict):
                ctx.error(ctx.at(item, "with"), "'with' must be a mapping of arguments")
                args = {}
            calls.append(ActionCall(str(item.get("action", "")), ctx.value_at(item, "action"),
                                    _plain(args), item.get("save")))
            if "action" not in item:
                ctx.error(pos, "an action call needs 'action: <name>'")
        else:
            ctx.error(pos, "'do' items are action names or {action, with, save}")
    return calls


def _next(ctx: _Ctx, node: CommentedMap) -> list[Transition]:
    if "next" not in node:
        return []
    value = node["next"]
    if isinstance(value, str):
        return [Transition(value, None, ctx.value_at(node, "next"))]
    if not isinstance(value, CommentedSeq):
        ctx.error(ctx.at(node, "next"), "'next' must be a state name or a list of {if, go}")
        return []
    out = []
    for i, item in enumerate(value):
        pos = ctx.at(value, i)
        if isinstance(item, str):
            out.append(Transition(item, None, pos))
        elif isinstance(item, CommentedMap) and "go" in item:
            ctx.keys(item, NEXT_KEYS, "a transition")
            cond = str(item["if"]) if "if" in item else None
            out.append(Transition(str(item["go"]), cond, ctx.value_at(item, "go"),
                                  ctx.value_at(item, "if") if "if" in item else None))
        else:
            ctx.error(pos, "a transition needs 'go: <state>' (and optionally 'if: <condition>')")
    return out


def _on(ctx: _Ctx, value: Any, pos: Pos) -> dict[str, tuple[str, Pos]]:
    """`on: {created: created, refused: finish}`: each outcome of the state's actions -> a state."""
    if not isinstance(value, CommentedMap):
        ctx.error(pos, "'on' must be a mapping of outcomes to states, like {created: done, refused: finish}")
        return {}
    out = {}
    for outcome, target in value.items():
        if not isinstance(target, str):
            ctx.error(ctx.value_at(value, outcome), f"'on: {outcome}' must name a state (or 'continue')")
            continue
        out[str(outcome)] = (target, ctx.value_at(value, outcome))
    return out


def _ask(ctx: _Ctx, value: Any, pos: Pos) -> dict | None:
    if isinstance(value, str):
        value = CommentedMap(type=value)
    if not isinstance(value, CommentedMap):
        ctx.error(pos, "'ask' must be a mapping like {type: text, save: description}")
        return None
    ctx.keys(value, ASK_KEYS, "'ask'")
    spec = _plain(value)
    spec.setdefault("type", "text")
    spec["_pos"] = {k: ctx.value_at(value, k) for k in value}
    for key in ("min", "max", "max_size"):
        if key in spec and not isinstance(spec[key], (int, float)):
            ctx.error(ctx.value_at(value, key), f"'{key}' must be a number")
    return spec


def _buttons(ctx: _Ctx, value: Any, pos: Pos) -> tuple[list[ButtonSpec], DynButtons | None]:
    if isinstance(value, CommentedMap):
        return [], _dynamic(ctx, value, pos)
    if not isinstance(value, CommentedSeq):
        ctx.error(pos, "'buttons' must be a list of {text, go} or {from: <action>, save: ...}")
        return [], None
    return [b for i, item in enumerate(value) if (b := _button(ctx, item, ctx.at(value, i)))], None


def _button(ctx: _Ctx, item: Any, pos: Pos) -> ButtonSpec | None:
    if not isinstance(item, CommentedMap):
        ctx.error(pos, "a button is a mapping like {text: common/btn_back, go: menu}")
        return None
    ctx.keys(item, BUTTON_KEYS, "a button")
    if "text" not in item:
        ctx.error(pos, "a button needs 'text: <template>'")
    b = ButtonSpec(pos=ctx.value_at(item, "text") if "text" in item else pos,
                   text=str(item.get("text", "")), go=_opt(item, "go"), value=_plain(item.get("value")),
                   save=_opt(item, "save"), when=_opt(item, "when"), url=_opt(item, "url"))
    b.text_pos = b.pos
    b.when_pos = ctx.value_at(item, "when") if "when" in item else None
    if b.go:
        b.pos = ctx.value_at(item, "go")
    if not (b.go or b.save or b.url):
        ctx.error(pos, "a button needs 'go: <state>', 'save: <slot>' or 'url'")
    return b


def _dynamic(ctx: _Ctx, node: CommentedMap, pos: Pos) -> DynButtons:
    ctx.keys(node, DYN_KEYS, "'buttons'")
    if "from" not in node:
        ctx.error(pos, "dynamic buttons need 'from: <action>' (or give a list of buttons)")
    extra_node = node.get("extra", CommentedSeq())
    extra = _buttons(ctx, extra_node, ctx.at(node, "extra"))[0] if "extra" in node else []
    args = node.get("with", {})
    return DynButtons(pos=ctx.value_at(node, "from") if "from" in node else pos,
                      source=str(node.get("from", "")), save=_opt(node, "save"),
                      go=_opt(node, "go"), args=_plain(args) if isinstance(args, dict) else {},
                      columns=int(node.get("columns", 1) or 1), extra=extra,
                      empty=_opt(node, "empty"))


def _timeout(ctx: _Ctx, value: Any, pos: Pos) -> tuple[dict | None, Pos]:
    if not isinstance(value, CommentedMap):
        ctx.error(pos, "'timeout' must be a mapping {remind_after, remind, abandon_after, abandon}")
        return None, pos
    ctx.keys(value, TIMEOUT_KEYS, "'timeout'")
    spec = _plain(value)
    for key in ("remind_after", "abandon_after"):
        if key in spec and parse_duration(spec[key]) is None:
            ctx.error(ctx.value_at(value, key), f"'{key}' must be a duration like 30s, 10m, 2h, 1d")
    if "remind_after" in spec and "remind" not in spec:
        ctx.error(pos, "'remind_after' needs 'remind: <template>'")
    if "abandon_after" in spec and "abandon" not in spec:
        ctx.error(pos, "'abandon_after' needs 'abandon: <template>'")
    return spec, pos


def parse_duration(value: Any) -> int | None:
    """"10m" -> 600 seconds; a bare number is seconds; None when unreadable."""
    m = _DURATION.match(str(value).strip())
    if not m:
        return None
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]


def _opt(node: CommentedMap, key: str) -> str | None:
    return str(node[key]) if key in node and node[key] is not None else None

