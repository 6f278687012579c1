"""Roles and rights: the one permission table of the product.

A role belongs to a person *in one counterparty* (the same person may be DIRECTOR of one
company and USER of another). Rights come in two scopes:

* OWN rights concern the person's own tickets and balance; everybody has them, even
  UNAUTHORIZED (the seed lets anyone file a ticket and top up).
* LINKED rights put the counterparty's name on the person's own things (filing a ticket
  for the company); a confirmed membership or an *unverified* one (the person typed the
  company's INN themselves) gives them. A *pending* request (made from a typed phone the
  company lists) gives none: the person must not learn which company that number has.
* COMPANY rights touch the counterparty's data or people; they need a *confirmed*
  membership of at least the listed role. An unverified link gives none of them: the
  original's mistake was linking a stranger to a company's tickets, balance and
  notifications by typing its INN.

Services enforce rights with `Access.require()`; hiding a button is never enough.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.errors import BotError

__all__ = ["Role", "Right", "Scope", "PERMISSIONS", "DEFAULT_POST_ROLES", "can", "Access",
           "PermissionDenied", "role_from_post", "parse_role"]


class Role(enum.IntEnum):
    """Ordered: a higher role has every right of the lower ones."""

    UNAUTHORIZED = 0
    USER = 1
    ADMINISTRATOR = 2
    DIRECTOR = 3


class Right(str, enum.Enum):
    """Names are stable: flows, actions and the API refer to them."""

    CREATE_TICKET = "create_ticket"
    VIEW_OWN_BALANCE = "view_own_balance"
    TOP_UP_OWN_BALANCE = "top_up_own_balance"
    VIEW_OWN_TICKETS = "view_own_tickets"
    EDIT_OWN_TICKET = "edit_own_ticket"
    CLOSE_OWN_TICKET = "close_own_ticket"
    TICKET_ON_BEHALF_OF_COMPANY = "ticket_on_behalf_of_company"
    COMPANY_NOTIFICATIONS = "company_notifications"
    VIEW_COMPANY_ACTIVE_TICKETS = "view_company_active_tickets"
    EDIT_COMPANY_TICKETS = "edit_company_tickets"
    CLOSE_COMPANY_TICKETS = "close_company_tickets"
    VIEW_COMPANY_BALANCE = "view_company_balance"
    TOP_UP_COMPANY_BALANCE = "top_up_company_balance"
    VIEW_COMPANY_ALL_TICKETS = "view_company_all_tickets"
    VIEW_STATS = "view_stats"
    CONFIRM_MEMBERS = "confirm_members"


class Scope(enum.Enum):
    OWN = "own"            # the person's own things: no membership needed
    LINKED = "linked"      # the company's name on own things: confirmed or unverified link
    COMPANY = "company"    # the counterparty's things: confirmed membership needed


_U, _A, _D = Role.USER, Role.ADMINISTRATOR, Role.DIRECTOR

# right -> (lowest role that has it, scope). The seed's "Деление по ролям", nothing more.
PERMISSIONS: Mapping[Right, tuple[Role, Scope]] = {
    Right.CREATE_TICKET: (Role.UNAUTHORIZED, Scope.OWN),
    Right.VIEW_OWN_BALANCE: (Role.UNAUTHORIZED, Scope.OWN),
    Right.TOP_UP_OWN_BALANCE: (Role.UNAUTHORIZED, Scope.OWN),
    Right.VIEW_OWN_TICKETS: (Role.UNAUTHORIZED, Scope.OWN),
    Right.EDIT_OWN_TICKET: (Role.UNAUTHORIZED, Scope.OWN),
    Right.CLOSE_OWN_TICKET: (Role.UNAUTHORIZED, Scope.OWN),
    Right.TICKET_ON_BEHALF_OF_COMPANY: (_U, Scope.LINKED),
    Right.COMPANY_NOTIFICATIONS: (_U, Scope.COMPANY),
    Right.VIEW_COMPANY_ACTIVE_TICKETS: (_A, Scope.COMPANY),
    Right.EDIT_COMPANY_TICKETS: (_A, Scope.COMPANY),
    Right.CLOSE_COMPANY_TICKETS: (_A, Scope.COMPANY),
    Right.VIEW_COMPANY_BALANCE: (_A, Scope.COMPANY),
    Right.TOP_UP_COMPANY_BALANCE: (_A, Scope.COMPANY),
    Right.VIEW_COMPANY_ALL_TICKETS: (_D, Scope.COMPANY),
    Right.VIEW_STATS: (_A, Scope.COMPANY),
    Right.CONFIRM_MEMBERS: (_A, Scope.COMPANY),
}

# The original's rule (1c-contract.md "Roles in the original"); settings crm.post_roles
# replaces it when not empty. Checked from the highest role down.
DEFAULT_POST_ROLES: Mapping[Role, tuple[str, ...]] = {
    Role.DIRECTOR: ("директор", "генеральный директор", "президент", "глава", "председатель",
                    "управляющий", "предприниматель", "ип"),
    Role.ADMINISTRATOR: ("бухгалтер", "администратор"),
}


class PermissionDenied(BotError):
    """A person tried something their role in that counterparty does not allow."""

    def __init__(self, right: Right | str, *, who=None, counterparty=None, reason: str = ""):
        self.right = _right(right)
        self.who = who
        self.counterparty = counterparty
        where = f"user={who} counterparty={counterparty}"
        super().__init__(f"{where}: no right {self.right.value}" + (f" ({reason})" if reason else ""))


def parse_role(value: Role | str | int) -> Role:
    """A Role from a Role, its name (any case) or its number; ValueError names the bad value."""
    if isinstance(value, Role):
        return value
    if isinstance(value, int):
        return Role(value)
    try:
        return Role[str(value).strip().upper()]
    except KeyError:
        raise ValueError(f"unknown role {value!r}; expected one of "
                         f"{', '.join(r.name for r in Role)}") from None


def _right(right: Right | str) -> Right:
    try:
        return Right(right)
    except ValueError:
        raise ValueError(f"unknown right {right!r}") from None


def can(role: Role | str, right: Right | str, *, confirmed: bool = True,
        unverified: bool = False) -> bool:
    """Whether `role` grants `right`: company rights need a confirmed membership, linked
    rights a confirmed or an unverified one (`unverified`: the person named the company)."""
    lowest, scope = PERMISSIONS[_right(right)]
    if scope is Scope.COMPANY and not confirmed:
        return False
    if scope is Scope.LINKED and not (confirmed or unverified):
        return False
    return parse_role(role) >= lowest


@dataclass(frozen=True)
class Access:
    """What one person may do in one counterparty.

    `role` is the membership's role (the requested one while not confirmed); `confirmed`
    says whether it is proven (the CRM lists the person's verified phone, or the company
    or support accepted it); `unverified` marks a link the person made by typing the
    company's INN: they may file their own tickets for it and nothing more. Anyone not
    confirmed acts as USER at most.
    """

    role: Role = Role.UNAUTHORIZED
    confirmed: bool = False
    who: object = None
    counterparty: object = None
    unverified: bool = False

    @property
    def effective_role(self) -> Role:
        """The role rights are computed from: pending memberships are capped at USER."""
        return self.role if self.confirmed else min(self.role, Role.USER)

    def can(self, right: Right | str) -> bool:
        return can(self.effective_role, right, confirmed=self.confirmed,
                   unverified=self.unverified)

    def require(self, right: Right | str) -> None:
        """Raise PermissionDenied unless this access grants `right`."""
        if not self.can(right):
            reason = "membership not confirmed" if not self.confirmed else f"role {self.role.name}"
            raise PermissionDenied(right, who=self.who, counterparty=self.counterparty,
                                   reason=reason)


def _normalize_post(text: str) -> str:
    return " ".join(str(text).casefold().replace("ё", "е").split())


def _matches(post: str, needle: str) -> bool:
    # Short tokens ("ип") must be whole words: as substrings they hit "принципал", "типограф".
    needle = _normalize_post(needle)
    if not needle:
        return False
    if len(needle) <= 3:
        return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", post) is not None
    return needle in post


def role_from_post(post: str | None,
                   rules: Mapping[Role | str, Iterable[str]] | None = None) -> Role:
    """The role a CRM post gives (the original's rule): DIRECTOR, ADMINISTRATOR, else USER.

    Args:
        post: the person's post from the CRM, any case; None or empty gives USER.
        rules: role -> substrings (settings `crm.post_roles`); empty means DEFAULT_POST_ROLES.
    """
    table = {parse_role(k): v for k, v in (rules or DEFAULT_POST_ROLES).items()}
    text = _normalize_post(post or "")
    for role in sorted(table, reverse=True):
        if any(_matches(text, needle) for needle in table[role]):
            return role
    return Role.USER
