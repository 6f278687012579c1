"""Supergroups of the fake Bot API: forum topics, members and admins, copies, a kicked bot.

`FakeTelegramAPI` (telegram_api.py) mixes `ForumMixin` in; this module keeps the group side
readable on its own. What it copies from Telegram, and a test may lean on:

* a supergroup is a forum or not (``FakeGroup.set_forum``, switchable at any time: "the
  group was turned from forum to plain meanwhile"); topic methods on a plain group answer
  400 "the chat is not a forum", a send with ``message_thread_id`` there or into an unknown
  or deleted topic 400 "message thread not found", a topic method on such a thread 400
  "TOPIC_ID_INVALID", an edit/close/reopen that changes nothing 400 "TOPIC_NOT_MODIFIED";
* a topic's id (``message_thread_id``) is the message id of its ``forum_topic_created``
  service message; that message, and the edited/closed/reopened ones, reach the bot as
  updates (``topic_service_updates = False`` loses them, as a bot that never sees them);
* every message in a topic carries ``message_thread_id``, ``is_topic_message`` and, like
  Telegram, ``reply_to_message`` = the topic's creation message unless it replies to another;
* ``copyMessage`` copies a user's or the bot's message (caption replaced when given);
* after ``FakeGroup.kick_bot()`` every call aimed at the group answers 403 "Forbidden: bot was
  kicked from the supergroup chat";
* ``getChat`` (``is_forum``), ``getChatMember`` and ``getChatAdministrators`` answer from the
  members a test set (``FakeGroup.member(..., status=...)``); anyone else has "left";
* membership changes reach the bot as Telegram words them: ``member_changed`` (a person left,
  was kicked, promoted: a ``chat_member`` update), ``bot_removed`` / ``bot_added`` (the bot
  itself: ``my_chat_member``; removed, every call aimed at the group answers 403 until it is
  added back), ``migrate`` (a group upgraded to a supergroup: a ``migrate_to_chat_id`` service
  message in the old chat, sends there answer 400 "group chat was upgraded to a supergroup chat").
"""
from __future__ import annotations

import dataclasses
import time

from .telegram_errors import ApiError, bad

__all__ = ["FakeTopic", "ForumMixin", "KICKED", "NOT_FORUM", "THREAD_NOT_FOUND",
           "TOPIC_INVALID", "TOPIC_NOT_MODIFIED", "UPGRADED"]

KICKED = "Forbidden: bot was kicked from the supergroup chat"
UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"
NOT_FORUM = "the chat is not a forum"
THREAD_NOT_FOUND = "message thread not found"
TOPIC_INVALID = "TOPIC_ID_INVALID"
TOPIC_NOT_MODIFIED = "TOPIC_NOT_MODIFIED"
_MEDIA = ("voice", "audio", "video", "video_note", "animation", "sticker")  # copied as they are
ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
# methods that name no chat of a group, or that a kicked bot may still call
_NO_CHAT = {"getme", "getupdates", "setwebhook", "deletewebhook", "getwebhookinfo", "getfile",
            "answercallbackquery", "answerprecheckoutquery", "setmycommands", "getmycommands",
            "deletemycommands"}


@dataclasses.dataclass
class FakeTopic:
    """A forum topic as the fake holds it."""
    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False
    history: list[dict] = dataclasses.field(default_factory=list)   # names/icons before edits

    def to_json(self) -> dict:
        data = {"message_thread_id": self.thread_id, "name": self.name,
                "icon_color": self.icon_color}
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


