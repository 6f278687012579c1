"""Attack (issue 16, point 3: a member who leaves keeps pressing). Telegram reports a
member who was restricted (muted, say) and then leaves the group with the status
"restricted" and `is_member: false`, not "left". The adapter passes the bare status, so the
desk (helpdesk/desk/members.py, LEFT = left | kicked) never sees that the technician left:
their role stays and their presses keep working."""
from __future__ import annotations

from engine.telegram.incoming import to_event

GROUP = -1001234
USER = {"id": 900, "is_bot": False, "first_name": "Пётр", "last_name": "Петров"}
ADMIN = {"id": 920, "is_bot": False, "first_name": "Анна"}
RIGHTS = {k: True for k in (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
    "can_invite_users", "can_pin_messages", "can_manage_topics", "can_edit_tag", "can_react_to_messages")}


def _update(is_member: bool) -> dict:
    restricted = {"status": "restricted", "user": USER, "is_member": is_member,
                  "until_date": 0, **RIGHTS, "can_send_messages": False}
    data = {"update_id": 77, "chat_member": {
        "chat": {"id": GROUP, "type": "supergroup", "title": "Поддержка", "is_forum": True},
        "from": ADMIN, "date": 1764700000,
        "old_chat_member": {**restricted, "is_member": True},
        "new_chat_member": restricted}}
    return data


def test_a_restricted_member_who_leaves_is_reported_as_gone():
    event = to_event(_update(is_member=False))
    assert event is not None and event.kind == "member"
    assert event.member["new"] in ("left", "kicked"), event.member


def test_a_restricted_member_still_in_the_group_is_not_reported_as_gone():
    event = to_event(_update(is_member=True))
    assert event.member["new"] not in ("left", "kicked")
