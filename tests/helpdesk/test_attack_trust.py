"""Holes an outside attack found in the first fix of issue 17 (items 1, 2, 3, 6 and 9), kept
as regressions: each failed on the code it was written against and passes since the rule
it names holds."""
from __future__ import annotations

import pytest
from jinja2 import TemplateNotFound

from engine.session import load_session
from engine.templates import Templates
from engine.testing import Chat
from helpdesk import config, directory
from helpdesk.directory.tables import ContactPerson, Membership
from helpdesk.tickets import TicketEvent
from tests.support.projects import checked, copied
from tests.support.refusals import STRANGER, assert_refused, refusal_world
from tests.support.registration import (
    CREATE,
    ROMASHKA,
    STAFF,
    button_data,
    chat,
    outgoing,
    register,
    registration_app,
    romashka_world,
    start_questionnaire,
)
from tests.support.registration import STRANGER as INN_STRANGER
from tests.support.tickets import GROUP


@pytest.fixture
def app(database, db_url):
    return registration_app(db_url)


@pytest.fixture
def romashka(app):
    return romashka_world(app)


@pytest.fixture
def world(database, monkeypatch):
    return refusal_world(monkeypatch)


# --- item 3: an unverified member sees none of his colleagues' tickets --------------------

def test_attack_an_unverified_member_learns_and_touches_no_colleagues_ticket_via_duplicates(app, romashka):
    """He typed Ромашка's INN; a confirmed colleague filed "Колега: не печатает чек". He
    files the same text: the bot tells him ticket #1 exists (number, time, type) and lets
    him append his text to it (an "added" event on the colleague's ticket, a notification
    to the colleague and the work group)."""
    svc = app.services.tickets
    colleague = next(t for t in svc.visible(5012)[0])
    c = romashka
    c.click(CREATE)
    if "Без точки" in c.buttons:
        c.click("Без точки")
    c.click("Другое")
    c.send("Колега: не печатает чек!")
    c.click("✅ Готово")
    seen_before = len(c.transcript)
    c.click("📨 Отправить")
    told = "\n".join(r.text for r in c.transcript[seen_before:])
    offered = [b for b in c.buttons if "Добавить" in b]
    if offered:
        c.click(offered[0])
    assert colleague.label not in told and "уже есть" not in told, told
    assert not TicketEvent.select().where((TicketEvent.ticket == colleague.id)
                                          & (TicketEvent.who == str(INN_STRANGER))).exists()


# --- items 2/3: confirming a request must not rewrite somebody else's contact -------------

def test_attack_confirming_a_request_does_not_turn_the_requester_into_a_same_name_contact(app):
    """A stranger shares his own (unlisted) phone and fills the questionnaire with the
    director's full name and Ромашка's INN. The administrator confirms "a new USER". The
    director's ContactPerson row then carries the stranger's phone, his position and role USER
    (and is queued to the CRM), so the director's contact reaches the stranger."""
    for uid, (phone, _) in STAFF.items():
        register(app, uid, phone)
    director = ContactPerson.get(ContactPerson.phone == "+79000000001")
    before = (director.full_name, director.phone, director.position, director.role)
    c = start_questionnaire(app, 5090)
    for answer in (director.full_name, ROMASHKA, "Менеджер"):
        c.send(answer)
    chat(app, 5011).press_data(button_data(outgoing(5011)[-1], "Подтвердить"))
    assert Membership.get(Membership.telegram_user == 5090).status == "confirmed"
    after = ContactPerson.get_by_id(director.id)
    assert (after.full_name, after.phone, after.position, after.role) == before
    assert [u.id for u in directory.users_of_contact(after)] == [5010]


