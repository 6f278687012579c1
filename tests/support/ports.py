"""Loopback ports for servers a test starts later (a worker process, a webhook), that no other
test process on this machine is handed at the same time.

Asking the kernel for a free port (bind to 0, close, pass the number on) races: until the
server binds, the port is free for anyone, and the bot's webhook listens with SO_REUSEPORT
on PostgreSQL, so a second process on the same port does not fail, it silently shares the
connections (two test runs at once, e.g. dev.py's SQLite and PostgreSQL passes, would then
answer each other's updates). So ports come from below the kernel's ephemeral range (where
no outgoing connection or bind-to-0 lands), each claimed by an exclusive lock on a file
named after it, held until this process ends, and checked free by a bind."""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile

__all__ = ["free_port"]

FIRST, LAST = 20000, 32767          # Linux's ephemeral range starts at 32768
LOCKS = os.path.join(tempfile.gettempdir(), "helpdesk-test-ports")
_claimed: dict[int, int] = {}       # port -> the open lock file's descriptor (kept open)
_next: list[int] = []


def _bindable(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _claim(port: int) -> bool:
    fd = os.open(os.path.join(LOCKS, str(port)), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _claimed[port] = fd
    return True


def free_port() -> int:
    """A port nothing listens on, handed to no other live process that asks here (nor to
    this one again)."""
    os.makedirs(LOCKS, exist_ok=True)
    if not _next:                    # each process starts elsewhere, so claims rarely contend
        _next.append(FIRST + (os.getpid() * 7919) % (LAST - FIRST))
    span = LAST - FIRST + 1
    for _ in range(span):
        port = FIRST + (_next[0] - FIRST) % span
        _next[0] = port + 1
        if port in _claimed or not _claim(port):
            continue
        if _bindable(port):
            return port
    raise RuntimeError(f"no free loopback port in {FIRST}-{LAST}")
