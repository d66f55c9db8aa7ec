"""The arq worker under supervision, for `sen serve` and `sen worker` alike.

arq's run ends with an exception when Redis goes away (a restart, a failover) and never comes
back on its own. Here a run that ends is torn down, Redis is probed with a growing pause, and a
fresh worker (with a fresh pool) takes over once Redis answers. The worker counts as back when
it has polled the queue and written its heartbeat; if that takes longer than the allowed time,
`WorkerGaveUp` is raised so the process can exit non-zero and be restarted by whoever runs it.
"""

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.queue import HEARTBEAT_KEY, HEARTBEAT_SECONDS, redis_settings
from app.core.settings import get_settings
from workers.settings import CRON_JOBS, FUNCTIONS, shutdown, startup

log = structlog.get_logger("sen.worker")

FIRST_PAUSE = 0.5
LONGEST_PAUSE = 10.0


class WorkerGaveUp(Exception):
    """The worker could not be brought back in the allowed time."""


class SupervisedWorker(Worker):
    """arq's worker, telling its supervisor when it has written its first heartbeat."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beating = asyncio.Event()

    async def record_health(self) -> None:
        await super().record_health()  # the heartbeat, written from the poll loop
        self.beating.set()


POLL_SECONDS = 0.05


def build_worker(database_url: str, queue_url: str) -> SupervisedWorker:
    return SupervisedWorker(
        functions=FUNCTIONS,
        cron_jobs=CRON_JOBS,
        # No retries of arq's own at connect: the supervisor probes and backs off instead.
        redis_settings=replace(redis_settings(queue_url), conn_retries=0),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"database_url": database_url},
        handle_signals=False,
        health_check_key=HEARTBEAT_KEY,
        health_check_interval=HEARTBEAT_SECONDS,
        max_jobs=get_settings().worker_jobs,
        # arq sleeps this long between reads of the queue, whatever it found: its 0.5 s default
        # caps a worker at max_jobs / 0.5 s jobs a second (20/s), which a burst of leads outruns.
        poll_delay=POLL_SECONDS,
    )


async def run_supervised(database_url: str, queue_url: str, *, give_up_after: float) -> None:
    """Run the worker until cancelled, restarting it whenever its run ends. Raises
    WorkerGaveUp when it has not been (back) up for `give_up_after` seconds, counted from
    the start or from the failure."""
    loop = asyncio.get_running_loop()
    down_since: float | None = loop.time()  # not up until its first heartbeat
    pause = FIRST_PAUSE
    restarts = 0
    while True:
        worker = build_worker(database_url, queue_url)
        run = asyncio.create_task(worker.async_run())
        error: Exception | None = None
        try:
            if down_since is not None:
                await _until_beating(worker, run, deadline=down_since + give_up_after)
                if worker.beating.is_set():
                    if restarts:
                        log.info("worker restarted", restarts=restarts)
                    down_since, pause = None, FIRST_PAUSE
            await run
        except asyncio.CancelledError:
            await _stop(worker, run)
            raise
        except WorkerGaveUp:
            await _discard(worker, run)
            raise
        except Exception as failure:
            error = failure
        await _discard(worker, run)

        if down_since is None:
            down_since = loop.time()
        restarts += 1
        # A warning with the reason, not a traceback: Redis going away is an outage to ride out,
        # not a bug, and this line repeats until it is over.
        log.warning(
            "worker stopped; restarting it when Redis answers",
            error=f"{type(error).__name__}: {error}" if error else "its run ended",
            give_up_in=round(max(down_since + give_up_after - loop.time(), 0), 1),
        )
        pause = await _until_redis_answers(
            queue_url, pause, deadline=down_since + give_up_after, give_up_after=give_up_after
        )


async def _until_beating(
    worker: SupervisedWorker, run: asyncio.Task[None], *, deadline: float
) -> None:
    """Returns once the worker beats or its run ends, whichever comes first."""
    beat = asyncio.create_task(worker.beating.wait())
    try:
        timeout = max(deadline - asyncio.get_running_loop().time(), 0)
        done, _ = await asyncio.wait(
            {run, beat}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        beat.cancel()
    if not done:
        raise WorkerGaveUp("the worker connected to Redis but did not poll its queue in time")


async def _until_redis_answers(
    url: str, pause: float, *, deadline: float, give_up_after: float
) -> float:
    """Probe Redis, pausing longer each time; returns the next pause."""
    loop = asyncio.get_running_loop()
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise WorkerGaveUp(f"Redis did not answer within {give_up_after:g} s")
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, LONGEST_PAUSE)
        if await _answers(url):
            return pause


async def _answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def _discard(worker: Worker, run: asyncio.Task[None]) -> None:
    """Tear down a worker whose Redis is gone, without asking Redis for anything: its jobs
    are cancelled (every job is idempotent and the sweeps catch up), its database pool is
    disposed, its Redis pool dropped."""
    run.cancel()
    jobs = list(worker.tasks.values())
    for job in jobs:
        job.cancel()
    await asyncio.gather(run, *jobs, return_exceptions=True)
    await shutdown(worker.ctx)
    pool: ArqRedis | None = worker.pool  # None when it never connected
    if pool is not None:
        with contextlib.suppress(RedisError, OSError):
            await pool.aclose()


async def _stop(worker: Worker, run: asyncio.Task[None]) -> None:
    """A clean stop (a signal, `serve` ending): arq's own close, which also removes the
    heartbeat; a Redis that is down at that moment turns it into a discard."""
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    try:
        await worker.close()
    except Exception:  # best effort: the process is stopping anyway
        await _discard(worker, run)
