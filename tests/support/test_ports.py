"""Ports handed to servers started later (tests/support/ports.py): never one another live
process was handed, never one a server listens on, never the same twice."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from helpdesk.app import PROJECT_ROOT
from tests.support import ports

CLAIM_AND_WAIT = ("import sys; from tests.support.ports import free_port; print(free_port(), flush=True);"
                  " sys.stdin.read()")


def test_a_port_another_live_process_holds_is_never_handed_out():
    other = subprocess.Popen([sys.executable, "-c", CLAIM_AND_WAIT], cwd=PROJECT_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(other.stdout.readline())
        ports._next[:] = [theirs]                       # start the search right at theirs
        ours = ports.free_port()
        assert ours != theirs and ports.FIRST <= ours <= ports.LAST
    finally:
        other.communicate("")
    assert other.returncode == 0


def test_a_port_something_listens_on_is_skipped_and_none_comes_twice():
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)   # as the bot's webhook
        listening = ports.free_port()
        os.close(ports._claimed.pop(listening))         # as if another run's worker had it
        server.bind(("127.0.0.1", listening))
        server.listen()
        ports._next[:] = [listening]
        got = {ports.free_port() for _ in range(5)}
    assert listening not in got and len(got) == 5
    assert not got & set(range(32768, 61000))          # never where outgoing connections land
