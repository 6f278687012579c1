"""A handler puts an update off (engine.errors.NotYet) until what it needs is there: the
update is tried again (rolled back each time: no effect twice), the chat's later updates
wait behind it in order, other chats go on, and the last try says `may_wait=False` so the
handler decides. Both strategies (one process; workers sharing a database), through the
fake Bot API."""
from __future__ import annotations

import shutil
import threading

import pytest

from engine import Engine, Registry, Reply, builtins, load_flowset
from engine.errors import NotYet
from engine.events import Event
from engine.telegram.inbox import InboxItem
from helpdesk import formats
from helpdesk.app import PROJECT_ROOT
from tests.support.desk import eventually
from tests.support.telegram_harness import running_bot

registry = formats.register(builtins.register(Registry()))   # serves the shipped templates
FLOW = """
flow: menu
start: main
states:
  main:
    say: t/main
    end: true
"""


@registry.on_chat("private")
def _held(step):
    """"wait..." is put off while the gate is shut; every try is written down."""
    ev, services = step.event, step.services
    services["tries"].append((ev.text, ev.may_wait))
    if ev.text.startswith("wait") and not services["gate"].is_set() and ev.may_wait:
        raise NotYet(f"chat {ev.chat_id}: the gate is shut")
    if ev.text == "stubborn":                     # a handler that ignores may_wait
        raise NotYet(f"chat {ev.chat_id}: never ready")
    step.reply(Reply(ev.chat_id, f"got:{ev.text}:{'open' if services['gate'].is_set() else 'shut'}"))
    return True


@pytest.fixture
def held_engine(database, tmp_path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "menu.yaml").write_text(FLOW, encoding="utf-8")
    shutil.copytree(f"{PROJECT_ROOT}/templates", tmp_path / "templates")
    for lang in ("ru", "en"):
        (tmp_path / "templates" / lang / "t").mkdir()
        (tmp_path / "templates" / lang / "t" / "main.j2").write_text("Меню", encoding="utf-8")
    flowset = load_flowset(str(tmp_path / "flows"), str(tmp_path / "templates"), registry,
                           languages=["ru", "en"], default_language="ru", menu_flow="menu",
                           commands={"start": "menu"}, root=str(tmp_path))
    return Engine(flowset, registry, services={"gate": threading.Event(), "tries": []})


def _got(api, chat) -> list[str]:
    return [m.text for m in api.messages(chat) if (m.text or "").startswith("got:")]


@pytest.mark.parametrize("shared", [False, True], ids=["local", "shared"])
def test_a_put_off_update_waits_with_its_chat_behind_it_while_other_chats_go_on(
        api, held_engine, shared):
    services = held_engine.services
    with running_bot(held_engine, api, shared=shared, patience=60) as bot:
        late, other = api.user(4101), api.user(4102)
        late.send("wait-1")
        late.send("after-1")
        late.send("after-2")
        other.send("hello")
        other.wait_for(contains="got:hello")
        assert _got(api, 4101) == []                    # put off, the later ones behind it
        # the other chat may be answered before wait-1's first try has run (their steps are
        # concurrent): what matters is that wait-1 is tried and put off, not which came first
        assert eventually(lambda: "wait-1" in [t for t, _ in services["tries"]], timeout=15)
        assert "after-1" not in [t for t, _ in services["tries"]]
        services["gate"].set()
        late.wait_for(contains="got:after-2", timeout=15)
        assert bot.dispatcher.stats["put_off"] >= 1
    assert _got(api, 4101) == ["got:wait-1:open", "got:after-1:open", "got:after-2:open"]
    tries = services["tries"]
    assert [t for t, _ in tries].count("after-1") == 1   # never tried before wait-1 was applied
    assert all(may for text, may in tries if text == "wait-1")
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0


@pytest.mark.parametrize("shared", [False, True], ids=["local", "shared"])
def test_the_last_try_may_not_wait_and_the_handler_decides(api, held_engine, shared):
    services = held_engine.services
    with running_bot(held_engine, api, shared=shared, patience=0.3):
        user = api.user(4201)
        user.send("wait-2")
        user.send("next")
        user.wait_for(contains="got:next", timeout=15)
    assert _got(api, 4201) == ["got:wait-2:shut", "got:next:shut"]   # once each, in order
    mays = [may for text, may in services["tries"] if text == "wait-2"]
    assert len(mays) >= 2 and mays[-1] is False and all(mays[:-1])


def test_a_handler_raising_not_yet_when_it_may_not_wait_gets_the_apology(held_engine):
    """A transport that never retries (the console, the test driver) leaves may_wait False:
    a handler that puts the update off anyway failed, and the user is told so."""
    replies = held_engine.handle(Event(4301, 4301, text="stubborn"))
    assert [r.text for r in replies] == [held_engine.flowset.templates.render("common/error", None, {})]
