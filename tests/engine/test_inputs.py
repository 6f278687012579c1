"""The built-in `file` input: what a form's file question takes."""
from __future__ import annotations

from engine import inputs
from engine.events import Event, FileRef


def _sent(*files: FileRef) -> Event:
    return Event(1, 1, kind="file", files=files, message_id=7)


def test_a_file_question_takes_a_photo_or_a_document_and_never_a_voice_or_a_sticker():
    assert inputs.file(_sent(FileRef("P", "photo")), {}) == (
        True, [{"file_id": "P", "kind": "photo", "name": ""}])
    assert inputs.file(_sent(FileRef("D", "document", "act.pdf")), {})[0] is True
    for kind in ("voice", "sticker", "video_note", "animation"):
        assert inputs.file(_sent(FileRef("X", kind)), {}) == (False, "common/unsupported_file")


def test_accept_narrows_it_to_one_kind():
    assert inputs.file(_sent(FileRef("D", "document")), {"accept": "photo"}) == (
        False, "common/unsupported_file")
    assert inputs.file(_sent(FileRef("P", "photo")), {"accept": "photo"})[0] is True
