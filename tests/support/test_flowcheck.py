"""The flow set's check kept per process (tests/support/flowcheck.py): what an app build
gets is what a fresh check gives, after any edit of a file or a registration too."""
from __future__ import annotations

import jinja2
import pytest

from engine import Registry, builtins, flowset
from engine.errors import FlowConfigError
from tests.support import flowcheck
from tests.support.projects import engine_project

FLOW = """\
flow: main
start: colour
states:
  colour:
    say: ask_colour
    ask: {type: text, save: colour}
    next: shown
  shown:
    say: shown
    end: true
"""
OPTIONS = dict(languages=["ru"], default_language="ru", menu_flow="main", commands={"start": "main"})


def _registry() -> Registry:
    reg = builtins.register(Registry())
    reg.register_filter("shout", str.upper)
    return reg


def _load(flows, templates, reg):
    return flowset.load_flowset(flows, templates, reg, **OPTIONS)


def test_the_same_files_and_registrations_reuse_the_check_and_still_build_afresh(tmp_path):
    flows, templates, _ = engine_project(tmp_path, FLOW, {"ask_colour": "Which colour?",
                                                          "shown": "{{ colour | shout }}"})
    reg = _registry()
    before = dict(flowcheck.stats)
    first, second = _load(flows, templates, reg), _load(flows, templates, reg)
    assert flowcheck.stats["checked"] == before["checked"] + 1
    assert flowcheck.stats["reused"] == before["reused"] + 1
    assert first is not second and first.templates is not second.templates
    assert set(second.machines) == {"main"} and second.flows["main"].start == "colour"


def test_an_edited_template_or_a_missing_registration_is_checked_again(tmp_path):
    flows, templates, ru = engine_project(tmp_path, FLOW, {"ask_colour": "Which colour?",
                                                           "shown": "{{ colour | shout }}"})
    reg = _registry()
    _load(flows, templates, reg)
    (ru / "shown.j2").write_text("{{ colour | whisper }}", encoding="utf-8")
    with pytest.raises(FlowConfigError, match="whisper"):
        _load(flows, templates, reg)
    (ru / "shown.j2").write_text("{{ colour | shout }}", encoding="utf-8")
    _load(flows, templates, reg)                                    # as before: fine again
    bare = builtins.register(Registry())                           # no `shout` filter
    with pytest.raises(FlowConfigError, match="shout"):
        _load(flows, templates, bare)


def test_a_template_compiled_before_is_reused_and_an_edit_or_an_option_compiles_afresh(tmp_path):
    """Jinja's compile kept per process: the same source and options give the same code, an
    edited file serves its new text, and another environment's options are not mixed in."""
    flows, templates, ru = engine_project(tmp_path, FLOW, {"ask_colour": "Which colour?",
                                                           "shown": "{{ colour | shout }}"})
    reg = _registry()
    first = _load(flows, templates, reg)
    before = dict(flowcheck.stats)
    second = _load(flows, templates, reg)
    assert flowcheck.stats["compiled"] == before["compiled"]
    assert flowcheck.stats["compile_reused"] > before["compile_reused"]
    assert second.templates.render("shown", "ru", {"colour": "red"}) == "RED"
    assert second.flows["main"] is not first.flows["main"]            # parsed once, copied
    (ru / "shown.j2").write_text("[{{ colour | shout }}]", encoding="utf-8")
    third = _load(flows, templates, reg)
    assert third.templates.render("shown", "ru", {"colour": "red"}) == "[RED]"
    assert first.templates.render("shown", "ru", {"colour": "red"}) == "RED"     # its own, kept
    plain = jinja2.Environment(autoescape=False)
    assert plain.from_string("<{{ x }}>").render(x="&") == "<&>"
    assert jinja2.Environment(autoescape=True).from_string("<{{ x }}>").render(x="&") == "<&amp;>"


def test_a_template_that_does_not_compile_fails_every_time():
    env = jinja2.Environment()
    for _ in range(2):
        with pytest.raises(jinja2.TemplateSyntaxError, match="unknown"):
            env.from_string("{{ x | unknown }}")
    env.filters["unknown"] = str.upper             # now the filter exists: the same source compiles
    assert env.from_string("{{ x | unknown }}").render(x="a") == "A"


def test_a_clean_check_is_reused_in_another_folder_and_a_problem_names_its_own(tmp_path):
    texts = {"ask_colour": "Which colour?", "shown": "{{ colour | shout }}"}
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    here = engine_project(tmp_path / "here", FLOW, texts)
    there = engine_project(tmp_path / "there", FLOW, texts)
    reg = _registry()
    _load(here[0], here[1], reg)
    before = dict(flowcheck.stats)
    moved = _load(there[0], there[1], reg)
    assert flowcheck.stats["checked"] == before["checked"] and moved.flows["main"].start == "colour"
    assert str(tmp_path / "there") in moved.flows["main"].file           # parsed in its place
    assert all(str(tmp_path / "there") in str(st.pos) for st in moved.flows["main"].states.values())
    for ru in (here[2], there[2]):
        (ru / "shown.j2").write_text("{{ colour | whisper }}", encoding="utf-8")
    for project in (here, there):
        with pytest.raises(FlowConfigError, match="whisper") as raised:
            _load(project[0], project[1], reg)
        assert str(project[2] / "shown.j2") in str(raised.value)
