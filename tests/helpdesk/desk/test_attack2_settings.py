"""Attack (issue 16, point 4): a promise the settings cannot keep. `sla.types` is keyed by
ticket type, but a key that is no type of `tickets.types` (a typo, a lower-case letter, a
type renamed since) is accepted silently: the administrator believes "Касса" has a 1-hour
target, and no ticket ever gets it (no timer, no "Ответим до" to the client)."""
from __future__ import annotations

import pytest

from helpdesk.config import load

YAML = """
tickets:
  types: [Касса, ЕГАИС, Другое]
sla:
  first_response_hours: 0
  resolution_hours: 0
  types:
    касса: {first_response_hours: 1, resolution_hours: 8}
"""


def test_an_sla_target_for_a_type_that_does_not_exist_is_refused_at_load(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(YAML, encoding="utf-8")
    settings = None
    with pytest.raises(Exception, match="касса"):
        settings = load(str(path), environ={})
    # what happens instead: loaded, and the type filed every day has no target at all
    assert settings is None or settings.sla.targets("Касса") == (1, 8)


def test_a_slash_note_marker_is_refused_or_keeps_the_note(world):
    """`desk.note_marker` accepts any 1-10 characters; "/" (a natural pick: "/note ...")
    makes every note a command, and the group handler drops every command that is no
    dialog's: the note is neither relayed nor kept, and nobody is told."""
    from engine import outgoing
    from engine.events import Reply
    from engine.testing import Chat
    from helpdesk.desk import staff
    from helpdesk.desk.topics import topic_key
    from helpdesk.tickets import TicketEvent
    from tests.support.tickets import GROUP, file_ticket

    settings = world.app.settings
    try:
        type(settings.desk).model_validate({**settings.desk.model_dump(), "note_marker": "/"})
    except ValueError:
        return                                   # refused at load: the promise is not made
    staff.grant(950, staff.TECHNICIAN, first_name="Иван", last_name="Петров")
    ticket = file_ticket(world, 101)
    row = outgoing.enqueue(Reply(GROUP, topic={"op": "create", "name": "#1"}), key=topic_key(ticket.id))
    outgoing.mark_sent(row, 555)
    settings.desk.note_marker = "/"
    try:
        Chat(world.app.engine, 950, chat_id=GROUP, first_name="Иван").event(
            kind="text", text="/ клиент просил не звонить до обеда", message_id=7001,
            chat_type="supergroup", thread_id=555)
    finally:
        settings.desk.note_marker = "!"
    notes = TicketEvent.select().where((TicketEvent.ticket == ticket.id) & (TicketEvent.what == "note"))
    assert notes.count() == 1
