"""The adapter's reading of a message: a text link (words with a URL behind them, Ctrl+K in
Telegram's clients) keeps its URL in the event's text, at the right place even after an
emoji (Telegram counts offsets in UTF-16 code units)."""
from __future__ import annotations

from telegram import Update

from engine.telegram.adapter import to_event

URL = "https://updates.example.ru/kassa-5.2.exe?a=1&b=2"


def _event(**message):
    chat = {"id": 101, "type": "private", "first_name": "Имя"}
    update = {"update_id": 1, "message": {"message_id": 5, "date": 0, "chat": chat,
                                          "from": {"id": 101, "is_bot": False, "first_name": "Имя"},
                                          **message}}
    return to_event(Update.de_json(update, None))


def test_a_text_link_keeps_its_url_after_its_words():
    text = "🔧 Скачайте обновление и установите"      # the emoji is 2 UTF-16 units
    ev = _event(text=text, entities=[{"type": "text_link", "offset": 3, "length": 19, "url": URL},
                                     {"type": "bold", "offset": 23, "length": 11}])
    assert ev.text == f"🔧 Скачайте обновление ({URL}) и установите"


def test_a_caption_link_and_a_link_that_is_its_own_url():
    ev = _event(caption="схема", photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}],
                caption_entities=[{"type": "text_link", "offset": 0, "length": 5, "url": URL}])
    assert ev.text == f"схема ({URL})"
    same = _event(text=URL, entities=[{"type": "text_link", "offset": 0, "length": len(URL), "url": URL}])
    assert same.text == URL
