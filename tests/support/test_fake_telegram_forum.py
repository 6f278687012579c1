"""The fake Bot API's supergroups, through the real python-telegram-bot Bot: forum topics and
their service messages, messages in topics, copies, members, a kicked bot and the errors
Telegram gives for each (the non-obvious parts the transport's tests rely on)."""
from __future__ import annotations

import asyncio

import pytest
from telegram import Bot, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden

from tests.support.fakes.telegram_api import FakeTelegramAPI

GROUP = -1001234


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


def with_bot(api, action):
    async def main():
        async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            return await action(bot)
    return asyncio.run(main())


def updates(api, bot_for_parsing=None) -> list[Update]:
    return [Update.de_json(u, None) for u in api.pending_updates()]


def test_a_topic_is_created_written_into_edited_closed_reopened_and_deleted(api):
    group = api.group(GROUP, "Заявки", forum=True)

    async def scenario(bot):
        topic = await bot.create_forum_topic(GROUP, "#12 · Касса · ООО «Лютик»")
        sent = await bot.send_message(GROUP, "карточка", message_thread_id=topic.message_thread_id)
        await bot.edit_forum_topic(GROUP, topic.message_thread_id, name="✅ #12")
        with pytest.raises(BadRequest, match="(?i)TOPIC_NOT_MODIFIED"):
            await bot.edit_forum_topic(GROUP, topic.message_thread_id, name="✅ #12")
        await bot.close_forum_topic(GROUP, topic.message_thread_id)
        await bot.reopen_forum_topic(GROUP, topic.message_thread_id)
        return topic, sent
    topic, sent = with_bot(api, scenario)
    assert sent.message_thread_id == topic.message_thread_id and sent.is_topic_message
    # like Telegram: a topic message replies to the topic's creation message
    assert sent.reply_to_message.forum_topic_created.name == "#12 · Касса · ООО «Лютик»"
    assert [m.text for m in group.in_topic(topic.message_thread_id)] == ["карточка"]
    service = [u.message for u in updates(api)]
    assert service[0].forum_topic_created.name == "#12 · Касса · ООО «Лютик»"
    assert service[0].message_thread_id == service[0].message_id == topic.message_thread_id
    assert [bool(m.forum_topic_edited) for m in service] == [False, True, False, False]
    assert service[2].forum_topic_closed is not None and service[3].forum_topic_reopened is not None
    assert all(m.from_user.id == api.bot_id and m.is_topic_message for m in service)

    with_bot(api, lambda bot: bot.delete_forum_topic(GROUP, topic.message_thread_id))
    assert group.topics()[0].deleted and group.in_topic(topic.message_thread_id) == []
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        with_bot(api, lambda bot: bot.send_message(GROUP, "x", message_thread_id=topic.message_thread_id))
    with pytest.raises(BadRequest, match="(?i)TOPIC_ID_INVALID"):
        with_bot(api, lambda bot: bot.close_forum_topic(GROUP, topic.message_thread_id))


def test_a_group_turned_plain_refuses_topics_and_threads(api):
    group = api.group(GROUP, forum=True)
    topic = with_bot(api, lambda bot: bot.create_forum_topic(GROUP, "t"))
    group.set_forum(False)
    with pytest.raises(BadRequest, match="(?i)the chat is not a forum"):
        with_bot(api, lambda bot: bot.create_forum_topic(GROUP, "again"))
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        with_bot(api, lambda bot: bot.send_message(GROUP, "x", message_thread_id=topic.message_thread_id))
    assert with_bot(api, lambda bot: bot.get_chat(GROUP)).is_forum is None   # Telegram omits false
    group.set_forum(True)
    assert with_bot(api, lambda bot: bot.get_chat(GROUP)).is_forum is True
    with_bot(api, lambda bot: bot.send_message(GROUP, "x", message_thread_id=topic.message_thread_id))


def test_users_write_in_topics_reply_and_the_bot_copies_it(api):
    group = api.group(GROUP, forum=True)
    topic = with_bot(api, lambda bot: bot.create_forum_topic(GROUP, "t"))
    staff = group.member(7, "Анна", last_name="Петрова").in_topic(topic.message_thread_id)
    text = staff.send("готово")["message"]
    photo = staff.send_photo(caption="фото", reply_to=text["message_id"])["message"]
    parsed = Update.de_json({"update_id": 1, "message": photo}, None).message
    assert parsed.is_topic_message and parsed.message_thread_id == topic.message_thread_id
    assert parsed.reply_to_message.message_id == text["message_id"]
    assert parsed.from_user.last_name == "Петрова"

    async def copy(bot):
        first = await bot.copy_message(555, GROUP, text["message_id"])
        second = await bot.copy_message(555, GROUP, photo["message_id"], caption="Поддержка: фото")
        with pytest.raises(BadRequest, match="(?i)message to copy not found"):
            await bot.copy_message(555, GROUP, 9999)
        return first, second
    first, second = with_bot(api, copy)
    copies = api.messages(555)
    assert [m.method for m in copies] == ["copyMessage", "copyMessage"]
    assert copies[0].text == "готово" and copies[0].message_id == first.message_id
    assert copies[1].photo and copies[1].caption == "Поддержка: фото"


def test_replies_to_a_gone_message_fail_unless_allowed(api):
    api.group(GROUP)

    async def scenario(bot):
        with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
            await bot.send_message(GROUP, "x", reply_parameters=ReplyParameters(99))
        return await bot.send_message(GROUP, "x", reply_parameters=ReplyParameters(
            99, allow_sending_without_reply=True))
    assert with_bot(api, scenario).reply_to_message is None


def test_members_admins_and_a_kicked_bot(api):
    group = api.group(GROUP, forum=True)
    group.member(7, "Анна", status="administrator")
    group.member(8, "Олег")

    async def roles(bot):
        return ([(await bot.get_chat_member(GROUP, u)).status for u in (7, 8, 9)],
                [a.user.id for a in await bot.get_chat_administrators(GROUP)])
    assert with_bot(api, roles) == (["administrator", "member", "left"], [7, api.bot_id])
    group.kick_bot()
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        with_bot(api, lambda bot: bot.send_message(GROUP, "x"))
    with pytest.raises(Forbidden):
        with_bot(api, lambda bot: bot.create_forum_topic(GROUP, "t"))


def test_lost_service_messages_can_be_simulated(api):
    api.group(GROUP, forum=True)
    api.topic_service_updates = False
    with_bot(api, lambda bot: bot.create_forum_topic(GROUP, "t"))
    assert api.pending_updates() == [] and len(api.topics(GROUP)) == 1
