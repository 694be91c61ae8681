"""``[monitoring] listen``: ``GET /healthz`` (JSON) and ``GET /metrics`` (Prometheus text) for one
process of a deployment. With several processes (``--role``) each serves its own port.

/healthz answers 200 with ``{"status": "ok", "checks": {...}}`` once the process has started, while
the database answers within 2 s and, in a process that runs them, the scheduler runs and the
delivery loop is alive (holding the delivery role or standing by). Otherwise 503 with
``"status": "fail"`` and the failing check named (``startup`` while the process is starting).
The outbox gauges of /metrics are sampled from the database at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.metrics import BUILD_INFO, JOB_LAST_SUCCESS, OUTBOX_MESSAGES, OUTBOX_OLDEST_PENDING
from scheduler.delivery import DeliveryLoop
from storage.database import Database
from storage.repositories.outbox import PENDING, SENDING, Backlog

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0


@dataclass
class Watched:
    """What this process runs, for the health checks (None: not run by this process)."""

    scheduler: AsyncIOScheduler | None = None
    delivery: DeliveryLoop | None = None
    delivery_task: asyncio.Task[None] | None = None
    channels: tuple[str, ...] = field(default_factory=tuple)
    running: bool = False  # every part has started (until then /healthz says "starting")


def record_job_successes(scheduler: AsyncIOScheduler) -> None:
    """utilibot_scheduler_job_last_success_timestamp_seconds{job} moves when a job finishes well."""

    def _executed(event: JobExecutionEvent) -> None:
        if event.exception is None:
            JOB_LAST_SUCCESS.labels(job=event.job_id).set(time.time())

    scheduler.add_listener(_executed, EVENT_JOB_EXECUTED)


class Monitor:
    def __init__(
        self, db: Database, listen: str, version: str, clock: Callable[[], datetime], watched: Watched
    ) -> None:
        self.db = db
        self.host, _, port = listen.rpartition(":")
        self.port = int(port)
        self.clock = clock
        self.watched = watched
        BUILD_INFO.labels(version=version).set(1)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host.strip("[]"), self.port)
        await site.start()
        log.info("monitoring: /healthz and /metrics on %s:%s", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _backlog(self) -> Backlog:
        async with self.db.unit_of_work() as uow:
            return await uow.outbox.backlog(self.clock())

    async def checks(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        healthy = True
        backlog: Backlog | None = None
        try:
            await self.db.ping(DATABASE_TIMEOUT)
            backlog = await asyncio.wait_for(self._backlog(), DATABASE_TIMEOUT)
            checks["database"] = {"status": "ok"}
        except Exception as error:  # any failure to answer is the finding itself
            healthy = False
            checks["database"] = {"status": "fail", "error": type(error).__name__}
        watched = self.watched
        if not watched.running:
            healthy = False
            checks["startup"] = {"status": "starting"}
        if watched.scheduler is not None:
            running = watched.scheduler.running
            healthy &= running
            checks["scheduler"] = {"status": "ok" if running else "fail"}
        if watched.delivery is not None:
            task = watched.delivery_task
            alive = task is None or not task.done()
            healthy &= alive
            checks["delivery"] = {
                "status": "ok" if alive else "fail",
                "role": "held" if watched.delivery.delivering.is_set() else "standby",
            }
            if backlog is not None:
                checks["delivery"]["pending"] = backlog.pending()
                checks["delivery"]["oldest_due_seconds"] = round(
                    max(backlog.oldest_due_seconds.values(), default=0.0), 1
                )
        return healthy, checks

    async def _healthz(self, _request: web.Request) -> web.Response:
        healthy, checks = await self.checks()
        body = {"status": "ok" if healthy else "fail", "checks": checks}
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        try:
            backlog = await asyncio.wait_for(self._backlog(), DATABASE_TIMEOUT)
        except Exception as error:  # the process metrics are still worth serving
            log.warning("monitoring: outbox not sampled: %s", type(error).__name__)
        else:
            self._sample(backlog)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _sample(self, backlog: Backlog) -> None:
        for channel in self.watched.channels:
            for state in (PENDING, SENDING):
                waiting = backlog.counts.get((channel, state), 0)
                OUTBOX_MESSAGES.labels(channel=channel, state=state).set(waiting)
            OUTBOX_OLDEST_PENDING.labels(channel=channel).set(backlog.oldest_due_seconds.get(channel, 0.0))
