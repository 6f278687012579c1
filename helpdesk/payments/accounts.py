"""Balances ("accounts") and who may see and pay them.

* a counterparty's balance is `Counterparty.balance`; a person's own balance (people with
  no company, or paying for themselves) is a `UserBalance` row per Telegram id.
* who sees what follows helpdesk.directory.roles: everyone sees and tops up their own
  balance (VIEW_OWN_BALANCE / TOP_UP_OWN_BALANCE); a *confirmed* ADMINISTRATOR or DIRECTOR
  sees and tops up the counterparty's (VIEW_COMPANY_BALANCE / TOP_UP_COMPANY_BALANCE).
  Pending members see only their own. `accounts_of()` and `account_for()` enforce it.
* "may this person pay for this company" is one function, `may_pay_for()`: a confirmed
  membership with TOP_UP_COMPANY_BALANCE. Top-ups of a company's balance, paying a
  colleague's ticket and a pre-checkout by someone other than the invoice's addressee
  all ask it.
* an account key is "own" or "c<counterparty id>"; keys from slots are re-checked.
* with a CRM configured (`app.services.crm`), a company balance is re-read from it
  (`get_balance`, at most BALANCE_TIMEOUT seconds) and stored; when the CRM is down the
  stored value is shown with a note (`Account.stale`). While a payment of that company
  still waits in the outbox, the CRM's figure is not stored (it would drop our credit).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as _FutureTimeout
from dataclasses import dataclass

from engine.ids import parse_id
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.roles import Access, PermissionDenied, Right
from helpdesk.directory.tables import Counterparty, utcnow
from helpdesk.sync import outbox

from .errors import PaymentError
from .tables import Payment, UserBalance

__all__ = ["Account", "OWN", "BALANCE_TIMEOUT", "balance_of", "may_pay_for", "accounts_of",
           "account_for", "debt_of", "credit"]

log = logging.getLogger(__name__)


OWN = "own"                                                    # the person's own account key


BALANCE_TIMEOUT = 3.0      # seconds to wait for the CRM's balance before showing the stored one


@dataclass
class Account:
    """A balance a person may see: their own, or a counterparty's."""

    key: str                      # "own" or "c<counterparty id>"
    kind: str                     # own | company
    title: str                    # the company's name ("" for own)
    amount: int                   # kopecks
    counterparty_id: int | None = None
    inn: str = ""
    can_top_up: bool = False
    stale: bool = False           # the CRM did not answer: the stored value is shown

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def balance_of(user_id: int) -> int:
    row = UserBalance.get_or_none(UserBalance.telegram_user == int(user_id))
    return row.balance if row else 0


def may_pay_for(user_id, counterparty_id) -> bool:
    """Whether `user_id` may pay for the counterparty (top up its balance, pay its tickets,
    pay an invoice issued to a colleague): a CONFIRMED membership whose role has
    TOP_UP_COMPANY_BALANCE. The one place this is decided; pending links never pay."""
    if counterparty_id is None or user_id is None:
        return False
    access = directory.access_in(user_id, counterparty_id)
    return access.confirmed and access.can(Right.TOP_UP_COMPANY_BALANCE)


def _own(user_id: int) -> Account:
    return Account(OWN, "own", "", balance_of(user_id), can_top_up=True)


def _company(cp: Counterparty, access: Access) -> Account:
    return Account(f"c{cp.id}", "company", cp.name, cp.balance, cp.id, cp.inn,
                   can_top_up=may_pay_for(access.who, cp.id))


def accounts_of(user_id: int, *, crm=None, timeout: float = BALANCE_TIMEOUT) -> list[Account]:
    """The balances `user_id` may see: own first, then each company where they hold
    VIEW_COMPANY_BALANCE (a confirmed ADMINISTRATOR or DIRECTOR), refreshed from `crm`."""
    out = [_own(user_id)]
    for m in directory.memberships_of(user_id, confirmed_only=True):
        access = Access(m.role_enum, m.is_confirmed, user_id, m.counterparty_id)
        if access.can(Right.VIEW_COMPANY_BALANCE):
            out.append(_refreshed(_company(m.counterparty, access), crm, timeout))
    return out


