"""Logging as the settings say: console and rotating file formats, per-library levels, and a
filter that replaces every secret value (tokens, passwords, keys) with *** in every record."""
from __future__ import annotations

import logging
import logging.handlers
import os

__all__ = ["configure", "RedactSecrets"]


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, None
        return True


def configure(settings, *, console: bool = True) -> None:
    """Configure the root logger from `settings.logging`; secrets from `settings.secrets()`."""
    cfg = settings.logging
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(cfg.level)
    redact = RedactSecrets(settings.secrets())
    if console:
        _add(root, logging.StreamHandler(), cfg.console_format, redact)
    if cfg.file:
        os.makedirs(os.path.dirname(os.path.abspath(cfg.file)), exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(cfg.file, maxBytes=cfg.max_bytes,
                                                       backupCount=cfg.backup_count, encoding="utf-8")
        _add(root, handler, cfg.file_format, redact)
    for name, level in cfg.levels.items():
        logging.getLogger(name).setLevel(level)


def _add(root: logging.Logger, handler: logging.Handler, fmt: str, redact: RedactSecrets) -> None:
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(redact)
    root.addHandler(handler)
