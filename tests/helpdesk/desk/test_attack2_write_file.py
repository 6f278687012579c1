"""Attack (issue 16, point 2: attachments both ways). The card's "✉️ Написать по заявке"
refuses a file over 20 MB ("what a bot may download from Telegram"), but the relay never
downloads anything: it sends the file again by its file_id. The same 30 MB log archive sent
as a Telegram reply to a support message reaches the thread; from the card the client is
told it is too big, a limit the product does not have."""
from __future__ import annotations

from engine.events import FileRef
from helpdesk.desk import staff
from tests.support.tickets import GROUP, file_ticket, queued
from tests.support.tickets import world_chat as chat

WRITE = "✉️ Написать по заявке"
BIG = FileRef("doc-logs", "document", "logs.zip", "application/zip", 30 * 1024 * 1024)


def test_a_big_document_written_from_the_card_reaches_the_thread(world):
    staff.grant(950, staff.TECHNICIAN, first_name="Иван", last_name="Петров")
    file_ticket(world, 101)
    c = chat(world, 101)
    c.click("📋 Мои заявки")
    c.click(next(b for b in c.buttons if b.startswith("#1")))
    c.click(WRITE)
    c.event(kind="file", files=(BIG,), text="Логи кассы за неделю", message_id=35)
    assert [r.document for r in queued(GROUP, ":m101:35")] == ["doc-logs"], c.last_text
