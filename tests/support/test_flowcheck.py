"""The flow set's check kept per process (tests/support/flowcheck.py): what an app build
gets is what a fresh check gives, after any edit of a file or a registration too."""
from __future__ import annotations

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
