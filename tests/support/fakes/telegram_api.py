"""A fake Telegram Bot API: a real HTTP server on loopback for tests and benchmarks.

How a test uses it::

    from tests.support.fakes.telegram_api import FakeTelegramAPI, run_polling_in_thread

    with FakeTelegramAPI() as api:                       # port 0: a random free port
        app = (ApplicationBuilder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        app.add_handler(...)
        with run_polling_in_thread(app):                 # PTB runs in its own thread and loop
            user = api.user(1001, first_name="Иван")
            user.send("/start")                          # a message with a bot_command entity
            msg = user.wait_for(contains="Привет")       # blocks until the bot sends it
            user.press("Оплатить")                       # inline button -> callback_query
            assert api.last(1001).text == "..."

Driver calls block (``wait_for``, ``pay``), so the bot must run in another thread or
process: ``run_polling_in_thread`` does that for a PTB Application. Everything a test reads
(``api.sent``, ``messages``, ``last``, ``pre_checkout_answers`` ...) is guarded by one lock.

Standalone, for benchmarks (rate limits on by default)::

    python -m tests.support.fakes.telegram_api --port 8081 [--token T] [--no-rate-limits]

plus a small control API for a driver in another process: ``POST /_fake/send``
``{"user_id", "text"}`` (with ``"chat_id"``, ``"thread_id"``, ``"reply_to"``: in a group), ``POST /_fake/update`` (a raw update), ``GET /_fake/sent?chat_id=``,
``GET /_fake/stats``.

Deliberate simplifications: webhooks may use plain ``http://`` (loopback) and are delivered one
update at a time, in order; MarkdownV2 is not validated; ``chat not found`` is never returned;
rate limits count only the methods that create messages (see ``RateLimits``).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import html.parser
import itertools
import json
import logging
import math
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .telegram_errors import ApiError, bad
from .telegram_forum import ForumMixin

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeGroup",
    "FakeTelegramAPI",
    "FakeUser",
    "RateLimits",
    "Refusal",
    "SentMessage",
    "run_polling_in_thread",
    "run_webhook_in_thread",
]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST-TOKEN"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
MAX_TEXT, MAX_CAPTION, MAX_CALLBACK_DATA = 4096, 1024, 64
# Telegram leaves these out unless allowed_updates names them explicitly.
NOT_DEFAULT_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendinvoice", "copymessage"}
SLOW_METHODS = SEND_METHODS | {"createforumtopic"}     # what `slow_answers` delays
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                "upload_voice", "upload_document", "choose_sticker", "find_location",
                "record_video_note", "upload_video_note"}
# Form fields whose value is a plain string; PTB JSON-encodes every other field.
STRING_PARAMS = {
    "text", "caption", "parse_mode", "url", "secret_token", "title", "description", "payload",
    "provider_token", "currency", "start_parameter", "error_message", "action", "language_code",
    "file_id", "callback_query_id", "pre_checkout_query_id", "ip_address", "photo", "document",
    "provider_data", "business_connection_id", "message_effect_id", "shipping_query_id",
    "name", "icon_custom_emoji_id",
}


def _bad(description: str) -> ApiError:
    return bad(description)


# ---------------------------------------------------------------- rate limits

@dataclasses.dataclass(frozen=True)
class RateLimits:
    """Telegram's published limits, as sliding windows over message-creating methods.

    A private chat may take ``private_burst`` messages back to back, then averages
    ``private_per_second`` over a window of ``private_burst / private_per_second`` seconds
    (Telegram: "short bursts" are tolerated). Groups (negative chat ids) get
    ``group_per_minute`` in any 60 s; all chats together ``overall_per_second`` in any 1 s.
    """

    overall_per_second: float = 30
    private_per_second: float = 1
    private_burst: int = 3
    group_per_minute: float = 20


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One request refused with 429: which method, chat, limit scope and retry_after."""

    method: str
    chat_id: int | str
    scope: str
    retry_after: int


class _Window:
    """At most ``limit`` events per ``seconds`` for each key, sliding."""

    def __init__(self, limit: float, seconds: float):
        self.limit, self.seconds = max(1, int(limit)), seconds
        self._events: dict[Any, collections.deque] = collections.defaultdict(collections.deque)

    def retry_after(self, key, now: float) -> int:
        events = self._events[key]
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) < self.limit:
            return 0
        return max(1, math.ceil(events[0] + self.seconds - now))

    def add(self, key, now: float) -> None:
        self._events[key].append(now)


class _RateLimiter:
    def __init__(self, limits: RateLimits):
        self.overall = _Window(limits.overall_per_second, 1.0)
        burst = max(1, limits.private_burst)
        self.private = _Window(burst, burst / limits.private_per_second)
        self.group = _Window(limits.group_per_minute, 60.0)

    def check(self, chat_id) -> tuple[str, int] | None:
        """(scope, retry_after) when sending now would exceed a limit, else records the send."""
        now = time.monotonic()
        chat_window = self.group if _is_group(chat_id) else self.private
        for scope, window, key in (("overall", self.overall, None), ("chat", chat_window, chat_id)):
            wait = window.retry_after(key, now)
            if wait:
                return scope, wait
        self.overall.add(None, now)
        chat_window.add(chat_id, now)
        return None


def _is_group(chat_id) -> bool:
    return not isinstance(chat_id, int) or chat_id < 0


# ---------------------------------------------------------------- recorded messages

# the fields Telegram always sends with each kind (python-telegram-bot requires them)
_MEDIA_FIELDS = {"voice": {"duration": 3}, "audio": {"duration": 120},
                 "video": {"width": 640, "height": 480, "duration": 5},
                 "video_note": {"length": 240, "duration": 5},
                 "animation": {"width": 320, "height": 240, "duration": 2},
                 "sticker": {"width": 512, "height": 512, "is_animated": False, "is_video": False,
                             "type": "regular"}}


