"""One scheduler per process: the bot's own jobs (timeouts, inbox prune) and the helpdesk's
(CRM outbox, reconcile, ...) run on the one AsyncIOScheduler the bot starts, the helpdesk's
in a thread pool of their own, never on the event loop or the engine's threads."""
import asyncio
import threading

from apscheduler.executors.pool import ThreadPoolExecutor

from engine import storage
from helpdesk import config
from helpdesk.app import build_app
from helpdesk.ops import jobs
from helpdesk.ops.bot import assemble
from helpdesk.registry import registry
from tests.support.fakes.telegram_api import FakeTelegramAPI


def _settings(api, db_url):
    return config.load(environ={"BOT_TOKEN": api.token, "BOT_API_URL": api.url,
                                "DATABASE_URL": db_url})


def _apscheduler_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "APScheduler"]


def test_the_bot_process_runs_every_job_on_one_scheduler(database, db_url):
    with FakeTelegramAPI() as api:
        bot, scheduler = assemble(_settings(api, db_url))
        storage.close()

        async def run() -> tuple[set[str], bool, list[str]]:
            await bot.start()
            try:
                return ({j.id for j in scheduler.get_jobs()}, scheduler.running,
                        _apscheduler_threads())
            finally:
                await bot.shutdown()
        names, running, threaded = asyncio.run(run())
    assert bot._scheduler is scheduler and running
    assert {"timeouts", "inbox_prune"} <= names                  # the bot's own
    assert set(registry.jobs) <= names                           # and every helpdesk job
    assert threaded == []                                        # no second, threaded scheduler
    assert not scheduler.running                                 # stopped with the bot
    jobs.stop(scheduler)                                         # a second stop is harmless


def test_helpdesk_jobs_run_in_their_own_thread_pool(database, settings):
    scheduler = jobs.process_scheduler()
    jobs.add_jobs(scheduler, build_app(settings))
    pool = scheduler._lookup_executor(jobs.EXECUTOR)
    assert isinstance(pool, ThreadPoolExecutor)
    assert {j.executor for j in scheduler.get_jobs()} == {jobs.EXECUTOR}
    assert not scheduler.running
    jobs.stop(scheduler)                                         # never started: nothing to do
