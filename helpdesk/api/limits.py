"""Sizes from outside, bounded before they cost anything (settings `api.*`).

* `BodyLimit`: an ASGI middleware refusing a request body over `api.max_body_bytes` with
  413. A Content-Length over the limit is refused before a byte of the body is read; a
  chunked body (no Content-Length) is counted as it is received and refused the moment it
  passes the limit (what was read so far is dropped, the handler never runs).
* `check(body, settings)`: after a body parsed (it is at most max_body_bytes), every list
  in it, at any depth, holds at most `api.max_list_items` items, and every money field
  (MONEY_FIELDS, kopecks) is within `api.max_amount_kopecks`; an ApplyError (422) names
  the field otherwise. The parsing itself is bounded by the schemas (helpdesk.money).
"""
from __future__ import annotations

import re

from pydantic import BaseModel

from .apply import ApplyError

__all__ = ["BodyLimit", "check", "MONEY_FIELDS"]

MONEY_FIELDS = frozenset(("balance_kopecks", "amount_kopecks", "amount"))


def check(body, api_settings, where: tuple[str, ...] = ()):
    """`body` (a parsed request model) unchanged, or ApplyError naming the field."""
    if isinstance(body, BaseModel):
        for name, value in body:
            _value(value, api_settings, (*where, name))
    return body


MAX_DEPTH = 32     # nesting of a body: the contracts' deepest is 4; pydantic fails past 255


def _value(value, s, path: tuple[str, ...]) -> None:
    if len(path) > MAX_DEPTH:
        raise ApplyError(".".join(path[:3]) + ".…", f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):               # extra fields of a 1C body are kept as sent
        if len(value) > s.max_list_items:
            raise ApplyError(".".join(path), f"has {len(value)} keys, at most {s.max_list_items} "
                                             "(settings api.max_list_items)")
        for key, item in value.items():
            _value(item, s, (*path, str(key)[:40]))
    elif isinstance(value, list):
        if len(value) > s.max_list_items:
            raise ApplyError(".".join(path), f"has {len(value)} items, at most {s.max_list_items} "
                                             "(settings api.max_list_items)")
        for i, item in enumerate(value):
            _value(item, s, (*path, str(i)))
    elif isinstance(value, BaseModel):
        check(value, s, path)
    elif path[-1] in MONEY_FIELDS and isinstance(value, int) and abs(value) > s.max_amount_kopecks:
        raise ApplyError(".".join(path), f"must be between -{s.max_amount_kopecks} and "
                                         f"{s.max_amount_kopecks} kopecks (settings api.max_amount_kopecks)")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, before (or instead of) reading it."""

    def __init__(self, app, max_bytes: int, refuse):
        self.app, self.max_bytes, self.refuse = app, int(max_bytes), refuse

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            return await self._refuse(scope, send)
        if declared is not None:
            return await self.app(scope, receive, send)   # the server stops at Content-Length
        await self._counted(scope, receive, send)

    async def _counted(self, scope, receive, send):
        """A body of unknown length: count it as the app reads it; past the limit the app's
        answer (an error about a broken body) is replaced by the 413."""
        state = {"read": 0, "over": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_bytes:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["over"]:
                return                       # the app's answer to the cut body is dropped
            state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if state["over"] and not state["started"]:
            await self._refuse(scope, send)

    async def _refuse(self, scope, send):
        response = self.refuse(scope, self.max_bytes)
        await response(scope, _nothing, send)


async def _nothing():
    return {"type": "http.disconnect"}


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 1 << 62   # ASCII only
    return None
