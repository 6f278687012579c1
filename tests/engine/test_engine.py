"""The interpreter, through the transcript driver, on a fixture flow set with test actions."""
from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest

from engine import Outcome, Registry, builtins, load_flowset
from engine.errors import FlowConfigError
from engine.session import Conversation, load_session, utcnow
from engine.testing import Chat
from tests.support.engine import COMMANDS, FLOWS, TEMPLATES, make_engine, make_registry

HERE = os.path.dirname(__file__)


@pytest.fixture
def engine(database):
    return make_engine()


def test_menu_in_users_language(engine):
    assert Chat(engine, 1, language="ru").send("/start")[0].text == "Главная ru"
    assert Chat(engine, 2, language="en-GB").send("/start")[0].text == "Home en"
    assert Chat(engine, 3, language="de").send("/start")[0].text == "Главная ru"   # fallback


def test_said_reads_the_latest_turn_only(engine):
    """A check after a step reads that step's answer, never a prompt from before it."""
    chat = Chat(engine, 11)
    chat.send("/start")
    chat.click("Order")
    chat.send("7")                                  # one turn, two replies
    assert chat.said("Big order of 7") and chat.said("Send photos")
    chat.send_file("p1")                            # answered with buttons, no prompt again
    assert chat.turn and not chat.said("Send photos") and not chat.said("Big order")


def test_sub_flow_with_conditions_files_and_action(engine):
    chat = Chat(engine, 10)
    chat.send("/start")
    chat.click("Order")
    assert chat.last_text == "How many?"
    chat.send("7")
    assert chat.said("Big order of 7") and chat.last_text == "Send photos"
    chat.send_file("p1")
    chat.send_file("p2")
    assert chat.buttons == ["Done"]
    chat.click("Done")
    assert chat.said("Order #1 for 7, 2 photos")
    assert chat.last_text == "Главная ru"           # the sub-flow returned to the caller
    assert engine.registry.placed == [7]


def test_invalid_input_reasks_and_keeps_state(engine):
    chat = Chat(engine, 11)
    chat.send("/start")
    chat.click("Order")
    for bad, hint in [("много", "Введите число"), ("0", "не меньше 1"), ("11", "не больше 10"),
                      ("", "Введите число"), ("x" * 10000, "Введите число")]:
        chat.send(bad)
        assert hint in chat.last_text
    chat.send("3")
    assert chat.last_text == "Send photos"


def test_dynamic_buttons_save_value_and_edit_in_place(engine):
    chat = Chat(engine, 12)
    chat.send("/start")
    chat.click("List")
    assert chat.buttons == ["Item 1", "Item 2", "Back"]
    chat.click("Item 2")
    picked = chat.transcript[-2]
    assert picked.text == "Picked 2" and picked.edit_message_id is not None


def test_stale_and_forged_buttons_are_refused(engine):
    chat = Chat(engine, 13)
    chat.send("/start")
    old = chat.last.buttons[0][0].data
    chat.click("Order")
    chat.press_data(old)
    assert "устарела" in chat.transcript[-2].text and chat.last_text == "How many?"
    chat.press_data("f999.0")
    assert "устарела" in chat.transcript[-2].text and chat.last_text == "How many?"
    [answer] = chat.press_data("zz:whatever")        # no such prefix: the button is answered
    assert answer.answer_only and "устарела" in answer.callback_answer
    assert load_session(13, 13).state == "qty"
    chat.send("2")                                   # the dialog goes on
    assert chat.last_text == "Send photos"


def test_text_where_buttons_expected_and_unknown_command(engine):
    chat = Chat(engine, 14)
    chat.send("/start")
    chat.send("hello 🙂")
    assert "кнопках" in chat.last_text and chat.buttons == ["Order", "List"]
    chat.send("/nonsense")
    assert "Такой команды нет" in chat.last_text and chat.buttons == ["Order", "List"]
    chat.send("order")                                # typing a label presses it
    assert chat.last_text == "How many?"


def test_predicate_controls_button(database):
    engine = make_engine(make_registry(vip_ids={99}))
    assert Chat(engine, 98).send("/start")[0].button_texts() == ["Order", "List"]
    assert Chat(engine, 99).send("/start")[0].button_texts() == ["Order", "List", "Secret"]


