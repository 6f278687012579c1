"""Action contracts (issue 12 item 3) and actions talking to a context (item 4).

The checker holds flows to what the Python code declares: every outcome mapped in `on:`,
nothing mapped that no action reports, a name read only after something gave it, templates
and flows a contract names exist, one condition dialect. And the domain code (helpdesk/)
talks to the `ActionContext` only: no session field, no `Step`, no template named by an
f-string."""
from __future__ import annotations

import ast
import glob
import inspect
import os
import re
import sys

import pytest

from engine import Outcome, Registry, builtins
from engine.checker import check_flows
from engine.contracts import ActionContext
from engine.flows import parse_flow_file
from engine.step import Step
from engine.templates import Templates
from helpdesk.app import PROJECT_ROOT
from helpdesk.registry import load

HERE = os.path.dirname(__file__)
ADMIN_TEMPLATES = os.path.join(HERE, "fixtures", "admin_templates")


def registry() -> Registry:
    reg = builtins.register(Registry())
    reg.register_action("place_order", lambda ctx: Outcome("placed", order={}), gives=("order",),
                        outcomes=("placed", "refused"))
    reg.register_action("check_order", lambda ctx: {"checked": True}, gives=("checked",))
    return reg


def problems_of(tmp_path, text: str, reg: Registry | None = None) -> list[str]:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    flow, problems = parse_flow_file(str(path), "flows/f.yaml")
    assert flow is not None, problems
    reg = reg or registry()
    templates = Templates(ADMIN_TEMPLATES, ["ru", "en"], "ru", filters=reg.filters)
    problems += check_flows({flow.name: flow}, templates, reg, menu_flow=flow.name, commands={})
    return [p for p in problems if p.startswith("flows/f.yaml:")]


def test_an_unmapped_outcome_and_an_outcome_nobody_reports(tmp_path):
    assert problems_of(tmp_path, """flow: f
start: submit
states:
  submit:
    do: place_order
    on: {placed: done, lost: done}
  done:
    say: t/hello
    end: true
""") == ["flows/f.yaml:6:5: outcome 'refused' of action 'place_order' has no state: add "
         "'on: {refused: <state>}' (or 'continue' to go on with this state)",
         "flows/f.yaml:6:30: no action of state 'submit' reports outcome 'lost'; they report: "
         "placed, refused"]


def test_an_outcome_that_goes_on_needs_the_state_to_have_a_way_out(tmp_path):
    assert problems_of(tmp_path, """flow: f
start: submit
states:
  submit:
    do: place_order
    on: {placed: continue, refused: submit}
""") == ["flows/f.yaml:4:3: state 'submit' has no way out: add 'next', 'buttons', 'ask' or 'end: true'"]


def test_a_name_read_after_an_action_that_does_not_give_it(tmp_path):
    """`order` is given by place_order on one way only; check_order does not give it."""
    assert problems_of(tmp_path, """flow: f
start: ask
states:
  ask:
    say: t/hello
    ask: {type: text, save: name}
    next:
      - {if: "name == 'x'", go: submit}
      - {go: check}
  submit:
    do: place_order
    on: {placed: check, refused: done}
  check:
    do: check_order
    next:
      - {if: "order and checked", go: done}
      - {go: done}
  done:
    say: t/hello
    end: true
""") == ["flows/f.yaml:16:14: 'order' is read after action 'check_order', which does not give it; "
         "it is given by place_order"]


def test_a_name_given_on_every_way_is_fine(tmp_path):
    assert problems_of(tmp_path, """flow: f
start: submit
states:
  submit:
    do: place_order
    on: {placed: check, refused: check}
  check:
    do: check_order
    next:
      - {if: "order and checked", go: done}
      - {go: done}
  done:
    say: t/hello
    end: true
""") == []


def test_a_condition_in_braces_is_refused_saying_how_to_write_it(tmp_path):
    assert problems_of(tmp_path, """flow: f
start: a
states:
  a:
    when: "{{ lang == 'ru' }}"
    say: t/hello
    next: a
""") == ["flows/f.yaml:5:11: condition '{{ lang == 'ru' }}': write conditions without {{ }}, "
         "as \"lang == 'ru'\" (braces are for texts and 'with' values)"]


def _line_of(fn) -> int:
    return inspect.getsourcelines(fn)[1]


