"""Attack on issue 17 items 8/10/11 (the CRM outbox's claims and leases): reproductions of
holes found by an outside review. Each test fails on the code under review."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from engine.session import utcnow
from engine.storage import write_tx
from helpdesk.sync import outbox
from helpdesk.sync.outbox import OutboxItem
from tests.support.paths import ROOT

# A live drainer in another PID namespace with the same hostname (two containers of one
# compose service with `hostname:` set, or sharing the host's UTS namespace): its bot
# process has the same pid as ours (both are pid 1 in real life; here the child takes our
# pid number through ns_last_pid). It claims the item, renews its lease, and stays alive.
_TWIN = textwrap.dedent("""
    import os, sys, time
    target = int(sys.argv[2])
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(target - 1))
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        sys.exit(0)
    assert os.getpid() == target, os.getpid()
    from engine import storage
    storage.connect(sys.argv[1])
    from helpdesk.sync import outbox
    with outbox.holding(3):
        rows = outbox.claim(10, lease_seconds=3)
        print("claimed", [r.id for r in rows], outbox.holder(), flush=True)
        sys.stdin.read()                      # alive until the test closes stdin
""")


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare(1) for a PID namespace")
def test_release_orphans_leaves_a_live_twin_with_the_same_hostname_and_pid_alone(database, db_url):
    with write_tx():
        item = outbox.push("ticket", 1)
    twin = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                             _TWIN, db_url, str(os.getpid())],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    try:
        line = twin.stdout.readline()
        assert line.startswith(f"claimed [{item}]"), line
        claimant = OutboxItem.get_by_id(item).claimed_by
        assert claimant != outbox.holder() and twin.poll() is None     # it is alive, holding
        freed = outbox.release_orphans()                               # e.g. our drain starts
        row = OutboxItem.get_by_id(item)
        assert (freed, row.status, row.claimed_by) == (0, outbox.SENDING, claimant), \
            f"a live drainer's claim was freed: {freed} released, now {row.status} (sent twice)"
    finally:
        twin.stdin.close()
        twin.wait(30)


def test_a_stale_holders_failure_does_not_undo_anothers_delivery(database):
    """Holder A's lease ran out (its renewals failed or the process was paused), holder B
    took the item and delivered it (done). A's CRM call then fails and A records the
    failure: the item must stay done, not go back to pending (a third delivery)."""
    with write_tx():
        item = outbox.push("ticket", 1)
    [a_view] = outbox.claim(10, lease_seconds=3)              # A claims
    OutboxItem.update(next_at=utcnow() - timedelta(seconds=1)).execute()   # A's lease is over
    assert outbox.release_expired() == 1
    [b_view] = outbox.claim(10, lease_seconds=3)              # B claims and delivers
    OutboxItem.update(claimed_by="other-host:42:b0b0b0b0b0b0").execute()
    with write_tx():
        outbox.mark_done(b_view.id)
    outbox.mark_failed(a_view.id, "crm: timed out", retry_in=5, max_attempts=8)   # A, late
    row = OutboxItem.get_by_id(item)
    assert row.status == outbox.DONE, f"delivered item put back to {row.status} by a stale holder"
