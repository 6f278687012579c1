"""`python run.py report --from 2026-01-01 --to 2026-12-31 [--out DIR]`: every ticket
created in the period (both days included) as tickets.csv; their figures per technician,
per company and per type (tickets, closed, median first response and resolution in hours,
SLA met %, average rating: helpdesk/tickets/measures.py) as technicians.csv, companies.csv
and types.csv; and a PNG chart of tickets per status and per type; prints every path. An operator's tool: all counterparties, no rights
check (whoever can run it can read the database anyway).

The CSV is UTF-8 with a BOM and ';' separators, so Excel with a Russian locale opens it
with the columns split and Cyrillic intact; its header and status column are the data's own
identifiers (for import). Times and the days of --from/--to are in the display time zone
(settings engine.timezone), as everywhere the product shows a time; the time columns' header
names the zone ("created (Europe/Moscow)"), the database keeps UTC. The chart is for people: its title, axes and status names come
from templates `report/*` in `--lang` (default: the templates' default language), counts
are whole numbers, long labels are wrapped and nothing is cut at the edges.
"""
from __future__ import annotations

import csv
import logging
import os
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from engine import storage
from engine.errors import BotError
from helpdesk.app import build_flowset
from helpdesk.directory.tables import Counterparty, TelegramUser, TradePoint
from helpdesk.directory.users import display_name

from .measures import breakdowns
from .stats import summarize, tickets_between
from .tables import Ticket

__all__ = ["run", "write_csv", "write_breakdowns", "write_chart", "chart_figure", "chart_labels", "parse_period",
           "ReportError", "COLUMNS"]

log = logging.getLogger(__name__)

COLUMNS = ("number", "crm_number", "created", "closed", "status", "type", "counterparty",
           "inn", "trade_point", "author", "phone", "master", "description")
TIME_COLUMNS = ("created", "closed")       # in the display zone, which their header names
# the breakdown files: file name -> the key of breakdowns(); their columns
BREAKDOWNS = {"technicians.csv": "by_technician", "companies.csv": "by_company",
              "types.csv": "by_kind"}
BREAKDOWN_COLUMNS = ("name", "total", "closed", "first_response_h", "resolution_h",
                     "sla_met_pct", "rating", "rated")


INSTALL_CHART = f"{sys.executable} -m pip install 'matplotlib>=3.8,<4'   (or: pip install -e '.[report]')"


class ReportError(BotError):
    """Bad report arguments (the message names the argument)."""


def parse_period(date_from: str, date_to: str, zone: str | None = None) -> tuple[datetime, datetime]:
    """[from 00:00, the day after `to` 00:00) as naive UTC times (as stored), the days
    being `zone`'s (None: UTC's); ReportError for bad or reversed dates."""
    try:
        start, end = date.fromisoformat(str(date_from)), date.fromisoformat(str(date_to))
    except ValueError as e:
        raise ReportError(f"--from/--to must be YYYY-MM-DD dates ({e})") from None
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    return _utc(start, zone), _utc(end + timedelta(days=1), zone)


def _utc(day: date, zone: str | None) -> datetime:
    """Midnight starting `day` in `zone`, as a naive UTC time."""
    midnight = datetime.combine(day, datetime.min.time())
    if zone is None:
        return midnight
    return midnight.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc).replace(tzinfo=None)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    local = value.replace(tzinfo=timezone.utc).astimezone(zone)
    return local.replace(tzinfo=None).isoformat(sep=" ", timespec="minutes")


def _names(model, ids) -> dict:
    ids = {i for i in ids if i}
    return {row.id: row for row in model.select().where(model.id.in_(ids))} if ids else {}


def _rows(tickets: list[Ticket], zone: ZoneInfo):
    cps = _names(Counterparty, [t.counterparty_id for t in tickets])
    tps = _names(TradePoint, [t.trade_point_id for t in tickets])
    users = _names(TelegramUser, [t.author_id for t in tickets])
    for t in tickets:
        cp, tp, user = cps.get(t.counterparty_id), tps.get(t.trade_point_id), users.get(t.author_id)
        author = t.contact_name or display_name(user, or_handle=False)
        yield (t.number, t.crm_number or "", _local(t.created, zone), _local(t.closed, zone), t.status,
               t.type, cp.name if cp else "", cp.inn if cp else "", tp.name if tp else "", author,
               t.contact_phone or (user.phone if user else "") or "", t.master_name or "",
               t.description)


# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection:
# =HYPERLINK to a phishing page, DDE); tab and CR too, which some importers strip first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value):
    """`value` as Excel must show it: text a person wrote that would start a formula gets the
    apostrophe OWASP advises (Excel hides it and shows the text as typed)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(tickets: list[Ticket], path: str, zone: str = "UTC") -> str:
    """tickets.csv, its times in `zone` (the header says which)."""
    header = [f"{c} ({zone})" if c in TIME_COLUMNS else c for c in COLUMNS]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(header)
        writer.writerows([_text_cell(v) for v in row] for row in _rows(tickets, ZoneInfo(zone)))
    return path


def write_breakdowns(tickets: list[Ticket], folder: str) -> list[str]:
    """technicians.csv, companies.csv, types.csv (an unknown figure is an empty cell)."""
    figures, paths = breakdowns(tickets), []
    for name, key in BREAKDOWNS.items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f, delimiter=";")
            writer.writerow(BREAKDOWN_COLUMNS)
            writer.writerows([_cell(row[c]) for c in BREAKDOWN_COLUMNS] for row in figures[key])
        paths.append(path)
    return paths


def _cell(value) -> str:
    """A figure for Excel with a Russian locale: a decimal comma, nothing for unknown."""
    if isinstance(value, str):
        return _text_cell(value)                 # a technician's or a company's name
    return "" if value is None else str(value).replace(".", ",") if isinstance(value, float) else str(value)


def chart_labels(templates, lang: str | None, since: date, until: date, summary: dict) -> dict:
    """The chart's words in `lang`: {title, by_status, by_type, by_technician, count,
    not_assigned, statuses: {code: name}}."""
    say = lambda name, **ctx: templates.render_label(name, lang, ctx)
    return {"title": say("report/chart_title", since=since, until=until, total=summary["total"]),
            "by_status": say("report/by_status"), "by_type": say("report/by_type"),
            "by_technician": say("report/by_technician"), "not_assigned": say("report/not_assigned"),
            "count": say("report/count"),
            "statuses": {code: say("report/status", status=code) for code, _ in summary["by_status"]}}


def _technician_pairs(rows: list[dict], labels: dict) -> list[list]:
    """Closed tickets per technician, the average rating beside the name ("Петров ★4.5")."""
    return [[(r["name"] or labels["not_assigned"]) + (f" ★{r['rating']}" if r["rating"] else ""),
             r["closed"]] for r in rows]


def chart_figure(summary: dict, labels: dict):
    """Bar charts side by side, tickets per status and per type and, when `summary` has the
    breakdowns (measures.breakdowns), closed tickets per technician (a matplotlib Figure)."""
    import matplotlib
    matplotlib.use("Agg")                       # no display on a server
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    keys = ("by_status", "by_type", *(("by_technician",) if "by_technician" in summary else ()))
    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 5))
    names = {"by_status": labels["statuses"], "by_type": {}, "by_technician": {}}
    plotted = {**summary, "by_technician": _technician_pairs(summary.get("by_technician", []), labels)}
    for ax, key in zip(axes, keys, strict=True):
        pairs = plotted[key] or [["—", 0]]
        ax.bar([_wrap(names[key].get(k, k)) for k, _ in pairs], [v for _, v in pairs],
               color="#4a7ebb")
        ax.set_title(labels[key])
        ax.set_ylabel(labels["count"])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))     # no 0.5 of a ticket
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    fig.suptitle(labels["title"])
    fig.tight_layout()
    return fig


def write_chart(summary: dict, labels: dict, path: str) -> str:
    import matplotlib.pyplot as plt
    fig = chart_figure(summary, labels)
    fig.savefig(path, dpi=100, bbox_inches="tight")        # the canvas grows to fit every label
    plt.close(fig)
    return path


def _wrap(label) -> str:
    return "\n".join(textwrap.wrap(str(label) or "—", 18)) or "—"


def run(settings, args) -> int:
    """The `report` command: write the files, print their paths; 2 on bad arguments."""
    zone = settings.engine.timezone
    try:
        since, until = parse_period(args.date_from, args.date_to, zone)
    except ReportError as e:
        print(f"error: {e}")
        return 2
    storage.connect(settings.database.url)
    tickets = tickets_between(since, until)
    os.makedirs(args.out, exist_ok=True)
    csv_path = write_csv(tickets, os.path.join(args.out, "tickets.csv"), zone)
    summary = {**summarize(tickets), **breakdowns(tickets)}
    print(csv_path)
    for path in write_breakdowns(tickets, args.out):
        print(path)
    try:
        import matplotlib  # noqa: F401 - only whether it is installed
    except ImportError:
        print(f"error: the chart needs matplotlib, an optional extra: {INSTALL_CHART} "
              "(the CSV above is written)", file=sys.stderr)
        return 1
    templates = build_flowset(settings).templates            # the bot's own, with its filters
    first, last = date.fromisoformat(str(args.date_from)), date.fromisoformat(str(args.date_to))
    labels = chart_labels(templates, args.lang, first, last, summary)
    print(write_chart(summary, labels, os.path.join(args.out, "tickets.png")))
    return 0
