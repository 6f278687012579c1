"""Payment building blocks that know nothing of Telegram, the database or the dialogs.

* `sbp_qr_png(link)`: the static SBP (Faster Payments System) link as a QR code PNG, made
  with `segno` (pure Python). The bank's app scans it; the link itself is shown as a button.
* `build_invoice(...)`: the transport-neutral invoice dict the engine's `Reply(invoice=...)`
  carries; the Telegram transport turns it into `sendInvoice` and adds the provider token
  (settings `bot.payment`) itself, so the token never sits in a reply, a queue row or a log.

Telegram's limits are checked here (title 1-32 characters, description 1-255, payload
1-128 bytes, a positive integer amount in minor units): a text that is too long is cut with
an ellipsis, a bad payload or amount is a `ValueError` naming the value.
"""
from __future__ import annotations

import io
from urllib.parse import urlsplit

import segno

__all__ = ["sbp_qr_png", "is_payment_link", "build_invoice", "TITLE_MAX", "DESCRIPTION_MAX",
           "PAYLOAD_MAX", "LABEL_MAX"]

TITLE_MAX = 32          # sendInvoice title, characters
DESCRIPTION_MAX = 255   # sendInvoice description, characters
PAYLOAD_MAX = 128       # sendInvoice payload, bytes
LABEL_MAX = 64          # a LabeledPrice label; Telegram documents no limit, keep it short


def is_payment_link(link: str) -> bool:
    """An absolute http(s) URL (what a bank gives as a static SBP link)."""
    parts = urlsplit((link or "").strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def sbp_qr_png(link: str, *, scale: int = 8, border: int = 4) -> bytes:
    """The link as a QR code PNG (error correction M: survives a phone camera's blur)."""
    if not is_payment_link(link):
        raise ValueError(f"SBP link must be an http(s) URL, got {str(link)[:80]!r}")
    buffer = io.BytesIO()
    segno.make(link.strip(), error="m", micro=False).save(buffer, kind="png", scale=scale,
                                                          border=border)
    return buffer.getvalue()


def _fit(text: str, limit: int, what: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise ValueError(f"invoice {what} is empty")
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def build_invoice(*, title: str, description: str, payload: str, currency: str,
                  amount: int, label: str) -> dict:
    """An invoice for `Reply(invoice=...)`: one price line of `amount` minor units (kopecks).

    Args:
        payload: the signed payment reference (helpdesk.payments); at most 128 bytes.
        currency: ISO 4217 code, e.g. "RUB".
    """
    if not payload or len(payload.encode()) > PAYLOAD_MAX:
        raise ValueError(f"invoice payload must be 1..{PAYLOAD_MAX} bytes, got {len(payload.encode())}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"invoice amount must be a positive integer of minor units, got {amount!r}")
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"invoice currency must be an ISO 4217 code, got {currency!r}")
    return {"title": _fit(title, TITLE_MAX, "title"),
            "description": _fit(description, DESCRIPTION_MAX, "description"),
            "payload": payload, "currency": currency.upper(),
            "prices": [{"label": _fit(label, LABEL_MAX, "label"), "amount": amount}]}
