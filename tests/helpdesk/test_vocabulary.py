"""One word for a ticket and one for a company in everything the bot says (issue 14 point 4).

Russian texts say «заявка» and «компания» (never «обращение», «организация», «тикет»,
«контрагент»); English ones say "ticket" and "company" (never "organization", "firm",
"counterparty", "appeal", "inquiry"). Scanned: the text of every template of both
languages, with the quoted strings inside its Jinja tags (status names, question names
live there) but not the variable names (`ticket.counterparty` is code, not a word shown),
and the texts of the flow files (`description`, literal button `text`).
"""
from __future__ import annotations

import glob
import os
import re

import yaml

from tests.support.paths import ROOT

FORBIDDEN = {
    "ru": re.compile(r"обращени\w*|организаци\w*|тикет\w*|контрагент\w*", re.IGNORECASE),
    "en": re.compile(r"\b(?:organi[sz]ations?|firms?|counterpart(?:y|ies)|appeals?|inquir\w*|enquir\w*)\b",
                     re.IGNORECASE),
}
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def shown_text(source: str) -> str:
    """What a template can show: its literal text and the quoted strings of its tags
    (template names, like "ticket/_macros.j2", are paths, not words)."""
    quoted = [a or b for tag in _TAG.findall(source) for a, b in _QUOTED.findall(tag)]
    words = [q for q in quoted if not q.endswith(".j2")]
    return "\n".join([_TAG.sub(" ", source), *words])


def template_texts(lang: str) -> dict[str, str]:
    files = glob.glob(os.path.join(ROOT, "templates", lang, "**", "*.j2"), recursive=True)
    return {os.path.relpath(f, ROOT): shown_text(open(f, encoding="utf-8").read()) for f in files}


def flow_texts() -> dict[str, str]:
    """Each flow file's descriptions and literal button texts (a template name has a '/')."""
    found: dict[str, str] = {}
    for path in glob.glob(os.path.join(ROOT, "flows", "*.yaml")):
        texts: list[str] = []
        _collect(yaml.safe_load(open(path, encoding="utf-8")), texts)
        found[os.path.relpath(path, ROOT)] = "\n".join(texts)
    return found


def _collect(node, texts: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "text") and isinstance(value, str) and "/" not in value:
                texts.append(value)
            else:
                _collect(value, texts)
    elif isinstance(node, list):
        for item in node:
            _collect(item, texts)


def offenders(texts: dict[str, str], lang: str) -> dict[str, list[str]]:
    found = {name: FORBIDDEN[lang].findall(text) for name, text in texts.items()}
    return {name: words for name, words in found.items() if words}


def test_the_scan_sees_words_in_text_and_in_quoted_strings_but_not_in_variable_names():
    source = ('{% set s = {"new": "Новое обращение"} %}Организация: {{ ticket.counterparty }}'
              '{% from "ticket/_macros.j2" import x %}')
    assert offenders({"t": shown_text(source)}, "ru") == {"t": ["Организация", "обращение"]}
    assert offenders({"t": shown_text(source)}, "en") == {}


def test_every_russian_template_says_zayavka_and_kompaniya():
    texts = template_texts("ru")
    assert len(texts) > 100                          # the scan found the templates
    assert offenders(texts, "ru") == {}


def test_every_english_template_says_ticket_and_company():
    texts = template_texts("en")
    assert len(texts) > 100
    assert offenders(texts, "en") == {}


def test_flow_texts_use_the_same_words():
    texts = flow_texts()
    assert "Новая заявка" in texts[os.path.join("flows", "ticket_create.yaml")]
    assert offenders(texts, "ru") == {}
