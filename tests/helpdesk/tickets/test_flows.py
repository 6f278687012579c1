"""Ticket dialogs as transcripts (engine.testing.Chat over helpdesk.app.build_app), the
work-group buttons and the notifications they queue."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.session import load_session
from engine.testing import Chat
from helpdesk import directory
from helpdesk.app import build_app
from helpdesk.config import load
from helpdesk.tickets import DONE, IN_PROGRESS, Ticket, TicketEvent
from tests.support.privacy import agree
from tests.support.tickets import (
    CREATE,
    DESC,
    GROUP,
    MINE,
    TECH,
    TECH2,
    file_through_dialog,
    file_ticket,
    make_settings,
    make_world,
    queued,
    world_chat,
)


def test_user_files_a_ticket_with_files_and_the_group_is_told(world):
    c = world_chat(world, 101)
    c.click(CREATE)
    assert c.buttons == ["Арбат", "Тверская", "Без точки"]      # one company, two points
    c.click("Тверская")
    c.click("ЕГАИС")
    c.send("Не уходят документы в ЕГАИС,\nошибка транспортного модуля")
    c.send_file("photo-1")
    c.send_file("doc-1", kind="document", name="log.txt")
    c.click("✅ Готово")
    assert "Тверская" in c.last_text and "Вложения: 2 файла" in c.last_text
    c.click("📨 Отправить")
    assert c.said("Заявка <b>#1</b> создана")
    ticket = Ticket.get()
    assert (ticket.type, ticket.trade_point_id, len(ticket.attachments)) == ("ЕГАИС", world.p1, 2)
    assert "ошибка транспортного модуля" in ticket.description and "\n" in ticket.description
    post = queued(GROUP, ":post")[0]
    assert "#1" in post.text and [b.data for row in post.buttons for b in row][0] == f"wg:take:{ticket.id}"


def test_pressing_send_twice_creates_one_ticket(world):
    c = world_chat(world, 101)
    file_through_dialog(c)
    confirm = c.last
    c.click("📨 Отправить")
    data = confirm.buttons[0][0].data
    c.press_data(data)                       # the same button again (a double tap)
    assert Ticket.select().count() == 1
    assert c.said("Эта кнопка уже устарела")       # told the button is stale, nothing filed


def test_draft_key_survives_a_repeated_submit_action(world):
    c = world_chat(world, 101)
    file_through_dialog(c)
    key = load_session(101, 101).slots["draft_key"]
    c.click("📨 Отправить")
    ticket, created = world.svc.create(101, type="Касса", description=DESC, counterparty_id=world.a,
                                       draft_key=key)      # a replayed update
    assert not created and Ticket.select().count() == 1


def test_unauthorized_is_asked_phone_and_name_first(world):
    c = world_chat(world, 777, first_name="Гость")
    c.click(CREATE)
    agree(c)                                      # the consent comes first (152-ФЗ)
    assert "телефон" in c.last_text
    c.share_contact("+79161234567")
    assert "обращаться" in c.last_text
    c.send("Пётр Иванов")
    assert c.buttons == ["Касса", "ЕГАИС", "Другое"]   # no company: no company or point question
    c.click("Другое")
    c.send("Не работает эквайринг в магазине")
    c.click("✅ Готово")
    c.click("📨 Отправить")
    t = Ticket.get()
    assert (t.counterparty_id, t.contact_phone, t.contact_name) == (None, "+79161234567", "Пётр Иванов")
    c.click(CREATE)                          # stored now: not asked again
    assert c.buttons == ["Касса", "ЕГАИС", "Другое"]


def test_choose_company_when_several(world):
    directory.link_user(101, world.b, "USER")
    c = world_chat(world, 101)
    c.click(CREATE)
    assert c.buttons == ["ООО Лютик", "ООО Ромашка"]
    c.click("ООО Лютик")                      # B has no trade points: straight to the type
    assert c.buttons == ["Касса", "ЕГАИС", "Другое", "🏢 Другая компания"]


@pytest.mark.parametrize("text,hint", [("коротко", "Слишком коротко"), ("x" * 3001, "Слишком длинно")])
def test_bad_description_is_asked_again(world, text, hint):
    c = world_chat(world, 101)
    c.click(CREATE)
    c.click("Без точки")
    c.click("Касса")
    c.send(text)
    assert c.said(hint)
    c.send_file("photo-instead")
    assert c.said("Пожалуйста, отправьте ответ текстом")
    c.send(DESC)
    assert "Пришлите фото" in c.last_text


def test_unsupported_files_are_refused(world):
    c = world_chat(world, 101)
    c.click(CREATE)
    c.click("Без точки")
    c.click("Касса")
    c.send(DESC)
    c.send("вот фото")                                 # text where a file is asked
    assert c.said("Пришлите фото или документ.")     # the refusal, not the prompt before it
    c.send_file("big", size=50 * 1024 * 1024)
    assert c.said("Файл слишком большой (больше 20 МБ)")
    c.send_file("v1", kind="video")                    # a kind the transport may pass on
    c.send_file("x1", kind="document", name="setup.EXE")
    c.send_file("ok1", kind="document", name="act.pdf")
    c.click("✅ Готово")
    assert c.said("не подходит") and "Вложения: 1 файл" in c.last_text
    c.click("📨 Отправить")
    assert [f["file_id"] for f in Ticket.get().attachments] == ["ok1"]


def test_duplicate_offers_add_to_existing(world):
    file_ticket(world, 106, trade_point_id=world.p1)
    c = world_chat(world, 101)
    file_through_dialog(c, text="Касса не печатает чеки после обновления!")
    c.click("📨 Отправить")
    assert "#1" in c.last_text and "➕ Добавить к #1" in c.buttons
    c.click("➕ Добавить к #1")
    assert Ticket.select().count() == 1
    assert TicketEvent.get(TicketEvent.what == "added").details["text"].startswith("Касса не печатает")


def test_duplicate_create_anyway(world):
    file_ticket(world, 106, trade_point_id=world.p1)
    c = world_chat(world, 101)
    file_through_dialog(c)
    c.click("📨 Отправить")
    c.click("Создать новую")
    assert Ticket.select().count() == 2 and c.said("#2")


def test_my_tickets_pages_edit_in_place(database):
    settings = make_settings(page_size=2)
    w = make_world(settings)
    for i in range(5):
        file_ticket(w, 101, description=f"Проблема номер {i} с кассой, подробности")
    c = world_chat(w, 101)
    c.click(MINE)
    assert "5" in c.last_text and "1 из 3" in c.last_text
    assert c.buttons[-3:] == ["Далее ▶️", "🗂 Закрытые заявки", "🏠 В меню"] and len(c.buttons) == 5
    next_data = c.last.buttons[-3][0].data
    c.event(kind="button", data=next_data, message_id=77)   # Chat gives edits no message id
    assert c.last.edit_message_id == 77 and "2 из 3" in c.last_text
    assert "◀️ Назад" in c.buttons
    c.click("Далее ▶️")
    assert "3 из 3" in c.last_text and "Далее ▶️" not in c.buttons


def test_card_buttons_follow_rights_and_admin_edits_a_colleagues_ticket(world):
    t = file_ticket(world, 106)
    user = world_chat(world, 101)
    user.click(MINE)
    assert "Активных заявок нет" in user.last_text              # a USER sees only own
    admin = world_chat(world, 102)
    admin.click(MINE)
    admin.click(admin.buttons[0])
    assert "#1" in admin.last_text
    assert admin.buttons == ["✏️ Изменить", "🚫 Отменить заявку", "📋 К списку"]   # new: nothing done to confirm; writing is the author's
    admin.click("✏️ Изменить")
    admin.click("Тип")
    admin.click("ЕГАИС")
    assert admin.said("Изменения сохранены") and Ticket.get_by_id(t.id).type == "ЕГАИС"


def test_forged_ticket_id_in_the_slot_is_refused(world):
    foreign = file_ticket(world, 106)
    c = world_chat(world, 101)
    file_ticket(world, 101, description="Моя собственная заявка про кассу")
    c.click(MINE)
    own_button = c.last.buttons[0][0].data
    session = load_session(101, 101)
    session.buttons[0]["value"] = foreign.id        # as if the id came forged
    from engine.session import save_session
    save_session(session)
    c.press_data(own_button)
    assert c.said("недоступна") and str(foreign.description) not in " ".join(r.text for r in c.transcript)


def test_edit_of_a_ticket_closed_meanwhile_shows_current_state(world):
    t = file_ticket(world, 101)
    c = world_chat(world, 101)
    c.click(MINE)
    c.click(c.buttons[0])
    c.click("✏️ Изменить")
    c.click("Описание")
    world.svc.crm_update(t.id, status=DONE, master_name="Сидоров")      # the CRM closes it now
    c.send("Подробнее: ошибка 235 при печати")
    assert c.said("уже изменили") and c.said("Выполнена")
    assert "✏️ Изменить" not in c.buttons and Ticket.get_by_id(t.id).description == DESC


def test_cancel_with_reason_and_confirm_close(world):
    t1 = file_ticket(world, 101)
    t2 = file_ticket(world, 101, description="Вторая проблема: сканер не читает коды")
    world.svc.take(TECH, "Петров", t1.id)             # "done" is confirmed for work being done
    c = world_chat(world, 101)
    c.click(MINE)
    c.click(c.buttons[0])
    c.click("🚫 Отменить заявку")
    c.send("Сами починили")
    c.click(c.buttons[0])
    c.click("✅ Закрыть (работа выполнена)")
    c.click("Да") if "Да" in c.buttons else c.click(c.buttons[0])
    statuses = {Ticket.get_by_id(t1.id).status, Ticket.get_by_id(t2.id).status}
    assert statuses == {"cancelled", "done"}
    assert "Сами починили" in " ".join(r.text for r in queued(GROUP))   # user_closed_ticket


def test_stats_for_admin_and_director_only(world):
    file_ticket(world, 101)
    d = world_chat(world, 103)
    assert "📊 Статистика" in d.buttons
    d.send("/stats")
    d.click("30 дней")
    assert "Всего: 1" in d.last_text and "Новая: 1" in d.last_text
    u = world_chat(world, 101)
    assert "📊 Статистика" not in u.buttons
    u.send("/stats")
    assert u.said("Статистика доступна администраторам")
    p = world_chat(world, 104)                    # a pending ADMINISTRATOR
    p.send("/stats")
    assert p.said("Статистика доступна администраторам")


# --- the work group -------------------------------------------------------------------
def group_press(world, uid, data, name="Петров"):
    g = Chat(world.app.engine, uid, chat_id=GROUP, first_name=name)
    return g.event(kind="button", data=data, message_id=555)


def test_take_done_from_the_group_edit_the_post_and_notify_the_author(world):
    t = file_ticket(world, 101)
    take = group_press(world, TECH, f"wg:take:{t.id}")[-1]
    assert take.edit_message_id == 555 and take.callback_answer == "Заявка ваша"
    assert "В работе" in take.text and "Петров" in take.text
    assert Ticket.get_by_id(t.id).master_telegram_id == TECH
    done = group_press(world, TECH, f"wg:done:{t.id}")[-1]
    assert "Выполнена" in done.text and done.buttons == []
    texts = [r.text for r in queued(101)]
    assert any("взята в работу" in x for x in texts) and any("выполнена" in x for x in texts)


def test_only_technicians_may_press_group_buttons(world):
    t = file_ticket(world, 101)
    replies = group_press(world, 102, f"wg:take:{t.id}")
    assert [(r.answer_only, r.callback_answer) for r in replies] == \
        [(True, "Эта кнопка устарела или недоступна")]      # nothing of the ticket (see test_callback_refusals)
    assert Ticket.get_by_id(t.id).status == "new"


def test_two_technicians_press_take_one_wins_the_other_is_told(world):
    t = file_ticket(world, 101)
    group_press(world, TECH, f"wg:take:{t.id}", "Петров")
    late = group_press(world, TECH2, f"wg:take:{t.id}", "Сидоров")[-1]
    assert late.callback_answer.startswith("Уже нельзя") and "Петров" in late.callback_answer
    assert Ticket.get_by_id(t.id).master_name == "Петров"


def test_comment_is_asked_in_private_and_reaches_the_client(world):
    t = file_ticket(world, 101)
    replies = group_press(world, TECH, f"wg:comment:{t.id}")
    assert any(r.chat_id == TECH and "#1" in r.text for r in replies)
    private = Chat(world.app.engine, TECH, first_name="Петров")
    private.send("Приеду завтра к 10:00")
    assert private.said("Комментарий сохранён")
    assert any("Приеду завтра" in r.text for r in queued(101))


def test_status_changes_from_the_crm_edit_the_group_post_in_place(world):
    t = file_ticket(world, 101)
    post = outgoing.Outgoing.get(outgoing.Outgoing.key == f"t{t.id}:post")
    outgoing.mark_sent(post.id, 4242)
    world.svc.crm_update(t.id, master_name="Сидоров")
    edits = [r for r in queued(GROUP) if r.edit_message_id == 4242]
    assert edits and "Сидоров" in edits[-1].text
    assert any("назначен мастер" in r.text for r in queued(101))


def test_notifications_follow_settings_and_skip_pending_members(database):
    settings = make_settings()
    settings.notify.user.company_new_tickets = True
    settings.notify.system.new_ticket = False
    w = make_world(settings)
    directory.set_user_language(102, "en")
    file_ticket(w, 101)
    assert queued(GROUP) == []                                   # system.new_ticket off
    people = {r.chat_id for r in queued(key_part=":created:")}
    assert people == {102, 103, 106}                             # not 101 (author), not 104 (pending)
    assert queued(102)[0].text.startswith("New ticket")          # the recipient's language
    assert queued(103)[0].text.startswith("Новая заявка")


def test_same_change_is_never_queued_twice(world):
    t = file_ticket(world, 101)
    world.svc.take(TECH, "Петров", t.id)
    n = outgoing.Outgoing.select().count()
    world.app.services.notifier.ticket_event(Ticket.get_by_id(t.id), "taken", actor=None)
    assert outgoing.Outgoing.select().count() == n


def test_build_app_from_settings_environment(database, db_url):
    settings = load(environ={"DATABASE_URL": db_url, "NOTIFY__SYSTEM__WORK_GROUP_ID": str(GROUP)})
    app = build_app(settings)
    assert app.services.tickets.settings.notify.system.work_group_id == GROUP
    assert Chat(app.engine, 1).send("/start")[0].button_texts()[:0] == []
    assert IN_PROGRESS


def test_a_draft_refuses_the_file_past_its_limit_when_it_arrives(world):
    c = world_chat(world, 101)
    c.click(CREATE)
    c.click("Без точки")
    c.click("Касса")
    c.send(DESC)
    for i in range(10):
        c.send_file(f"photo-{i}")
        assert c.said("Файл получен")
    for i in range(10, 40):                                   # a flood of photos
        c.send_file(f"photo-{i}")
        assert c.said("Больше принять нельзя: предел — 10")
        assert "Готово" in str(c.buttons)                     # the way on is still offered
    assert len(load_session(101, 101).slots["attachments"]) == 10   # nothing past it stored
    c.click("✅ Готово")
    assert "Вложения: 10 файлов" in c.last_text and not c.said("лишние не сохранены")
    c.click("📨 Отправить")
    assert [f["file_id"] for f in Ticket.get().attachments] == [f"photo-{i}" for i in range(10)]
