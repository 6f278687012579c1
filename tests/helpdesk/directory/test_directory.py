"""Directory services on a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from stdnum.ru import inn as inn_lib

from helpdesk import directory as d
from helpdesk.directory import phones
from helpdesk.directory.roles import PermissionDenied, Right, Role
from helpdesk.directory.tables import (
    CONFIRMED,
    PENDING,
    UNVERIFIED,
    ContactPerson,
    Counterparty,
    Membership,
    TelegramUser,
)

OWN_RIGHTS = {"create_ticket", "view_own_balance", "top_up_own_balance", "view_own_tickets",
              "edit_own_ticket", "close_own_ticket"}


def company_inn(first9: str) -> str:
    return first9 + inn_lib.calc_company_check_digit(first9)


INN_A, INN_B = company_inn("772012345"), company_inn("500112233")


@pytest.fixture
def two_companies(database):
    a, _ = d.upsert_counterparty(inn=INN_A, name="ООО Ромашка")
    b, _ = d.upsert_counterparty(inn=INN_B, name="ООО Лютик")
    return a, b


# --- phones -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["8 (912) 345-67-89", "+7 912 345 67 89", "9123456789",
                                  "79123456789", "+7(912)3456789"])
def test_phone_spellings_normalize_to_e164(text):
    assert phones.normalize(text) == "+79123456789"


@pytest.mark.parametrize("text,reason", [("", "empty"), (None, "empty"), ("abc", "not_a_number"),
                                         ("123", "too_short"), ("+999 123456", "invalid_country_code")])
def test_garbage_is_none_and_the_error_names_a_reason(text, reason):
    assert phones.normalize(text) is None
    with pytest.raises(phones.PhoneError) as err:
        phones.parse(text)
    assert err.value.reason == reason and err.value.reason in phones.REASONS


@hsettings(derandomize=True, max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_e164_or_a_reasoned_error(text):
    try:
        result = phones.parse(text)
    except phones.PhoneError as e:
        assert e.reason in phones.REASONS and phones.normalize(text) is None
    else:
        assert result.startswith("+") and result[1:].isdigit()
        assert phones.normalize(result) == result                # stable


# Mobile codes that are allocated (not every 9xx is: +7 930 is not a valid number).
MOBILE = st.builds("{}{}{}".format, st.sampled_from(["", "7", "8", "+7"]),
                   st.sampled_from(["900", "903", "912", "916", "926", "999"]),
                   st.from_regex(r"\A[0-9]{7}\Z"))


@hsettings(derandomize=True, max_examples=100, deadline=None)
@given(MOBILE)
def test_russian_mobiles_in_any_prefix_form(text):
    assert phones.normalize(text) == "+7" + text[-10:]


# --- users --------------------------------------------------------------------------

def test_user_is_created_once_and_refreshed(database):
    first = d.get_or_create_user(-1001234567890123, "ivan", "Иван", "ru")
    assert first.id == -1001234567890123 and first.language == "ru"
    again = d.get_or_create_user(-1001234567890123, "ivan2", None, "en")
    assert again.username == "ivan2" and again.first_name == "Иван"
    assert again.language == "ru"                 # a stored language is kept
    assert again.last_seen >= first.last_seen
    assert TelegramUser.select().count() == 1


def test_user_phone_and_name(database):
    user = d.get_or_create_user(5)
    assert d.set_user_phone(user, "8 912 345-67-89", verified=True) == "+79123456789"
    d.set_user_full_name(5, "  Иванов   Иван ")
    stored = d.get_user(5)
    assert (stored.phone, stored.full_name) == ("+79123456789", "Иванов Иван")
    assert [u.id for u in d.users_by_phone("8 912 345 67 89")] == [5]
    with pytest.raises(phones.PhoneError):
        d.set_user_phone(user, "позвоните мне")
    with pytest.raises(d.NotFound, match="telegram user 404"):
        d.get_user(404)


def test_display_name_is_the_one_way_a_person_is_named(database):
    d.get_or_create_user(501, username="anna", first_name="Anna")
    assert d.display_name(d.get_user(501)) == "Anna"                 # Telegram's first name
    d.set_user_full_name(501, "  Анна   Петрова ")
    assert d.display_name(d.get_user(501)) == "Анна Петрова"         # the questionnaire wins
    d.get_or_create_user(502, username="nobody")
    assert d.display_name(d.get_user(502)) == "@nobody"              # a label is never empty
    assert d.display_name(d.get_user(502), or_handle=False) == ""    # a name may be
    d.get_or_create_user(503)
    assert d.display_name(d.get_user(503)) == "503"
    assert d.display_name(None) == ""


def test_language_of_is_the_stored_one_and_none_for_strangers(database):
    d.get_or_create_user(511, language="en")
    d.get_or_create_user(511, language="ru")         # Telegram's language does not overwrite
    assert d.language_of(511) == "en"
    d.set_user_language(511, "ru")
    assert d.language_of(511) == "ru"
    assert d.language_of(-100123) is None             # a group chat
    assert d.language_of(None) is None


def test_a_typed_phone_is_kept_apart_and_finds_nobody(database):
    """Only a phone Telegram proved is `phone`; a typed one never replaces it, never
    finds the person, and proving it later moves it over."""
    d.get_or_create_user(6)
    assert d.set_user_phone(6, "+7 900 000-00-01") == "+79000000001"      # typed by default
    stored = d.get_user(6)
    assert (stored.phone, stored.unverified_phone) == (None, "+79000000001")
    assert d.users_by_phone("+79000000001") == []
    d.set_user_phone(6, "+79123456789", verified=True)
    d.set_user_phone(6, "+79000000002")
    stored = d.get_user(6)
    assert (stored.phone, stored.unverified_phone) == ("+79123456789", "+79000000002")
    assert [u.id for u in d.users_by_phone("+79123456789")] == [6]
    assert d.users_by_phone("+79000000002") == [] and d.users_by_phone("garbage") == []


# --- counterparties, trade points, contacts ----------------------------------------

def test_counterparty_upsert_is_idempotent(database):
    made, created = d.upsert_counterparty(inn=INN_A, name="ООО Ромашка", kpp="772001001")
    same, created_again = d.upsert_counterparty(inn=f" {INN_A} ", name="ООО Ромашка")
    assert created and not created_again and same.id == made.id
    assert same.kpp == "772001001"                # not given -> not erased
    assert Counterparty.select().count() == 1


def test_counterparty_by_crm_id_and_absolute_balance(database):
    made, _ = d.upsert_counterparty(inn=INN_A, name="Ромашка")
    d.upsert_counterparty(inn=INN_A, crm_id="guid-1", balance=150_00)
    found, created = d.upsert_counterparty(inn=INN_A, crm_id="guid-1", balance=99_00,
                                           name="ООО «Ромашка»")
    assert not created and found.id == made.id
    assert (found.balance, found.name, found.crm_id) == (99_00, "ООО «Ромашка»", "guid-1")
    assert d.find_counterparty_by_inn(INN_A).balance == 99_00


@pytest.mark.parametrize("kwargs,message", [
    (dict(inn="12345", name="X"), "INN must be 10 or 12 digits"),
    (dict(inn="ООО Ромашка", name="X"), "INN must be 10 or 12 digits"),
    (dict(inn=INN_A), "needs 'name'"),
    (dict(inn=INN_A, name="X", balance=1.5), "kopecks"),
])
def test_counterparty_bad_input_is_a_clear_error(database, kwargs, message):
    with pytest.raises(d.DirectoryError, match=message):
        d.upsert_counterparty(**kwargs)
    assert Counterparty.select().count() == 0


def test_find_by_inn_tolerates_garbage(two_companies):
    assert d.find_counterparty_by_inn(INN_B).name == "ООО Лютик"
    assert d.find_counterparty_by_inn("not an inn") is None
    assert d.find_counterparty_by_inn(company_inn("123456789")) is None


def test_trade_points_and_contacts_are_idempotent(two_companies, settings):
    a, b = two_companies
    tp, created = d.upsert_trade_point(a, name="Магазин №1", address="Москва")
    tp2, created2 = d.upsert_trade_point(a.id, name="Магазин №1", crm_id="dep-1")
    assert created and not created2 and tp2.id == tp.id and tp2.crm_id == "dep-1"
    c, _ = d.upsert_contact(a, full_name="Иванов И.И.", phone="8 (912) 345-67-89",
                            position="Главный бухгалтер", trade_point=tp,
                            post_rules=settings.crm.post_roles)
    c2, created3 = d.upsert_contact(a, full_name="Иванов Иван", phone="+79123456789")
    assert not created3 and c2.id == c.id and c2.full_name == "Иванов Иван"
    assert (c2.phone, c2.role, c2.trade_point_id) == ("+79123456789", "ADMINISTRATOR", tp.id)
    d.upsert_contact(b, full_name="Иванов И.И.", phone="9123456789", position="Директор")
    found = d.contacts_by_phone("+7 912 345 67 89")
    assert [(x.counterparty.name, x.role) for x in found] == [
        ("ООО Лютик", "DIRECTOR"), ("ООО Ромашка", "ADMINISTRATOR")]
    assert d.contacts_by_phone("garbage") == []


def test_contact_bad_phone_is_refused(two_companies):
    with pytest.raises(phones.PhoneError):
        d.upsert_contact(two_companies[0], full_name="X", phone="12")
    assert ContactPerson.select().count() == 0


# --- memberships and access ---------------------------------------------------------

def test_one_person_has_different_roles_in_two_companies(two_companies):
    a, b = two_companies
    user = d.get_or_create_user(100)
    d.link_user(user, a, Role.DIRECTOR)
    d.link_user(user, b, "USER")
    assert d.role_in(user, a) is Role.DIRECTOR and d.role_in(100, b.id) is Role.USER
    assert [(m.counterparty.name, m.role) for m in d.memberships_of(user)] == [
        ("ООО Лютик", "USER"), ("ООО Ромашка", "DIRECTOR")]
    assert d.access_in(user, a).can(Right.VIEW_COMPANY_ALL_TICKETS)
    assert not d.access_in(user, b).can(Right.VIEW_COMPANY_BALANCE)


def test_pending_member_sees_nothing_of_the_company(two_companies):
    a, _ = two_companies
    stranger = d.get_or_create_user(200)
    d.link_user(stranger, a, Role.USER, status=PENDING)
    access = d.access_in(stranger, a)
    assert d.role_in(stranger, a) is Role.UNAUTHORIZED
    assert access.effective_role is Role.USER and not access.confirmed
    assert access.can(Right.CREATE_TICKET)
    assert not access.can(Right.COMPANY_NOTIFICATIONS)
    assert not access.can(Right.TICKET_ON_BEHALF_OF_COMPANY)
    assert d.company_people(a) == []
    assert [m.telegram_user.id for m in d.company_people(a, confirmed_only=False)] == [200]
    assert [m.status for m in d.memberships_of(stranger)] == [PENDING]
    assert d.memberships_of(stranger, confirmed_only=True) == []


def test_unverified_member_files_own_tickets_for_the_company_and_nothing_more(two_companies):
    """A typed INN: the company's name on one's own tickets, no company right at all, in
    no list of the company's people."""
    a, _ = two_companies
    d.get_or_create_user(210)
    d.link_user(210, a, Role.DIRECTOR, status=UNVERIFIED)       # whatever was asked
    access = d.access_in(210, a)
    assert access.unverified and not access.confirmed and access.effective_role is Role.USER
    assert d.role_in(210, a) is Role.UNAUTHORIZED
    granted = {r.value for r in Right if access.can(r)}
    assert granted == OWN_RIGHTS | {"ticket_on_behalf_of_company"}
    assert [c.id for c in d.companies_where(210, Right.TICKET_ON_BEHALF_OF_COMPANY)] == [a.id]
    for right in set(Right) - {Right.TICKET_ON_BEHALF_OF_COMPANY}:
        if right.value not in OWN_RIGHTS:
            assert d.companies_where(210, right) == [], right
        assert d.company_people(a, right=right) == [], right
    assert d.company_people(a) == []


