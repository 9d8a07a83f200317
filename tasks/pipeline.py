"""The pipeline's tasks: schedule → poll → process → send, plus the outbox sweeper."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from worker import metrics
from worker.broker import BACKFILL, POLLS, PROCESSING, SENDS
from worker.delivery import send_delivery, send_time_limits, sweep
from worker.heartbeat import record_tick
from worker.polling import FeedClaim, PollResult, claim_batches, poll_feed, poll_feeds
from worker.processing import entry_error, process_entry
from worker.redelivery import work_key
from worker.retention import prune
from worker.watchlist_reload import reload_watchlist

if TYPE_CHECKING:
    from worker.celery_app import NewswatchCelery

log = logging.getLogger(__name__)

SCHEDULE, POLL_BATCH, POLL, PROCESS, SEND, SWEEP, PRUNE = (
    "newswatch.schedule_due_feeds",
    "newswatch.poll_feeds",
    "newswatch.poll_feed",
    "newswatch.process_entry",
    "newswatch.send_delivery",
    "newswatch.sweep",
    "newswatch.prune",
)
# Each task's queue (worker.broker): sends first, then polls, then the bulk processing work.
ROUTES = {
    SEND: {"queue": SENDS},
    SWEEP: {"queue": SENDS},
    SCHEDULE: {"queue": POLLS},
    POLL_BATCH: {"queue": POLLS},
    POLL: {"queue": POLLS},
    PROCESS: {"queue": PROCESSING},
    PRUNE: {"queue": PROCESSING},
}

QUARANTINED = "quarantined"
POLL_BATCH_SIZE = 50  # feeds per poll message: the store work of a batch costs about that of one poll


def quarantined(app: NewswatchCelery, task: Any) -> str | None:
    """Why this message's work is not run again (logged), or None: a task that kills its pool child
    every time would otherwise be requeued forever (reject_on_worker_lost)."""
    request = task.request
    redelivered = bool((request.delivery_info or {}).get("redelivered"))
    deliveries = app.guard().admit(work_key(task.name, request.args), redelivered=redelivered)
    if deliveries is None:
        return None
    reason = (
        f"quarantined after {deliveries} deliveries: its worker process died or ran out of memory "
        "each time"
    )
    log.error("%s%s (task %s): %s", task.name, list(request.args or []), request.id, reason)
    return reason


def register_pipeline_tasks(app: NewswatchCelery) -> None:
    """Define the pipeline tasks on `app` (closures over the app, no module-level app) and route
    each to its queue."""
    app.conf.task_routes = ROUTES
    _register_polls(app)
    _register_processing(app)
    _register_outbox(app)


def _register_polls(app: NewswatchCelery) -> None:

    @app.task(name=SCHEDULE)  # type: ignore[untyped-decorator]
    def schedule_due_feeds() -> int:
        rt = app.runtime()
        record_tick(rt.engine, rt.clock())  # the scheduler's liveness (newswatch health --role beat)
        try:  # hot reload: a changed configuration file becomes the active watchlist version
            reload_watchlist(rt)
        except Exception:  # a reload bug must never stop the polling
            log.exception("watchlist reload failed; the active version stays")
        batches = claim_batches(rt, POLL_BATCH_SIZE)
        for batch in batches:
            app.send_task(POLL_BATCH, args=[[list(claim) for claim in batch]])
        return sum(len(b) for b in batches)

    def polled(result: PollResult) -> None:
        metrics.record("poll", str(result.outcome), result.elapsed_s)
        queue = {"queue": BACKFILL} if result.backlog else {}  # fresh items first (worker.broker)
        for entry_id in result.new_entry_ids:
            app.send_task(PROCESS, args=[entry_id], **queue)
        log.info("polled %s: %s, %d new", result.feed, result.outcome, len(result.new_entry_ids))

    @app.task(name=POLL_BATCH, bind=True)  # type: ignore[untyped-decorator]
    def poll_batch(self: Any, claims: list[list[int]]) -> str:
        # [[feed_id, claim], ...] from one tick; a feed whose last poll died is sent on alone.
        if quarantined(app, self):
            return QUARANTINED
        batch = poll_feeds(app.runtime(), [FeedClaim(feed_id, claim) for feed_id, claim in claims])
        for claim in batch.isolate:
            log.warning("feed %s: its last poll never ended; polling it on its own", claim.feed_id)
            app.send_task(POLL, args=[claim.feed_id, claim.claim])
        for result in batch.results:
            polled(result)
        return f"{len(batch.results)} polled, {len(batch.isolate)} sent alone"

    @app.task(name=POLL, bind=True)  # type: ignore[untyped-decorator]
    def poll(self: Any, feed_id: int, claim: int | None = None) -> str:
        # `claim`: the number `claim_due` gave this poll; a stale one drops out (superseded).
        if quarantined(app, self):
            return QUARANTINED
        result = poll_feed(app.runtime(), feed_id, claim)
        polled(result)
        return result.outcome


def _register_processing(app: NewswatchCelery) -> None:

    @app.task(name=PROCESS, bind=True)  # type: ignore[untyped-decorator]
    def process(self: Any, entry_id: int, resent: bool = False) -> str:
        # `resent`: the sweeper offers the entry again (lost, deferred, or its task failed).
        # No broker-level quarantine: process_entry counts attempts in the store, whatever the
        # broker and however an attempt ended (exception, time limit, dead process).
        try:
            with metrics.timed("process") as outcome:
                result = process_entry(app.runtime(), entry_id)
                outcome.append(str(result.outcome))
        except Exception as exc:  # recorded as the entry's reason, then Celery logs the failure
            entry_error(app.runtime(), entry_id, f"{type(exc).__name__}: {exc}")
            raise
        for delivery_id in result.delivery_ids:
            app.send_task(SEND, args=[delivery_id])
        return result.outcome


def _register_outbox(app: NewswatchCelery) -> None:
    send_soft, send_hard = send_time_limits(app.settings)

    # Acked when it starts, unlike the other tasks: the outbox row's claim and lease, not the
    # broker, make a send recoverable (the sweeper re-sends an expired `sending` row). Late acks
    # would only add harm: on a broker connection loss Celery terminates unacked tasks, cutting a
    # provider call after the request went out, and the lease then re-sends a duplicate.
    @app.task(name=SEND, acks_late=False, soft_time_limit=send_soft, time_limit=send_hard)  # type: ignore[untyped-decorator]
    def send(delivery_id: int) -> str:
        # No quarantine check: an early-acked message is never redelivered, and a send that dies
        # mid-way is retried through its lease and ends `failed` once its attempts are used up.
        with metrics.timed("send") as outcome:
            state = send_delivery(app.runtime(), delivery_id).state
            outcome.append(str(state))
        return state

    @app.task(name=SWEEP)  # type: ignore[untyped-decorator]
    def sweep_outbox() -> int:
        found = sweep(app.runtime())
        app.guard().prune()
        for delivery_id in found.delivery_ids:
            app.send_task(SEND, args=[delivery_id])
        for entry_id in found.entry_ids:
            # late already: behind fresh items, and a re-offer of one still queued stays behind too
            app.send_task(PROCESS, args=[entry_id], kwargs={"resent": True}, queue=BACKFILL)
        return len(found.delivery_ids) + len(found.entry_ids)

    @app.task(name=PRUNE)  # type: ignore[untyped-decorator]
    def prune_expired() -> int:
        # retention (worker/retention.py): bounded per run, safe to run twice or concurrently
        rt = app.runtime()
        pruned = prune(rt.engine, app.settings.retention, rt.clock(), app.settings.stories)
        if pruned.total:
            log.info("retention: pruned %s", pruned)
        return pruned.total