@dataclasses.dataclass
class SentMessage:
    """A message the bot created, as recorded; edits update it and keep ``history``."""

    method: str
    chat_id: int | str
    message_id: int
    date: int
    text: str | None = None
    parse_mode: str | None = None
    reply_markup: dict | None = None
    caption: str | None = None
    photo: str | None = None          # file_id
    document: str | None = None       # file_id
    file_name: str | None = None
    media: dict | None = None         # a copied voice, sticker...: Telegram's JSON, {"voice": {...}}
    invoice: dict | None = None       # every sendInvoice parameter plus total_amount
    params: dict = dataclasses.field(default_factory=dict, repr=False)
    history: list[dict] = dataclasses.field(default_factory=list)  # versions before each edit
    deleted: bool = False
    thread_id: int | None = None      # the forum topic it was sent into
    reply_to: int | None = None       # the message it replies to
    received: float = 0.0             # time.monotonic() when the server stored it (pacing checks)

    @property
    def content(self) -> str:
        """Text or caption as sent (HTML tags included)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def plain_text(self) -> str:
        """Text or caption after entity parsing, as a Telegram client shows it."""
        return _plain(self.content, self.parse_mode)

    @property
    def buttons(self) -> list[dict]:
        """Every inline keyboard button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def keyboard(self) -> list[dict]:
        """Every reply keyboard button (strings normalised to ``{"text": ...}``)."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [_button(b) for row in rows for b in row]

    @property
    def button_texts(self) -> list[str]:
        return [b.get("text", "") for b in self.buttons + self.keyboard]

    @property
    def callback_data(self) -> dict[str, str]:
        """Inline button text -> callback_data."""
        return {b["text"]: b["callback_data"] for b in self.buttons if "callback_data" in b}

    def describe(self) -> str:
        extra = f" buttons={self.button_texts}" if self.button_texts else ""
        flags = " (edited)" * bool(self.history) + " (deleted)" * self.deleted
        return f"#{self.message_id} {self.method}{flags}: {self.content[:200]!r}{extra}"

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["params"] = {k: v for k, v in self.params.items() if not isinstance(v, _Upload)}
        return data


def _button(button) -> dict:
    return {"text": button} if isinstance(button, str) else dict(button)


@dataclasses.dataclass
class _Upload:
    filename: str
    content_type: str
    data: bytes


@dataclasses.dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    url: str | None = None

    def file_json(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": len(self.data), "file_path": self.file_path}


# ---------------------------------------------------------------- HTML entity check

class _HtmlChecker(html.parser.HTMLParser):
    """Tag balance as Telegram checks it for parse_mode HTML; collects the plain text."""

    ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
               "span", "tg-spoiler", "tg-emoji", "blockquote"}

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.source, self.stack, self.parts, self.error = source, [], [], None
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def _offset(self) -> int:
        line, col = self.getpos()
        return len(self.source[:self._line_starts[line - 1] + col].encode())

    def _fail(self, message: str) -> None:
        self.error = self.error or message

    def handle_starttag(self, tag, attrs):
        if tag not in self.ALLOWED:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._fail(f'Unsupported start tag "{tag}/" at byte offset {self._offset()}')

    def handle_endtag(self, tag):
        if not self.stack:
            self._fail(f'Unexpected end tag at byte offset {self._offset()}')
        elif self.stack[-1] != tag:
            self._fail(f'Unmatched end tag at byte offset {self._offset()}, '
                       f'expected "</{self.stack[-1]}>", found "</{tag}>"')
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.parts.append(data)

    def check(self) -> str:
        """The plain text, or raises a 400 like Telegram's."""
        self.feed(self.source)
        self.close()
        if not self.error and self.stack:
            self.error = f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"'
        if self.error:
            raise _bad(f"can't parse entities: {self.error}")
        return "".join(self.parts)


def _plain(text: str, parse_mode: str | None) -> str:
    if (parse_mode or "").lower() != "html":
        return text
    try:
        return _HtmlChecker(text).check()
    except ApiError:
        return text


def _parse_text(text: str | None, parse_mode: str | None, limit: int, what: str) -> str:
    """Validates text/caption like Telegram; returns the plain text."""
    text = "" if text is None else str(text)
    plain = _HtmlChecker(text).check() if (parse_mode or "").lower() == "html" else text
    if what == "text" and not plain.strip():
        raise _bad("message text is empty")
    if len(plain) > limit:
        raise _bad("message is too long" if what == "text" else "message caption is too long")
    return plain


# ---------------------------------------------------------------- request parsing

