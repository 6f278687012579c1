"""The settings schema: the shape and types of settings.yaml (documented there).

Secrets are `SecretStr`: their repr is `**********`, so a settings object that reaches a log
never shows them. `Settings.secrets()` lists their values for the log redaction filter.
Templates see only the settings named in `engine.template_settings` (`template_view()`);
a name there that is, or holds, a secret is refused when the settings load.
"""
from __future__ import annotations

import os
from datetime import date, time
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from engine.config import load_settings

from .desk.settings import Desk, Ratings, Sla
from .settings_base import Strict as _Strict

__all__ = ["Settings", "load", "DEFAULT_FILE", "PROJECT_ROOT", "project_path", "template_view",
           "TEMPLATE_SETTINGS"]

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILE = os.path.join(PROJECT_ROOT, "settings.yaml")


def project_path(path: str) -> str:
    """Relative paths in settings are relative to the project folder."""
    return path if os.path.isabs(path) else os.path.join(PROJECT_ROOT, path)


# The default of engine.template_settings: what the shipped flows and templates read.
TEMPLATE_SETTINGS = ("pay.use", "pay.balance_visible", "pay.add_balance", "pay.card",
                     "pay.sbp_static", "pay.currency", "pay.amounts", "pay.min_amount",
                     "pay.max_amount", "tickets.types", "tickets.page_size", "tickets.closed_days",
                     "tickets.reopen_days")


class Webhook(_Strict):
    url: str = ""
    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    path: str = "/telegram"
    secret_token: SecretStr = SecretStr("")
    serve_api: bool = False        # also serve the REST API (settings api.*) on this port


class Bot(_Strict):
    name: str = "helpdesk_bot"
    token: SecretStr = SecretStr("")
    payment: SecretStr = SecretStr("")
    api_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: Webhook = Webhook()
    workers: int = Field(1, ge=1, le=64)
    lease_seconds: int = Field(60, ge=2, le=3600)   # a message a dead worker was sending: re-sent after this
    poll_timeout: int = Field(10, ge=0, le=50)


class Database(_Strict):
    url: str = "sqlite:///data/bot.db"