def test_links_never_lose_proof_and_a_phone_request_drops_its_contact(two_companies):
    a, _ = two_companies
    contact, _ = d.upsert_contact(a, full_name="Директор", phone="+79000000001", role="DIRECTOR")
    d.get_or_create_user(220)
    asked = d.link_user(220, a, Role.DIRECTOR, contact, status=PENDING)
    assert asked.contact_id == contact.id
    named = d.link_user(220, a, Role.USER, status=UNVERIFIED)
    assert (named.status, named.role, named.contact_id) == (UNVERIFIED, "USER", None)
    kept = d.link_user(220, a, Role.DIRECTOR, contact, status=PENDING)
    assert (kept.status, kept.role) == (UNVERIFIED, "USER")
    assert d.users_of_contact(contact) == []


def test_listed_unproven_matches_only_proven_phones_of_that_company(two_companies):
    a, b = two_companies
    contact, _ = d.upsert_contact(a, full_name="Иванов", phone="+79123456789", role="ADMINISTRATOR")
    d.upsert_contact(b, full_name="Петров", phone="+79000000002")
    for uid, phone, verified in [(230, "+79123456789", True), (231, "+79123456789", False),
                                 (232, "+79000000002", True)]:
        d.get_or_create_user(uid)
        d.set_user_phone(uid, phone, verified=verified)
        d.link_user(uid, a, Role.USER, status=UNVERIFIED)
    pairs = d.listed_unproven([a.id, b.id])
    assert [(m.telegram_user_id, c.id) for m, c in pairs] == [(230, contact.id)]