_COMPANY_RIGHT = {Right.TOP_UP_OWN_BALANCE: Right.TOP_UP_COMPANY_BALANCE,
                  Right.VIEW_OWN_BALANCE: Right.VIEW_COMPANY_BALANCE}


def account_for(user_id: int, key: str, right: Right = Right.TOP_UP_OWN_BALANCE) -> Account:
    """The account `key` if `user_id` may do `right` (view or top up) on it: anyone on their
    own, the company's counterpart of `right` on a company's; PermissionDenied otherwise."""
    key = str(key or OWN)
    if key == OWN:
        return _own(user_id)
    company_id = parse_id(key[1:]) if key.startswith("c") else None
    if company_id is None:
        raise PaymentError(f"account key {key[:20]!r} is neither 'own' nor 'c<id>'")
    cp = Counterparty.get_or_none(Counterparty.id == company_id)
    access = directory.access_in(user_id, cp.id if cp else company_id)
    needed = _COMPANY_RIGHT.get(right, right)
    if needed is Right.TOP_UP_COMPANY_BALANCE and not may_pay_for(user_id, access.counterparty):
        raise PermissionDenied(needed, who=user_id, counterparty=access.counterparty,
                               reason="may not pay for this company")
    access.require(needed)
    return _company(cp, access)


def debt_of(user_id: int, key: str) -> int:
    """What the account `key` owes, in kopecks (0 when its balance is not negative), if
    `user_id` may pay into it (account_for's check: PermissionDenied otherwise). Paying a
    debt is allowed whatever pay.add_balance says: it is settling a bill, not a top-up."""
    return max(0, -account_for(user_id, key).amount)


def _refreshed(account: Account, crm, timeout: float) -> Account:
    if crm is None or getattr(crm, "kind", "") == "none":
        return account
    value, failed = _crm_balance(crm, account, timeout)
    account.stale = failed
    if value is not None and not _unsent_payments(account.counterparty_id):
        account.amount = value
        with write_tx():
            Counterparty.update(balance=value).where(Counterparty.id == account.counterparty_id).execute()
    return account


def _crm_balance(crm, account: Account, timeout: float) -> tuple[int | None, bool]:
    """(the CRM's balance or None, whether the CRM failed); never waits past `timeout`."""
    crm_id = Counterparty.get_by_id(account.counterparty_id).crm_id
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-balance")
    try:
        return pool.submit(crm.get_balance, account.inn, crm_id).result(timeout=timeout), False
    except _FutureTimeout:
        log.warning("CRM balance of counterparty %s: no answer in %ss, showing the stored one",
                    account.counterparty_id, timeout)
    except Exception as e:  # noqa: BLE001 - the stored balance is the fallback for any failure
        log.warning("CRM balance of counterparty %s failed, showing the stored one: %s",
                    account.counterparty_id, e)
    finally:
        pool.shutdown(wait=False)
    return None, True


def _unsent_payments(counterparty_id: int) -> bool:
    return (outbox.OutboxItem.select()
            .join(Payment, on=(outbox.OutboxItem.entity_id == Payment.id))
            .where((outbox.OutboxItem.entity == "payment") & (outbox.OutboxItem.status == outbox.PENDING)
                   & (Payment.counterparty == counterparty_id)).exists())


def credit(payment: Payment) -> None:
    """Add the payment to its account's balance (in the caller's transaction)."""
    if payment.counterparty_id:
        Counterparty.update(balance=Counterparty.balance + payment.amount, updated=utcnow()) \
            .where(Counterparty.id == payment.counterparty_id).execute()
        return
    (UserBalance.insert(telegram_user=payment.telegram_user, balance=payment.amount)
     .on_conflict(conflict_target=[UserBalance.telegram_user],
                  update={UserBalance.balance: UserBalance.balance + payment.amount,
                          UserBalance.updated: utcnow()}).execute())
