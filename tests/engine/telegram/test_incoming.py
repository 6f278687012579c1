"""engine/telegram/incoming.py, the raw update JSON -> Event of the hot path, gives exactly the
Event the PTB-based conversion gave (tests/support/ptb_events.py, the reference) for every
kind of update the fake Bot API words as Telegram does; malformed updates raise BadUpdate
naming the field where PTB's constructors raised, and numbers from outside are bounded."""
from __future__ import annotations

import copy
import json

import pytest

from engine.events import MEDIA_KINDS
from engine.telegram.incoming import BadUpdate, to_event
from tests.support.ptb_events import ptb_event

OURS = "OurHelpBot"
USER = 4101
GROUP = -1004102
PLAIN_GROUP = -4103


def both(update: dict, username: str | None = OURS):
    """The two conversions of one update (through JSON, as the inbox stores it)."""
    raw = json.loads(json.dumps(update))
    return to_event(copy.deepcopy(raw), username), ptb_event(raw, username)


def _keyboard_message(api, chat_id: int) -> None:
    api.call(api.token, "sendMessage", {
        "chat_id": chat_id, "text": "выберите",
        "reply_markup": {"inline_keyboard": [[{"text": "▶", "callback_data": "next"}]]}})


def private_updates(api) -> dict[str, dict]:
    user = api.user(USER, "Иван", username="ivan", last_name="Петров")
    shy = api.user(USER + 1, "Аня", language_code=None)
    _keyboard_message(api, USER)
    updates = {
        "text": user.send("Привет"),
        "text without language nor username": shy.send("hi"),
        "command": user.send("/start promo"),
        "command to us": user.send(f"/help@{OURS.lower()}"),
        "command to another bot": user.send("/help@SomeOtherBot"),
        "button": user.press("▶"),
        "button on a message gone": user.press_data("stale"),
        "contact": user.share_contact(),
        "someone else's contact": user.share_contact("+79990000000", user_id=77, first_name="X"),
        "photo": user.send_photo(caption="схема"),
        "photo without caption": user.send_photo(),
        "document": user.send_document("акт.pdf", caption="акт"),
        "reply to a message": user.send("ответ", reply_to=1),
    }
    for kind in MEDIA_KINDS:
        updates[kind] = user.send_media(kind, caption="подпись")
    album = user.send_photo()
    album["message"]["media_group_id"] = "album-1"
    updates["album photo"] = album
    for content in ({"location": {"latitude": 55.7, "longitude": 37.6}},
                    {"dice": {"emoji": "🎲", "value": 4}},
                    {"poll": {"id": "p1", "question": "?", "options": [], "total_voter_count": 0,
                              "is_closed": False, "is_anonymous": True, "type": "regular",
                              "allows_multiple_answers": False, "allows_revoting": False,
                              "members_only": False}}):
        updates[f"other: {next(iter(content))}"] = user._message(**content)
    updates["pre_checkout"] = {"update_id": 900, "pre_checkout_query": {
        "id": "pcq1", "from": user.user, "currency": "RUB", "total_amount": 150000,
        "invoice_payload": "order-7"}}
    updates["payment"] = {"update_id": 901, "message": api._new_user_message(
        user.user, user.chat, successful_payment={
            "currency": "RUB", "total_amount": 150000, "invoice_payload": "order-7",
            "telegram_payment_charge_id": "tg1", "provider_payment_charge_id": "pr1"})}
    updates["edited message"] = {"update_id": 902, "edited_message": user.send("x")["message"]}
    sender_less = user.send("service")["message"]
    del sender_less["from"]
    updates["message without a sender"] = {"update_id": 903, "message": sender_less}
    updates["private my_chat_member"] = {"update_id": 904, "my_chat_member": {
        "chat": user.chat, "from": user.user, "date": 1,
        "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "B"}},
        "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True, "first_name": "B"},
                            "until_date": 0}}}
    return updates


