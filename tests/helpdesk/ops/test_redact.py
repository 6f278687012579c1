"""The one redaction of secrets (integrations.http.redact) and the places that use it: the
log filter and the bug reports."""
from __future__ import annotations

import logging

from helpdesk import config
from helpdesk.ops.logs import RedactSecrets, redactable_secrets
from helpdesk.ops.reporting import BugReporter
from integrations.http import redact

TOKEN = "123456:ABC-secret-token"


def test_a_secret_inside_another_is_masked_whole_and_query_values_too():
    text = f"bot{TOKEN} failed; 123456 again; GET /x?apikey=k3y&n=1"
    assert redact(text, ["123456", TOKEN]) == "bot*** failed; *** again; GET /x?apikey=***&n=1"
    assert redact("nothing to hide", ["", "absent"]) == "nothing to hide"


def test_short_values_are_not_secrets_worth_masking():
    settings = config.load(environ={"BOT__TOKEN": TOKEN, "CRM__PASSWORD": "pw"})
    secrets = redactable_secrets(settings)
    assert TOKEN in secrets and "pw" not in secrets


def test_the_log_filter_masks_the_message_and_the_traceback():
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "token %s", (TOKEN,), None)
    try:
        raise RuntimeError(f"with {TOKEN}")
    except RuntimeError as e:
        record.exc_info = (type(e), e, e.__traceback__)
    assert RedactSecrets([TOKEN]).filter(record)
    assert record.getMessage() == "token ***"
    assert TOKEN not in record.exc_text and "RuntimeError: with ***" in record.exc_text


def test_a_bug_report_is_redacted_the_same_way():
    settings = config.load(environ={"BOT__TOKEN": TOKEN})
    reporter = BugReporter(settings, templates=None)
    text = f"https://api.telegram.org/bot{TOKEN}/getMe?token=x"
    assert reporter.redact(text) == redact(text, [TOKEN]) == "https://api.telegram.org/bot***/getMe?token=***"
