"""CRM clients: one interface (`CrmClient`), three adapters, one factory.

- `NoCrm`: standalone mode, nothing leaves the bot.
- `OneCSeedCrm`: the original 1C:UNF HTTP service (`/hs/telegram/`, see crm/onec.py).
- `RestCrm`: our documented contract (docs/crm-api.md).

Plain dataclasses in and out; no Telegram, no database models. Calls block: run them in a
worker thread. Failures raise `engine.errors.IntegrationError("crm", ..., retryable=)`.
"""
from __future__ import annotations

from .base import CrmClient, NoCrm
from .models import (
    Company,
    ContactData,
    Membership,
    PaymentData,
    Person,
    PersonErasure,
    TicketData,
    TradePoint,
)
from .onec import OneCSeedCrm
from .rest import RestCrm

__all__ = ["CrmClient", "NoCrm", "OneCSeedCrm", "RestCrm", "make_crm", "KINDS",
           "Company", "ContactData", "Membership", "PaymentData", "Person", "PersonErasure",
           "TicketData", "TradePoint"]

KINDS = ("none", "1c-seed", "rest")


def make_crm(kind: str, url: str = "", login: str = "", password: str = "", token: str = "",
             timeout: float = 10, retries: int = 3, *, backoff: float = 0.5,
             references=None) -> CrmClient:
    """The client for settings `crm.*` (pass SecretStr values unwrapped); `references`
    are 1C's lists as the bot keeps them (onec.References, 1c-seed only).

    Raises:
        ValueError: an unknown kind, or a kind that needs a url without one.
    """
    if kind == "none":
        return NoCrm()
    if kind == "1c-seed":
        return OneCSeedCrm(url, login, password, token, timeout=timeout, retries=retries,
                           backoff=backoff, references=references)
    if kind == "rest":
        return RestCrm(url, token, timeout=timeout, retries=retries, backoff=backoff)
    raise ValueError(f"crm.kind must be one of {', '.join(KINDS)}, not {kind!r}")