def _coerce(name: str, value: str):
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(body: bytes, content_type: str) -> dict:
    """Just enough of RFC 7578 for HTTPX's multipart bodies."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _bad("multipart body without boundary")
    params = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        name, value = _multipart_field(head.decode("utf-8", "replace"), data[:-2])
        if name:
            params[name] = value
    return params


def _multipart_field(head: str, data: bytes):
    name = re.search(r'name="([^"]*)"', head)
    filename = re.search(r'filename="([^"]*)"', head)
    ctype = re.search(r"content-type:\s*([^\r\n]+)", head, re.I)
    if not name:
        return None, None
    if filename:
        return name.group(1), _Upload(filename.group(1), ctype.group(1) if ctype else "", data)
    return name.group(1), _coerce(name.group(1), data.decode("utf-8"))


def _parse_body(content_type: str, body: bytes) -> dict:
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise _bad("JSON body must be an object")
        return data
    if kind == "multipart/form-data":
        return _parse_multipart(body, content_type)
    return _parse_form(body.decode("utf-8"))


def _parse_form(text: str) -> dict:
    return {k: _coerce(k, v[-1]) for k, v in parse_qs(text, keep_blank_values=True).items()}


def _parse_markup(value) -> dict | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad("can't parse reply keyboard markup JSON object") from None
    if not isinstance(value, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    for row in value.get("inline_keyboard") or []:
        for button in row:
            _check_inline_button(button)
    return value


def _check_inline_button(button: dict) -> None:
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode())
        if not 1 <= size <= MAX_CALLBACK_DATA:
            raise _bad("BUTTON_DATA_INVALID")


def _chat_id(params: dict, field: str = "chat_id"):
    value = params.get(field)
    if value in (None, ""):
        raise _bad(f"{field} is empty")
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _update_type(update: dict) -> str | None:
    return next((k for k in update if k != "update_id"), None)


# ---------------------------------------------------------------- the server

class FakeTelegramAPI(ForumMixin):
    """The fake Bot API server plus the test driver's view of it.

    Args:
        token: the only token accepted; anything else gets 401 Unauthorized.
        host, port: where to listen; port 0 picks a free port (see ``url``).
        rate_limits: ``RateLimits()`` to enforce Telegram's limits, None (default) for none.
        bot_username, bot_first_name: what getMe answers.
        webhook_retry_delay: first pause before re-delivering a refused webhook update; it
            doubles up to 2 s (Telegram backs off likewise, only slower).
        slow_answers: seconds the answer to a send (sendMessage, copyMessage, a topic's
            creation ...) takes after the message was delivered: the recipient sees it (and may answer it)
            before the bot learns its id, as with Telegram far away.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1", port: int = 0,
                 rate_limits: RateLimits | None = None, bot_username: str = "test_helpdesk_bot",
                 bot_first_name: str = "Test Helpdesk Bot", webhook_retry_delay: float = 0.05,
                 slow_answers: float = 0.0):
        self.token, self.host, self._port = token, host, port
        self.slow_answers = slow_answers
        self.bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1
        self.bot_user = {"id": self.bot_id, "is_bot": True, "first_name": bot_first_name,
                         "username": bot_username}
        self.webhook_retry_delay = webhook_retry_delay
        self._limiter = _RateLimiter(rate_limits) if rate_limits else None
        self._cond = threading.Condition(threading.RLock())
        self._reset_state()
        self._methods = {name[5:].lower(): getattr(self, name)
                         for name in dir(self) if name.startswith("_api_")}
        self._server: ThreadingHTTPServer | None = None
        self._closing = False
        self._stopped = threading.Event()   # wakes webhook back-off sleeps on stop()

    def _reset_state(self) -> None:
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self.confirmed_offset = 0
        self._allowed: set[str] | None = None
        self._poll_generation = 0
        self._sent: list[SentMessage] = []
        self._by_id: dict[tuple, SentMessage] = {}
        self._user_messages: set[tuple] = set()
        self._next_message_id: dict = collections.defaultdict(lambda: 1)
        self._events: list[tuple[SentMessage, SentMessage]] = []   # (snapshot, live record)
        self._marks: dict = {}
        self._chats: dict = {}
        self._reply_keyboards: dict = {}
        self._files: dict[str, _StoredFile] = {}
        self._open_callbacks: set[str] = set()
        self._open_checkouts: dict[str, tuple] = {}
        self._faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lost_answers: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._webhook: dict | None = None
        self._commands: dict = {}
        self.callback_answers: list[dict] = []
        self.pre_checkout_answers: list[dict] = []
        self.chat_actions: list[dict] = []
        self.refused: list[Refusal] = []
        self.webhook_deliveries: list[dict] = []   # every POST: update_id and error (None = 2xx)
        self.requests: collections.Counter = collections.Counter()
        self._reset_forum()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "FakeTelegramAPI":
        self._closing = False
        self._stopped.clear()
        handler = type("_BoundHandler", (_Handler,), {"api": self})
        self._server = _Server((self.host, self._port), handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,),
                         name="fake-telegram-api", daemon=True).start()
        logger.info("fake Telegram Bot API on %s", self.url)
        return self

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._webhook = None
            self._stopped.set()
            self._cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeTelegramAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self._server:
            raise RuntimeError("FakeTelegramAPI is not started: call start() or use `with`")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------ driver side: reading

    @property
    def sent(self) -> list[SentMessage]:
        """Every message the bot created, in order (edits update them in place)."""
        with self._cond:
            return list(self._sent)

    def messages(self, chat_id) -> list[SentMessage]:
        """The bot's messages in a chat that are not deleted, oldest first."""
        with self._cond:
            return [m for m in self._sent if m.chat_id == chat_id and not m.deleted]

    def last(self, chat_id) -> SentMessage | None:
        found = self.messages(chat_id)
        return found[-1] if found else None

    def mark(self) -> int:
        """A position in the send/edit log, for ``wait_for(since=...)``."""
        with self._cond:
            return len(self._events)

    def log_since(self, position: int, timeout: float = 1.0) -> tuple[list[SentMessage], int]:
        """The sends and edits logged after `position` (each as it was then; an edit repeats
        its message_id), waiting up to `timeout` for one, and the position after them: one
        reader can follow the whole log instead of many scanning every message."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._events) > position, timeout)
            return [snap for snap, _ in self._events[position:]], len(self._events)

    def wait_for(self, chat_id, predicate: Callable[[SentMessage], bool] | None = None, *,
                 contains: str | None = None, timeout: float = 5.0,
                 since: int | None = None) -> SentMessage:
        """Blocks until the bot sends or edits a message in the chat that matches.

        Only sends/edits after the chat's last user action count (or after ``since``, see
        ``mark()``). ``contains`` matches the text/caption with or without HTML tags; the
        predicate sees the message as it was at that send/edit. Returns the live record;
        raises AssertionError listing what was sent otherwise.
        """
        def matches(msg: SentMessage) -> bool:
            if contains is not None and contains not in msg.content \
                    and contains not in msg.plain_text:
                return False
            return predicate is None or bool(predicate(msg))

        with self._cond:
            start = self._marks.get(chat_id, 0) if since is None else since
            def found():
                return next((live for snap, live in self._events[start:]
                             if snap.chat_id == chat_id and matches(snap)), None)
            hit = self._wait(found, timeout)
            if hit is None:
                raise AssertionError(self._explain_miss(chat_id, start, contains, predicate,
                                                        timeout))
            return hit

    def _explain_miss(self, chat_id, start, contains, predicate, timeout) -> str:
        wanted = f"contains={contains!r}" if contains is not None else ""
        wanted += f" predicate={getattr(predicate, '__name__', predicate)}" * bool(predicate)
        lines = [f"no message in chat {chat_id} matching {wanted.strip()} within {timeout}s."]
        events = [s for s, _ in self._events[start:] if s.chat_id == chat_id]
        lines.append(f"Sent/edited in that chat since the last user action ({len(events)}):")
        lines += [f"  {s.describe()}" for s in events] or ["  (nothing)"]
        lines.append(f"Updates not yet fetched by the bot: {len(self._updates)}")
        return "\n".join(lines)

    def _wait(self, condition: Callable[[], Any], timeout: float):
        """Condition.wait_for with the lock held by the caller; returns the last value."""
        with self._cond:
            return self._cond.wait_for(condition, timeout)

    def wait_callback_answer(self, query_id: str, timeout: float = 5.0) -> dict:
        """Blocks until the bot answers the callback query; returns the answer."""
        def answer():
            return next((a for a in self.callback_answers if a["id"] == query_id), None)
        found = self._wait(answer, timeout)
        if found is None:
            raise AssertionError(f"callback query {query_id} not answered within {timeout}s")
        return found

    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by getUpdates (or delivered to the webhook)."""
        with self._cond:
            return [dict(u) for u in self._updates]

    def file_bytes(self, file_id: str) -> bytes:
        with self._cond:
            return self._files[file_id].data

    def commands(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        """What setMyCommands stored for that scope and language."""
        with self._cond:
            return list(self._commands.get(_commands_key(scope, language_code), []))

    @property
    def webhook(self) -> dict | None:
        with self._cond:
            return dict(self._webhook) if self._webhook else None

    def stats(self) -> dict:
        with self._cond:
            return {"requests": dict(self.requests), "sent": len(self._sent),
                    "refused": len(self.refused), "pending_updates": len(self._updates)}

    # ------------------------------------------------------------ driver side: acting

    def user(self, user_id: int, first_name: str = "Test", *, language_code: str | None = "ru",
             username: str | None = None, last_name: str | None = None,
             phone_number: str | None = None) -> "FakeUser":
        """A user in their private chat with the bot (chat id == user id)."""
        user = _user_json(user_id, first_name, language_code, username, last_name)
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        if username:
            chat["username"] = username
        return FakeUser(self, user, self._register_chat(chat), phone_number)

    def group(self, chat_id: int, title: str = "Test group", *, forum: bool = False) -> "FakeGroup":
        """A group (a supergroup when the id starts with -100); ``forum`` needs a supergroup."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        if forum and kind != "supergroup":
            raise ValueError(f"only a supergroup (-100...) can be a forum, got {chat_id}")
        with self._cond:
            chat = self._chats.get(chat_id) or {"id": chat_id, "type": kind, "title": title}
            if forum:
                chat["is_forum"] = True
        return FakeGroup(self, self._register_chat(chat))

    def _register_chat(self, chat: dict) -> dict:
        with self._cond:
            self._chats[chat["id"]] = chat
        return chat

    def push_update(self, update: dict) -> int:
        """Queues any update (garbage too); adds an increasing update_id unless given one."""
        with self._cond:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = next(self._update_ids)
            else:
                self._update_ids = itertools.count(max(update["update_id"] + 1,
                                                       next(self._update_ids)))
            self._updates.append(update)
            self._cond.notify_all()
            return update["update_id"]

    def fail_next(self, method: str, status: int, description: str,
                  retry_after: int | None = None) -> None:
        """The next call of ``method`` gets this error instead of running."""
        with self._cond:
            self._faults[method.lower()].append(ApiError(status, description, retry_after))

    def lose_next_answer(self, method: str, status: int = 502,
                         description: str = "Bad Gateway") -> None:
        """The next call of ``method`` runs (its effects happen) but its answer is lost: the
        bot gets this error instead, as after a timeout or a proxy failing on the way back."""
        with self._cond:
            self._lost_answers[method.lower()].append(ApiError(status, description))

    def _user_action(self, chat_id, update: dict) -> dict:
        with self._cond:
            self._marks[chat_id] = len(self._events)
            update["update_id"] = self.push_update(update)
            return update

    def _new_user_message(self, user: dict, chat: dict, thread_id: int | None = None,
                          reply_to: int | None = None, **content) -> dict:
        with self._cond:
            message_id = self._take_message_id(chat["id"])
            self._user_messages.add((chat["id"], message_id))
            message = {"message_id": message_id, "from": user, "chat": chat,
                       "date": int(time.time()), **content,
                       **self._thread_json(chat["id"], thread_id, reply_to)}
            self._user_content[(chat["id"], message_id)] = message
            return message

    def _chat_id_param(self, params: dict, field: str = "chat_id"):
        return _chat_id(params, field)

    def _take_message_id(self, chat_id) -> int:
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] += 1
        return message_id

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def _store_file(self, data: bytes, folder: str, ext: str, **meta) -> _StoredFile:
        with self._cond:
            n = next(self._ids)
            stored = _StoredFile(f"FILE{n:06d}{folder[:3].upper()}", f"U{n:06d}",
                                 f"{folder}/file_{n}{ext}", data, **meta)
            self._files[stored.file_id] = stored
            return stored

    # ------------------------------------------------------------ HTTP routing

    def handle_http(self, verb: str, path: str, query: str, content_type: str,
                    body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one HTTP request."""
        if path.startswith("/_fake/"):
            try:
                return _json_reply(200, self._control(path[7:], query, body))
            except (ValueError, KeyError, TypeError) as err:
                return _json_reply(400, {"ok": False, "description": f"bad control call: {err!r}"})
        match = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if match:
            return self._serve_file(*match.groups())
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)/?", path)
        if not match:
            return _json_reply(404, ApiError(404, "Not Found").to_json())
        try:
            params = {**_parse_form(query), **_parse_body(content_type, body)}
            result = self.call(match.group(1), match.group(2), params)
        except ApiError as err:
            return _json_reply(err.status, err.to_json())
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            logger.info("fake Telegram API: bad request %s: %r", path, err)
            return _json_reply(400, _bad(f"invalid parameters: {err}").to_json())
        return _json_reply(200, {"ok": True, "result": result})

    def call(self, token: str, method: str, params: dict):
        """Runs one Bot API method; raises ApiError like Telegram answers."""
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        name = method.lower()
        if name not in self._methods:
            raise ApiError(404, "Not Found")
        with self._cond:
            self.requests[method] += 1
            if self._faults[name]:
                raise self._faults[name].popleft()
            self._check_chat_access(name, params)
        result = self._methods[name](params)
        with self._cond:
            if self._lost_answers[name]:
                raise self._lost_answers[name].popleft()
        if self.slow_answers and name in SLOW_METHODS:
            time.sleep(self.slow_answers)     # this request's own server thread only
        return result

    def _serve_file(self, token: str, file_path: str) -> tuple[int, str, bytes]:
        if token != self.token:
            return _json_reply(401, ApiError(401, "Unauthorized").to_json())
        with self._cond:
            stored = next((f for f in self._files.values() if f.file_path == file_path), None)
        if stored is None:
            return _json_reply(404, ApiError(404, "Not Found").to_json())
        return 200, stored.mime_type or "application/octet-stream", stored.data

    def _control(self, action: str, query: str, body: bytes):
        """Driver endpoints for a benchmark running in another process."""
        params = {**_parse_form(query), **(json.loads(body) if body else {})}
        if action == "send":
            user = self.user(int(params["user_id"]), params.get("first_name", "Bench"))
            if params.get("chat_id"):         # a member writing in a group (a topic, a reply)
                group = self.group(int(params["chat_id"]))
                user = group.member(user.id, user.user["first_name"]).in_topic(params.get("thread_id"))
            return user.send(params.get("text", "/start"), reply_to=params.get("reply_to"))
        if action == "update":
            return self.push_update(params)
        if action == "sent":
            chat = params.get("chat_id")
            return [m.to_json() for m in (self.sent if chat is None else self.messages(chat))]
        return self.stats()

    # ------------------------------------------------------------ methods: updates

    def _api_getMe(self, params):
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _api_getUpdates(self, params):
        timeout = max(0.0, min(float(params.get("timeout") or 0), 50.0))
        limit = max(1, min(int(params.get("limit") or 100), 100))
        with self._cond:
            self._refuse_if_webhook()
            if params.get("allowed_updates") is not None:
                self._allowed = set(_as_list(params["allowed_updates"])) or None
            self._confirm(int(params.get("offset") or 0))
            self._poll_generation += 1
            self._cond.notify_all()     # an older long poll now ends with 409, like Telegram
            return self._long_poll(self._poll_generation, time.monotonic() + timeout, limit)

    def _long_poll(self, generation: int, deadline: float, limit: int) -> list[dict]:
        while True:
            self._drop_not_allowed()
            if self._updates or self._closing or time.monotonic() >= deadline:
                return [dict(u) for u in self._updates[:limit]]
            self._cond.wait(deadline - time.monotonic())
            self._refuse_if_webhook()
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")

    def _refuse_if_webhook(self) -> None:
        if self._webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")

    def _confirm(self, offset: int) -> None:
        """Telegram: offset confirms every update below it; negative keeps the last -offset."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            dropped, self._updates = self._updates[:offset], self._updates[offset:]
            if dropped:
                self.confirmed_offset = max(self.confirmed_offset, dropped[-1]["update_id"] + 1)

    def _drop_not_allowed(self) -> None:
        """Telegram never stores updates of types the bot did not ask for."""
        self._updates = [u for u in self._updates if self._is_allowed(_update_type(u))]

    def _is_allowed(self, kind: str | None) -> bool:
        if self._allowed:
            return kind in self._allowed
        return kind not in NOT_DEFAULT_UPDATES

    def _api_setWebhook(self, params):
        url = params.get("url") or ""
        if not url:
            return self._api_deleteWebhook(params)
        if not re.match(r"https?://", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token") or None
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        with self._cond:
            if params.get("drop_pending_updates"):
                self._drop_all()
            if params.get("allowed_updates") is not None:
                self._allowed = set(_as_list(params["allowed_updates"])) or None
            hook = {"url": url, "secret_token": secret,
                    "max_connections": int(params.get("max_connections") or 40)}
            self._webhook = hook    # a delivery thread serves only the hook it was started for
            self._cond.notify_all()
        threading.Thread(target=self._deliver_webhook, args=(hook,), daemon=True,
                         name="fake-telegram-webhook").start()
        return True

    def _api_deleteWebhook(self, params):
        with self._cond:
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._drop_all()
            self._cond.notify_all()
        return True

    def _drop_all(self) -> None:
        if self._updates:
            self.confirmed_offset = max(self.confirmed_offset, self._updates[-1]["update_id"] + 1)
        self._updates = []

    def _api_getWebhookInfo(self, params):
        with self._cond:
            info = {"url": "", "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}
            if self._webhook:
                info.update({k: v for k, v in self._webhook.items() if k != "secret_token"})
                if self._allowed:
                    info["allowed_updates"] = sorted(self._allowed)
            return info

    def _deliver_webhook(self, hook: dict) -> None:
        """Posts pending updates one by one, in order, backing off while the bot refuses."""
        delay = self.webhook_retry_delay
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._webhook_gone(hook) or self._updates_ready(), 1)
                if self._webhook_gone(hook):
                    return
                if not self._updates:
                    continue
                update = dict(self._updates[0])
            error = _post_update(hook["url"], update, hook["secret_token"])
            with self._cond:
                self._after_delivery(hook, update, error)
            if error:
                self._stopped.wait(delay)
            delay = min(delay * 2, 2.0) if error else self.webhook_retry_delay

    def _webhook_gone(self, hook: dict) -> bool:
        return self._closing or self._webhook is not hook

    def _updates_ready(self) -> bool:
        self._drop_not_allowed()
        return bool(self._updates)

    def _after_delivery(self, hook: dict, update: dict, error: str | None) -> None:
        self.webhook_deliveries.append({"update_id": update["update_id"], "error": error})
        if error:
            hook.update(last_error_date=int(time.time()), last_error_message=error)
            return
        self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
        self.confirmed_offset = max(self.confirmed_offset, update["update_id"] + 1)
        self._cond.notify_all()

    # ------------------------------------------------------------ methods: sending

    def _api_sendMessage(self, params):
        chat_id = _chat_id(params)
        _parse_text(params.get("text"), params.get("parse_mode"), MAX_TEXT, "text")
        return self._record("sendMessage", chat_id, params, text=str(params["text"]))

    def _api_sendPhoto(self, params):
        chat_id = _chat_id(params)
        self._check_caption(params)
        stored = self._media(params, "photo", "photos", ".jpg")
        msg = self._record("sendPhoto", chat_id, params, photo=stored.file_id,
                           caption=params.get("caption"))
        return msg

    def _api_sendDocument(self, params):
        chat_id = _chat_id(params)
        self._check_caption(params)
        stored = self._media(params, "document", "documents", "")
        return self._record("sendDocument", chat_id, params, document=stored.file_id,
                            file_name=stored.file_name, caption=params.get("caption"))

    def _check_caption(self, params) -> None:
        if params.get("caption"):
            _parse_text(params["caption"], params.get("parse_mode"), MAX_CAPTION, "caption")

    def _media(self, params, field: str, folder: str, ext: str) -> _StoredFile:
        """An uploaded file, a known file_id or a URL becomes a stored file."""
        value = params.get(field)
        if isinstance(value, _Upload):
            return self._store_file(value.data, folder, ext, file_name=value.filename,
                                    mime_type=value.content_type or None)
        if not value:
            raise _bad(f"there is no {field} in the request")
        with self._cond:
            if value in self._files:
                return self._files[value]
        if re.match(r"https?://", str(value)):
            return self._store_file(b"", folder, ext, url=value,
                                    file_name=str(value).rsplit("/", 1)[-1])
        raise _bad("wrong file identifier/HTTP URL specified")

    def _api_sendInvoice(self, params):
        chat_id = _chat_id(params)
        for field in ("title", "description", "payload", "currency"):
            if not params.get(field):
                raise _bad(f"parameter \"{field}\" is required")
        prices = _as_list(params.get("prices"))
        if not prices or any(int(p.get("amount", 0)) <= 0 for p in prices):
            raise _bad("PRICES_INVALID")
        invoice = {k: v for k, v in params.items() if k not in ("chat_id", "reply_markup")}
        invoice["prices"], invoice["total_amount"] = prices, sum(int(p["amount"]) for p in prices)
        return self._record("sendInvoice", chat_id, params, invoice=invoice)

    def _record(self, method: str, chat_id, params: dict, **content) -> dict:
        """Checks markup and rate limits, then stores the message; returns its Message JSON."""
        markup = _parse_markup(params.get("reply_markup"))
        with self._cond:
            thread_id, reply_to = self._thread_of(chat_id, params), self._reply_to_of(chat_id, params)
            self._check_rate(method, chat_id)
            msg = SentMessage(method=method, chat_id=chat_id, thread_id=thread_id,
                              reply_to=reply_to,
                              message_id=self._take_message_id(chat_id), date=int(time.time()),
                              parse_mode=params.get("parse_mode"), reply_markup=markup,
                              params=dict(params), received=time.monotonic(), **content)
            self._sent.append(msg)
            self._by_id[(chat_id, msg.message_id)] = msg
            self._track_reply_keyboard(chat_id, markup)
            self._log_event(msg)
            return self._message_json(msg)

    def _check_rate(self, method: str, chat_id) -> None:
        if not self._limiter or method.lower() not in SEND_METHODS:
            return
        refused = self._limiter.check(chat_id)
        if refused:
            scope, retry_after = refused
            self.refused.append(Refusal(method, chat_id, scope, retry_after))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _track_reply_keyboard(self, chat_id, markup: dict | None) -> None:
        if markup and "keyboard" in markup:
            self._reply_keyboards[chat_id] = markup
        elif markup and markup.get("remove_keyboard"):
            self._reply_keyboards.pop(chat_id, None)

    def _log_event(self, msg: SentMessage) -> None:
        self._events.append((dataclasses.replace(msg, history=list(msg.history)), msg))
        self._cond.notify_all()

    def _chat_json(self, chat_id) -> dict:
        if chat_id in self._chats:
            return self._chats[chat_id]
        if _is_group(chat_id):
            return {"id": chat_id, "type": "group", "title": "Group"}
        return {"id": chat_id, "type": "private", "first_name": "User"}

    def _message_json(self, msg: SentMessage) -> dict:
        """The Message object Telegram returns for a recorded message."""
        data = {"message_id": msg.message_id, "from": self.bot_user,
                "chat": self._chat_json(msg.chat_id), "date": msg.date}
        if msg.text is not None:
            data["text"] = msg.plain_text
        if msg.caption:
            data["caption"] = msg.plain_text
        data.update(self._media_json(msg))
        data.update(self._thread_json(msg.chat_id, msg.thread_id, msg.reply_to))
        if msg.history:
            data["edit_date"] = int(time.time())
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            data["reply_markup"] = msg.reply_markup
        return data

    def _media_json(self, msg: SentMessage) -> dict:
        if msg.media:
            return dict(msg.media)
        if msg.photo:
            stored = self._files[msg.photo]
            return {"photo": [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                               "width": 320, "height": 240, "file_size": len(stored.data)}]}
        if msg.document:
            stored = self._files[msg.document]
            return {"document": {"file_id": stored.file_id, "file_name": stored.file_name,
                                 "file_unique_id": stored.file_unique_id,
                                 "mime_type": stored.mime_type, "file_size": len(stored.data)}}
        if msg.invoice:
            inv = msg.invoice
            return {"invoice": {"title": inv["title"], "description": inv["description"],
                                "start_parameter": inv.get("start_parameter", ""),
                                "currency": inv["currency"], "total_amount": inv["total_amount"]}}
        return {}

    # ------------------------------------------------------------ methods: editing

    def _api_editMessageText(self, params):
        msg = self._editable(params)
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        _parse_text(params.get("text"), params.get("parse_mode"), MAX_TEXT, "text")
        # Telegram drops the inline keyboard when an edit does not repeat it.
        return self._edit(msg, text=str(params["text"]), parse_mode=params.get("parse_mode"),
                          reply_markup=_parse_markup(params.get("reply_markup")))

    def _api_editMessageReplyMarkup(self, params):
        msg = self._editable(params)
        return self._edit(msg, reply_markup=_parse_markup(params.get("reply_markup")))

    def _editable(self, params) -> SentMessage:
        if params.get("inline_message_id"):
            raise _bad("message to edit not found")
        key = (_chat_id(params), int(params.get("message_id") or 0))
        with self._cond:
            msg = self._by_id.get(key)
            if msg is None or msg.deleted:
                if key in self._user_messages:
                    raise _bad("message can't be edited")
                raise _bad("message to edit not found")
            return msg

    def _edit(self, msg: SentMessage, **changes) -> dict:
        with self._cond:
            before = {k: getattr(msg, k) for k in changes}
            if before == changes:
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            msg.history.append({**before, "edit_date": int(time.time())})
            for key, value in changes.items():
                setattr(msg, key, value)
            self._log_event(msg)
            return self._message_json(msg)

    def _api_deleteMessage(self, params):
        key = (_chat_id(params), int(params.get("message_id") or 0))
        with self._cond:
            msg = self._by_id.get(key)
            if key in self._user_messages:
                self._user_messages.discard(key)
                return True
            if msg is None or msg.deleted:
                raise _bad("message to delete not found")
            msg.deleted = True
            self._log_event(msg)
            return True

    # ------------------------------------------------------------ methods: answers, misc

    def _api_answerCallbackQuery(self, params):
        query_id = str(params.get("callback_query_id") or "")
        with self._cond:
            if query_id not in self._open_callbacks:
                raise ApiError(400, QUERY_INVALID)
            self._open_callbacks.discard(query_id)
            self.callback_answers.append({
                "id": query_id, "text": params.get("text"),
                "show_alert": bool(params.get("show_alert")), "url": params.get("url")})
            self._cond.notify_all()
        return True

    def _api_answerPreCheckoutQuery(self, params):
        query_id = str(params.get("pre_checkout_query_id") or "")
        ok = params.get("ok") in (True, "true", "True", 1, "1")
        with self._cond:
            if query_id not in self._open_checkouts:
                raise ApiError(400, QUERY_INVALID)
            if not ok and not params.get("error_message"):
                raise _bad("error_message is required when ok is false")
            payer, invoice = self._open_checkouts.pop(query_id)
            self.pre_checkout_answers.append({
                "id": query_id, "ok": ok, "error_message": params.get("error_message"),
                "invoice_payload": invoice["payload"]})
            if ok:
                payer._paid(invoice)
            self._cond.notify_all()
        return True

    def _api_setMyCommands(self, params):
        commands = _as_list(params.get("commands"))
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("command description must be 1-256 characters")
        with self._cond:
            key = _commands_key(params.get("scope"), params.get("language_code"))
            self._commands[key] = commands
        return True

    def _api_getMyCommands(self, params):
        return self.commands(params.get("scope"), params.get("language_code") or "")

    def _api_deleteMyCommands(self, params):
        with self._cond:
            self._commands.pop(_commands_key(params.get("scope"), params.get("language_code")),
                               None)
        return True

    def _api_getFile(self, params):
        with self._cond:
            stored = self._files.get(str(params.get("file_id") or ""))
            if stored is None:
                raise _bad("invalid file_id")
            return stored.file_json()

    def set_admins(self, chat_id, admins: list[dict]) -> None:
        """The group's Telegram admins (user dicts, `FakeUser.user`), the first its creator,
        as getChatAdministrators will answer; an admin left out is a plain member again."""
        ids = {u["id"] for u in admins}
        with self._cond:
            members = self._members.setdefault(chat_id, {})
            for member in members.values():
                if member["status"] in ("creator", "administrator") and member["user"]["id"] not in ids:
                    member["status"] = "member"
        for i, user in enumerate(admins):
            self.set_member(chat_id, dict(user), "creator" if i == 0 else "administrator")

    def _api_sendChatAction(self, params):
        chat_id = _chat_id(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        with self._cond:
            self.chat_actions.append({"chat_id": chat_id, "action": params["action"]})
        return True


def _commands_key(scope, language_code) -> tuple[str, str]:
    if isinstance(scope, str):
        scope = json.loads(scope) if scope else None
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""


def _as_list(value) -> list:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value or [])


def _json_reply(status: int, body) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body, ensure_ascii=False).encode()


def _post_update(url: str, update: dict, secret: str | None) -> str | None:
    """Delivers one update to a webhook; None on 2xx, else the error Telegram would show."""
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return None
    except urllib.error.HTTPError as err:
        return f"Wrong response from the webhook: {err.code} {err.reason}"
    except (OSError, ValueError) as err:
        return f"Connection failed: {err}"


def _user_json(user_id, first_name, language_code, username, last_name) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    for key, value in (("last_name", last_name), ("username", username),
                       ("language_code", language_code)):
        if value:
            user[key] = value
    return user


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a cancelled long poll) is normal, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("fake Telegram API: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, so HTTPX's pooled connections are reused."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the client's delayed ACK holds the
    # body back ~40 ms on every call (measured in bench/e2e.py). TCP_NODELAY sends at once.
    disable_nagle_algorithm = True
    api: FakeTelegramAPI

    def do_GET(self):
        self._dispatch()

    do_POST = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        status, ctype, payload = self.api.handle_http(
            self.command, unquote(parts.path), parts.query, self.headers.get("Content-Type", ""), body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        logger.debug("fake Telegram API: " + format, *args)


# ---------------------------------------------------------------- acting as users

class FakeUser:
    """A user acting in one chat (their private chat, or a group via ``FakeGroup.member``).

    Every action queues an update and returns it as a dict.
    """

    def __init__(self, api: FakeTelegramAPI, user: dict, chat: dict,
                 phone_number: str | None = None, thread_id: int | None = None):
        self.api, self.user, self.chat = api, user, chat
        self.phone_number = phone_number or f"+7999{user['id'] % 10**7:07d}"
        self.thread_id = thread_id        # the forum topic this user writes in (groups)

    def in_topic(self, thread_id: int | None) -> "FakeUser":
        """The same user writing in forum topic ``thread_id`` of the group (None: outside)."""
        return FakeUser(self.api, self.user, self.chat, self.phone_number, thread_id)

    @property
    def id(self) -> int:
        return self.user["id"]

    @property
    def chat_id(self):
        return self.chat["id"]

    def _message(self, reply_to: int | None = None, **content) -> dict:
        message = self.api._new_user_message(self.user, self.chat, self.thread_id, reply_to,
                                             **content)
        return self.api._user_action(self.chat_id, {"message": message})

    def send(self, text: str, *, reply_to: int | dict | None = None) -> dict:
        """A text message; a leading /command gets a bot_command entity; `reply_to` (a
        message id, or a message dict such as what another member's `send` returned) makes
        it a reply."""
        if isinstance(reply_to, dict):
            reply_to = reply_to.get("message", reply_to)["message_id"]
        content = {"text": text, "reply_to": reply_to}
        command = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(command.group(0))}]
        return self._message(**content)

    def press(self, text: str) -> dict:
        """Presses the button labelled ``text``: the inline one on the newest message that has
        it (a callback_query), else one on the current reply keyboard (sends its text, or the
        contact for request_contact). Raises AssertionError listing the buttons otherwise."""
        with self.api._cond:
            found = self._find_inline(text)
            keyboard = self.api._reply_keyboards.get(self.chat_id)
        if found:
            msg, button = found
            if "callback_data" not in button:
                raise AssertionError(f"button {text!r} has no callback_data: {button}")
            return self._callback(button["callback_data"], msg)
        button = next((b for b in _keyboard_buttons(keyboard) if b.get("text") == text), None)
        if button is None:
            raise AssertionError(self._no_button(text, keyboard))
        return self._press_reply_button(button, keyboard)

    def _find_inline(self, text: str):
        for msg in reversed(self.api.messages(self.chat_id)):
            button = next((b for b in msg.buttons if b.get("text") == text), None)
            if button:
                return msg, button
        return None

    def _no_button(self, text: str, keyboard) -> str:
        shown = [m.describe() for m in self.api.messages(self.chat_id) if m.buttons]
        reply = [b.get("text") for b in _keyboard_buttons(keyboard)]
        return (f"no button {text!r} in chat {self.chat_id}; inline keyboards: {shown or 'none'}; "
                f"reply keyboard: {reply or 'none'}")

    def _press_reply_button(self, button: dict, keyboard: dict) -> dict:
        if keyboard.get("one_time_keyboard"):
            with self.api._cond:
                self.api._reply_keyboards.pop(self.chat_id, None)
        if button.get("request_contact"):
            return self.share_contact(self.phone_number)
        return self.send(button["text"])

    def press_data(self, data: str, message_id: int | None = None) -> dict:
        """A callback_query with any data (forged), on the given or newest bot message."""
        with self.api._cond:
            messages = self.api.messages(self.chat_id)
            msg = next((m for m in reversed(messages)
                        if message_id is None or m.message_id == message_id), None)
        return self._callback(data, msg)

    def _callback(self, data: str, msg: SentMessage | None) -> dict:
        with self.api._cond:
            query_id = self.api._new_id("cbq")
            self.api._open_callbacks.add(query_id)
            message = self.api._message_json(msg) if msg else {
                "message_id": 0, "chat": self.chat, "date": 0}
        query = {"id": query_id, "from": self.user, "message": message,
                 "chat_instance": f"ci{self.chat_id}", "data": data}
        return self.api._user_action(self.chat_id, {"callback_query": query})

    def share_contact(self, phone_number: str | None = None, user_id: int | None = None,
                      first_name: str | None = None) -> dict:
        """A contact message: the user's own by default; another user_id forges one."""
        contact = {"phone_number": phone_number or self.phone_number,
                   "first_name": first_name or self.user["first_name"],
                   "user_id": self.id if user_id is None else user_id}
        return self._message(contact=contact)

    def send_photo(self, data: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
                   caption: str | None = None, *, reply_to: int | None = None) -> dict:
        stored = self.api._store_file(data, "photos", ".jpg", mime_type="image/jpeg")
        sizes = [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                  "width": 640, "height": 480, "file_size": len(data)}]
        return self._message(reply_to, photo=sizes, **({"caption": caption} if caption else {}))

    def send_media(self, kind: str, caption: str | None = None, *,
                   reply_to: int | None = None) -> dict:
        """A voice, audio, video, video_note, animation or sticker message (MEDIA_KINDS)."""
        stored = self.api._store_file(b"fake-" + kind.encode(), kind + "s", "")
        media = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 "file_size": len(stored.data), **_MEDIA_FIELDS[kind]}
        extra = {"caption": caption} if caption and kind not in ("sticker", "video_note") else {}
        return self._message(reply_to, **{kind: media}, **extra)

    def send_document(self, name: str = "document.pdf", data: bytes = b"%PDF-1.4 fake",
                      mime_type: str = "application/pdf", caption: str | None = None, *,
                      reply_to: int | None = None) -> dict:
        stored = self.api._store_file(data, "documents", "", file_name=name, mime_type=mime_type)
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                    "file_name": name, "mime_type": mime_type, "file_size": len(data)}
        return self._message(reply_to, document=document,
                             **({"caption": caption} if caption else {}))

    def pay(self, invoice: SentMessage | None = None, *, order_info: dict | None = None,
            timeout: float | None = 5.0) -> dict:
        """Pays the newest invoice in the chat: a pre_checkout_query update; when the bot
        answers ok=True, a successful_payment message follows. Waits for the answer (unless
        ``timeout`` is None) and returns it (``pre_checkout_answers`` entry)."""
        invoice = invoice or self._latest_invoice()
        query = {"id": self.api._new_id("pcq"), "from": self.user,
                 "currency": invoice.invoice["currency"],
                 "total_amount": invoice.invoice["total_amount"],
                 "invoice_payload": invoice.invoice["payload"]}
        if order_info:
            query["order_info"] = order_info
        with self.api._cond:
            self.api._open_checkouts[query["id"]] = (self, {**invoice.invoice,
                                                            "order_info": order_info})
            update = self.api._user_action(self.chat_id, {"pre_checkout_query": query})
        return update if timeout is None else self._await_checkout(query["id"], timeout)

    def _latest_invoice(self) -> SentMessage:
        invoice = next((m for m in reversed(self.api.messages(self.chat_id)) if m.invoice), None)
        if invoice is None:
            raise AssertionError(f"no invoice was sent to chat {self.chat_id}")
        return invoice

    def _await_checkout(self, query_id: str, timeout: float) -> dict:
        def answer():
            return next((a for a in self.api.pre_checkout_answers if a["id"] == query_id), None)
        found = self.api._wait(answer, timeout)
        if found is None:
            raise AssertionError(f"pre_checkout_query {query_id} not answered within {timeout}s")
        return found

    def _paid(self, invoice: dict) -> None:
        """Called by the server, lock held, once the bot accepted the pre-checkout query."""
        n = next(self.api._ids)
        payment = {"currency": invoice["currency"], "total_amount": invoice["total_amount"],
                   "invoice_payload": invoice["payload"],
                   "telegram_payment_charge_id": f"tg_charge_{n}",
                   "provider_payment_charge_id": f"provider_charge_{n}"}
        if invoice.get("order_info"):
            payment["order_info"] = invoice["order_info"]
        self.api.push_update({"message": self.api._new_user_message(
            self.user, self.chat, successful_payment=payment)})

    # transcript helpers: the same as the api's, for this chat
    def messages(self) -> list[SentMessage]:
        return self.api.messages(self.chat_id)

    def last(self) -> SentMessage | None:
        return self.api.last(self.chat_id)

    def wait_for(self, predicate: Callable[[SentMessage], bool] | None = None, *,
                 contains: str | None = None, timeout: float = 5.0) -> SentMessage:
        return self.api.wait_for(self.chat_id, predicate, contains=contains, timeout=timeout)


