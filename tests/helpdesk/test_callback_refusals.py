"""Buttons outside dialogs (`wg:`, `mb:`, `pay:` and any unknown prefix) as an attacker
presses them: Telegram lets anybody send any callback data on any message of the bot in
their own chat, and ids are sequential.

The rule, for every registered prefix x every verb x {stranger, pending member, member of
another company, the right person}, and for malformed ids and verbs: the right person's
press works; every other press is answered on the button with the one generic "out of
date" text and nothing else: no message, no edit, no word of the target, no row written,
no logged error, no bug report.
"""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.session import load_session
from helpdesk.directory.tables import Membership
from helpdesk.tickets import Ticket
from tests.support.refusals import (
    DIRECTOR,
    OTHER_ADMIN,
    PENDING,
    REFUSED,
    STRANGER,
    USER,
    assert_refused,
    press,
    refusal_world,
)
from tests.support.tickets import GROUP, TECH

MALFORMED_IDS = ["²", "9" * 25, "-1", "", "0", " 1", "1 ", "1.0", "١"]


@pytest.fixture
def world(database, monkeypatch):
    return refusal_world(monkeypatch)


# --- who is who, per prefix --------------------------------------------------------------

def verbs(world) -> dict[str, list[str]]:
    t, m, r = world.ticket.id, world.pending, world.request.id
    return {"wg": [f"wg:{v}:{t}" for v in ("take", "wait", "done", "comment")],
            "mb": [f"mb:{v}:{m}" for v in ("confirm", "reject")],
            "pay": [f"pay:{r}"]}


OUTSIDERS = {                       # prefix -> people who must get nothing
    "wg": [STRANGER, USER, PENDING, OTHER_ADMIN, DIRECTOR],
    "mb": [STRANGER, USER, PENDING, OTHER_ADMIN],
    "pay": [STRANGER, PENDING, OTHER_ADMIN],
}
RIGHT = {"wg": TECH, "mb": DIRECTOR, "pay": USER}
CASES = [(prefix, who, i) for prefix, people in OUTSIDERS.items() for who in people
         for i in range({"wg": 4, "mb": 2, "pay": 1}[prefix])]


@pytest.mark.parametrize("prefix,who,verb", CASES)
def test_a_press_by_anyone_but_the_right_person_shows_nothing(world, caplog, prefix, who, verb):
    data = verbs(world)[prefix][verb]
    assert_refused(world, who, data, caplog)
    assert_refused(world, who, data, caplog, chat_id=GROUP)     # pressed in the group too


@pytest.mark.parametrize("prefix", ["wg", "mb", "pay"])
@pytest.mark.parametrize("bad", MALFORMED_IDS)
def test_a_malformed_id_is_a_stale_button_even_for_the_right_person(world, caplog, prefix, bad):
    data = {"wg": f"wg:take:{bad}", "mb": f"mb:confirm:{bad}", "pay": f"pay:{bad}"}[prefix]
    assert_refused(world, RIGHT[prefix], data, caplog)


@pytest.mark.parametrize("data", ["wg:steal:{t}", "wg::{t}", "wg:take", "wg", "mb:approve:{m}",
                                  "mb:{m}", "pay:{r}:extra", "zz:1", "ticket:1", ":", "x" * 60])
def test_an_unknown_verb_or_prefix_is_a_stale_button(world, caplog, data):
    data = data.format(t=world.ticket.id, m=world.pending, r=world.request.id)
    for who in (STRANGER, RIGHT["wg"], RIGHT["mb"], RIGHT["pay"]):
        assert_refused(world, who, data, caplog)


def test_an_id_that_does_not_exist_is_the_same_stale_button(world, caplog):
    for who, data in ((TECH, "wg:take:424242"), (DIRECTOR, "mb:confirm:424242"),
                      (USER, "pay:424242")):
        assert_refused(world, who, data, caplog)


# --- the right person ---------------------------------------------------------------------

@pytest.mark.parametrize("verb,status", [("take", "in_progress"), ("wait", "waiting"),
                                         ("done", "done")])
def test_a_technician_changes_the_ticket_and_the_post_is_edited(world, verb, status):
    replies = press(world, TECH, f"wg:{verb}:{world.ticket.id}", chat_id=GROUP)
    assert Ticket.get_by_id(world.ticket.id).status == status
    edit = replies[-1]
    assert edit.edit_message_id == 1 and "#1" in edit.text and edit.callback_answer


def test_a_technician_comment_press_asks_in_private(world):
    replies = press(world, TECH, f"wg:comment:{world.ticket.id}", chat_id=GROUP)
    assert [r.chat_id for r in replies if not r.edit_message_id] == [TECH]
    assert load_session(TECH, TECH).flow == "wg_comment"


@pytest.mark.parametrize("verb,status", [("confirm", "confirmed"), ("reject", None)])
def test_the_director_decides_a_join_request(world, verb, status):
    replies = press(world, DIRECTOR, f"mb:{verb}:{world.pending}")
    row = Membership.get_or_none(Membership.id == world.pending)
    assert (row.status if row else None) == status
    assert replies[-1].edit_message_id == 1 and replies[-1].text
    told = [r for r in outgoing.Outgoing.select() if r.chat_id == PENDING and "mb-decided" in (r.key or "")]
    assert len(told) == 1


def test_the_author_starts_paying_the_request(world):
    replies = press(world, USER, f"pay:{world.request.id}")
    session = load_session(USER, USER)
    assert (session.flow, session.slots.get("pay_request")) == ("payment", world.request.id)
    assert replies and not any(r.answer_only for r in replies)


# --- through the real Telegram transport --------------------------------------------------

def test_a_forged_press_over_telegram_gets_the_answer_and_not_a_single_message(world):
    from tests.support.fakes.telegram_api import FakeTelegramAPI
    from tests.support.telegram_harness import running_bot
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        stranger = api.user(STRANGER, "Злоумышленник")
        stranger.send("/start")
        menu = stranger.wait_for(contains="Главное меню", timeout=30)
        rows_before = outgoing.Outgoing.select().count()
        seen = [(m.describe(), len(m.history)) for m in api.messages(STRANGER)]   # before pressing
        for data in (f"wg:take:{world.ticket.id}", f"pay:{world.request.id}", "wg:take:²"):
            update = stranger.press_data(data, message_id=menu.message_id)
            answer = api.wait_callback_answer(update["callback_query"]["id"], timeout=30)
            assert answer["text"] == REFUSED
        assert outgoing.Outgoing.select().count() == rows_before       # nothing queued, so nothing sent
        assert [(m.describe(), len(m.history)) for m in api.messages(STRANGER)] == seen   # no send, no edit
    assert Ticket.get_by_id(world.ticket.id).status == "new"
