"""The directory's errors and the one way its functions read an id.

Directory functions take model instances or plain ids (a Telegram id, a row id) alike;
`row_id()` turns either into the id.
"""
from __future__ import annotations

from engine.errors import BotError

__all__ = ["DirectoryError", "NotFound", "row_id"]


class DirectoryError(BotError, ValueError):
    """Bad input to a directory service (the message says which value and why)."""


class NotFound(DirectoryError):
    """A row named by id does not exist (ids from callback data are never trusted)."""


def row_id(obj) -> int | None:
    return obj if obj is None or isinstance(obj, int) else obj.id
