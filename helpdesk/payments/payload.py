"""Signed invoice payloads: `v1.<payment id>.<HMAC>`, keyed by `pay.payload_secret`, or,
when that is empty, by a random per-install secret created once in the database (table
`pay_secret`): set the setting when several installations must accept each other's invoices.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from typing import Any

from engine.ids import parse_id
from engine.storage import write_tx

from .tables import PaySecret

__all__ = ["payload_secret", "sign_payload", "verify_payload"]


_PAYLOAD_VERSION = "v1"


def payload_secret(settings) -> bytes:
    """`pay.payload_secret`, or the per-install secret from the database (made on first use)."""
    configured = settings.pay.payload_secret.get_secret_value() if settings else ""
    if configured:
        return configured.encode()
    row = PaySecret.get_or_none(PaySecret.name == "payload")
    if row is None:
        with write_tx():
            PaySecret.insert(name="payload", value=_secrets.token_hex(32)).on_conflict_ignore().execute()
        row = PaySecret.get(PaySecret.name == "payload")
    return row.value.encode()


def _mac(payment_id: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"{_PAYLOAD_VERSION}.{payment_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def sign_payload(payment_id: int, secret: bytes) -> str:
    """`v1.<id>.<22 characters of HMAC-SHA256>`: well under Telegram's 128 bytes."""
    return f"{_PAYLOAD_VERSION}.{int(payment_id)}.{_mac(int(payment_id), secret)}"


def verify_payload(payload: Any, secret: bytes) -> int | None:
    """The payment id a genuine payload names; None for anything forged or malformed."""
    parts = str(payload or "").split(".")
    payment_id = parse_id(parts[1]) if len(parts) == 3 and parts[0] == _PAYLOAD_VERSION else None
    if payment_id is None:
        return None
    return payment_id if hmac.compare_digest(parts[2], _mac(payment_id, secret)) else None
