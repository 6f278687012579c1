"""The scenario file format of `flows test` (engine/tools/scenarios.py runs them): a YAML list
of scenarios, each a user and steps (`send`, `click`, `share_contact`, `send_file`, `press`,
`wait`) with expectations. `load_file` reports every problem of a file with its line and
column, like the flow checker; `Fixtures` is the table of named set-ups a scenario may ask
for (`fixtures: [crm]`).
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ..flows import parse_duration
from ..yamlutil import plain as _plain

__all__ = ["Fixtures", "Fixture", "Scenario", "ScenarioStep", "ScenarioResult", "load_file",
           "ACTIONS", "EXPECT_KEYS"]

SCENARIO_KEYS = {"scenario", "description", "user", "settings", "fixtures", "steps"}
USER_KEYS = {"id", "chat_id", "language", "first_name", "username"}
ACTIONS = {"send", "click", "share_contact", "send_file", "press", "wait"}
EXPECT_KEYS = {"text", "not_text", "answer", "buttons", "buttons_include", "no_buttons", "state", "slots"}
STEP_KEYS = ACTIONS | {"expect"}

Fixture = Callable[[Any], ContextManager[Any]]


class Fixtures(dict):
    """Scenario fixtures by name (a project holds one table; a name is registered once)."""

    def fixture(self, name: str):
        """Register a scenario fixture, written like a pytest fixture:

            @fixtures.fixture("crm")
            def crm(settings):
                with start_crm_stub() as url:          # whatever the scenario needs running
                    yield settings.model_copy(update=...)   # the settings to run with
        """
        def deco(fn):
            if name in self:
                raise ValueError(f"scenario fixture {name!r} is registered twice")
            self[name] = contextmanager(fn) if inspect.isgeneratorfunction(fn) else fn
            return fn
        return deco


# -- the format -------------------------------------------------------------------------
@dataclass
class ScenarioStep:
    line: int
    action: str
    arg: Any
    expect: dict = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.action} {_short(self.arg)}"


@dataclass
class Scenario:
    name: str
    file: str
    line: int
    user: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    fixtures: list[str] = field(default_factory=list)
    steps: list[ScenarioStep] = field(default_factory=list)


@dataclass
class ScenarioResult:
    """One scenario's result: `failure` is None when every step passed."""
    scenario: str
    file: str
    steps_passed: int
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Problems:
    def __init__(self, file: str, fixtures: Collection[str]):
        self.file, self.fixtures, self.lines = file, fixtures, []

    def add(self, node: Any, key: Any, message: str) -> None:
        line, col = _where(node, key)
        self.lines.append(f"{self.file}:{line}:{col}: {message}")

    def keys(self, node: CommentedMap, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(sorted(allowed))}"
                self.add(node, key, f"unknown key '{key}' in {what}{hint}")


def _where(node: Any, key: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None:
        return 1, 1
    try:
        pos = lc.key(key) if isinstance(node, CommentedMap) else lc.item(key)
    except (KeyError, IndexError, TypeError):
        pos = None
    line, col = pos or (lc.line, lc.col)
    return line + 1, col + 1


def load_file(path: str, display: str | None = None,
              fixtures: Collection[str] = ()) -> tuple[list[Scenario], list[str]]:
    """Parse a scenario file (one scenario, or a list of them); (scenarios, problems).
    A fixture not in `fixtures` (the names a project offers) is a problem."""
    shown = display or path
    try:
        with open(path, encoding="utf-8") as f:
            data = YAML(typ="rt").load(f)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return [], [f"{shown}:{mark.line + 1}:{mark.column + 1}: {(e.problem or e.context or str(e)).strip()}"]
    items = data if isinstance(data, CommentedSeq) else [data]
    problems = _Problems(shown, fixtures)
    scenarios = [s for i, item in enumerate(items) if (s := _scenario(problems, item, data, i))]
    return scenarios, problems.lines


def _scenario(p: _Problems, node: Any, parent: Any, index: int) -> Scenario | None:
    if not isinstance(node, CommentedMap):
        p.add(parent, index, "a scenario is a mapping with 'scenario' and 'steps'")
        return None
    p.keys(node, SCENARIO_KEYS, "a scenario")
    s = Scenario(str(node.get("scenario", f"#{index + 1}")), p.file, node.lc.line + 1)
    if "scenario" not in node:
        p.add(node, None, "a scenario needs 'scenario: <name>'")
    s.user = _mapping(p, node, "user", USER_KEYS)
    s.settings = _plain(_mapping(p, node, "settings", None))
    s.fixtures = [str(f) for f in node.get("fixtures", None) or []]
    for name in s.fixtures:
        if name not in p.fixtures:
            p.add(node, "fixtures", f"unknown fixture '{name}'{_hint(name, p.fixtures)}")
    steps = node.get("steps")
    if not isinstance(steps, CommentedSeq) or not steps:
        p.add(node, "steps" if "steps" in node else None, "'steps' must be a non-empty list")
        return s
    s.steps = [st for i, item in enumerate(steps) if (st := _step(p, steps, i, item))]
    return s


def _mapping(p: _Problems, node: CommentedMap, key: str, allowed: set[str] | None) -> dict:
    value = node.get(key, None)
    if value is None:
        return {}
    if not isinstance(value, CommentedMap):
        p.add(node, key, f"'{key}' must be a mapping")
        return {}
    if allowed:
        p.keys(value, allowed, f"'{key}'")
    return dict(value)


def _step(p: _Problems, steps: CommentedSeq, i: int, item: Any) -> ScenarioStep | None:
    if not isinstance(item, CommentedMap):
        p.add(steps, i, "a step is a mapping like {send: /start} or {click: <label>}")
        return None
    p.keys(item, STEP_KEYS, "a step")
    actions = [k for k in item if k in ACTIONS]
    if len(actions) != 1:
        p.add(steps, i, f"a step does exactly one of: {', '.join(sorted(ACTIONS))}")
        return None
    expect = item.get("expect", None)
    if isinstance(expect, str):
        expect = {"text": expect}
    elif isinstance(expect, CommentedMap):
        p.keys(expect, EXPECT_KEYS, "'expect'")
    elif expect is not None:
        p.add(item, "expect", "'expect' is a text fragment or a mapping {text, buttons, ...}")
    if actions[0] == "wait" and parse_duration(item["wait"]) is None:
        p.add(item, "wait", "'wait' is a duration like 30s, 10m, 2h")
    return ScenarioStep(steps.lc.item(i)[0] + 1, actions[0], _plain(item[actions[0]]),
                        _plain(expect or {}))



def _hint(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _short(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'
