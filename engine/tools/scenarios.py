"""Scripted dialog tests for admins: a project's `flows test` runs `flows/tests/*.yaml`.

Each scenario runs against the real engine (the project's flows, templates, actions and
settings) on a fresh temporary SQLite database, through `engine.testing.Chat`. The first
failing step stops its scenario and is reported as
`flows/tests/FILE.yaml:LINE: scenario 'NAME', step N (send "..."): expected ...; got ...`.

What the runner needs from the project is one `Project`: how to build an engine from
settings (a pydantic model with `database.url`, which each scenario points at its own
database), the folder file names are shown relative to, and the scenario fixtures.

External systems: a scenario may name `fixtures: [crm, dadata]`. A fixture is a context
manager factory registered in a `Fixtures` table with `@fixtures.fixture("crm")`: it
receives the settings, starts what it needs (say a loopback CRM stub) and yields the
settings the scenario should run with.
"""
from __future__ import annotations

import glob
import logging
import os
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping

from .. import storage
from ..flows import parse_duration
from ..runtime import Engine
from ..session import load_session, utcnow
from ..templates import plain_text
from ..testing import Chat
from .scenario_format import (
    Fixture,
    Fixtures,
    Scenario,
    ScenarioResult,
    ScenarioStep,
    load_file,
)

__all__ = ["Project", "Fixtures", "Scenario", "ScenarioStep", "ScenarioResult", "load_file",
           "run_scenario", "run_file", "run_paths", "scenario_files"]   # the format's names too

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Project:
    """What the runner needs from the project whose flows it tests."""
    build: Callable[[Any], Engine]       # settings -> an engine on settings.database.url
    root: str = ""                       # file names are shown relative to it
    fixtures: Mapping[str, Fixture] = field(default_factory=dict)


# -- running ----------------------------------------------------------------------------
class StepFailed(Exception):
    pass


def run_scenario(scenario: Scenario, settings, project: Project) -> ScenarioResult:
    """Run one scenario on a fresh temporary database; stop at the first failing step."""
    done = 0
    with tempfile.TemporaryDirectory(prefix="flowtest-") as tmp, ExitStack() as stack:
        try:
            s = _settings_for(settings, scenario, tmp)
            for name in scenario.fixtures:
                s = stack.enter_context(project.fixtures[name](s))
            stack.callback(storage.close)
            runner = _Runner(project.build(s), scenario)
            for step in scenario.steps:
                runner.do(step)
                done += 1
        except StepFailed as e:
            step = scenario.steps[done]
            return ScenarioResult(scenario.name, scenario.file, done,
                           f"{scenario.file}:{step.line}: scenario '{scenario.name}', step {done + 1} "
                           f"({step.describe()}): {e}")
        except Exception as e:  # a broken setup is a failed scenario, with its reason
            log.debug("scenario %s failed to run", scenario.name, exc_info=True)
            return ScenarioResult(scenario.name, scenario.file, done,
                           f"{scenario.file}:{scenario.line}: scenario '{scenario.name}': "
                           f"{type(e).__name__}: {e}")
    return ScenarioResult(scenario.name, scenario.file, done)


def _settings_for(settings, scenario: Scenario, tmp: str):
    """The settings with the scenario's overrides and a database of its own."""
    data = settings.model_dump()
    _merge(data, scenario.settings)
    data["database"]["url"] = f"sqlite:///{os.path.join(tmp, 'scenario.db')}"
    return type(settings).model_validate(data)