def test_a_template_or_flow_a_contract_names_must_exist(tmp_path):
    reg = registry()

    def notify(ctx):
        return None
    reg.register_action("notify", notify, templates=("t/hello", "t/only_ru", "t/nowhere"),
                        reads=("nothing_saves_me",))
    reg.register_callback("zz", lambda ctx, payload: None, flows=("nowhere",))
    path = tmp_path / "f.yaml"
    path.write_text("flow: f\nstart: a\nstates:\n  a:\n    do: notify\n    say: t/hello\n    end: true\n")
    flow, _ = parse_flow_file(str(path), "flows/f.yaml")
    templates = Templates(ADMIN_TEMPLATES, ["ru", "en"], "ru", filters=reg.filters)
    problems = check_flows({"f": flow}, templates, reg, menu_flow="f", commands={}, root=PROJECT_ROOT)
    here = os.path.relpath(__file__, PROJECT_ROOT)
    shown = os.path.relpath(os.path.join(ADMIN_TEMPLATES, "en", "t"), PROJECT_ROOT)
    mine = [p for p in problems if p.startswith(here)]
    assert sorted(mine) == sorted([
        f"{here}:{_line_of(notify)}: action notify names template 't/only_ru', which is missing "
        f"in 'en' ({shown}/only_ru.j2)",
        f"{here}:{_line_of(notify)}: action notify names template 't/nowhere', which is missing "
        f"in 'ru' ({shown.replace('/en/', '/ru/')}/nowhere.j2)",
        f"{here}:{_line_of(notify)}: action notify names template 't/nowhere', which is missing "
        f"in 'en' ({shown}/nowhere.j2)",
        f"{here}:{_line_of(notify)}: action notify reads 'nothing_saves_me', which no state saves "
        "and no action gives",
        f"{here}:{problems_of.__code__.co_firstlineno * 0 + _lambda_line()}: callback zz starts flow "
        "'nowhere', which does not exist"]), mine


def _lambda_line() -> int:
    src = open(__file__, encoding="utf-8").read().splitlines()
    return next(i for i, line in enumerate(src, 1) if 'register_callback("zz"' in line)


def test_texts_rendered_outside_actions_are_checked_and_traced(tmp_path):
    """A banner a job or a demo renders by name is declared with register_texts: a missing
    one is reported at the declaring line, and `traced_templates` counts it with what the
    flows, the engine and the contracts name (nothing else)."""
    from engine.checker import ENGINE_TEMPLATES, traced_templates
    reg = registry()
    reg.register_texts("banner", ("t/btn", "t/nowhere"))
    declared = sys._getframe().f_lineno - 1
    path = tmp_path / "f.yaml"
    path.write_text("flow: f\nstart: a\nstates:\n  a:\n    say: t/hello\n    end: true\n")
    flow, _ = parse_flow_file(str(path), "flows/f.yaml")
    templates = Templates(ADMIN_TEMPLATES, ["ru", "en"], "ru", filters=reg.filters)
    problems = check_flows({"f": flow}, templates, reg, menu_flow="f", commands={}, root=PROJECT_ROOT)
    here = os.path.relpath(__file__, PROJECT_ROOT)
    assert [p for p in problems if p.startswith(here)] == [
        f"{here}:{declared}: texts banner names template 't/nowhere', which is missing in '{lang}' "
        f"({os.path.relpath(os.path.join(ADMIN_TEMPLATES, lang, 't'), PROJECT_ROOT)}/nowhere.j2)"
        for lang in ("ru", "en")]
    traced = traced_templates({"f": flow}, templates, reg, menu_flow="f", commands={})
    assert {"t/hello", "t/btn", "t/nowhere"} <= traced and "t/only_ru" not in traced
    assert set(ENGINE_TEMPLATES) - traced == {n for n in ENGINE_TEMPLATES if not templates.exists(n, "ru")}
    with pytest.raises(TypeError, match="must be a list or tuple"):
        reg.register_texts("one", "t/hello")


def test_the_shipped_contracts_name_only_existing_templates_and_flows():
    """Every template a shipped action, callback or handler names, in every language."""
    from helpdesk import config
    from helpdesk.app import check
    assert [p for p in check(config.load(environ={})) if "names template" in p or "starts flow" in p] == []
    reg = load()
    assert reg.contracts["callback wg"].flows == ("wg_comment",)      # the checker sees it


# -- the domain talks to the context only ---------------------------------------------------
DOMAIN = os.path.join(PROJECT_ROOT, "helpdesk")
TOOLING: set[str] = set()   # scenarios.py, which runs conversations, is engine/tools' now
CONTEXT_NAMES = {"step", "ctx"}


def _protocol_members() -> set[str]:
    return {n for n in dir(ActionContext) if not n.startswith("_")} | set(ActionContext.__annotations__)


def _domain_files():
    for path in sorted(glob.glob(os.path.join(DOMAIN, "**", "*.py"), recursive=True)):
        if os.path.relpath(path, DOMAIN) not in TOOLING:
            yield path, ast.parse(open(path, encoding="utf-8").read(), path)


