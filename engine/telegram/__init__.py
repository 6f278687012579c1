"""The Telegram transport (python-telegram-bot 22), generic: it knows the engine's `Event` and
`Reply`, no domain word.

Guarantees (docs/telegram.md):
* no lost update: every raw update is committed to the inbox before Telegram is told we have
  it (polling: before the next offset; webhook: before the 200); pending rows are replayed at
  start;
* no doubled effect: an update's effect, its inbox "done" mark and its replies commit in one
  transaction, and update_id is unique;
* order: chats run concurrently, one chat's updates strictly in update_id order;
* rate limits: one sender paces bulk messages, waits out a 429 for that chat only, drops
  nothing;
* several workers (PostgreSQL, webhook): the same promises across processes: a chat's rows
  are applied under its advisory lock, outgoing rows are claimed with leases, a dead
  worker's rows are taken over (docs/deploy.md).

The package imports nothing itself, so a process that only needs a table of it (the schema
of `python run.py console` or of a test creates the inbox) loads no python-telegram-bot.
Import the parts from their modules: `bot` (TelegramBot, BotConfig, make_bot), `dispatcher`
(Dispatcher, the interface, and UpdateTx) with its two strategies `local_dispatcher`
(LocalDispatcher; `group_commit` on SQLite) and `shared_dispatcher` (SharedDispatcher),
`sender` (Sender, Limits), `marks` (SendResult, MarkWriter), `polling` (Poller), `webhook`
(WebhookServer), `inbox` (InboxItem), `lag` (LagMonitor), `incoming` (to_event: raw update JSON -> Event),
`adapter` (send_reply, split_text). The messages themselves are rows of `engine.outgoing`.
"""