class ForumMixin:
    """The group half of `FakeTelegramAPI` (needs its `_cond`, `_chats`, `_record` ...)."""

    topic_service_updates = True

    def _reset_forum(self) -> None:
        self._topics: dict[tuple, FakeTopic] = {}
        self._kicked: set = set()
        self._migrated: dict = {}         # old group id -> its supergroup's id
        self._members: dict = {}          # chat id -> {user id: ChatMember JSON}
        self._user_content: dict = {}     # (chat id, message id) -> a user's message JSON

    # -- driver side ---------------------------------------------------------------------
    def topics(self, chat_id: int) -> list[FakeTopic]:
        """The topics of a group, deleted ones included, in creation order."""
        with self._cond:
            return [t for (c, _), t in self._topics.items() if c == chat_id]

    def topic(self, chat_id: int, thread_id: int) -> FakeTopic | None:
        with self._cond:
            return self._topics.get((chat_id, thread_id))

    def in_topic(self, chat_id: int, thread_id: int) -> list:
        """The bot's messages in one topic, not deleted, oldest first."""
        return [m for m in self.messages(chat_id) if m.thread_id == thread_id]

    def set_forum(self, chat_id: int, on: bool) -> None:
        with self._cond:
            self._chats[chat_id]["is_forum"] = bool(on)

    def kick_bot(self, chat_id: int) -> None:
        with self._cond:
            self._kicked.add(chat_id)

    def set_member(self, chat_id: int, user: dict, status: str = "member") -> None:
        with self._cond:
            self._members.setdefault(chat_id, {})[user["id"]] = {"status": status, "user": user}

    def member_changed(self, chat_id: int, user: dict, status: str, by: dict | None = None) -> int:
        """A person's status changes (left, kicked, administrator...): a chat_member update."""
        with self._cond:
            old = self._members.get(chat_id, {}).get(user["id"]) or {"status": "left", "user": user}
            self.set_member(chat_id, user, status)
            return self._membership("chat_member", chat_id, by or user, old,
                                    {"status": status, "user": user})

    def bot_removed(self, chat_id: int, by: dict, status: str = "kicked") -> int:
        """The bot is removed from the group by `by`: a my_chat_member update, then 403s."""
        with self._cond:
            self._kicked.add(chat_id)
            return self._membership("my_chat_member", chat_id, by, {"status": "administrator"},
                                    {"status": status})

    def bot_added(self, chat_id: int, by: dict, status: str = "administrator") -> int:
        with self._cond:
            self._kicked.discard(chat_id)
            return self._membership("my_chat_member", chat_id, by, {"status": "left"},
                                    {"status": status})

    def migrate(self, chat_id: int, new_id: int, by: dict) -> int:
        """The group `chat_id` becomes the supergroup `new_id` (Telegram's upgrade)."""
        with self._cond:
            chat = {**self._chat_json(chat_id)}
            self._chats[new_id] = {"id": new_id, "type": "supergroup", "title": chat.get("title", "")}
            self._migrated[chat_id] = new_id
            message = {"message_id": self._take_message_id(chat_id), "from": by, "chat": chat,
                       "date": int(time.time()), "migrate_to_chat_id": new_id}
            return self.push_update({"message": message})

    def _membership(self, kind: str, chat_id: int, by: dict, old: dict, new: dict) -> int:
        who = self.bot_user if kind == "my_chat_member" else new.get("user")
        change = {"chat": self._chat_json(chat_id), "from": by, "date": int(time.time()),
                  "old_chat_member": _member_json({"user": who, **old}),
                  "new_chat_member": _member_json({"user": who, **new})}
        return self.push_update({kind: change})

    # -- checks the sending methods share -------------------------------------------------
    def _check_chat_access(self, method: str, params: dict) -> None:
        if method in _NO_CHAT or params.get("chat_id") in (None, ""):
            return
        chat_id = params["chat_id"]
        chat_id = int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id
        if chat_id in self._kicked:
            raise ApiError(403, KICKED)
        if chat_id in self._migrated:
            raise ApiError(400, UPGRADED, migrate_to_chat_id=self._migrated[chat_id])

    def _is_forum(self, chat_id) -> bool:
        return bool(self._chats.get(chat_id, {}).get("is_forum"))

    def _thread_of(self, chat_id, params: dict) -> int | None:
        """The topic a send goes into (None: the group itself); 400 when it cannot."""
        thread_id = params.get("message_thread_id")
        if thread_id in (None, ""):
            return None
        topic = self._topics.get((chat_id, int(thread_id)))
        if not self._is_forum(chat_id) or topic is None or topic.deleted:
            raise bad(THREAD_NOT_FOUND)
        return int(thread_id)

    def _reply_to_of(self, chat_id, params: dict) -> int | None:
        """The message a send replies to; 400 when it is gone, unless allowed."""
        wanted = params.get("reply_parameters") or {}
        message_id = wanted.get("message_id") or params.get("reply_to_message_id")
        if not message_id:
            return None
        if self._message_exists(chat_id, int(message_id)):
            return int(message_id)
        if wanted.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
            return None
        raise bad("message to be replied not found")

    def _message_exists(self, chat_id, message_id: int) -> bool:
        msg = self._by_id.get((chat_id, message_id))
        return (msg is not None and not msg.deleted) or (chat_id, message_id) in self._user_content \
            or (chat_id, message_id) in self._topics

    def _thread_json(self, chat_id, thread_id: int | None, reply_to: int | None) -> dict:
        """What a message in a topic (or a reply) carries, as Telegram sets it."""
        data = {}
        if thread_id is not None:
            data.update(message_thread_id=thread_id, is_topic_message=True)
        target = reply_to if reply_to is not None else thread_id
        if target is not None:
            data["reply_to_message"] = self._replied_json(chat_id, target)
        return data

    def _replied_json(self, chat_id, message_id: int) -> dict:
        msg = self._by_id.get((chat_id, message_id))
        if msg is not None:
            return {k: v for k, v in self._message_json(msg).items() if k != "reply_to_message"}
        if (chat_id, message_id) in self._user_content:
            stored = self._user_content[(chat_id, message_id)]
            return {k: v for k, v in stored.items() if k != "reply_to_message"}
        topic = self._topics.get((chat_id, message_id))
        created = {"name": topic.name, "icon_color": topic.icon_color} if topic else {}
        return {"message_id": message_id, "from": self.bot_user, "date": 0,
                "chat": self._chat_json(chat_id), "message_thread_id": message_id,
                "is_topic_message": True, "forum_topic_created": created}

    # -- topic methods --------------------------------------------------------------------
    def _forum(self, params) -> int:
        chat_id = self._chat_id_param(params)
        if not self._is_forum(chat_id):
            raise bad(NOT_FORUM)
        return chat_id

    def _live_topic(self, params) -> FakeTopic:
        chat_id = self._forum(params)
        topic = self._topics.get((chat_id, int(params.get("message_thread_id") or 0)))
        if topic is None or topic.deleted:
            raise bad(TOPIC_INVALID)
        return topic

    def _api_createForumTopic(self, params):
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise bad("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_TOO_LONG")
        with self._cond:
            chat_id = self._forum(params)
            thread_id = self._take_message_id(chat_id)
            color = int(params.get("icon_color") or ICON_COLORS[thread_id % len(ICON_COLORS)])
            topic = FakeTopic(chat_id, thread_id, name, color, params.get("icon_custom_emoji_id"))
            self._topics[(chat_id, thread_id)] = topic
            self._service(topic, thread_id, forum_topic_created={
                "name": name, "icon_color": color,
                **({"icon_custom_emoji_id": topic.icon_custom_emoji_id}
                   if topic.icon_custom_emoji_id else {})})
            return topic.to_json()

    def _api_editForumTopic(self, params):
        changes = {k: params[k] for k in ("name", "icon_custom_emoji_id") if params.get(k) is not None}
        with self._cond:
            topic = self._live_topic(params)
            if all(getattr(topic, k) == v for k, v in changes.items()):
                raise bad(TOPIC_NOT_MODIFIED)
            topic.history.append({k: getattr(topic, k) for k in changes})
            for key, value in changes.items():
                setattr(topic, key, value)
            self._service(topic, None, forum_topic_edited=dict(changes))
            return True

    def _api_closeForumTopic(self, params):
        return self._toggle(params, closed=True, service="forum_topic_closed")

    def _api_reopenForumTopic(self, params):
        return self._toggle(params, closed=False, service="forum_topic_reopened")

    def _toggle(self, params, *, closed: bool, service: str) -> bool:
        with self._cond:
            topic = self._live_topic(params)
            if topic.closed == closed:
                raise bad(TOPIC_NOT_MODIFIED)
            topic.closed = closed
            self._service(topic, None, **{service: {}})
            return True

    def _api_deleteForumTopic(self, params):
        with self._cond:
            topic = self._live_topic(params)
            topic.deleted = True
            for msg in self._sent:
                if msg.chat_id == topic.chat_id and msg.thread_id == topic.thread_id:
                    msg.deleted = True
            self._cond.notify_all()
            return True

    def _service(self, topic: FakeTopic, message_id: int | None, **content) -> None:
        """The service message Telegram posts into the topic, as an update to the bot."""
        if not self.topic_service_updates:
            return
        if message_id is None:
            message_id = self._take_message_id(topic.chat_id)
        message = {"message_id": message_id, "from": self.bot_user, "date": int(time.time()),
                   "chat": self._chat_json(topic.chat_id), **content}
        if "forum_topic_created" in content:
            message.update(message_thread_id=topic.thread_id, is_topic_message=True)
        else:
            message.update(self._thread_json(topic.chat_id, topic.thread_id, None))
        self.push_update({"message": message})

    # -- copies ---------------------------------------------------------------------------
    def _api_copyMessage(self, params):
        source = (self._chat_id_param(params, "from_chat_id"), int(params.get("message_id") or 0))
        with self._cond:
            content = self._copyable(source)
        if params.get("caption") is not None:
            key = "text" if "text" in content else "caption"
            content[key] = str(params["caption"])
        msg = self._record("copyMessage", self._chat_id_param(params), params, **content)
        return {"message_id": msg["message_id"]}

    def _copyable(self, source: tuple) -> dict:
        """What a copy of `source` holds: text or media with its caption."""
        msg = self._by_id.get(source)
        if msg is not None and not msg.deleted:
            return {k: getattr(msg, k) for k in ("text", "caption", "photo", "document",
                                                  "file_name", "media") if getattr(msg, k) is not None}
        stored = self._user_content.get(source)
        if stored is None:
            raise bad("message to copy not found")
        content = {k: stored[k] for k in ("text", "caption") if k in stored}
        if stored.get("photo"):
            content["photo"] = stored["photo"][-1]["file_id"]
        media = next((k for k in _MEDIA if stored.get(k)), None)
        if media:                        # before document: a GIF is animation and document
            content["media"] = {media: stored[media]}
        elif stored.get("document"):
            content.update(document=stored["document"]["file_id"],
                           file_name=stored["document"].get("file_name"))
        return content

    # -- chats and members ----------------------------------------------------------------
    def _api_getChat(self, params):
        with self._cond:
            chat = dict(self._chat_json(self._chat_id_param(params)))
        if not chat.pop("is_forum", False):
            return {**chat, "accent_color_id": 0, "max_reaction_count": 11}
        return {**chat, "is_forum": True, "accent_color_id": 0, "max_reaction_count": 11}

    def _api_getChatMember(self, params):
        chat_id, user_id = self._chat_id_param(params), int(params.get("user_id") or 0)
        with self._cond:
            if user_id == self.bot_id:
                return self._bot_member()
            member = self._members.get(chat_id, {}).get(user_id)
        if member is None:
            return {"status": "left", "user": {"id": user_id, "is_bot": False, "first_name": "?"}}
        return _member_json(member)

    def _api_getChatAdministrators(self, params):
        chat_id = self._chat_id_param(params)
        with self._cond:
            members = list(self._members.get(chat_id, {}).values())
        admins = [_member_json(m) for m in members if m["status"] in ("creator", "administrator")]
        return admins + [self._bot_member()]

    def _bot_member(self) -> dict:
        return {"status": "administrator", "user": self.bot_user, "can_be_edited": False,
                "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": True,
                "can_manage_video_chats": False, "can_restrict_members": False,
                "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                "can_pin_messages": True, "can_manage_topics": True, "can_post_stories": False,
                "can_edit_stories": False, "can_delete_stories": False}


def _member_json(member: dict) -> dict:
    if member["status"] == "creator":
        return {"status": "creator", "user": member["user"], "is_anonymous": False}
    if member["status"] == "administrator":
        return {"status": "administrator", "user": member["user"], "can_be_edited": False,
                "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": False,
                "can_manage_video_chats": False, "can_restrict_members": False,
                "can_promote_members": False, "can_change_info": False,
                "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
                "can_delete_stories": False, "can_manage_topics": True}
    if member["status"] == "kicked":            # Telegram adds until_date (0: for ever)
        return {"status": member["status"], "user": member["user"], "until_date": 0}
    return {"status": member["status"], "user": member["user"]}
