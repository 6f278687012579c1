"""Templates.preload renders a template that reads nothing once (engine/templates.py). A text
the checker passes but that fails when rendered (an admin's "Скидка " + 10: Jinja raises
TypeError only at render) then fails the whole load of the flow set: the bot does not start
and a hot reload is refused, where before only the step showing that text apologised."""
from __future__ import annotations

import pytest

from engine import Registry, builtins, flowset
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
    say: discount
    end: true
"""
TEXTS = {"ask_colour": "Which colour?", "discount": '{{ "Скидка " + 10 }}%'}


def test_a_text_that_fails_only_when_rendered_does_not_stop_the_flow_set_loading(tmp_path):
    flows, templates, _ = engine_project(tmp_path, FLOW, TEXTS)
    loaded = flowset.load_flowset(flows, templates, builtins.register(Registry()), languages=["ru"],
                                  default_language="ru", menu_flow="main", commands={"start": "main"})
    assert loaded.templates.render("ask_colour", "ru", {}) == "Which colour?"
    with pytest.raises(TypeError):                 # that one text fails when shown, as before
        loaded.templates.render("discount", "ru", {})
