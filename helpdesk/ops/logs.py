"""Logging as the settings say: console and rotating file formats, per-library levels, and a
filter that redacts every secret value of the settings (tokens, passwords, keys) and secret
query values in every record, with the one redaction of the product
(`integrations.http.redact`, which the HTTP clients' errors use too).
"""
from __future__ import annotations

import logging
import logging.handlers
import os

from integrations.http import redact

__all__ = ["configure", "RedactSecrets", "redact", "redactable_secrets", "SHORTEST_SECRET"]

# A shorter value ("1", "ab") would mask digits and syllables of every line; no key is so short.
SHORTEST_SECRET = 4


def redactable_secrets(settings) -> list[str]:
    """The settings' secret values worth redacting (`SHORTEST_SECRET` characters or more)."""
    return [s for s in settings.secrets() if len(s) >= SHORTEST_SECRET]


class RedactSecrets(logging.Filter):
    """Redacts a record's message and traceback before any handler formats it."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        return True


def configure(settings, *, console: bool = True) -> None:
    """Configure the root logger from `settings.logging`; secrets from `settings.secrets()`."""
    cfg = settings.logging
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(cfg.level)
    redacting = RedactSecrets(redactable_secrets(settings))
    if console:
        _add(root, logging.StreamHandler(), cfg.console_format, redacting)
    if cfg.file:
        os.makedirs(os.path.dirname(os.path.abspath(cfg.file)), exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(cfg.file, maxBytes=cfg.max_bytes,
                                                       backupCount=cfg.backup_count, encoding="utf-8")
        _add(root, handler, cfg.file_format, redacting)
    for name, level in cfg.levels.items():
        logging.getLogger(name).setLevel(level)


def _add(root: logging.Logger, handler: logging.Handler, fmt: str, redacting: RedactSecrets) -> None:
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(redacting)
    root.addHandler(handler)