class Logging(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    file: str = "logs/bot.log"
    console_format: str = "%(asctime)s - %(message)s"
    file_format: str = "%(asctime)s [%(threadName)s] %(levelname)-5s %(name)s - %(message)s"
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    backup_count: int = Field(5, ge=0)
    levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = {}


class Engine(_Strict):
    flows_dir: str = "flows"
    templates_dir: str = "templates"
    default_language: str = "ru"
    languages: list[str] = ["ru", "en"]
    menu_flow: str = "menu"
    commands: dict[str, str] = {"start": "menu", "menu": "menu", "help": "help", "cancel": "menu"}
    max_auto_steps: int = Field(50, ge=1)
    timeout_check_seconds: int = Field(30, ge=1)
    watch_seconds: float = Field(2, ge=0)
    timezone: str = "Europe/Moscow"
    # engine.supervisor: a failed task restarts after restart_backoff_seconds, doubled per
    # failure in a row up to restart_backoff_max_seconds (docs/deploy.md, "Health")
    restart_backoff_seconds: float = Field(0.5, gt=0, le=60)
    restart_backoff_max_seconds: float = Field(10, gt=0, le=600)
    heartbeat_seconds: float = Field(5, ge=0, le=300)          # health row; 0: no `run.py health`
    health_max_inbox_age_seconds: float = Field(60, gt=0)      # an older pending update: unhealthy

    @model_validator(mode="after")
    def _backoff_order(self):
        if self.restart_backoff_max_seconds < self.restart_backoff_seconds:
            raise ValueError("engine.restart_backoff_max_seconds must be at least "
                             "engine.restart_backoff_seconds")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Moscow") from None
        return value
    admins: list[int] = []    # Telegram ids allowed to /reload flows (helpdesk.flowtools, engine.tools.reload)
    template_settings: list[str] = Field(default_factory=lambda: list(TEMPLATE_SETTINGS))

    @field_validator("template_settings")
    @classmethod
    def _public_settings_only(cls, paths: list[str]) -> list[str]:
        for path in paths:
            problem = _template_setting_problem(path)
            if problem:
                raise ValueError(problem)
        return paths


class Dadata(_Strict):
    api_key: SecretStr = SecretStr("")
    url: str = "https://suggestions.dadata.ru/suggestions/api/4_1/rs"
    timeout: float = Field(3, gt=0)


class Crm(_Strict):
    kind: Literal["none", "1c-seed", "rest"] = "none"
    url: str = ""
    login: str = ""
    password: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    timeout: float = Field(10, gt=0)
    retries: int = Field(3, ge=0, le=10)
    post_roles: dict[Literal["DIRECTOR", "ADMINISTRATOR"], list[str]] = {}
    # 1C status name (defaultData taskStatuses[].name) -> the bot's status (both ways)
    statuses: dict[str, Literal["new", "in_progress", "waiting", "done", "cancelled"]] = {}


class Pay(_Strict):
    use: bool = True
    balance_visible: bool = True
    add_balance: bool = False
    card: bool = True
    bank: bool = False
    sbp_static: bool = True
    sbp_static_link: str = ""
    sbp: bool = False
    crypto: bool = False
    currency: str = "RUB"
    amounts: list[int] = [500, 1000, 3000]
    min_amount: int = Field(100, ge=1)
    max_amount: int = Field(100000, ge=1)
    payload_secret: SecretStr = SecretStr("")

    @field_validator("bank", "sbp", "crypto")
    @classmethod
    def _not_implemented(cls, value: bool, info) -> bool:
        if value:
            raise ValueError(f"pay.{info.field_name} is not implemented by this product; "
                             "set it to false")
        return value


class NotifySystem(_Strict):
    use: bool = True
    work_group_id: int = 0
    new_ticket: bool = True
    edit_ticket: bool = False
    closed_ticket: bool = False
    user_closed_ticket: bool = True


class NotifyUser(_Strict):
    use: bool = True
    new_ticket: bool = True
    edit_ticket: bool = False
    closed_ticket: bool = True
    status_changed: bool = True
    company_new_tickets: bool = False
    balance_replenished: bool = False
    need_to_pay_task: bool = False
    task_is_paid: bool = False


class NotifyBug(_Strict):
    use: bool = True
    telegram_user_id: int = 0
    min_interval_seconds: float = Field(60, ge=0)


class Notify(_Strict):
    system: NotifySystem = NotifySystem()
    user: NotifyUser = NotifyUser()
    bug: NotifyBug = NotifyBug()


class Tickets(_Strict):
    types: list[str] = ["Другое"]
    duplicate_window_hours: float = Field(24, ge=0)
    duplicate_similarity: float = Field(0.6, ge=0, le=1)
    page_size: int = Field(5, ge=1, le=20)
    technicians: list[int] = []                      # only seeds the desk's roster (desk/staff.py)
    admins_refresh_seconds: float = Field(300, ge=10, le=86400)   # the work group's admins re-read
    closed_days: int = Field(90, ge=1, le=3660)       # the closed-tickets list looks this far back
    reopen_days: int = Field(14, ge=0, le=3660)       # 0: a closed ticket is never reopened


class Api(_Strict):
    listen: str = "127.0.0.1"
    port: int = Field(8181, ge=1, le=65535)
    tokens: list[SecretStr] = []
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)   # larger: 413 unread
    max_list_items: int = Field(5000, ge=1, le=100_000)      # per list in a body; more: 422
    max_amount_kopecks: int = Field(10 ** 11, ge=1, le=10 ** 15)   # |money| accepted; more: 422


class Sync(_Strict):
    interval_seconds: float = Field(10, gt=0)
    reconcile_seconds: float = Field(300, gt=0)
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(600, gt=0)
    lease_seconds: float = Field(15, ge=1, le=600)   # a claim its drainer stops renewing: freed after this
    senders: int = Field(1, ge=1, le=10)             # items sent at once (10: the HTTP pool's size)
    retention_days: float = Field(30, ge=0)          # done outbox rows pruned after this; 0: kept forever
    references_seconds: float = Field(3600, gt=0)          # 1C defaultData read again after this
    references_retry_seconds: float = Field(60, gt=0)      # a failed read tried again after this