def group_updates(api) -> dict[str, dict]:
    group = api.group(GROUP, "Заявки", forum=True)
    staff = group.member(7, "Анна", last_name="Петрова")
    client = group.member(8, "Олег", username="oleg")
    start = len(api.pending_updates())
    thread = api.call(api.token, "createForumTopic", {"chat_id": GROUP, "name": "#3"})["message_thread_id"]
    api.call(api.token, "editForumTopic", {"chat_id": GROUP, "message_thread_id": thread, "name": "✅ #3"})
    api.call(api.token, "closeForumTopic", {"chat_id": GROUP, "message_thread_id": thread})
    api.call(api.token, "reopenForumTopic", {"chat_id": GROUP, "message_thread_id": thread})
    service = api.pending_updates()[start:]
    updates = {f"topic {n}": u for n, u in zip(("created", "edited", "closed", "reopened"), service, strict=True)}
    question = client.send("в общий чат")
    updates.update({
        "group text": question,
        "group reply names whom": staff.send("ответ", reply_to=question),
        "topic text": staff.in_topic(thread).send("Проверьте кабель"),
        "topic photo": staff.in_topic(thread).send_photo(caption="схема"),
        "topic command": staff.in_topic(thread).send("/close"),
    })
    _keyboard_message(api, GROUP)
    updates["group button"] = client.press("▶")
    before = len(api.pending_updates())
    group.member_changed(client, "left")
    group.bot_removed(staff)
    group.bot_added(staff)
    plain = api.group(PLAIN_GROUP, "Старая")
    plain.member(9, "Вера").send("до миграции")
    plain.migrate(-1004104, plain.member(9, "Вера"))
    names = ("chat_member left", "my_chat_member removed", "my_chat_member added",
             "plain group text", "migrate")
    updates.update(dict(zip(names, api.pending_updates()[before:], strict=True)))
    return updates


def test_every_kind_of_update_gives_the_event_ptb_gave(api):
    updates = {**private_updates(api), **group_updates(api)}
    kinds = set()
    for name, update in updates.items():
        fast, reference = both(update)
        assert fast == reference, name
        kinds.add(fast.kind if fast else None)
    assert len(updates) >= 40
    assert kinds == {"text", "command", "button", "contact", "file", "payment", "pre_checkout",
                     "member", "other", None}


def test_the_fields_that_matter_come_through(api):
    updates = {**private_updates(api), **group_updates(api)}
    press, _ = both(updates["button"])
    assert (press.kind, press.data, press.chat_id, press.callback_id) == ("button", "next", USER,
                                                                         press.callback_id)
    topic, _ = both(updates["topic text"])
    assert topic.thread_id and topic.chat_is_forum is True and topic.chat_type == "supergroup"
    reply, _ = both(updates["group reply names whom"])
    assert reply.reply_to_user["username"] == "oleg"
    left, _ = both(updates["chat_member left"])
    assert (left.kind, left.member["new"], left.member["me"]) == ("member", "left", False)
    migrated = next(e for e, _ in [both(updates["migrate"])])
    assert migrated.migrate_to_chat_id == -1004104
    voice, _ = both(updates["voice"])
    assert voice.files[0].kind == "voice" and voice.files[0].size > 0
    assert both(updates["command to another bot"]) == (None, None)
    assert both(updates["topic created"])[0].topic == {"op": "created", "name": "#3"}


def test_without_a_known_username_every_command_is_ours(api):
    update = api.user(USER, "Иван").send("/help@SomeOtherBot")
    fast, reference = both(update, None)
    assert fast == reference and fast.kind == "command"


# missing required fields: PTB's constructors raised (TypeError/KeyError) or the conversion
# then failed on the None (AttributeError); ours names the field
MISSING = [("message", "chat"), ("message", "message_id"), ("message", "date"),
           ("message", "from", "id"), ("message", "contact", "phone_number"),
           ("message", "photo", -1, "file_id"), ("callback_query", "id"),
           ("callback_query", "from")]


