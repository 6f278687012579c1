"""helpdesk.notices: the one way the domain queues a message, on a real database."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.storage import write_tx
from engine.templates import Templates
from helpdesk import directory
from helpdesk.app import project_path
from helpdesk.notices import GROUP, PERSON, queue_notice

GROUP_CHAT = -100500


@pytest.fixture
def templates(database):
    return Templates(project_path("templates"), ["ru", "en"], default="ru")


def queued() -> list:
    return [(row.chat_id, row.priority, outgoing.to_reply(row)) for row in
            outgoing.Outgoing.select().order_by(outgoing.Outgoing.id)]


def test_a_person_reads_it_in_their_language_buttons_too(templates):
    directory.get_or_create_user(601, language="en")
    buttons = [[("registration/btn_confirm", "mb:confirm:1"), ("registration/btn_reject", "mb:reject:1")]]
    with write_tx():
        queue_notice(templates, 601, "registration/request_confirmed", {"company": {"name": "Acme"}},
                     key="k1", buttons=buttons)
    [(chat, priority, reply)] = queued()
    assert (chat, priority) == (601, PERSON)
    assert reply.text.startswith("✅ <b>Acme</b> has confirmed your access")
    assert [[(b.text, b.data) for b in row] for row in reply.buttons] == \
        [[("✅ Confirm", "mb:confirm:1"), ("🚫 Reject", "mb:reject:1")]]


def test_a_group_or_a_stranger_reads_the_default_language_unless_told(templates):
    with write_tx():
        queue_notice(templates, GROUP_CHAT, "registration/request_confirmed",
                     {"company": {"name": "Acme"}}, key="g", priority=GROUP)
        queue_notice(templates, 602, "registration/request_confirmed",
                     {"company": {"name": "Acme"}}, key="s", lang="en")
    (group, group_priority, to_group), (_, _, to_stranger) = queued()
    assert (group, group_priority) == (GROUP_CHAT, GROUP)
    assert "подтвердила ваш доступ" in to_group.text
    assert "has confirmed your access" in to_stranger.text


def test_a_key_queues_once_and_a_rollback_queues_nothing(templates):
    context = {"company": {"name": "Acme"}}
    with write_tx():
        queue_notice(templates, 603, "registration/request_confirmed", context, key="same")
        queue_notice(templates, 603, "registration/request_confirmed", context, key="same")
    with pytest.raises(RuntimeError), write_tx():
        queue_notice(templates, 604, "registration/request_confirmed", context, key="lost")
        raise RuntimeError("the change fails after the notice was queued")
    assert [chat for chat, _, _ in queued()] == [603]