def _keyboard_buttons(keyboard: dict | None) -> list[dict]:
    return [_button(b) for row in (keyboard or {}).get("keyboard", []) for b in row]


class FakeGroup:
    """A group chat (negative id); ``member(user_id)`` acts in it as that user (and
    ``.in_topic(thread_id)`` in one of its forum topics)."""

    def __init__(self, api: FakeTelegramAPI, chat: dict):
        self.api, self.chat = api, chat

    @property
    def chat_id(self) -> int:
        return self.chat["id"]

    def member(self, user_id: int, first_name: str = "Member", *, last_name: str | None = None,
               language_code: str | None = "ru", username: str | None = None,
               status: str = "member") -> FakeUser:
        """A member (``status``: member, administrator, creator, left, kicked) as getChatMember
        and getChatAdministrators report them."""
        user = _user_json(user_id, first_name, language_code, username, last_name)
        self.api.set_member(self.chat_id, user, status)
        return FakeUser(self.api, user, self.chat)

    def set_forum(self, on: bool) -> None:
        """Topics on or off, at any time (existing topics survive, unreachable while off)."""
        self.api.set_forum(self.chat_id, on)

    def kick_bot(self) -> None:
        """The bot is removed: every call aimed at the group answers 403."""
        self.api.kick_bot(self.chat_id)

    def member_changed(self, user: FakeUser | dict, status: str, by: FakeUser | None = None) -> int:
        """`user` left / was kicked / was promoted...: the chat_member update the bot gets."""
        person = user.user if isinstance(user, FakeUser) else user
        return self.api.member_changed(self.chat_id, person, status, by.user if by else None)

    def bot_removed(self, by: FakeUser, status: str = "kicked") -> int:
        """`by` removes the bot (my_chat_member), and every later call answers 403."""
        return self.api.bot_removed(self.chat_id, by.user, status)

    def bot_added(self, by: FakeUser, status: str = "administrator") -> int:
        return self.api.bot_added(self.chat_id, by.user, status)

    def migrate(self, new_id: int, by: FakeUser) -> "FakeGroup":
        """The group is upgraded to the supergroup `new_id` (its migrate_to_chat_id message)."""
        self.api.migrate(self.chat_id, new_id, by.user)
        return FakeGroup(self.api, self.api._chat_json(new_id))

    def topics(self) -> list:
        return self.api.topics(self.chat_id)

    def in_topic(self, thread_id: int) -> list[SentMessage]:
        return self.api.in_topic(self.chat_id, thread_id)


