"""What moved out of the engine into the domain (issue 12 item 5): the `inn` ask type, the
kopecks `money` filter and the phone region are the helpdesk's (helpdesk.formats), put into
the registry by helpdesk.registry.new_registry; the engine's phone input reads a number
without a country code only in the region it is registered with; the checker requires the
hint templates every registered input type declares."""
from __future__ import annotations

import os

import pytest

from engine import Registry, builtins, check_flowset
from engine.events import Contact, Event
from engine.templates import Templates
from helpdesk import formats
from helpdesk.app import PROJECT_ROOT
from helpdesk.registry import new_registry
from tests.support.projects import engine_project

HERE = os.path.dirname(__file__)


def typed(text: str) -> Event:
    return Event(chat_id=5, user_id=5, kind="text", text=text)


def shared(phone: str) -> Event:
    return Event(chat_id=5, user_id=5, kind="contact", contact=Contact(phone=phone, user_id=5))


# -- the engine alone knows no INN, no kopecks, no country ---------------------------------
def test_the_engines_builtins_have_no_inn_and_no_money():
    reg = builtins.register(Registry())
    assert "inn" not in reg.input_types and "money" not in reg.filters
    assert {"text", "number", "phone", "contact", "choice", "file"} <= set(reg.input_types)


def test_without_a_region_the_engine_accepts_international_numbers_only():
    phone = builtins.register(Registry()).input_types["phone"]
    assert phone(typed("+7 912 345-67-89"), {}) == (True, "+79123456789")
    assert phone(typed("+49 30 901820"), {}) == (True, "+4930901820")
    assert phone(typed("8 (912) 345-67-89"), {}) == (False, "common/invalid_phone")


def test_the_region_a_project_registers_reads_national_numbers():
    german = builtins.register(Registry(), phone_region="DE")
    assert german.input_types["phone"](typed("030 901820"), {}) == (True, "+4930901820")
    assert german.input_types["contact"](shared("030 901820"), {}) == (True, "+4930901820")
    # the same digits the helpdesk reads as +7 912 ... are a Munich number in Germany
    assert german.input_types["phone"](typed("8 (912) 345-67-89"), {}) == (True, "+4989123456789")


# -- the helpdesk's registry: Russian numbers, INN, kopecks -----------------------------------
def test_the_helpdesk_reads_numbers_without_a_country_code_as_russian():
    reg = new_registry()
    assert formats.PHONE_REGION == "RU"
    assert reg.input_types["phone"](typed("8 (912) 345-67-89"), {}) == (True, "+79123456789")
    assert reg.input_types["contact"](shared("79123456789"), {}) == (True, "+79123456789")
    assert reg.input_types["phone"](shared("79123456789"), {}) == (True, "+79123456789")


@pytest.mark.parametrize("text, expected", [
    ("7707083893", (True, "7707083893")),                # Sberbank, 10 digits
    ("7707 083 893", (True, "7707083893")),              # spaces are dropped
    ("500100732259", (True, "500100732259")),            # 12 digits, a person's
    ("7707083890", (False, "common/inn_checksum")),      # the right length, a wrong checksum
    ("770708389", (False, "common/invalid_inn")),        # 9 digits
    ("77070838a3", (False, "common/invalid_inn")),
])
def test_the_inn_type_is_the_helpdesks(text, expected):
    assert new_registry().input_types["inn"](typed(text), {}) == expected


def test_a_shared_contact_is_no_inn():
    assert formats.inn(shared("+79123456789"), {}) == (False, "common/invalid_inn")


def test_money_shows_kopecks_as_roubles_in_the_templates():
    t = Templates(os.path.join(PROJECT_ROOT, "templates"), ["ru", "en"], "ru",
                  filters=new_registry().filters)
    money = t.expression("v | money")
    assert [money(v=v) for v in (12345, 5, -100050, 123456789, "x", None)] == \
        ["123,45", "0,05", "-1 000,50", "1 234 567,89", "x", "None"]


def test_money_follows_the_templates_language_on_buttons_and_in_texts():
    t = Templates(os.path.join(PROJECT_ROOT, "templates"), ["ru", "en"], "ru",
                  filters=new_registry().filters)
    assert t.render_label("pay/amount_label", "ru", {"value": 100000}) == "1 000,00 ₽"
    assert t.render_label("pay/amount_label", "en", {"value": 100000}) == "1,000.00 RUB"
    assert t.render_label("pay/amount_label", "en", {"value": -5}) == "-0.05 RUB"


# -- the checker requires every registered hint ------------------------------------------------
FLOW = """\
flow: main
start: ask
states:
  ask:
    say: ask
    ask: {type: text, save: answer}
    next: done
  done:
    say: ask
    end: true
"""


@pytest.fixture
def project(tmp_path):
    return engine_project(tmp_path, FLOW, {"ask": "Yes?"})


def _problems(project, reg):
    return check_flowset(project[0], project[1], reg, languages=["ru"], default_language="ru",
                         menu_flow="main", commands={"start": "main"})[2]


def test_a_hint_an_input_type_declares_must_exist(project):
    reg = builtins.register(Registry())
    assert _problems(project, reg) == []
    reg.register_input_type("colour", lambda event, spec: (False, "colour/unknown"),
                            hints=["colour/unknown"])
    assert any("template 'colour/unknown' is missing in 'ru'" in p for p in _problems(project, reg))


def test_the_builtin_hints_and_the_inn_hints_are_checked(project):
    os.remove(project[2] / "common" / "too_short.j2")
    os.remove(project[2] / "common" / "inn_checksum.j2")
    engine_only = builtins.register(Registry())
    missing = [p for p in _problems(project, engine_only) if "is missing" in p]
    assert len(missing) == 1 and "'common/too_short' is missing in 'ru'" in missing[0]   # no INN
    helpdesk = formats.register(builtins.register(Registry()))
    missing = [p for p in _problems(project, helpdesk) if "is missing" in p]
    assert any("'common/inn_checksum' is missing" in p for p in missing)
    assert any("'common/too_short' is missing" in p for p in missing)
