"""Operations: what an operator runs and what keeps the processes healthy.

    cli.py        `python run.py ...`: one CLI, each command imported when it runs
    commands.py   console, demo, flows check, db init|upgrade
    bot.py        `python run.py bot`: the Telegram transport in one process
    workers.py    `python run.py bot --workers N`: N webhook workers under uvicorn's supervisor
    reporting.py  error reports to notify.bug, rejected flow reloads to engine.admins
    jobs.py       the periodic jobs of the one registry, in worker threads
    health.py     `python run.py health`: the processes' heartbeats as JSON
    logs.py       logging as the settings say, secrets redacted
    schema.py     create and upgrade the tables without losing rows
    demo.py       the demo directory

The package imports nothing itself: `bot` loads python-telegram-bot, the others do not.
"""
