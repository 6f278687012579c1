"""The interface every CRM adapter implements, and the standalone one."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .models import Company, ContactData, PaymentData, Person, PersonErasure, TicketData

__all__ = ["CrmClient", "NoCrm"]


@runtime_checkable
class CrmClient(Protocol):
    """What the bot asks of a CRM. Every method is blocking (requests): call it from a
    worker thread or `asyncio.to_thread`, never on the event loop.

    Every failure raises `engine.errors.IntegrationError("crm", ..., retryable=)`;
    `retryable=True` means "try the same call later" (outbox backoff), False means
    "this request will never succeed as is" (dead letter, report).

    Pushes take `idempotency_key`: the same key for every attempt of one outbox item, so a
    repeated push never creates a second record.
    """

    kind: str

    def find_person(self, phone_e164: str) -> Person | None:
        """The contact with this phone and all their companies, or None if unknown."""

    def upsert_counterparty(self, company: Company, *, idempotency_key: str) -> str | None:
        """Create or update a counterparty; return its CRM id (None: nothing to sync)."""

    def upsert_contact(self, contact: ContactData, *, idempotency_key: str) -> str | None:
        """Create or update a contact person; return its CRM id (None: not supported)."""

    def upsert_ticket(self, ticket: TicketData, *,
                      idempotency_key: str) -> tuple[str, str | None] | None:
        """Create or update a ticket; return (CRM id, number users see) or None."""

    def report_payment(self, payment: PaymentData, *, idempotency_key: str) -> str | None:
        """Report a received payment once; return the CRM document id."""

    def forget_person(self, erasure: PersonErasure, *, idempotency_key: str) -> str | None:
        """Ask the CRM to erase a person who erased their data in the bot; return the CRM's
        id of the request (None: nothing to tell)."""

    def get_balance(self, inn: str, crm_id: str | None) -> int | None:
        """The counterparty's balance in kopecks; None when the CRM has none."""

    def changes_since(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Changes after `cursor` (None: from the start) and the cursor to ask with next."""

    def close(self) -> None:
        """Release connections."""


class NoCrm:
    """Standalone mode: the bot's own database is the record, nothing leaves it."""

    kind = "none"

    def find_person(self, phone_e164: str) -> Person | None:
        return None

    def upsert_counterparty(self, company: Company, *, idempotency_key: str) -> str | None:
        return None

    def upsert_contact(self, contact: ContactData, *, idempotency_key: str) -> str | None:
        return None

    def upsert_ticket(self, ticket: TicketData, *,
                      idempotency_key: str) -> tuple[str, str | None] | None:
        return None

    def report_payment(self, payment: PaymentData, *, idempotency_key: str) -> str | None:
        return None

    def forget_person(self, erasure: PersonErasure, *, idempotency_key: str) -> str | None:
        return None

    def get_balance(self, inn: str, crm_id: str | None) -> int | None:
        return None

    def changes_since(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return [], cursor

    def close(self) -> None:
        pass
