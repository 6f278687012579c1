"""What goes into the engine (`Event`) and what comes out (`Reply`): no Telegram types here.

Transports (Telegram, the terminal console, the test driver) translate their own objects to
and from these. Callback data in `Button.data` is short (a step counter and an index, or a
registered prefix and an id) so it always fits Telegram's 64-byte limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Event", "Reply", "Button", "KeyButton", "Contact", "FileRef", "EventKind",
           "FILE_KINDS", "MEDIA_KINDS", "CAPTIONLESS"]

EventKind = Literal["text", "command", "button", "contact", "file", "payment",
                    "pre_checkout", "member", "other"]


@dataclass(frozen=True)
class Contact:
    phone: str
    user_id: int | None = None       # whose contact it is (Telegram tells); None = unknown
    first_name: str = ""
    last_name: str = ""


FILE_KINDS = ("photo", "document")      # what a form's file question takes by default
# the rest of what a person may send: passed on as a copy of the message (copyMessage), never
# kept as a form's file
MEDIA_KINDS = ("voice", "audio", "video", "video_note", "animation", "sticker")
CAPTIONLESS = ("video_note", "sticker")    # Telegram shows no caption on these


@dataclass(frozen=True)
class FileRef:
    file_id: str
    kind: Literal["photo", "document", "voice", "audio", "video", "video_note", "animation",
                  "sticker"] = "photo"
    name: str = ""
    mime: str = ""
    size: int = 0


@dataclass
class Event:
    """One thing a user did: typed, pressed, shared, uploaded, paid."""
    chat_id: int
    user_id: int
    kind: EventKind = "text"
    text: str = ""
    data: str = ""                   # callback data of a pressed inline button
    message_id: int | None = None    # the message a pressed button was on; a message's own id
    contact: Contact | None = None
    files: tuple[FileRef, ...] = ()
    payment: dict[str, Any] | None = None
    language: str | None = None
    username: str | None = None
    first_name: str | None = None
    update_id: int | None = None
    callback_id: str | None = None
    chat_type: str = "private"       # private | group | supergroup | channel
    thread_id: int | None = None     # the forum topic a group message was written in
    reply_to_message_id: int | None = None   # the message this one answers (Telegram's reply)
    last_name: str | None = None
    media_group_id: str | None = None     # the album a photo or document belongs to
    topic: dict[str, Any] | None = None   # a forum topic service message: {"op": "created" |
                                          # "edited" | "closed" | "reopened", "name": ...}
    reply_to_user: dict[str, Any] | None = None   # who wrote the message this one answers:
                                          # {"id", "first_name", "last_name", "username", "is_bot"}
    content: str | None = None            # kind "other": what a person sent that is no text nor
                                          # file ("location", "poll", ...); None for a service message
    chat_is_forum: bool | None = None     # a group's message: is the group a forum now (None:
                                          # a private chat, or not told)
    migrate_to_chat_id: int | None = None   # the group became this supergroup (a service message)
    member: dict[str, Any] | None = None  # kind "member": someone's status in the group changed
                                          # {"id", "first_name", "last_name", "username",
                                          # "is_bot", "old", "new", "me": the bot itself}
    may_wait: bool = False                # the transport tries this update again if a handler
                                          # raises engine.errors.NotYet (False: the last try,
                                          # or a transport that never retries: decide now)

    @property
    def command(self) -> str | None:
        """`start` for "/start arg" or "/start@bot"; None when this is not a command."""
        if self.kind != "command" and not (self.kind == "text" and self.text.startswith("/")):
            return None
        head = self.text[1:].split(maxsplit=1)[0] if len(self.text) > 1 else ""
        return head.split("@", 1)[0].lower() or None


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None = None          # callback data (<= 64 bytes)
    url: str | None = None


@dataclass(frozen=True)
class KeyButton:
    text: str
    request_contact: bool = False


@dataclass
class Reply:
    """One message to send (or an edit of one already sent)."""
    chat_id: int
    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)       # inline keyboard rows
    keyboard: list[list[KeyButton]] = field(default_factory=list)   # reply keyboard rows
    remove_keyboard: bool = False
    edit_message_id: int | None = None
    edit_key: str | None = None           # ...or edit the message an outgoing row of this key
                                          # sent (resolved when sent; waits for that row)
    photo: bytes | str | None = None      # bytes, or a file_id already on Telegram
    document: bytes | str | None = None
    filename: str = ""
    invoice: dict[str, Any] | None = None
    callback_answer: str | None = None    # text shown on the pressed button's spinner
    pre_checkout: dict[str, Any] | None = None   # {"id":..., "ok": bool, "error": str}
    # -- forum topics and relays (the support desk) --
    thread_id: int | None = None          # send into this forum topic (message_thread_id)
    thread_key: str | None = None         # ...or into the topic an outgoing row of this key
                                          # created (resolved when sent; waits for it)
    reply_to_message_id: int | None = None
    topic: dict[str, Any] | None = None   # a forum topic operation instead of a message:
                                          # {"op": "create" | "edit" | "close" | "reopen" |
                                          # "delete", "name": str, "icon_custom_emoji_id": str}
                                          # (edit/close/reopen/delete act on thread_key's topic)
    copy_from: dict[str, Any] | None = None   # copyMessage: {"chat_id": int, "message_id": int};
                                              # `text`, when set, is the copy's caption
    key: str | None = None                # a step's reply queued under this outgoing key (a
                                          # message about something: a reply to it finds it)

    @property
    def answer_only(self) -> bool:
        """Only the pressed button's answer: no message to send or edit (a refused press)."""
        return (self.callback_answer is not None and not self.text and self.photo is None
                and self.topic is None and self.copy_from is None
                and self.document is None and self.invoice is None and self.pre_checkout is None
                and self.edit_message_id is None and self.edit_key is None
                and not self.buttons and not self.keyboard
                and not self.remove_keyboard)

    def button_texts(self) -> list[str]:
        return [b.text for row in self.buttons for b in row] + \
               [b.text for row in self.keyboard for b in row]
