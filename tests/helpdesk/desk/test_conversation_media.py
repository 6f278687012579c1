"""A voice, a sticker, a round video between a client and the work group, through the real
transport and the fake Bot API (a plain group: the card is the thread). They go as copies of
the source message (copyMessage), a caption-less kind after a header of its own; what no
message from support can carry (a location) is answered in the thread, not dropped."""
from __future__ import annotations

from helpdesk.tickets import TicketEvent
from tests.support.desk import eventually, known_sent, reply_json
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import TECH, file_ticket

GROUP = -1234


def _copies(api, chat_id: int) -> list:
    return [m for m in api.messages(chat_id) if m.method == "copyMessage"]


def test_a_voice_and_a_sticker_go_both_ways_as_copies(world, monkeypatch):
    monkeypatch.setattr(world.app.settings.notify.system, "work_group_id", GROUP)
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group = api.user(101, "Имя101"), api.group(GROUP)
        ticket = file_ticket(world, 101)
        card = known_sent(api.wait_for(GROUP, contains="#1", timeout=120))
        tech = group.member(TECH, "Пётр")
        tech._message(voice={"file_id": "VOICE1", "file_unique_id": "UV1", "duration": 3},
                      caption="Послушайте", reply_to_message=reply_json(card, group.chat))
        voice = known_sent(eventually(lambda: _copies(api, 101))[0])
        assert voice.media["voice"]["file_id"] == "VOICE1"
        assert "Поддержка · Пётр" in voice.plain_text and "Послушайте" in voice.plain_text
        client._message(sticker={"file_id": "STICK1", "file_unique_id": "US1", "width": 512,
                                 "height": 512, "is_animated": False, "is_video": False,
                                 "type": "regular"},
                        reply_to_message=reply_json(voice, client.chat))
        sticker = eventually(lambda: _copies(api, GROUP))[0]
        assert sticker.media["sticker"]["file_id"] == "STICK1"
        assert not sticker.params.get("caption")         # a sticker shows none
        header = [m for m in api.messages(GROUP) if m.message_id < sticker.message_id][-1]
        assert "Имя101" in header.plain_text and "#1" in header.plain_text
        kinds = lambda: [e.details["files"][0]["kind"] for e in TicketEvent.select().where(
            (TicketEvent.ticket == ticket.id) & (TicketEvent.what == "message"))]
        assert eventually(lambda: kinds() == ["voice", "sticker"])


def test_a_location_from_staff_is_answered_in_the_thread_and_reaches_nobody(world, monkeypatch):
    monkeypatch.setattr(world.app.settings.notify.system, "work_group_id", GROUP)
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        api.user(101, "Имя101")
        group = api.group(GROUP)
        file_ticket(world, 101)
        card = known_sent(api.wait_for(GROUP, contains="#1", timeout=120))
        before = len(api.messages(101))
        tech = group.member(TECH, "Пётр")
        tech._message(location={"latitude": 55.75, "longitude": 37.62},
                      reply_to_message=reply_json(card, group.chat))
        answer = api.wait_for(GROUP, contains="не переслать клиенту", timeout=120)
        assert answer.reply_to is not None
        group.member(4242, "Гость")._message(location={"latitude": 1.0, "longitude": 2.0},
                                             reply_to_message=reply_json(card, group.chat))
        tech._message(text="Еду", reply_to_message=reply_json(card, group.chat))
        api.wait_for(101, contains="Еду", timeout=120)
        assert len(api.messages(101)) == before + 1              # the text only
        assert len([m for m in api.messages(GROUP) if "не переслать" in m.plain_text]) == 1
