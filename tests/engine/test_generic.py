"""engine/ is generic: it imports nothing of the project that uses it (helpdesk,
integrations, tests), and no domain word appears in it: not in code, names, strings,
comments or docstrings.

The rules, precisely:

- Imports: every `import` / `from ... import` anywhere in a module (also inside functions),
  relative ones resolved, and every `importlib.import_module("...")` / `__import__("...")`
  with a literal name. None may name a module of `FORBIDDEN_PACKAGES`.
- Words: the source text is cut into words (runs of letters, digits and underscores), each
  word into parts at underscores and camelCase (`create_ticket` -> create, ticket;
  `TicketService` -> Ticket, Service). A part is a domain word when it equals one of
  `DOMAIN_EXACT` (so "inner", "beginning", "running" are not "inn", and "0x1c" is not 1C)
  or starts with one of `DOMAIN_PREFIXES` (so "tickets", "payments", "kopecks",
  "counterparties" are caught). Russian spellings count too: the product's texts are
  Russian, and "1С" is written with a Cyrillic С. ("обращение", the product's word for a
  ticket, is left out: it is also the ordinary Russian word for an access or a call.)
- One exception, for Telegram's own API: Telegram names its payment updates
  `successful_payment` and `pre_checkout_query`, with `telegram_payment_charge_id` and
  `provider_payment_charge_id` fields, and the transport-neutral `Event` carries that update
  as kind "payment" / `Event.payment`. `TELEGRAM_NAMES` lists, per file, the exact whole
  words allowed for that reason, and only there; each entry must still be in use, so the
  list cannot go stale and silently widen.

Templates (templates/*/common/*.j2) may mention domain words: they are the project's texts.
What the engine must not do is name a domain template.
"""
from __future__ import annotations

import ast
import os
import re

import pytest

from tests.support.paths import ROOT

ENGINE = os.path.join(ROOT, "engine")

FORBIDDEN_PACKAGES = {"helpdesk", "integrations", "tests"}
DOMAIN_EXACT = {"inn", "inns", "1c", "инн", "1с"}           # the last "с" is Cyrillic
DOMAIN_PREFIXES = ("ticket", "kopeck", "kopek", "counterpart", "payment",
                   "копеек", "копейк", "контрагент", "заявк", "платеж", "платёж", "оплат")

TELEGRAM_NAMES = {
    # Event.kind "payment" and Event.payment: Telegram's successful_payment message (and the
    # pre_checkout_query's fields) in transport-neutral form
    "engine/events.py": {"payment"},
    # the translation of Telegram's update into that Event
    "engine/telegram/incoming.py": {"payment", "successful_payment", "payment_fields",
                                    "telegram_payment_charge_id", "provider_payment_charge_id"},
    # "payment provider token": Telegram's own description of sendInvoice's provider_token
    "engine/telegram/sender.py": {"payment"},
}

_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"(?<=[a-zа-яё])(?=[A-ZА-ЯЁ])|(?<=[A-ZА-ЯЁ])(?=[A-ZА-ЯЁ][a-zа-яё])")


def engine_files() -> list[str]:
    out = []
    for folder, _, names in os.walk(ENGINE):
        out += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    return sorted(out)


def _rel(path: str, root: str = ROOT) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _module(path: str, root: str) -> str:
    parts = _rel(path, root)[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# -- imports ----------------------------------------------------------------------------
def imported_modules(path: str, root: str = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it is."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    module = _module(path, root)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            # `from .. import storage` imports the module engine.storage (or a name of engine)
            found += [(node.lineno, f"{base}.{a.name}" if node.module is None else base)
                      for a in node.names]
        elif isinstance(node, ast.Call) and _is_import_call(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.append((node.lineno, node.args[0].value))
    return found


def _absolute(package: str, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    base = package.split(".")[:len(package.split(".")) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _is_import_call(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def import_problems(files: list[str]) -> list[str]:
    return [f"{_rel(path)}:{line}: imports {name}" for path in files
            for line, name in imported_modules(path) if name.split(".")[0] in FORBIDDEN_PACKAGES]


# -- words ------------------------------------------------------------------------------
def is_domain_part(part: str) -> bool:
    low = part.lower()
    return low in DOMAIN_EXACT or low.startswith(DOMAIN_PREFIXES)


def domain_words(text: str) -> list[tuple[int, str]]:
    """(line, word) of every word with a domain part."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for word in _WORD.findall(line):
            parts = [p for chunk in word.split("_") for p in _CAMEL.split(chunk) if p]
            if any(is_domain_part(p) for p in parts):
                found.append((number, word))
    return found


def word_problems(files: list[str], allowed: dict[str, set[str]]) -> tuple[list[str], set]:
    """Domain words not allowed, and the allowed (file, word) pairs that were used."""
    problems, used = [], set()
    for path in files:
        rel = _rel(path)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line, word in domain_words(text):
            if word.lower() in allowed.get(rel, set()):
                used.add((rel, word.lower()))
            else:
                problems.append(f"{rel}:{line}: domain word {word!r}")
    return problems, used


def _allowed() -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = {}
    for table in (TELEGRAM_NAMES,):
        for rel, words in table.items():
            allowed.setdefault(rel, set()).update(words)
    return allowed


# -- the tests --------------------------------------------------------------------------
def test_the_engine_imports_nothing_of_the_project():
    assert import_problems(engine_files()) == []


def test_the_engine_contains_no_domain_word():
    problems, _ = word_problems(engine_files(), _allowed())
    assert problems == []


def test_every_allowed_word_is_still_in_use():
    """An exception that matches nothing is stale: delete it (this is how the
    AWAITING_TRANSPORT entry goes once the dispatcher no longer refuses payments itself)."""
    _, used = word_problems(engine_files(), _allowed())
    stale = sorted((rel, w) for rel, words in _allowed().items() for w in words if (rel, w) not in used)
    assert stale == []


# -- the rules themselves, on small texts -------------------------------------------------
@pytest.mark.parametrize("text", [
    "def create_ticket(): ...", "class TicketService: ...", "x = 'kopecks'", "# the INN of it",
    "INN_HINTS = ()", "'common/invalid_inn'", "from 1C or a CRM", "payments = []",
    "Counterparty", "# 12 копеек", "ИНН компании", "выгрузка в 1С", "refusePayment()",
])
def test_a_domain_word_is_found(text):
    assert domain_words(text) != []


@pytest.mark.parametrize("text", [
    "inner = beginning + running", "winner", "0x1c", "color = '#1c1c1c'", "spinner",
    "tick = 1", "counter = 0", "invoice", "pre_checkout",
])
def test_an_ordinary_word_is_not(text):
    assert domain_words(text) == []


def test_function_local_and_relative_imports_are_seen(tmp_path):
    folder = tmp_path / "engine" / "tools"
    folder.mkdir(parents=True)
    path = folder / "x.py"
    path.write_text("from .. import storage\n"
                    "def f():\n    from helpdesk.app import build_app\n"
                    "    import integrations.crm\n"
                    "    importlib.import_module('tests.support.fakes')\n", encoding="utf-8")
    found = imported_modules(str(path), str(tmp_path))
    assert sorted(name for _, name in found) == ["engine.storage", "helpdesk.app",
                                                 "integrations.crm", "tests.support.fakes"]
