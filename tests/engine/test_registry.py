"""The one registry: every kind of name refuses a duplicate and anything after the engine
started; the checker, the engine and the templates read input types and filters from the
registry they are given; helpdesk.registry.MODULES lists every registering module."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from engine import Engine, Registry, builtins, check_flowset, load_flowset
from engine.testing import Chat
from helpdesk.registry import HelpdeskRegistry, Job, new_registry
from tests.support.paths import ROOT
from tests.support.projects import engine_project

HERE = os.path.dirname(__file__)
COMMON = os.path.join(HERE, "fixtures", "engine_templates", "ru", "common")


def _fn(*args, **kwargs):
    return None


# one registration of each kind, made through its decorator
KINDS = {
    "action": lambda r: r.action("create")(_fn),
    "predicate": lambda r: r.predicate("is_vip")(_fn),
    "provider": lambda r: r.provider("user")(_fn),
    "callback": lambda r: r.callback("wg")(_fn),
    "event handler": lambda r: r.on_event("payment")(_fn),
    "chat handler": lambda r: r.on_chat("group")(_fn),
    "fallback": lambda r: r.fallback("pre_checkout")(_fn),
    "input type": lambda r: r.input_type("colour")(_fn),
    "template filter": lambda r: r.template_filter("shout")(_fn),
    "job": lambda r: r.job("drain", every=60)(_fn),
    "sync entity": lambda r: r.sync_entity("ticket", dict, send=_fn)(_fn),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_second_registration_of_a_name_is_refused(kind):
    reg = HelpdeskRegistry()
    KINDS[kind](reg)
    with pytest.raises(ValueError, match="registered twice"):
        KINDS[kind](reg)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_nothing_is_registered_after_freeze(kind):
    reg = HelpdeskRegistry()
    reg.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        KINDS[kind](reg)


def test_a_registered_input_type_or_filter_cannot_be_registered_again():
    """The engine's (phone) and the helpdesk's (inn, money: helpdesk.formats) alike."""
    reg = new_registry()
    with pytest.raises(ValueError, match="'phone' is registered twice"):
        reg.register_input_type("phone", _fn)
    with pytest.raises(ValueError, match="'inn' is registered twice"):
        reg.register_input_type("inn", _fn)
    with pytest.raises(ValueError, match="'money' is registered twice"):
        reg.register_filter("money", _fn)


def test_a_frozen_registry_is_read_only():
    reg = new_registry()
    reg.register_job(Job("drain", _fn, 60))
    reg.freeze()
    with pytest.raises(TypeError):
        reg.jobs["other"] = Job("other", _fn, 60)          # the table itself, not only _add
    with pytest.raises(TypeError):
        reg.input_types["colour"] = _fn
    assert set(reg.jobs) == {"drain"} and "colour" not in reg.input_types


# -- a flow set of its own: one ask of a project-defined type, shown through a filter ------
FLOW = """\
flow: main
start: colour
states:
  colour:
    say: ask_colour
    ask: {type: colour, save: colour}
    next: shown
  shown:
    say: shown
    end: true