def _merge(base: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


class _Runner:
    """Plays the steps of one scenario as one user."""

    def __init__(self, engine: Engine, scenario: Scenario):
        self.engine = engine
        u = scenario.user
        self.chat = Chat(self.engine, int(u.get("id", 1001)), chat_id=u.get("chat_id"),
                         language=str(u.get("language", "ru")),
                         username=str(u.get("username", "tester")),
                         first_name=str(u.get("first_name", "Tester")))
        self.errors: list[BaseException] = []
        self.engine.on_error = lambda event, error: self.errors.append(error)

    def do(self, step: ScenarioStep) -> None:
        self.errors.clear()
        replies = getattr(self, "_" + step.action)(step.arg)
        if self.errors:
            raise StepFailed(f"the bot failed: {type(self.errors[0]).__name__}: {self.errors[0]}")
        for key, expected in step.expect.items():
            getattr(self, "_expect_" + key)(expected, replies)

    # -- actions ---------------------------------------------------------------------
    def _send(self, text):
        return self.chat.send(str(text))

    def _click(self, label):
        if isinstance(label, dict):
            label = self.engine.flowset.templates.render_label(
                str(label.get("template")), self.chat.language, {})
        try:
            return self.chat.click(str(label))
        except AssertionError:
            raise StepFailed(f"no button {str(label)!r}; buttons shown: {self.chat.buttons}") from None

    def _share_contact(self, arg):
        if isinstance(arg, dict):
            return self.chat.share_contact(str(arg.get("phone", "")), arg.get("user_id"))
        return self.chat.share_contact(str(arg))

    def _send_file(self, arg):
        arg = arg if isinstance(arg, dict) else {"kind": str(arg or "photo")}
        return self.chat.send_file(str(arg.get("file_id", "file-1")), str(arg.get("kind", "photo")),
                                   str(arg.get("name", "")), int(arg.get("size", 1000)))

    def _press(self, data):
        return self.chat.press_data(str(data))

    def _wait(self, duration):
        later = utcnow() + timedelta(seconds=parse_duration(duration) or 0)
        replies = [r for r in self.engine.due_timeouts(later) if r.chat_id == self.chat.chat_id]
        return self.chat.hear(replies)

    # -- expectations ----------------------------------------------------------------
    def _expect_text(self, fragments, replies):
        got = _plain_text(replies)
        for fragment in _list(fragments):
            if str(fragment) not in got:
                raise StepFailed(f"expected text containing {str(fragment)!r}; got: {_quote(got)}")

    def _expect_not_text(self, fragments, replies):
        got = _plain_text(replies)
        for fragment in _list(fragments):
            if str(fragment) in got:
                raise StepFailed(f"expected no {str(fragment)!r} in the answer; got: {_quote(got)}")

    def _expect_answer(self, fragment, replies):
        """The short text on the pressed button (a refused press gets only that)."""
        got = " ".join(r.callback_answer for r in replies if r.callback_answer)
        if str(fragment) not in got:
            raise StepFailed(f"expected the button's answer to contain {str(fragment)!r}; "
                             f"got: {_quote(got)}")

    def _expect_buttons(self, expected, replies):
        got = _buttons(replies)
        if [str(b) for b in _list(expected)] != got:
            raise StepFailed(f"expected buttons {[str(b) for b in _list(expected)]}; got: {got}")

    def _expect_buttons_include(self, expected, replies):
        got = _buttons(replies)
        missing = [str(b) for b in _list(expected) if str(b) not in got]
        if missing:
            raise StepFailed(f"expected buttons to include {missing}; got: {got}")

    def _expect_no_buttons(self, flag, replies):
        got = _buttons(replies)
        if flag and got:
            raise StepFailed(f"expected no buttons; got: {got}")

    def _expect_state(self, expected, replies):
        s = load_session(self.chat.chat_id, self.chat.user_id)
        got = f"{s.flow}.{s.state}"
        expected = str(expected)
        if got != expected and not ("." not in expected and s.state == expected):
            raise StepFailed(f"expected to be at {expected!r}; got: {got!r}")

    def _expect_slots(self, expected, replies):
        slots = load_session(self.chat.chat_id, self.chat.user_id).slots
        for key, value in (expected or {}).items():
            if slots.get(key, "<not set>") != value:
                raise StepFailed(f"expected slot {key!r} = {value!r}; got: {slots.get(key, '<not set>')!r}")


def _plain_text(replies) -> str:
    """What the user reads: HTML tags removed, entities decoded, messages joined."""
    return "\n".join(plain_text(r.text) for r in replies)


def _buttons(replies) -> list[str]:
    """Labels of the last message of this step that has any (inline or keyboard)."""
    for reply in reversed(replies):
        if reply.buttons or reply.keyboard:
            return reply.button_texts()
    return []


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _quote(text: str, limit: int = 300) -> str:
    text = text.replace("\n", " | ")
    return repr(text if len(text) <= limit else text[:limit] + "…")


# -- files ---------------------------------------------------------------------------------
def scenario_files(flows_dir: str) -> list[str]:
    """The scenario files of a flows folder: `<flows_dir>/tests/*.yaml`."""
    return sorted(glob.glob(os.path.join(flows_dir, "tests", "*.yaml")))


def run_file(path: str, settings, project: Project) -> tuple[list[ScenarioResult], list[str]]:
    """Every scenario of one file: (outcomes, problems of the file's format)."""
    scenarios, problems = load_file(path, _display(path, project.root), project.fixtures)
    if problems:
        return [], problems
    return [run_scenario(s, settings, project) for s in scenarios], []


def run_paths(paths: list[str], settings, project: Project, out=None) -> int:
    """Run the files, print one line per scenario and a summary; 0 when all passed."""
    out = out or sys.stdout
    passed = failed = 0
    for path in paths:
        outcomes, problems = run_file(path, settings, project)
        for line in problems:
            print(f"ERROR {line}", file=out)
        failed += len(problems)
        for o in outcomes:
            print(f"ok    {o.file}: {o.scenario} ({o.steps_passed} steps)" if o.ok else f"FAIL  {o.failure}",
                  file=out)
            passed, failed = passed + o.ok, failed + (not o.ok)
    print(f"{passed} scenario(s) passed, {failed} failed", file=out)
    return 1 if failed or not paths else 0


def _display(path: str, root: str) -> str:
    if not root:
        return path
    rel = os.path.relpath(os.path.abspath(path), root)
    return path if rel.startswith("..") else rel
