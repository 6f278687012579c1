"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

Why: every Bot API call of ours (a reply, a button's answer, getUpdates) went through
PTB's default `HTTPXRequest`, and httpx + httpcore cost ~0.45 ms of CPU per request
against the fake server on loopback where aiohttp's client costs ~0.11 ms (measured with
the same payloads, one process, keep-alive). With ~2.5 requests per update that was the
largest single share of the bot's CPU. PTB supports this officially: a `BaseRequest`
subclass passed as `Bot(request=...)`; everything above it (parameters, errors such as
`RetryAfter`/`Forbidden`, JSON) stays PTB's.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]

log = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one `aiohttp.ClientSession` (keep-alive pool).

    Args:
        connection_pool_size: connections kept to the Bot API server.
        read_timeout, write_timeout, connect_timeout, pool_timeout: defaults in seconds,
            as in `HTTPXRequest` (aiohttp has no separate write or pool timeout: the whole
            request must finish within write + read + pool).
    """

    def __init__(self, connection_pool_size: int = 8, *, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0):
        self._pool_size = connection_pool_size
        self._timeouts = {"read": read_timeout, "write": write_timeout,
                          "connect": connect_timeout, "pool": pool_timeout}
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE,
                         pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout)
        try:
            body, headers = _body(request_data)
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as e:
            raise TimedOut(f"{method} {_hide_token(url)} timed out") from e
        except aiohttp.ClientError as e:
            raise NetworkError(f"aiohttp.{type(e).__name__}: {_hide_token(str(e))}") from e

    def _timeout(self, read, write, connect, pool) -> aiohttp.ClientTimeout:
        given = {"read": read, "write": write, "connect": connect, "pool": pool}
        t = {k: self._timeouts[k] if isinstance(v, type(BaseRequest.DEFAULT_NONE)) else v
             for k, v in given.items()}
        parts = [t[k] for k in ("read", "write", "pool")]
        total = None if any(p is None for p in parts) else sum(parts)
        return aiohttp.ClientTimeout(total=total, sock_connect=t["connect"], sock_read=t["read"])


_JSON = {"Content-Type": "application/json"}


def _body(request_data: RequestData | None):
    """(body, headers): a JSON object (one dump: form fields cost a JSON dump per field and
    a URL-encoding of each, a tenth of the bot's CPU per update, cProfile of bench/e2e.py);
    multipart with files, fields as PTB encodes them (values already JSON strings)."""
    if request_data is None:
        return None, None
    if not request_data.contains_files:
        return json.dumps(request_data.parameters, ensure_ascii=False).encode(), _JSON
    fields = request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        if isinstance(part, tuple):
            filename, content, *rest = part
            form.add_field(name, content, filename=filename,
                           content_type=rest[0] if rest else "application/octet-stream")
        else:
            form.add_field(name, part)
    return form, None


def _hide_token(text: str) -> str:
    """`/bot<token>/` must never reach a log line or an error report."""
    return re.sub(r"/bot[^/]+/", "/bot***/", text)
