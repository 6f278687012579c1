"""The per-process Jinja compile (tests/support/flowcheck.py) must not make a test see a text
the bot would not show. Jinja's optimizer folds a filter applied to a constant at compile
time, calling the compiling environment's filter (with that environment: its display zone,
its language); the compile cache is keyed on the source, the file and the filter *names*, so
a second environment that differs only in its zone or language got the first one's text."""
from __future__ import annotations

from engine import Registry, builtins, flowset
from tests.support.projects import engine_project

FLOW = """\
flow: main
start: shown
states:
  shown:
    say: shown
    end: true
"""
# a fixed moment shown in the display zone (a constant: the optimizer folds it)
TEXTS = {"shown": '{{ "2024-01-01T10:00:00" | localtime("%H:%M") }}'}


def _load(flows, templates, zone):
    return flowset.load_flowset(flows, templates, builtins.register(Registry()), languages=["ru"],
                                default_language="ru", menu_flow="main",
                                commands={"start": "main"}, timezone=zone)


def test_the_same_template_under_another_display_zone_shows_that_zones_time(tmp_path):
    flows, templates, _ = engine_project(tmp_path, FLOW, TEXTS)
    utc = _load(flows, templates, "UTC")
    assert utc.templates.render("shown", "ru", {}) == "10:00"
    moscow = _load(flows, templates, "Europe/Moscow")       # settings.timezone changed, same files
    assert moscow.templates.render("shown", "ru", {}) == "13:00"


def test_the_same_filter_name_registered_to_another_function_shows_that_functions_text(tmp_path):
    """Two registries (two app builds) giving the filter `shout` other functions: the text
    of a constant through it is each registry's own (the check is keyed on the registry's
    entries; the compile only on the filter's name)."""
    flows, templates, _ = engine_project(tmp_path, FLOW, {"shown": '{{ "Hi" | shout }}'})
    loud, quiet = builtins.register(Registry()), builtins.register(Registry())
    loud.register_filter("shout", str.upper)
    quiet.register_filter("shout", str.lower)
    options = dict(languages=["ru"], default_language="ru", menu_flow="main", commands={"start": "main"})
    assert flowset.load_flowset(flows, templates, loud, **options).templates.render("shown", "ru", {}) == "HI"
    assert flowset.load_flowset(flows, templates, quiet, **options).templates.render("shown", "ru", {}) == "hi"