def test_no_membership_is_unauthorized(two_companies):
    access = d.access_in(d.get_or_create_user(300), two_companies[0])
    assert access.role is Role.UNAUTHORIZED and access.can("create_ticket")
    assert not access.can("ticket_on_behalf_of_company")


def test_pending_link_never_downgrades_a_confirmed_one(two_companies):
    a, _ = two_companies
    d.get_or_create_user(400)
    d.link_user(400, a, Role.ADMINISTRATOR)
    kept = d.link_user(400, a, Role.USER, status=PENDING)
    assert (kept.role, kept.status) == ("ADMINISTRATOR", CONFIRMED)
    with pytest.raises(d.DirectoryError, match="status"):
        d.link_user(400, a, Role.USER, status="maybe")


@pytest.fixture
def company_with_request(two_companies):
    a, b = two_companies
    for uid, company, role in [(1, a, Role.ADMINISTRATOR), (2, a, Role.USER),
                               (3, b, Role.DIRECTOR), (5, a, Role.DIRECTOR)]:
        d.get_or_create_user(uid)
        d.link_user(uid, company, role)
    d.get_or_create_user(4)
    pending = d.link_user(4, a, Role.USER, status=PENDING)
    return a, pending


@pytest.mark.parametrize("by", [2, 3, 4, 999])
def test_only_confirmed_admins_of_that_company_confirm(company_with_request, by):
    """2 is a USER of A, 3 a DIRECTOR of another company, 4 the pending one, 999 nobody."""
    a, pending = company_with_request
    with pytest.raises(PermissionDenied, match="confirm_members"):
        d.confirm_membership(pending.id, by)
    assert Membership.get_by_id(pending.id).status == PENDING