def test_action_failure_rolls_back_and_apologises(database):
    engine = make_engine(make_registry(fail="raise"))
    chat = Chat(engine, 15)
    chat.send("/start")
    chat.click("Order")
    chat.send("2")
    chat.click("Done")
    assert "что-то пошло не так" in chat.last_text
    row = Conversation.get(Conversation.user_id == 15)
    assert (row.flow, row.state) == ("order", "files")   # rolled back to before the press
    chat.click("Done")                                      # still usable, same answer
    assert "что-то пошло не так" in chat.last_text


def test_restart_resumes_dialog(database):
    chat = Chat(make_engine(), 16)
    chat.send("/start")
    chat.click("Order")
    chat.send("2")
    restarted = Chat(make_engine(), 16)         # a new engine: nothing kept in memory
    restarted.send_file("p")
    restarted.event(kind="button", data=chat.last.buttons[0][0].data)
    assert restarted.said("Order #1 for 2, 1 photos")


def test_cancel_returns_to_menu(engine):
    chat = Chat(engine, 17)
    chat.send("/start")
    chat.click("Order")
    chat.send("/cancel")
    assert chat.said("Действие отменено") and chat.last_text == "Главная ru"


def test_changed_flow_sends_lost_session_to_menu(database, tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    chat = Chat(make_engine(flows=str(flows)), 18)
    chat.send("/start")
    chat.click("Order")
    text = (flows / "order.yaml").read_text().replace("qty:\n    say", "how_many:\n    say") \
        .replace("start: qty", "start: how_many")
    (flows / "order.yaml").write_text(text)
    chat.engine.reload(load_flowset(str(flows), TEMPLATES, chat.engine.registry,
                                    languages=["ru", "en"], default_language="ru",
                                    menu_flow="main", commands=COMMANDS))
    chat.send("5")
    assert chat.said("Диалог был обновлён") and chat.last_text == "Главная ru"


def test_timeout_reminds_then_abandons(engine):
    chat = Chat(engine, 19)
    chat.send("/start")
    chat.click("Order")
    assert engine.due_timeouts() == []
    reminders = engine.due_timeouts(utcnow() + timedelta(seconds=61))
    assert [r.text for r in reminders] == ["Still there?"]
    assert engine.due_timeouts(utcnow() + timedelta(seconds=120)) == []   # reminded once
    gone = engine.due_timeouts(utcnow() + timedelta(hours=2))
    assert [r.text for r in gone] == ["Gave up"]
    chat.send("anything")
    assert chat.last_text == "Главная ru"


def test_an_outcome_leads_to_its_state(database):
    """`on: {placed: done, failed: failed}`: the outcome the action reports picks the state."""
    chat = Chat(make_engine(), 20)
    chat.send("/start")
    chat.click("Order")
    chat.send("1")
    chat.click("Done")
    assert chat.said("Order #1 for 1, 0 photos") and not chat.said("Failed")
    failing = Chat(make_engine(make_registry(fail=True)), 21)
    failing.send("/start")
    failing.click("Order")
    failing.send("1")
    failing.click("Done")
    assert failing.said("Failed") and not failing.said("Order #")


@pytest.mark.parametrize("returned,complaint", [
    (lambda: Outcome("lost", order_no=1), "reported outcome 'lost', which is not one of its outcomes"),
    (lambda: {"order_no": 1}, "declares outcomes ['placed', 'failed'] but returned dict"),
    (lambda: Outcome("placed", order_no=1, secret=2), "gave ['secret'], which its contract does not declare"),
])
def test_an_action_breaking_its_contract_fails_with_flow_state_action(database, caplog, returned, complaint):
    reg = builtins.register(Registry())
    reg.register_action("list_items", lambda step: [])
    reg.register_predicate("is_vip", lambda step: False)
    reg.register_action("place_order", lambda step, qty: returned(), reads=["qty"], gives=["order_no"],
                        outcomes=["placed", "failed"])
    chat = Chat(make_engine(reg), 22)
    chat.send("/start")
    chat.click("Order")
    chat.send("1")
    chat.click("Done")
    assert "что-то пошло не так" in chat.last_text
    assert any("flow=order state=submit action=place_order" in r.getMessage() and complaint in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_bad_flow_set_is_never_loaded(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    (flows / "order.yaml").write_text((flows / "order.yaml").read_text().replace("placed: done", "placed: dnoe"))
    with pytest.raises(FlowConfigError) as info:
        make_engine(flows=str(flows))
    assert any("order.yaml:" in p and "'dnoe' is not defined" in p and "did you mean 'done'" in p
               for p in info.value.problems)
