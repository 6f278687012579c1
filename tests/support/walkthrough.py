"""The demo's terminal chat driven by a script (issue 14's Measure): every line the chat
shows and every template rendered on the way are kept, so a walk can be held to three
rules at its end: no apology, no English word in a Russian chat, no text `flows check`
does not trace.

    walk = Walk(monkeypatch, first_day())
    walk.run(["/as 3", press("Создать заявку"), press("Магазин на Тверской"), ...])
    assert walk.problems() == []

A step is a line to type or `press(label)`: the number of the button whose label holds
`label` among the buttons the chat shows now (the console's own list, as a person reads it).
"""
from __future__ import annotations

import datetime
import re
from typing import Callable, Iterable, Union
from zoneinfo import ZoneInfo

from engine.checker import traced_templates
from engine.templates import Templates, plain_text
from helpdesk import config
from helpdesk.ops.commands import demo_console
from helpdesk.registry import registry

__all__ = ["Walk", "press", "first_day", "SBP_LINK", "SUPPORT_PHONE"]

Step = Union[str, Callable[["Walk"], str]]

SBP_LINK = "https://qr.nspk.ru/AD100004BAL7227F9BNP6KNE007J9B3K"
SUPPORT_PHONE = "+7 495 123-45-67"
YOU = 700000001                       # the newcomer of the demo (`/as 0`)

# What the product calls itself or must spell in Latin letters, and why:
ALLOWED_LATIN = {
    "Telegram",        # the messenger's own name: "подтверждён Telegram", "В Telegram: @..."
    "QR",              # "QR-код": the Russian word for it, as banks and the SBP write it
}
# Tokens that are not words of a language: links, commands (`/as group`: the demo's
# persona keys are typed), @usernames, and the settings.yaml keys the demo's warning names
# (`notify.bug.telegram_user_id`: what the admin types, as written in the file).
_NOT_WORDS = re.compile(r"https?://\S+|/as \w+|(?<![\w/])/[a-z_]+|@\w+|\b[a-z_]+(?:\.[a-z_]+)+\b")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
# The texts that say something went wrong (templates/ru/common/*, ticket/error): a walk
# that follows the product's own buttons must never see one.
APOLOGIES = ("common/error", "common/session_lost", "common/button_refused", "ticket/error")
_APOLOGY_WORDS = ("Извините", "извините", "произошла ошибка", "пошло не так")


def press(label: str) -> Callable[["Walk"], str]:
    """The step that presses the shown button whose label contains `label`."""
    def step(walk: Walk) -> str:
        labels = [b[0] for b in walk.console.buttons]
        found = [i for i, shown in enumerate(labels, 1) if label in shown]
        assert found, f"no button {label!r} in the chat now; shown: {labels}\n{walk.tail()}"
        return str(found[0])
    step.__name__ = f"press({label!r})"
    return step


def first_day(**environ: str) -> config.Settings:
    """A support company's settings on its first day: operator and policy for the consent,
    a support phone, an SBP link, a card token, top-ups, a bug recipient; the desk closed
    today and tomorrow (local time), so a ticket filed now is told when it will be seen."""
    settings = config.load(environ={"BOT__PAYMENT": "TEST:provider-token", **environ})
    settings.support.phone = SUPPORT_PHONE
    settings.privacy.operator = "ООО «Сервис», ИНН 7707083893, Москва, ул. Ленина, 1"
    settings.privacy.policy_url = "https://example.ru/privacy"
    settings.pay.sbp_static_link = SBP_LINK
    settings.pay.add_balance = True
    settings.notify.bug.telegram_user_id = 700000999
    today = datetime.datetime.now(ZoneInfo(settings.engine.timezone)).isoweekday()
    settings.support.hours.days = [d for d in range(1, 8) if d not in (today, today % 7 + 1)]
    return settings


class Walk:
    """One run of `python run.py demo` (the newcomer first), fed by steps."""

    def __init__(self, monkeypatch, settings: config.Settings, lang: str = "ru"):
        self.lang, self.out, self.rendered = lang, [], []
        self._steps: list[Step] = []
        self._record_renders(monkeypatch)
        self.console = demo_console(settings, user_id=YOU, lang=lang, read=self._read,
                                    write=self.out.append, connect=False)

    def _record_renders(self, monkeypatch) -> None:
        render = Templates.render

        def recording(templates, name, language, context):
            self.rendered.append(name)
            return render(templates, name, language, context)
        monkeypatch.setattr(Templates, "render", recording)

    def run(self, steps: Iterable[Step]) -> Walk:
        """Type the steps, one per prompt, until they run out (Ctrl-D)."""
        self._steps = list(steps)
        self.console.run()
        return self

    def _read(self, prompt: str) -> str:
        if not self._steps:
            raise EOFError
        step = self._steps.pop(0)
        line = step if isinstance(step, str) else step(self)
        self.out.append(f"{prompt.strip() or '>'} {line}")     # what was typed, as shown
        return line

    # ---- what the chat showed ---------------------------------------------------------------

    def text(self) -> str:
        return "\n".join(self.out)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def after(self, marker: str) -> str:
        """What the chat showed from the last line containing `marker` on."""
        last = max(i for i, line in enumerate(self.out) if marker in line)
        return "\n".join(self.out[last:])

    def between(self, start: str, end: str) -> str:
        """From the last line containing `start` up to the next one containing `end`."""
        shown = self.after(start)
        return shown[:shown.index(end, len(start))] if end in shown[len(start):] else shown

    def bot_lines(self) -> list[str]:
        """What the bot (and the terminal chat) wrote; not the lines typed."""
        return [line for chunk in self.out for line in chunk.splitlines()
                if not self._typed(chunk)]

    def _typed(self, chunk: str) -> bool:
        return chunk.startswith("> ") or chunk.startswith(">") and "\n" not in chunk

    # ---- the three rules -------------------------------------------------------------------

    def problems(self) -> list[str]:
        return self.apologies() + self.latin_words() + self.untraced()

    def apologies(self) -> list[str]:
        said = [f"apology: template {name}" for name in APOLOGIES if name in self.rendered]
        apology = plain_text(self.console.engine.flowset.templates.render("common/error", "ru", {}))
        self.rendered.remove("common/error")              # that render was ours, not the walk's
        said += [f"apology: {line!r}" for line in self.bot_lines()
                 if apology in line or any(word in line for word in _APOLOGY_WORDS)]
        return said

    def latin_words(self) -> list[str]:
        if self.lang != "ru":
            return []
        found = []
        for line in self.bot_lines():
            words = set(_LATIN_WORD.findall(_NOT_WORDS.sub(" ", line))) - ALLOWED_LATIN
            found += [f"latin word {w!r} in: {line!r}" for w in sorted(words)]
        return found

    def untraced(self) -> list[str]:
        fs = self.console.engine.flowset
        traced = traced_templates(fs.flows, fs.templates, registry, menu_flow=fs.menu_flow,
                                  commands=fs.commands)
        return [f"untraced template {name}" for name in sorted(set(self.rendered) - traced)]