def test_admin_confirms_and_the_member_gets_company_rights(company_with_request):
    a, pending = company_with_request
    done = d.confirm_membership(pending.id, 1)
    assert (done.status, done.confirmed_by_id) == (CONFIRMED, 1)
    assert d.role_in(4, a) is Role.USER
    assert d.access_in(4, a).can(Right.COMPANY_NOTIFICATIONS)
    assert d.confirm_membership(pending.id, 5).confirmed_by_id == 1     # idempotent
    assert d.pending_memberships(a) == []


def test_admin_cannot_confirm_a_director_request(company_with_request):
    a, _ = company_with_request
    d.get_or_create_user(6)
    request = d.link_user(6, a, Role.DIRECTOR, status=PENDING)
    with pytest.raises(PermissionDenied, match="cannot confirm a DIRECTOR"):
        d.confirm_membership(request.id, 1)
    assert d.confirm_membership(request.id, 5).status == CONFIRMED


def test_reject_and_unknown_ids(company_with_request):
    a, pending = company_with_request
    assert [m.telegram_user.id for m in d.pending_memberships(a)] == [4]
    with pytest.raises(PermissionDenied):
        d.reject_membership(pending.id, 2)
    d.reject_membership(pending.id, 1)
    assert d.access_in(4, a).role is Role.UNAUTHORIZED
    with pytest.raises(d.NotFound, match="membership 999999"):
        d.confirm_membership(999999, 1)


def test_company_people_for_notifications(company_with_request):
    a, _ = company_with_request
    assert [m.telegram_user.id for m in d.company_people(a)] == [1, 2, 5]
    admins = d.company_people(a, right=Right.VIEW_COMPANY_ACTIVE_TICKETS)
    assert [m.telegram_user.id for m in admins] == [1, 5]
    assert [m.telegram_user.id for m in d.company_people(a, right="view_company_all_tickets")] == [5]


# --- demo data ----------------------------------------------------------------------

def test_seed_demo_is_idempotent_and_described(database):
    from helpdesk.directory.tables import TradePoint
    from helpdesk.ops import demo
    first = demo.seed_demo()
    counts = (Counterparty.select().count(), TradePoint.select().count(), ContactPerson.select().count())
    again = demo.seed_demo()
    assert first["created"] and not again["created"]
    assert counts == (Counterparty.select().count(), TradePoint.select().count(),
                      ContactPerson.select().count()) == (3, 4, 6)
    assert {k: v for k, v in first.items() if k != "created"} == \
        {k: v for k, v in again.items() if k != "created"}
    assert all(inn_lib.is_valid(c["inn"]) for c in first["counterparties"])
    assert [len(c["trade_points"]) for c in first["counterparties"]] == [3, 1, 0]
    roles = [role for person in first["people"] for role in person["roles"].values()]
    assert {"USER", "ADMINISTRATOR", "DIRECTOR"} <= set(roles)
    multi = [p for p in first["people"] if len(p["roles"]) == 2]
    assert len(multi) == 1 and set(multi[0]["roles"].values()) == {"ADMINISTRATOR", "DIRECTOR"}
    assert d.contacts_by_phone(first["unknown_phone"]) == []
    for person in first["people"]:                      # phones in the banner really match
        assert phones.normalize(person["phone"]) == person["phone"]
        assert len(d.contacts_by_phone(person["phone"])) == len(person["roles"])


def test_seed_demo_keeps_a_changed_balance(database):
    from helpdesk.ops import demo
    info = demo.seed_demo()
    inn = info["counterparties"][0]["inn"]
    d.upsert_counterparty(inn=inn, balance=42)
    assert demo.seed_demo()["counterparties"][0]["balance"] == 42
