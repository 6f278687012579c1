"""Tests talk to loopback only: a connect, a send or a name lookup aimed anywhere else is
refused before any packet leaves, with a message naming the address.

Allowed: 127.0.0.0/8, ::1 (and ::ffff:127.x), the name `localhost`, unix sockets, and binding
to any address (servers under test listen on loopback or on all interfaces). The guard patches
Python's `socket` module, so it covers everything that opens sockets in this process (requests,
aiohttp, httpx, asyncio, uvicorn); it cannot reach subprocesses or C libraries that open their
own sockets (libpq under psycopg connects to the test database itself).

A refusal is not an OSError, so client code that retries or swallows connection errors does
not hide it; and every refusal is recorded, so a test whose code caught it still fails.
"""
from __future__ import annotations

import ipaddress
import socket

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class OutsideNetworkRefused(RuntimeError):
    """A test tried to reach an address outside loopback."""


def is_loopback(host) -> bool:
    """Whether `host` (an address literal or a name) stays on this machine."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0]     # [::1], fe80::1%eth0
    if host.lower().rstrip(".") in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False                                  # a name other than localhost: DNS
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class NetworkGuard:
    """Wraps socket.connect / connect_ex / sendto and socket.getaddrinfo."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def check_host(self, host, what: str) -> None:
        if host in (None, "", b"") or is_loopback(host):
            return
        message = (f"tests may only use loopback: {what} {host!r} refused before any packet "
                   f"(use a fake on 127.0.0.1, see tests/support/fakes/)")
        self.refused.append(message)
        raise OutsideNetworkRefused(message)

    def check_address(self, sock, address, what: str) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            self.check_host(address[0], what)         # unix sockets (str/bytes paths) pass

    def install(self, monkeypatch) -> None:
        guard = self
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        real_sendto, real_getaddrinfo = socket.socket.sendto, socket.getaddrinfo

        def connect(sock, address):
            guard.check_address(sock, address, "connect to")
            return real_connect(sock, address)

        def connect_ex(sock, address):
            guard.check_address(sock, address, "connect to")
            return real_connect_ex(sock, address)

        def sendto(sock, data, *args):
            guard.check_address(sock, args[-1], "send to")
            return real_sendto(sock, data, *args)

        def getaddrinfo(host, *args, **kwargs):
            guard.check_host(host, "name lookup of")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket.socket, "sendto", sendto)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
