"""Builders for tests of the CRM outbox and the API: an app with a CRM (kind, URL, token,
retries off) and API tokens, and a counterparty, a contact or a ticket pushed to the outbox."""
from __future__ import annotations

from pydantic import SecretStr

from engine.storage import write_tx
from helpdesk import directory, sync
from helpdesk.app import build_app
from helpdesk.directory.tables import utcnow
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem

CRM_TOKEN = "crm-t0ken-for-tests"
BUG_USER = 4242
INN = "7707083893"


def make_app(settings, kind: str = "rest", url: str = "", *, timeout: float = 1.0,
             max_attempts: int = 8, api_tokens=("api-t0ken-1",)):
    settings.crm.kind, settings.crm.url = kind, url
    settings.crm.token = SecretStr(CRM_TOKEN)
    settings.crm.login, settings.crm.password = "bot", SecretStr("p4ss-1c")
    settings.crm.retries, settings.crm.timeout = 0, timeout
    settings.sync.max_attempts = max_attempts
    settings.sync.backoff_base_seconds, settings.sync.backoff_max_seconds = 1, 10
    settings.notify.bug.use, settings.notify.bug.telegram_user_id = True, BUG_USER
    settings.api.tokens = [SecretStr(t) for t in api_tokens]
    return build_app(settings, connect=False)


def new_counterparty(inn: str = INN, name: str = "ООО Ромашка"):
    with write_tx():
        cp, _ = directory.upsert_counterparty(inn=inn, name=name, kpp="770701001")
        directory.upsert_trade_point(cp, name="Магазин на Ленина")
        outbox.push("counterparty", cp.id)
    return cp


def new_contact(cp, phone: str = "+79991234567"):
    with write_tx():
        c, _ = directory.upsert_contact(cp, full_name="Иванов Иван", phone=phone,
                                        position="Бухгалтер")
        outbox.push("contact", c.id)
    return c


def new_ticket(app, user_id: int = 1001, cp=None, text: str = "Не печатает чек с самого утра"):
    directory.get_or_create_user(user_id, first_name="Иван")
    directory.set_user_phone(user_id, "+79991234567", verified=True)
    if cp is not None:
        directory.link_user(user_id, cp, "DIRECTOR")
    ticket, _ = sync_tickets(app).create(user_id, type=app.settings.tickets.types[0],
                                         description=text,
                                         counterparty_id=cp.id if cp else None)
    return ticket


def sync_tickets(app):
    from helpdesk.api.apply import tickets_service
    return tickets_service(app)


def due_now() -> None:
    """Skip the backoff wait (the test's clock jump)."""
    OutboxItem.update(next_at=utcnow()).where(OutboxItem.status == outbox.PENDING).execute()


def drain_all(app, rounds: int = 20) -> list[sync.DrainReport]:
    reports = []
    for _ in range(rounds):
        due_now()
        reports.append(sync.drain(app))
        if not OutboxItem.select().where(OutboxItem.status.in_(("pending", "sending"))).exists():
            break
    return reports