class Hours(_Strict):
    days: list[int] = [1, 2, 3, 4, 5]
    start: time = time(9, 0)
    end: time = time(18, 0)
    holidays: list[date] = []

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in value):
            raise ValueError("days are ISO weekdays: 1 (Monday) ... 7 (Sunday)")
        return value

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Support(_Strict):
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=200)
    hours: Hours = Hours()


class Privacy(_Strict):
    operator: str = Field("", max_length=500)
    policy_url: str = Field("", max_length=500, pattern=r"^(https?://\S+)?$")
    text_version: str = Field("1", min_length=1, max_length=40, pattern=r"^[\w.\-]+$")

    @field_validator("text_version", mode="before")
    @classmethod
    def _version_text(cls, value):
        """`text_version: 2` (YAML reads a number) is the version "2"."""
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class Settings(_Strict):
    bot: Bot = Bot()
    database: Database = Database()
    logging: Logging = Logging()
    engine: Engine = Engine()
    dadata: Dadata = Dadata()
    crm: Crm = Crm()
    pay: Pay = Pay()
    notify: Notify = Notify()
    tickets: Tickets = Tickets()
    desk: Desk = Desk()
    ratings: Ratings = Ratings()
    api: Api = Api()
    sync: Sync = Sync()
    support: Support = Support()
    sla: Sla = Sla()
    privacy: Privacy = Privacy()

    @field_validator("sla")
    @classmethod
    def _sla_types_are_ticket_types(cls, sla: Sla, info) -> Sla:
        # a misspelt or renamed type's target would be kept and never applied to any ticket;
        # a field validator (tickets is validated before sla) so the error points at sla:
        tickets = info.data.get("tickets")
        unknown = [t for t in sla.types if tickets is not None and t not in tickets.types]
        if unknown:
            raise ValueError(f"sla.types.{unknown[0]}: no such ticket type (tickets.types: "
                             f"{', '.join(tickets.types)}); the type must be spelt exactly so")
        return sla

    def secrets(self) -> list[str]:
        """Every non-empty secret value, for the log redaction filter."""
        found: list[str] = []
        _collect_secrets(self, found)
        return [s for s in found if s]


def _collect_secrets(model: BaseModel, out: list[str]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            out.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _collect_secrets(value, out)
        elif isinstance(value, list):
            out.extend(v.get_secret_value() for v in value if isinstance(v, SecretStr))


# --- what templates may read ---------------------------------------------------------

def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields.get(name)
    return None if field is None else field.annotation


def _holds_secret(kind: Any) -> bool:
    """Is this settings type a secret, or a section/list/map with one inside? (By type:
    an empty secret today is a filled one tomorrow.)"""
    if kind is SecretStr:
        return True
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return any(_holds_secret(f.annotation) for f in kind.model_fields.values())
    return any(_holds_secret(arg) for arg in get_args(kind))


def _template_setting_problem(path: str) -> str | None:
    """Why `path` ("pay.use") may not be shown to templates, or None when it may."""
    kind: Any = Settings
    for part in str(path).split("."):
        inner = _field_type(kind, part) if isinstance(kind, type) and issubclass(kind, BaseModel) else None
        if inner is None:
            return f"{path!r} is not a setting"
        kind = inner
    if _holds_secret(kind):
        return f"{path!r} is or holds a secret: templates must never see it"
    return None


def template_view(settings: Settings) -> dict:
    """The `settings` template variable: the engine.template_settings paths only, as plain
    values nested like settings.yaml (`settings.pay.use`)."""
    view: dict = {}
    for path in settings.engine.template_settings:
        *sections, last = path.split(".")
        value: Any = settings
        for part in path.split("."):
            value = getattr(value, part)
        node = view
        for part in sections:
            node = node.setdefault(part, {})
        node[last] = value.model_dump() if isinstance(value, BaseModel) else value
    return view


def load(path: str | None = None, environ=None) -> Settings:
    """Settings from `path`, else $SETTINGS_FILE, else ./settings.yaml of the project."""
    env = os.environ if environ is None else environ
    return load_settings(path or env.get("SETTINGS_FILE") or DEFAULT_FILE, Settings, env)