# ---------------------------------------------------------------- PTB in a thread

@contextlib.contextmanager
def run_polling_in_thread(application, *, poll_timeout: float = 1.0, start_timeout: float = 10):
    """Runs a PTB Application (polling) on its own event loop in a background thread, so the
    test thread can block on ``wait_for``; shuts it down cleanly on exit."""
    def start_updater():
        return application.updater.start_polling(poll_interval=0, timeout=poll_timeout)
    with _application_thread(application, start_updater, start_timeout):
        yield application


@contextlib.contextmanager
def run_webhook_in_thread(application, *, secret_token: str = "test-secret",
                          url_path: str = "telegram", start_timeout: float = 10):
    """Like ``run_polling_in_thread`` but PTB serves a webhook on a free loopback port and
    registers it with setWebhook; yields the webhook URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/{url_path}"

    def start_updater():
        return application.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path=url_path, webhook_url=url,
            secret_token=secret_token)
    with _application_thread(application, start_updater, start_timeout):
        yield url


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _application_thread(application, start_updater, timeout: float):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ptb-application", daemon=True)
    thread.start()

    async def start():
        await application.initialize()
        await application.start()
        await start_updater()

    async def stop():
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
        yield
    finally:
        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


# ---------------------------------------------------------------- standalone

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API for benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args(argv)
    limits = None if args.no_rate_limits else RateLimits()
    api = FakeTelegramAPI(args.token, host=args.host, port=args.port, rate_limits=limits)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with api:
        print(f"fake Telegram Bot API on {api.url} token={args.token} "
              f"rate_limits={'off' if limits is None else limits}", flush=True)
        while not stopped.wait(0.5):
            pass
        print(json.dumps(api.stats()), flush=True)   # the benchmark's closing figures


if __name__ == "__main__":
    main()
