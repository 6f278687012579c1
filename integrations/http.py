"""One JSON-over-HTTP helper for every integration: a requests session with timeouts,
urllib3 retries on idempotent calls only, and errors wrapped as `IntegrationError`.

Retry policy (urllib3 `Retry` behind a `requests` adapter, exponential backoff + jitter):
- connection errors before anything was sent (refused, connect timeout): every method;
- read timeouts, broken connections and HTTP 500/502/503/504: GET, PUT, HEAD, DELETE, and
  POST only when the request carries an `Idempotency-Key` header (or the session was made
  with `retry_post=True` for read-only POST APIs such as DaData);
- never on 4xx. 409 and 429 are reported as `IntegrationError(retryable=True)` at once so
  the caller's outbox backs off (a Retry-After is kept on the error as `retry_after`).

Answers are bounded (a CRM or proxy gone wrong must not hold a worker or the memory):
- size: the body is read streamed, at most `max_bytes` (MAX_ANSWER_BYTES, 8 MiB; our
  answers are kilobytes); a declared Content-Length over it is refused before reading, a
  longer body as soon as it passes it. Of a non-2xx answer only the first ERROR_BODY_BYTES
  are read (its message is shown cut to 200 characters anyway).
- time: `timeout` bounds each socket read, so a body trickling a byte per read would
  never end; the whole body must also arrive within `deadline` seconds of the headers
  (default: `timeout`, the time a healthy answer needs to start is ample for it to end).
  Reads go one socket read at a time, so one answer takes at most the headers' time plus
  deadline plus one read timeout.
Either way an IntegrationError(retryable=True) is raised and the connection is closed (not
returned to the pool). Retries are unchanged: urllib3 retries up to the headers; a body
is never retried in-call (as before, when requests read it whole).

Secrets never reach messages or logs: URLs are logged with `apiKey`/`token`/`key`/`password`
query values masked, known secret strings are replaced by `***`, and the chained original
exception is scrubbed the same way (its text holds the URL).
"""
from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

import requests
import urllib3.exceptions
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.util.retry import Retry

from engine.errors import IntegrationError

from .pooled import Answer, Lane, lane_error

__all__ = ["IDEMPOTENCY_HEADER", "JsonHttp", "make_session", "redact", "safe_url",
           "MAX_ANSWER_BYTES", "ERROR_BODY_BYTES"]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_STATUSES = (500, 502, 503, 504)
