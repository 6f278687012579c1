"""Done outbox rows are kept for sync.retention_days, then pruned in batches by the
sync_prune job; pending, sending, dead and recent done rows stay; `sync status` says how
long rows are kept, how many are and how many were pruned."""
from __future__ import annotations

from datetime import timedelta

from engine.storage import write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.ops import jobs
from helpdesk.sync import cli as sync_cli
from helpdesk.sync import outbox, retention
from helpdesk.sync.outbox import OutboxItem


def _item(status: str, days_ago: float) -> int:
    """An outbox row in `status`, created (and, when done, delivered) `days_ago` days ago."""
    at = utcnow() - timedelta(days=days_ago)
    with write_tx():
        item_id = outbox.push("counterparty", 1)
        OutboxItem.update(status=status, created_at=at, next_at=at,
                          done_at=at if status == outbox.DONE else None).where(
            OutboxItem.id == item_id).execute()
    return item_id


def _left() -> list[tuple[str, int]]:
    return [(i.status, i.id) for i in OutboxItem.select().order_by(OutboxItem.id)]


def test_the_job_prunes_old_done_rows_and_keeps_pending_sending_dead_and_recent(app):
    old_done = [_item(outbox.DONE, 40) for _ in range(3)]
    kept = [_item(outbox.DONE, 29), _item(outbox.PENDING, 90), _item(outbox.SENDING, 90),
            _item(outbox.DEAD, 90), _item(outbox.DONE, 0)]
    assert app.settings.sync.retention_days == 30               # the shipped default
    assert jobs.run_once(app, "sync_prune") == {"retention_days": 30, "pruned": 3}
    assert [i for _, i in _left()] == kept and not set(old_done) & {i for _, i in _left()}
    assert jobs.run_once(app, "sync_prune")["pruned"] == 0        # nothing more to do


def test_pruning_goes_in_batches_and_counts_every_row(database):
    for _ in range(7):
        _item(outbox.DONE, 10)
    recent = _item(outbox.DONE, 1)
    assert retention.prune(5, batch=3) == 7                       # 3 + 3 + 1
    assert _left() == [("done", recent)]
    assert retention.retention_status(5)["pruned"] == 7


def test_zero_days_keeps_every_row(app):
    _item(outbox.DONE, 4000)
    app.settings.sync.retention_days = 0
    assert jobs.run_once(app, "sync_prune") == {"retention_days": 0, "pruned": 0}
    assert len(_left()) == 1


def test_sync_status_shows_the_retention_and_what_was_kept_and_pruned(app, capsys):
    _item(outbox.DONE, 40)
    _item(outbox.DONE, 2)
    _item(outbox.PENDING, 0)
    sync_cli.print_status(sync_cli.queue_status("rest", 30))
    before = capsys.readouterr().out
    assert ("retention: done rows are kept 30 day(s); 2 kept (1 past it, pruned by the next "
            "sync_prune run); none pruned yet") in before
    jobs.run_once(app, "sync_prune")
    sync_cli.print_status(sync_cli.queue_status("rest", 30))
    after = capsys.readouterr().out
    assert "retention: done rows are kept 30 day(s); 1 kept; 1 pruned in all, last at " in after
    assert "pending  counterparty   1" in after


def test_sync_status_with_zero_days_says_rows_are_kept_forever(database, capsys):
    _item(outbox.DONE, 400)
    sync_cli.print_status(sync_cli.queue_status("rest", 0))
    assert ("retention: done rows are kept forever (sync.retention_days: 0); 1 kept; "
            "none pruned yet") in capsys.readouterr().out
