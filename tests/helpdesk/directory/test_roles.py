"""Every role x every right against a table written out here independently of
helpdesk.roles, plus the CRM post -> role rule with the original's examples."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from helpdesk.directory.roles import (
    DEFAULT_POST_ROLES,
    PERMISSIONS,
    Access,
    PermissionDenied,
    Right,
    Role,
    can,
    parse_role,
    role_from_post,
)

# Columns: UNAUTHORIZED, USER, ADMINISTRATOR, DIRECTOR (the seed's "Деление по ролям").
EXPECTED = {
    "create_ticket":               (1, 1, 1, 1),
    "view_own_balance":            (1, 1, 1, 1),
    "top_up_own_balance":          (1, 1, 1, 1),
    "view_own_tickets":            (1, 1, 1, 1),
    "edit_own_ticket":             (1, 1, 1, 1),
    "close_own_ticket":            (1, 1, 1, 1),
    "ticket_on_behalf_of_company": (0, 1, 1, 1),
    "company_notifications":       (0, 1, 1, 1),
    "view_company_active_tickets": (0, 0, 1, 1),
    "edit_company_tickets":        (0, 0, 1, 1),
    "close_company_tickets":       (0, 0, 1, 1),
    "view_company_balance":        (0, 0, 1, 1),
    "top_up_company_balance":      (0, 0, 1, 1),
    "view_company_all_tickets":    (0, 0, 0, 1),
    "view_stats":                  (0, 0, 1, 1),
    "confirm_members":             (0, 0, 1, 1),
}
OWN = {"create_ticket", "view_own_balance", "top_up_own_balance", "view_own_tickets",
       "edit_own_ticket", "close_own_ticket"}
ROLES = ["UNAUTHORIZED", "USER", "ADMINISTRATOR", "DIRECTOR"]
CELLS = [(role, right, bool(row[i])) for right, row in EXPECTED.items()
         for i, role in enumerate(ROLES)]


def test_the_table_names_exactly_the_expected_rights():
    assert {r.value for r in Right} == set(EXPECTED)
    assert set(PERMISSIONS) == set(Right)


def test_roles_are_ordered():
    assert Role.UNAUTHORIZED < Role.USER < Role.ADMINISTRATOR < Role.DIRECTOR


@pytest.mark.parametrize("role,right,expected", CELLS)
def test_confirmed_membership(role, right, expected):
    assert can(Role[role], right) is expected
    assert can(role.lower(), Right(right)) is expected        # names and enums alike
    assert Access(Role[role], confirmed=True).can(right) is expected


@pytest.mark.parametrize("role,right,expected", CELLS)
def test_pending_membership_gives_own_rights_only(role, right, expected):
    """A pending member of any requested role gets no company right at all."""
    access = Access(Role[role], confirmed=False)
    assert access.can(right) is (right in OWN)
    assert can(Role[role], right, confirmed=False) is (expected and right in OWN)
    assert access.effective_role <= Role.USER


@pytest.mark.parametrize("role,right,expected", CELLS)
def test_unverified_link_adds_only_filing_for_the_company(role, right, expected):
    """A typed INN: own rights, plus the company's name on one's own tickets; no company
    right whatever role was asked. A pending request (a typed phone) gives no more than
    no membership at all."""
    access = Access(Role[role], confirmed=False, unverified=True)
    linked = right == "ticket_on_behalf_of_company" and Role[role] >= Role.USER
    assert access.can(right) is (right in OWN or linked)
    assert can(Role[role], right, confirmed=False, unverified=True) is (expected and (right in OWN or linked))


def test_require_raises_with_context():
    Access(Role.DIRECTOR, True, who=7, counterparty=3).require("view_company_all_tickets")
    with pytest.raises(PermissionDenied, match="user=7 counterparty=3.*view_company_balance"):
        Access(Role.USER, True, who=7, counterparty=3).require(Right.VIEW_COMPANY_BALANCE)
    with pytest.raises(PermissionDenied, match="not confirmed"):
        Access(Role.DIRECTOR, False, who=7, counterparty=3).require("company_notifications")


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown right 'fly'"):
        can(Role.DIRECTOR, "fly")
    with pytest.raises(ValueError, match="unknown role 'boss'.*DIRECTOR"):
        parse_role("boss")


@pytest.mark.parametrize("post,role", [
    ("Директор", "DIRECTOR"),
    ("Генеральный директор", "DIRECTOR"),
    ("ГЕНЕРАЛЬНЫЙ ДИРЕКТОР", "DIRECTOR"),
    ("Президент", "DIRECTOR"),
    ("Глава КФХ", "DIRECTOR"),
    ("Председатель правления", "DIRECTOR"),
    ("Управляющий магазином", "DIRECTOR"),
    ("Индивидуальный предприниматель", "DIRECTOR"),
    ("ИП", "DIRECTOR"),
    ("ип Иванов", "DIRECTOR"),
    ("Бухгалтер", "ADMINISTRATOR"),
    ("Главный бухгалтер", "ADMINISTRATOR"),
    ("Администратор", "ADMINISTRATOR"),
    ("Старший администратор зала", "ADMINISTRATOR"),
    ("Продавец-кассир", "USER"),
    ("Менеджер", "USER"),
    ("Типограф", "USER"),          # "ип" is a word of its own, not any two letters
    ("", "USER"),
    (None, "USER"),
])
def test_post_to_role_by_the_original_rule(post, role):
    assert role_from_post(post, {}) is Role[role]
    assert role_from_post(post, None) is Role[role]


def test_post_rules_from_settings(settings):
    rules = settings.crm.post_roles
    assert role_from_post("Генеральный директор", rules) is Role.DIRECTOR
    assert role_from_post("бухгалтер", rules) is Role.ADMINISTRATOR
    assert role_from_post("кассир", rules) is Role.USER


def test_custom_rules_replace_the_default():
    rules = {"ADMINISTRATOR": ["старший кассир"], "DIRECTOR": ["владелец"]}
    assert role_from_post("Старший кассир", rules) is Role.ADMINISTRATOR
    assert role_from_post("Владелец", rules) is Role.DIRECTOR
    assert role_from_post("Директор", rules) is Role.USER     # not in these rules
    assert "директор" in DEFAULT_POST_ROLES[Role.DIRECTOR]


def test_director_wins_over_administrator():
    assert role_from_post("Директор и главный бухгалтер", {}) is Role.DIRECTOR


@hsettings(derandomize=True, max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_post_gives_a_role(post):
    assert role_from_post(post, {}) in (Role.USER, Role.ADMINISTRATOR, Role.DIRECTOR)
