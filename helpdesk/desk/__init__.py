"""The support desk in Telegram: the staff side of tickets (issue 16).

The work group (`notify.system.work_group_id`) is the desk. When it is a forum supergroup
every ticket has a topic of its own, opened by the ticket card with the staff buttons; in
a plain group the card (the group post) is the thread and replies to it are the
conversation. Everything the desk sends goes through the durable outgoing queue
(`engine.outgoing`), topics included, so a crash or a 429 never makes two of anything.

Modules (one concern each):

    topics.py        a ticket's thread in the work group: the topic's outgoing key, the
                     ticket a thread / a card belongs to, a reply aimed into the thread;
                     the topic's life (opened, renamed, closed, reopened with the ticket)
    cards.py         the ticket's card in the group: queued once, edited only when it
                     changes, also before it went out (Reply.edit_key)
    group.py         the work group: a forum or not now (desk.topics auto), upgraded
    members.py       Telegram's membership updates: staff who leave, the bot removed/back
    names.py         what a staff member is called: the CRM's name, else the full name
    staff.py         who is staff (technician, dispatcher), stored in the database
    admins.py        the work group's Telegram admins (dispatchers), asked of Telegram
    commands.py      /staff, /technician, /dispatcher, /unstaff in the work group
    assign.py        a dispatcher assigns a ticket from its card (as:...)
    mine.py          a staff member's "Assigned to me" in the private chat
    conversation.py  messages both ways between a ticket's client and its thread
    talk.py          the group's and the private chats' messages for it; flow ticket_write
    sla.py           first-response and resolution targets in working time; timers as rows
    ratings.py       the client's 1-5 rating of a done ticket
"""