def test_attack_a_confirmed_typed_phone_request_is_not_the_contact_whose_number_he_typed(app):
    """A stranger types the director's number (the director never started the bot, so
    support is asked); support lets him into the company. He is now linked to the
    director's ContactPerson row (Membership.contact), so everything addressed to that contact
    (POST /api/v1/messages contact_id, the CRM author of his tickets) is him, on the
    strength of a number he typed."""
    c = chat(app, 5091)
    c.click("🔑 Зарегистрироваться")
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send("+79000000001")
    c.send("Пётр Незнакомцев")                              # typed: he names himself
    [ask] = outgoing(990)
    chat(app, 990).press_data(button_data(ask, "Подтвердить"))
    assert Membership.get(Membership.telegram_user == 5091).status == "confirmed"
    director = ContactPerson.get(ContactPerson.phone == "+79000000001")
    assert 5091 not in [u.id for u in directory.users_of_contact(director)]


# --- item 1: a forged flow button shows nothing --------------------------------------------

@pytest.mark.parametrize("chat_id", [STRANGER, GROUP])
@pytest.mark.parametrize("data", ["f1.0", "f2.3"])
def test_attack_a_forged_flow_button_from_someone_with_no_dialog_is_answered_only(world, caplog, data, chat_id):
    """Nobody ever showed this person a flow button, yet `f1.0` on any bot message (in his
    chat, or on a post in the work group) sends him the main menu as a new message (into
    the group, for the group) and writes a conversation row."""
    assert_refused(world, STRANGER, data, caplog, chat_id=chat_id)


# --- item 9: ids in callback data are ASCII digits ------------------------------------------

@pytest.mark.parametrize("spell", [lambda s: s.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                                   lambda s: s.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                                   lambda s: s + "\n"], ids=["arabic", "fullwidth", "newline"])
def test_attack_a_flow_button_with_non_ascii_digits_is_not_a_press(world, spell):
    """`engine.runtime._FLOW_DATA` is `^f(\\d+)\\.(\\d+)$`: `\\d` takes any Unicode digit and
    `$` a trailing newline, so `f٣.٠` presses the button of step 3 (not parse_id's rule)."""
    c = Chat(world.app.engine, STRANGER)
    c.send("/start")
    step = load_session(STRANGER, STRANGER).step
    c.event(kind="button", data=spell(f"f{step}.0"), message_id=1)
    s = load_session(STRANGER, STRANGER)
    assert (s.flow, s.state) == ("menu", "main")


# --- item 6: flows check sees every read of `settings` -------------------------------------

def test_attack_flows_check_reports_settings_read_in_an_included_file_without_j2(tmp_path):
    """Jinja included any file of the language folder; the checker reads only *.j2. Now
    only *.j2 files load at all, and the checker reports the include at its line."""
    templates, _ = copied(tmp_path)
    (templates / "ru" / "help" / "peek.j2").write_text("Hi\n{% include 'help/peek.txt' %}", encoding="utf-8")
    (templates / "ru" / "help" / "peek.txt").write_text("{{ settings.bot.token }}", encoding="utf-8")
    problems = checked(config.load(environ={}), tmp_path)
    assert any(p.endswith("help/peek.j2:2:1: template 'help/peek' includes 'help/peek.txt', "
                          "which is not a template file (*.j2) of 'ru'") for p in problems), problems
    app_templates = Templates(str(templates), ["ru"], "ru")
    with pytest.raises(TemplateNotFound):
        app_templates.render("help/peek", "ru", {"settings": {}})


# --- item 9: no str.isdigit() anywhere an outsider's text becomes a number ----------------

@pytest.mark.parametrize("text", ["²", "١٢", "1²"])
def test_unicode_digits_are_no_id_anywhere(text):
    from helpdesk.directory import DirectoryError, clean_inn
    from helpdesk.payments import PaymentError, account_for, requests, verify_payload
    assert verify_payload(f"v1.{text}.xxxxxxxxxxxxxxxxxxxxxx", b"k") is None
    with pytest.raises(PaymentError):
        account_for(1, "c" + text)
    with pytest.raises(DirectoryError):
        clean_inn(text * 10)
    with pytest.raises(PaymentError):
        requests._requester(config.load(environ={}), text)
