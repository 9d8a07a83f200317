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

from typing import Any

from kombu.entity import Queue

from worker.kombu_internals import IN_ORDER_SQLA_TRANSPORT, SAFE_REDIS_TRANSPORT

SENDS, POLLS, PROCESSING = "newswatch.sends", "newswatch.polls", "newswatch.processing"
BACKFILL, DEFAULT = "newswatch.backfill", "celery"
QUEUE_ORDER = (SENDS, POLLS, PROCESSING, BACKFILL, DEFAULT)
VISIBILITY_TIMEOUT_S = 3600  # must exceed the hard time limit plus any queue wait


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
    return conf
