"""`python run.py report --from 2026-01-01 --to 2026-12-31 [--out DIR]`: every ticket
created in the period (both days included) as tickets.csv, and a PNG chart of tickets per
status and per type; prints both paths. An operator's tool: all counterparties, no rights
check (whoever can run it can read the database anyway).

The CSV is UTF-8 with a BOM and ';' separators, so Excel with a Russian locale opens it
with the columns split and Cyrillic intact.
"""
from __future__ import annotations

import csv
import logging
import os
from datetime import date, datetime, timedelta

from engine import storage
from engine.errors import BotError
from helpdesk.directory.tables import Counterparty, TelegramUser, TradePoint
from helpdesk.directory.users import display_name

from .stats import summarize, tickets_between
from .tables import Ticket

__all__ = ["run", "write_csv", "write_chart", "parse_period", "ReportError", "COLUMNS"]

log = logging.getLogger(__name__)

COLUMNS = ("number", "crm_number", "created", "closed", "status", "type", "counterparty",
           "inn", "trade_point", "author", "phone", "master", "description")


class ReportError(BotError):
    """Bad report arguments (the message names the argument)."""


def parse_period(date_from: str, date_to: str) -> tuple[datetime, datetime]:
    """[from 00:00, the day after `to` 00:00); ReportError for bad or reversed dates."""
    try:
        start, end = date.fromisoformat(str(date_from)), date.fromisoformat(str(date_to))
    except ValueError as e:
        raise ReportError(f"--from/--to must be YYYY-MM-DD dates ({e})") from None
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    return datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1), datetime.min.time())


def _names(model, ids) -> dict:
    ids = {i for i in ids if i}
    return {row.id: row for row in model.select().where(model.id.in_(ids))} if ids else {}


def _rows(tickets: list[Ticket]):
    cps = _names(Counterparty, [t.counterparty_id for t in tickets])
    tps = _names(TradePoint, [t.trade_point_id for t in tickets])
    users = _names(TelegramUser, [t.author_id for t in tickets])
    for t in tickets:
        cp, tp, user = cps.get(t.counterparty_id), tps.get(t.trade_point_id), users.get(t.author_id)
        author = t.contact_name or display_name(user, or_handle=False)
        yield (t.number, t.crm_number or "", t.created.isoformat(sep=" ", timespec="minutes"),
               t.closed.isoformat(sep=" ", timespec="minutes") if t.closed else "", t.status,
               t.type, cp.name if cp else "", cp.inn if cp else "", tp.name if tp else "", author,
               t.contact_phone or (user.phone if user else "") or "", t.master_name or "",
               t.description)


def write_csv(tickets: list[Ticket], path: str) -> str:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(COLUMNS)
        writer.writerows(_rows(tickets))
    return path


def write_chart(summary: dict, title: str, path: str) -> str:
    """Two bar charts side by side: tickets per status and per type."""
    import matplotlib
    matplotlib.use("Agg")                       # no display on a server
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, key, label in ((axes[0], "by_status", "status"), (axes[1], "by_type", "type")):
        pairs = summary[key] or [["—", 0]]
        ax.bar([str(k) for k, _ in pairs], [v for _, v in pairs], color="#4a7ebb")
        ax.set_title(f"tickets per {label}")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(settings, args) -> int:
    """The `report` command: write the files, print their paths; 2 on bad arguments."""
    try:
        since, until = parse_period(args.date_from, args.date_to)
    except ReportError as e:
        print(f"error: {e}")
        return 2
    storage.connect(settings.database.url)
    tickets = tickets_between(since, until)
    os.makedirs(args.out, exist_ok=True)
    csv_path = write_csv(tickets, os.path.join(args.out, "tickets.csv"))
    title = f"{args.date_from} .. {args.date_to}: {len(tickets)} tickets"
    png_path = write_chart(summarize(tickets), title, os.path.join(args.out, "tickets.png"))
    print(csv_path)
    print(png_path)
    return 0