def _drop(update: dict, path: tuple) -> dict:
    update = copy.deepcopy(update)
    node = update
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return update


@pytest.mark.parametrize("path", MISSING, ids=lambda p: ".".join(map(str, p)))
def test_a_missing_required_field_raises_where_ptb_raised(api, path):
    user = api.user(USER, "Иван")
    _keyboard_message(api, USER)
    source = {"chat": user.send("x"), "message_id": user.send("x"), "date": user.send("x"),
              "from": user.send("x"), "contact": user.share_contact(), "photo": user.send_photo(),
              "callback_query": user.press("▶")}
    update = _drop(source[path[1]] if path[0] == "message" else source["callback_query"], path)
    with pytest.raises((TypeError, KeyError, AttributeError)):
        ptb_event(copy.deepcopy(update), OURS)
    with pytest.raises(BadUpdate, match=r"telegram update \d+: update\." + path[0]):
        to_event(update, OURS)


@pytest.mark.parametrize("value", ["4101", 2 ** 63, -(2 ** 63) - 1, True, 1.5, None, [1]],
                         ids=repr)
def test_an_id_of_the_wrong_type_or_out_of_bounds_is_refused(api, value):
    update = api.user(USER, "Иван").send("x")
    update["message"]["from"]["id"] = value
    with pytest.raises(BadUpdate, match=r"update\.message\.from\.id"):
        to_event(update, OURS)


@pytest.mark.parametrize("field, value", [("file_size", -1), ("file_size", 2 ** 64),
                                          ("file_id", 5)])
def test_a_file_size_or_id_from_outside_is_checked(api, field, value):
    update = api.user(USER, "Иван").send_document()
    update["message"]["document"][field] = value
    with pytest.raises(BadUpdate, match=rf"update\.message\.document\.{field}"):
        to_event(update, OURS)


@pytest.mark.parametrize("garbage", [[], "x", {"update_id": "7"}, {"update_id": 7, "message": []},
                                     {"update_id": 7, "callback_query": "q"}], ids=repr)
def test_garbage_raises_bad_update_not_anything_else(garbage):
    with pytest.raises(BadUpdate):
        to_event(garbage, OURS)


def test_an_update_of_no_kind_we_know_is_nobodys(api):
    assert to_event({"update_id": 5, "channel_post": {"message_id": 1}}, OURS) is None
    assert to_event({"update_id": 6}, OURS) is None


URL = "https://updates.example.ru/kassa-5.2.exe?a=1&b=2"


def _linked(**message) -> dict:
    chat = {"id": USER, "type": "private", "first_name": "Имя"}
    return {"update_id": 1, "message": {"message_id": 5, "date": 0, "chat": chat,
                                        "from": {"id": USER, "is_bot": False, "first_name": "Имя"},
                                        **message}}


def test_a_text_link_keeps_its_url_after_its_words():
    """Words with a URL behind them (Ctrl+K) keep the URL in the event's text, at the right
    place after an emoji (Telegram counts offsets in UTF-16 code units)."""
    text = "🔧 Скачайте обновление и установите"      # the emoji is 2 UTF-16 units
    ours, ptb = both(_linked(text=text, entities=[
        {"type": "text_link", "offset": 3, "length": 19, "url": URL},
        {"type": "bold", "offset": 23, "length": 11}]))
    assert ours == ptb and ours.text == f"🔧 Скачайте обновление ({URL}) и установите"


def test_a_caption_link_and_a_link_that_is_its_own_url():
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]
    ours, ptb = both(_linked(caption="схема", photo=photo, caption_entities=[
        {"type": "text_link", "offset": 0, "length": 5, "url": URL}]))
    assert ours == ptb and ours.text == f"схема ({URL})"
    same, _ = both(_linked(text=URL, entities=[{"type": "text_link", "offset": 0,
                                                 "length": len(URL), "url": URL}]))
    assert same.text == URL
