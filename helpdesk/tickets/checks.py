"""What a ticket may contain: description, reason and comment lengths, attachments (photos
and documents, no executables), and how alike two descriptions are (duplicates)."""
from __future__ import annotations

import difflib
from typing import Any

from .errors import TicketInputError

__all__ = ["DESCRIPTION_MIN", "DESCRIPTION_MAX", "REASON_MIN", "REASON_MAX", "COMMENT_MAX",
           "MAX_ATTACHMENTS", "supported_file", "clean_text", "clean_files", "similarity"]


DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 3000


REASON_MIN, REASON_MAX = 3, 500


COMMENT_MAX = 3000


MAX_ATTACHMENTS = 10


FILE_KINDS = ("photo", "document")


BLOCKED_EXTENSIONS = (".exe", ".bat", ".cmd", ".com", ".scr", ".msi", ".js", ".vbs", ".ps1", ".jar")


def clean_text(text: Any, low: int, high: int, what: str) -> str:
    value = str(text or "").strip()
    if len(value) < low:
        raise TicketInputError(f"{what} is too short ({len(value)} < {low})", template="ticket/too_short")
    if len(value) > high:
        raise TicketInputError(f"{what} is too long ({len(value)} > {high})", template="ticket/too_long")
    return value


def supported_file(f) -> bool:
    """A photo or a document that is not an executable (technicians open these)."""
    if not isinstance(f, dict) or not str(f.get("file_id") or "") or f.get("kind") not in FILE_KINDS:
        return False
    return not str(f.get("name") or "").lower().endswith(BLOCKED_EXTENSIONS)


def clean_files(files) -> list[dict]:
    files = list(files or [])
    if len(files) > MAX_ATTACHMENTS:
        raise TicketInputError(f"{len(files)} files, at most {MAX_ATTACHMENTS}",
                               template="ticket/too_many_files")
    out = []
    for f in files:
        if not supported_file(f):
            raise TicketInputError(f"unsupported attachment {str(f)[:80]!r}",
                                   template="ticket/unsupported_file")
        out.append({"file_id": str(f["file_id"]), "kind": f["kind"], "name": str(f.get("name") or "")})
    return out


def similarity(a: str, b: str) -> float:
    norm = lambda s: " ".join(str(s or "").casefold().split())
    return difflib.SequenceMatcher(None, norm(a), norm(b)).ratio()