MAX_ANSWER_BYTES = 8 * 2 ** 20   # largest answer body read; ours are kilobytes
ERROR_BODY_BYTES = 64 * 1024     # read of a non-2xx body: its message is cut to 200 chars
_READ_BYTES = 64 * 1024          # one socket read at most, so the deadline is checked often
_SECRET_QUERY = re.compile(r"(?i)\b(apikey|api_key|token|key|password)=([^&\s'\"]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and secret query values replaced by `***`: the one
    redaction of the product (the clients' errors, the log filter, bug reports). The longest
    secret goes first, so one that contains another is masked whole."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _SECRET_QUERY.sub(r"\1=***", text)


@functools.lru_cache(maxsize=1024)
def _redacted(url: str, secrets: tuple[str, ...]) -> str:
    """`redact` of a call's URL, kept: a client calls the same few URLs again and again, and
    the redaction (secrets sorted, a regex) was a few percent of an outbox item's CPU."""
    return redact(url, secrets)


def safe_url(url: str) -> str:
    """A URL fit for logs and messages: secret query values masked."""
    return redact(url)


class _RedactFilter(logging.Filter):
    """urllib3 logs request lines with their query string; mask secret values there."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_QUERY.search(message):
            record.msg, record.args = redact(message), None
        return True


_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")


def _install_urllib3_filter() -> None:
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())


def _retry(retries: int, backoff: float, idempotent: bool) -> Retry:
    """Any verb may be retried (allowed_methods=None): the adapter already chose; a
    non-idempotent call only retries connecting (read=False, no status retries)."""
    return Retry(
        total=retries, connect=retries, read=retries if idempotent else False,
        status=retries if idempotent else 0, other=0, redirect=0, allowed_methods=None,
        status_forcelist=_RETRY_STATUSES if idempotent else (),
        backoff_factor=backoff, backoff_jitter=backoff / 2, backoff_max=30,
        raise_on_status=False, raise_on_redirect=False, respect_retry_after_header=False,
    )


class _IdempotencyAwareAdapter(BaseAdapter):
    """Sends idempotent requests through a retrying adapter, the others through one that
    only retries connection errors (nothing was sent yet, so that is always safe)."""

    def __init__(self, retries: int, backoff: float, retry_post: bool):
        super().__init__()
        self._retry_post = retry_post
        self._retrying = HTTPAdapter(max_retries=_retry(retries, backoff, True))
        self._once = HTTPAdapter(max_retries=_retry(retries, backoff, False))

    def send(self, request, **kwargs):
        return self.choose(request.method, request.headers).send(request, **kwargs)

    def choose(self, method: str, headers) -> HTTPAdapter:
        idempotent = (self._retry_post or method in _IDEMPOTENT
                      or IDEMPOTENCY_HEADER in (headers or {}))
        return self._retrying if idempotent else self._once

    def adapters(self) -> tuple[HTTPAdapter, HTTPAdapter]:
        """Both, for integrations.pooled (their pools, their retries)."""
        return self._retrying, self._once

    def close(self) -> None:
        self._retrying.close()
        self._once.close()


def make_session(retries: int = 3, backoff: float = 0.5, *, retry_post: bool = False,
                 user_agent: str = "helpdesk-bot") -> requests.Session:
    """A session whose adapters retry per the module's policy (see the module docstring)."""
    _install_urllib3_filter()
    session = requests.Session()
    adapter = _IdempotencyAwareAdapter(retries, backoff, retry_post)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def _read_environment_once(session: requests.Session, url: str) -> None:
    """What requests takes from the environment (proxies and NO_PROXY, a CA bundle,
    .netrc) read once for the one base URL, as requests would on each call: it re-reads
    os.environ twice a call, a third of a call's CPU (measured in bench/sync.py)."""
    if not session.trust_env:
        return
    env = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies = {**session.proxies, **(env["proxies"] or {})}   # the environment's win, as per call
    if env["verify"] not in (None, True):
        session.verify = env["verify"]
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False


@dataclass
class JsonHttp:
    """JSON calls to one base URL for one external `system`, errors as IntegrationError.

    Args:
        system: name put in every IntegrationError ("crm", "dadata").
        base_url: prefix of every path (a trailing slash is added when missing).
        session: from `make_session`; carries auth and default headers.
        timeout: seconds for connect and for each read.
        secrets: strings to mask in messages and logs (password, token).
        max_bytes: the largest answer body read (see the module docstring).
        deadline: seconds the whole body may take after the headers (default: timeout).
    """

    system: str
    base_url: str
    session: requests.Session
    timeout: float
    secrets: tuple[str, ...] = ()
    max_bytes: int = MAX_ANSWER_BYTES
    deadline: float | None = None

    def __post_init__(self):
        self.base_url = self.base_url.rstrip("/") + "/"
        if self.deadline is None:
            self.deadline = self.timeout
        _read_environment_once(self.session, self.base_url)
        self._lane = Lane.of(self.session, self.base_url)

    def request(self, method: str, path: str, *, params=None, json=None, headers=None,
                allow: Iterable[int] = ()) -> tuple[int, Any]:
        """Send one call; return (status, parsed JSON body or None for an empty body).

        Statuses 2xx and those in `allow` are returned; any other raises IntegrationError.
        """
        url = self.base_url + path.lstrip("/")
        if self._lane is not None and not self._lane.fits(self.session):
            self._lane = Lane.of(self.session, self.base_url)
        if self._lane is not None:
            response = self._by_lane(method, path.lstrip("/"), params, json, headers)
        else:
            response = self._send(method, url, params=params, json=json, headers=headers)
        shown = self._shown(response.url or url)
        ok = 200 <= response.status_code < 300 or response.status_code in allow
        try:
            body = self._read(method, shown, response, ok)
        finally:
            response.close()        # a body not read to its end closes the connection
        if not ok:
            raise self._status_error(method, shown, response, body)
        return response.status_code, self._parse(method, shown, response.status_code, body)

    def close(self) -> None:
        self.session.close()

    def _shown(self, url: str) -> str:
        return _redacted(url, tuple(self.secrets))

    def _send(self, method, url, **kwargs) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.session.request(method, url, timeout=(self.timeout, self.timeout),
                                            allow_redirects=False, stream=True, **kwargs)
        except requests.RequestException as e:
            raise self._transport_error(method, self._shown(url), e) from _scrub(e, self.secrets)
        log.debug("%s %s -> %s in %.0f ms", method, self._shown(response.url), response.status_code,
                  (time.monotonic() - started) * 1000)
        return response

    def _by_lane(self, method, path, params, body, headers) -> Answer:
        """integrations.pooled: what `_send` does, without requests' per-call work."""
        started = time.monotonic()
        adapter = self.session.get_adapter(self.base_url).choose(method, headers)
        try:
            response = self._lane.send(adapter, method, path, params=params, json_body=body,
                                       headers=headers, timeout=self.timeout)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            what, retryable = lane_error(e, self.timeout)
            shown = self._shown(self.base_url + path)
            raise self._error(f"{method} {shown}: {what}", retryable) from _scrub(e, self.secrets)
        if log.isEnabledFor(logging.DEBUG):     # the redaction only for a line that is written
            log.debug("%s %s -> %s in %.0f ms", method, self._shown(response.url),
                      response.status_code, (time.monotonic() - started) * 1000)
        return response

    def _read(self, method, shown, response, ok: bool) -> bytes:
        """The body, bounded in size and time; a non-2xx body only its first bytes."""
        limit = self.max_bytes if ok else ERROR_BODY_BYTES
        if ok and (_content_length(response) or 0) > limit:
            raise self._too_large(method, shown)
        deadline, chunks, size = time.monotonic() + self.deadline, [], 0
        while size <= limit:
            chunk = self._read1(method, shown, response)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if time.monotonic() > deadline:
                raise self._error(f"{method} {shown}: answer not complete "
                                  f"{self.deadline:g} s after its headers", True)
        if ok:
            raise self._too_large(method, shown)
        return b"".join(chunks)[:limit]

    def _read1(self, method, shown, response) -> bytes:
        """At most one socket read (each within `timeout`), decoded (gzip) to _READ_BYTES."""
        try:
            return response.raw.read1(_READ_BYTES) or b""
        except (urllib3.exceptions.HTTPError, OSError) as e:
            what = ("timed out after {:g} s".format(self.timeout)
                    if isinstance(e, (urllib3.exceptions.TimeoutError, TimeoutError))
                    else f"answer broken off ({type(e).__name__})")
            raise self._error(f"{method} {shown}: {what}", True) from _scrub(e, self.secrets)

    def _too_large(self, method, shown) -> IntegrationError:
        return self._error(f"{method} {shown}: answer larger than {self.max_bytes} bytes", True)

    def _transport_error(self, method, shown, e: requests.RequestException) -> IntegrationError:
        if _is_timeout(e):
            what, retryable = f"timed out after {self.timeout:g} s", True
        elif isinstance(e, requests.ConnectionError):
            what, retryable = "cannot connect", True
        elif isinstance(e, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            what, retryable = "invalid URL (check the url setting)", False
        else:
            what, retryable = type(e).__name__, True
        return self._error(f"{method} {shown}: {what}", retryable)

    def _status_error(self, method, shown, response, body: bytes) -> IntegrationError:
        status = response.status_code
        detail = redact(_error_text(body), self.secrets)
        message = f"{method} {shown}: HTTP {status}" + (f": {detail}" if detail else "")
        err = self._error(message, _status_retryable(status))
        err.status = status
        err.retry_after = _retry_after(response) if status in (429, 503) else None
        return err

    def _parse(self, method, shown, status: int, body: bytes):
        if not body:
            return None
        try:
            return json.loads(_text(body))
        except (ValueError, RecursionError) as e:   # RecursionError: nested too deep
            raise self._error(f"{method} {shown}: invalid JSON in the answer "
                              f"(HTTP {status})", True) from e

    def _error(self, message: str, retryable: bool) -> IntegrationError:
        err = IntegrationError(self.system, message, retryable=retryable)
        err.status, err.retry_after = None, None  # HTTP status / Retry-After seconds if any
        log.info("%s", err)
        return err


def _is_timeout(e: requests.RequestException) -> bool:
    """requests reports a read timeout that outlived the retries as a ConnectionError
    wrapping urllib3's MaxRetryError(reason=ReadTimeoutError)."""
    reason = getattr(e.args[0] if e.args else None, "reason", None)
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # a TimeoutError subclass
        return False
    return isinstance(e, requests.Timeout) or isinstance(reason, urllib3.exceptions.TimeoutError)


def _status_retryable(status: int) -> bool:
    return status >= 500 or status in (408, 409, 425, 429)


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _text(body: bytes) -> str:
    """JSON bytes as text: UTF-8/16/32 as detected, a BOM dropped (1C writes one), as
    requests' `.json()` did; UnicodeDecodeError is a ValueError."""
    return body.decode(requests.utils.guess_json_utf(body) or "utf-8")


def _content_length(response) -> int | None:
    """The declared body size, if any (digits only: a bad header is no bound, reading is)."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() and len(value) <= 19 else None


def _error_text(raw: bytes) -> str:
    """The server's own explanation, short: `{error: "..."}`, `{error: {message}}` or text."""
    try:
        body = json.loads(_text(raw))
    except (ValueError, RecursionError):
        return raw[:800].decode("utf-8", "replace")[:200].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message") or error.get("code")
    return str(error or "")[:200]


def _scrub(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """Mask secrets in the text of `exc` and of what it wraps (urllib3 puts URLs there)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        e.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in e.args)
        stack += list(e.args) + [getattr(e, "reason", None), e.__cause__, e.__context__]
        if isinstance(getattr(e, "url", None), str):
            e.url = redact(e.url, secrets)
    return exc