def _is_context(arg: ast.arg, registers: bool) -> bool:
    """`step` is always the context; `ctx` when annotated so or in a module that registers
    with the registry (elsewhere `ctx` may be a multiprocessing context)."""
    annotation = ast.unparse(arg.annotation) if arg.annotation else ""
    return arg.arg == "step" or (arg.arg == "ctx" and (registers or "ActionContext" in annotation))


def _context_uses(tree: ast.AST):
    """Attributes read off a function's `step`/`ctx` parameter (the context it is given)."""
    registers = any(isinstance(n, ast.ImportFrom) and n.module in ("helpdesk.registry", "engine.contracts")
                    or isinstance(n, ast.ImportFrom) and n.level and n.module == "registry"
                    for n in ast.walk(tree))
    seen = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        params = {a.arg for a in fn.args.args + fn.args.kwonlyargs if _is_context(a, registers)}
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id in params and (node.lineno, node.col_offset) not in seen:
                seen.add((node.lineno, node.col_offset))
                yield node


def interpreter_reaches(path: str, tree: ast.AST) -> list[str]:
    """Where `path` reaches past the context: an attribute of a `step`/`ctx` parameter that
    is not in the protocol, or an import of the session or the Step."""
    allowed = _protocol_members()
    shown = os.path.relpath(path, PROJECT_ROOT)
    found = [f"{shown}:{node.lineno}: {node.value.id}.{node.attr}"
             for node in _context_uses(tree) if node.attr not in allowed]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("engine.session", "engine.step",
                                                                "engine.runtime"):
            names = {a.name for a in node.names} - {"utcnow"}
            if names:
                found.append(f"{shown}:{node.lineno}: imports {', '.join(sorted(names))} from {node.module}")
    return found


def test_domain_code_never_touches_session_fields_or_step():
    assert [hit for path, tree in _domain_files() for hit in interpreter_reaches(path, tree)] == []


def test_the_scan_finds_what_main_did(tmp_path):
    """The scan fails on the code this change replaced (workgroup and payments on main)."""
    old = ("from engine.session import load_session, save_session\n"
           "def pressed(step):\n"
           "    s = step.session\n"
           "    s.stack, s.flow = [], 'payment'\n"
           "    step.enter(step.fs.flows['payment'].start)\n"
           "    return step.fs.templates\n")
    path = tmp_path / "old.py"
    hits = interpreter_reaches(str(path), ast.parse(old))
    assert sorted(h.split(": ", 1)[1] for h in hits) == sorted(
        ["imports load_session, save_session from engine.session", "step.session", "step.enter",
         "step.fs", "step.fs"])


def test_the_protocol_is_what_step_offers():
    missing = [n for n in _protocol_members() if not hasattr(Step, n) and n not in ("event", "services")]
    assert missing == []


# -- template names in Python ---------------------------------------------------------------
TEMPLATE_DIRS = sorted(os.listdir(os.path.join(PROJECT_ROOT, "templates", "ru")))
_NAME = re.compile(rf"^({'|'.join(TEMPLATE_DIRS)})/[a-z0-9_]+$")


# the bot's command menu: one optional text per command of settings engine.commands, named
# by the setting like a flow is (helpdesk/ops/bot.py command_texts)
NAMED_BY_SETTINGS = {"helpdesk/ops/bot.py"}


def test_no_template_is_named_by_an_f_string():
    found = []
    for path, tree in _domain_files():
        if os.path.relpath(path, PROJECT_ROOT) in NAMED_BY_SETTINGS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                    and re.match(rf"^({'|'.join(TEMPLATE_DIRS)})/", str(node.values[0].value)):
                found.append(f"{os.path.relpath(path, PROJECT_ROOT)}:{node.lineno}")
    assert found == []


def test_every_template_named_in_python_exists_in_every_language():
    """A string like 'ticket/denied' anywhere in helpdesk/ is a template of ru and en."""
    missing = []
    for path, tree in _domain_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _NAME.match(node.value):
                for lang in ("ru", "en"):
                    if not os.path.exists(os.path.join(PROJECT_ROOT, "templates", lang, node.value + ".j2")):
                        missing.append(f"{os.path.relpath(path, PROJECT_ROOT)}:{node.lineno}: {node.value} ({lang})")
    assert missing == []


@pytest.mark.parametrize("flow", ["ticket_create", "tickets", "stats", "wg_comment", "registration",
                                  "payment", "admin_reload"])
def test_shipped_flows_branch_on_outcomes_not_on_values(flow):
    text = open(os.path.join(PROJECT_ROOT, "flows", flow + ".yaml"), encoding="utf-8").read()
    assert "outcome ==" not in text and "{{" not in re.sub(r"with: \{[^}]*\}\}", "", text)