"""


@pytest.fixture
def flowset_dirs(tmp_path):
    flows, templates, _ = engine_project(tmp_path, FLOW, {"ask_colour": "Which colour?",
                                                          "shown": "{{ colour | shout }}"})
    return flows, templates


def _colour(event, spec):
    text = (event.text or "").strip()
    return (True, text) if text in ("red", "green") else (False, "common/invalid_choice")


def _options():
    return dict(languages=["ru"], default_language="ru", menu_flow="main", commands={"start": "main"})


def _problems(dirs, reg):
    return check_flowset(*dirs, reg, **_options())[2]


def test_the_checker_reads_input_types_from_the_registry_it_is_given(flowset_dirs):
    reg = builtins.register(Registry())
    reg.register_filter("shout", str.upper)
    assert any("unknown input type 'colour'" in p for p in _problems(flowset_dirs, reg))
    reg.register_input_type("colour", _colour)
    assert _problems(flowset_dirs, reg) == []


def test_without_the_builtins_even_text_is_an_unknown_input_type(flowset_dirs):
    with open(os.path.join(flowset_dirs[0], "main.yaml"), "w", encoding="utf-8") as f:
        f.write(FLOW.replace("type: colour", "type: text"))
    reg = Registry()
    reg.register_filter("shout", str.upper)
    assert any("unknown input type 'text'" in p for p in _problems(flowset_dirs, reg))
    assert _problems(flowset_dirs, builtins.register(reg)) == []


def test_the_engine_asks_and_renders_with_the_registrys_type_and_filter(flowset_dirs, database):
    reg = builtins.register(Registry())
    reg.input_type("colour")(_colour)
    reg.template_filter("shout")(str.upper)
    engine = Engine(load_flowset(*flowset_dirs, reg, **_options()), reg)
    chat = Chat(engine, 31)
    assert chat.send("/start")[0].text == "Which colour?"
    assert chat.send("blue")[0].text == open(os.path.join(COMMON, "invalid_choice.j2"),
                                             encoding="utf-8").read().strip()
    assert chat.send("red")[0].text == "RED"
    with pytest.raises(RuntimeError, match="frozen"):     # the engine froze it at start
        reg.register_filter("whisper", str.lower)


def test_a_chat_handler_takes_its_chats_messages_and_leaves_commands_and_declined_ones(flowset_dirs, database):
    """A group's chatter goes to the handler of its kind of chat, not into a dialog; a
    command keeps its ordinary way; a message the handler declines is the dialogs' again."""
    seen = []

    def take_all_but_hello(ctx):
        seen.append(ctx.event.text)
        return ctx.event.text != "hello"

    reg = builtins.register(Registry())
    reg.input_type("colour")(_colour)
    reg.template_filter("shout")(str.upper)
    reg.on_chat("group")(take_all_but_hello)
    engine = Engine(load_flowset(*flowset_dirs, reg, **_options()), reg)
    group = Chat(engine, 31, chat_id=-500)
    assert group.event(kind="text", text="chatter", chat_type="group") == []       # taken
    assert group.event(kind="command", text="/start", chat_type="group")[0].text == "Which colour?"
    assert group.event(kind="text", text="hello", chat_type="group")                # declined
    assert seen == ["chatter", "hello"]
    assert Chat(engine, 32).send("red")[0].text == "Which colour?"   # a private chat: as before


def test_a_chat_handler_with_commands_takes_dialog_commands_but_not_code_ones(flowset_dirs, database):
    """Outside attack (issue 16): /start in a group opened the menu in front of everyone. A
    handler registered with `commands` sees the dialog commands (and tells them apart); a
    command answered in code still reaches its code; a private chat keeps its dialogs."""
    seen = []

    def take(ctx):
        seen.append((ctx.event.text, ctx.is_dialog_command()))
        return True

    reg = builtins.register(Registry())
    reg.input_type("colour")(_colour)
    reg.template_filter("shout")(str.upper)
    reg.on_chat("group", commands=True)(take)
    reg.command("ping")(lambda ctx, args: ctx.say("common/cancelled"))
    engine = Engine(load_flowset(*flowset_dirs, reg, **_options()), reg)
    group = Chat(engine, 31, chat_id=-500)
    assert group.event(kind="command", text="/start", chat_type="group") == []       # taken
    assert group.event(kind="command", text="/nosuch", chat_type="group") == []
    assert group.event(kind="command", text="/ping", chat_type="group")              # its code
    assert seen == [("/start", True), ("/nosuch", False)]
    assert Chat(engine, 32).send("/start")[0].text == "Which colour?"


def test_every_registering_module_is_listed_in_modules():
    """Importing every helpdesk module after load() adds no name: MODULES is the whole list
    of registration sources (a fresh interpreter, the registry is a module's)."""
    code = textwrap.dedent("""
        import importlib, pkgutil, helpdesk
        from dataclasses import fields
        from helpdesk.registry import load
        reg = load()
        def snapshot():
            return {f.name: sorted(getattr(reg, f.name)) for f in fields(reg) if f.name != "frozen"}
        before = snapshot()
        for mod in pkgutil.walk_packages(helpdesk.__path__, "helpdesk."):
            importlib.import_module(mod.name)
        after = snapshot()
        assert before == after, {k: set(after[k]) - set(before[k]) for k in after if after[k] != before[k]}
        assert reg.jobs and reg.sync_entities and reg.actions and reg.input_types and reg.filters
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("prefix", ["wg:take", "fx"])
def test_a_callback_prefix_with_a_colon_or_the_dialogs_f_is_refused_both_ways(prefix):
    reg = Registry()
    with pytest.raises(ValueError, match="callback prefix"):
        reg.callback(prefix)
    with pytest.raises(ValueError, match="callback prefix"):
        reg.register_callback(prefix, _fn)
    assert dict(reg.callbacks) == {}
