"""The broker side of the Celery app: queues, their order, and the transport for a broker URL.

Four queues, read in this order by every worker (`newswatch run` and `newswatch worker` alike):
- `newswatch.sends`: alert sends and the outbox sweep, so that an alert never waits behind a
  backlog of articles;
- `newswatch.polls`: the scheduler tick and feed polls (cheap; they create the processing work);
- `newswatch.processing`: fetch, extract and match of one entry (the bulk of the work);
- `newswatch.backfill`: the same for entries of a backlog — a poll that brought more than
  `worker.polling.BACKLOG_ENTRIES` new entries (a new feed, a feed back from an outage) and
  entries the sweeper offers again — so that a breaking item is not processed after them.
Celery's default queue `celery` is read last, for any task without a route (messages published
by producers that do not route).

With prefetch 1, a worker takes a new message only when a pool process is free, and then from
the first non-empty queue: on Redis through kombu's `queue_order_strategy=priority` (BRPOP over
the queue keys in order), on the embedded SQLAlchemy broker through `InOrderSqlaTransport`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from kombu.entity import Queue
from sqlalchemy.engine import make_url

from worker.kombu_internals import IN_ORDER_SQLA_TRANSPORT, SAFE_REDIS_TRANSPORT

SENDS, POLLS, PROCESSING = "newswatch.sends", "newswatch.polls", "newswatch.processing"
BACKFILL, DEFAULT = "newswatch.backfill", "celery"
QUEUE_ORDER = (SENDS, POLLS, PROCESSING, BACKFILL, DEFAULT)
VISIBILITY_TIMEOUT_S = 3600  # must exceed the hard time limit plus any queue wait
SQLITE_BUSY_TIMEOUT_S = 30.0  # a publish or poll waits this long for the broker file's lock


def broker_settings(broker_url: str) -> dict[str, Any]:
    """Celery settings for `broker_url`: the URL and transport, transport options and queues."""
    conf: dict[str, Any] = {
        "broker_url": broker_url,
        "task_queues": [Queue(name, routing_key=name) for name in QUEUE_ORDER],  # type: ignore[no-untyped-call]
        "task_default_queue": DEFAULT,
        "broker_transport_options": {},
    }
    if broker_url.startswith(("redis://", "rediss://")):
        if broker_url.startswith("redis://"):
            conf["broker_transport"] = SAFE_REDIS_TRANSPORT
        conf["broker_transport_options"] = {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_connect_timeout": 5,
            "socket_timeout": 30,
            "socket_keepalive": True,
            "health_check_interval": 25,
            "retry_on_timeout": True,
            "queue_order_strategy": "priority",
        }
    elif broker_url.startswith("sqla+"):
        # kombu takes the transport from a `sqla+` prefix over any configured one: give the bare
        # SQLAlchemy URL (the transport passes it to create_engine) and our transport class.
        conf["broker_url"] = broker_url.removeprefix("sqla+")
        conf["broker_transport"] = IN_ORDER_SQLA_TRANSPORT
        url = make_url(conf["broker_url"])
        if url.get_backend_name() == "sqlite":
            # pysqlite's 5 s default lock wait is too short when the pool processes, the
            # consumer and beat all publish under load: a publish that gives up fails its task
            conf["broker_transport_options"] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
            if url.database and url.database != ":memory:":
                use_wal(Path(url.database))
    return conf


def use_wal(path: Path) -> None:
    """Put the SQLite file at `path` in WAL mode (kept by the file), so that readers polling the
    queues never block a publish. Creates the file (and its folder) if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        while True:  # switching answers "locked" at once, without the busy timeout, while in use
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        conn.close()
