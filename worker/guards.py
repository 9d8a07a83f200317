"""Process guards for Celery workers: a per-process memory ceiling and a durable redelivery counter.

Brokers keep no redelivery count (reliability.md A2), and `task_reject_on_worker_lost` requeues a
task whose pool child died, so a message that kills its child every time would loop forever. The
counter lives in the store (its own table, created on first use), keyed by task name and
arguments rather than by message id, so that the sweeper re-enqueueing the same lost entry under a
new id cannot restart the loop. Only redelivered messages increment it: a normal run costs one
primary-key read.
"""

from __future__ import annotations

import json
import logging
import resource
from collections.abc import Callable, Sequence
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Empty
from redis import exceptions as redis_exceptions
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from worker.schema import SCHEMA_LOCK_KEY

log = logging.getLogger(__name__)

MAX_DELIVERIES = 3  # deliveries of one unit of work before it is quarantined
WINDOW_S = 3600.0  # a quarantine (and a count) expires after this, so a fixed bug heals itself

_metadata = MetaData()
task_deliveries = Table(
    "task_deliveries",
    _metadata,
    Column("work_key", String(255), primary_key=True),
    Column("redeliveries", Integer, nullable=False, default=0),
    Column("first_at", Float, nullable=False),
)


def set_memory_limit(limit_mb: int) -> int | None:
    """Cap this process's address space (RLIMIT_AS) at `limit_mb` MiB, so a runaway allocation
    raises MemoryError in one task instead of the kernel's OOM killer taking the worker. Returns
    the limit in bytes, or None when the platform refuses it."""
    limit = limit_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot set the memory limit of %d MiB: %s", limit_mb, exc)
        return None
    return limit


def work_key(task_name: str, args: Sequence[Any] | None) -> str:
    """The identity of one unit of work: the task name and its (id-only) JSON arguments."""
    return f"{task_name}:{json.dumps(list(args or []), separators=(',', ':'))}"[:255]


class RedeliveryGuard:
    """Counts redeliveries per unit of work in the store and says when to quarantine it."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine, self.clock = engine, clock
        with engine.begin() as conn:  # pool processes start together: one creates, the others see it
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            _metadata.create_all(conn, checkfirst=True)

    def admit(self, key: str, *, redelivered: bool) -> int | None:
        """None if the work may run; else the number of deliveries seen (it is quarantined)."""
        now = self.clock()
        if not redelivered:  # the common case: one read, no write
            with self.engine.connect() as conn:
                row = conn.execute(select(task_deliveries).where(task_deliveries.c.work_key == key)).first()
            if row is None or row.first_at < now - WINDOW_S:
                return None
            seen: int = row.redeliveries + 1
            return seen if seen > MAX_DELIVERIES else None
        with self.engine.begin() as conn:
            row = conn.execute(select(task_deliveries).where(task_deliveries.c.work_key == key)).first()
            if row is not None and row.first_at < now - WINDOW_S:
                conn.execute(delete(task_deliveries).where(task_deliveries.c.work_key == key))
                row = None
            count = row.redeliveries if row is not None else 0
            if redelivered:
                count += 1
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                task_deliveries.insert().values(work_key=key, redeliveries=1, first_at=now)
                            )
                    except IntegrityError:  # a concurrent first redelivery inserted it
                        conn.execute(
                            update(task_deliveries)
                            .where(task_deliveries.c.work_key == key)
                            .values(redeliveries=task_deliveries.c.redeliveries + 1)
                        )
                else:
                    conn.execute(
                        update(task_deliveries)
                        .where(task_deliveries.c.work_key == key)
                        .values(redeliveries=task_deliveries.c.redeliveries + 1)
                    )
        deliveries = count + 1
        return deliveries if deliveries > MAX_DELIVERIES else None

    def prune(self) -> int:
        """Forget counts older than the window; returns how many were removed."""
        with self.engine.begin() as conn:
            removed: int = conn.execute(
                delete(task_deliveries).where(task_deliveries.c.first_at < self.clock() - WINDOW_S)
            ).rowcount
        return removed


class BrokerConnectionLost(redis_exceptions.ConnectionError):
    """Raised into the worker's event loop when the transport saw the broker connection go away
    without an error reaching the consumer, so that Celery runs its connection-loss path
    (reconnect, declare the queues again, cancel unacked late-ack tasks) instead of idling."""


class _SafePoller(kombu_redis.MultiChannelPoller):
    """kombu's poller, but a lost broker is always reported to the consumer.

    Two silent paths in kombu 5.7 would otherwise leave a worker that never consumes again after
    a Redis restart (celery#8030 family), seen with one pool process and prefetch 1:
    - while no prefetch slot is free no BRPOP is pending, and the server closing the BRPOP socket
      is answered by a quiet disconnect, while the pub/sub connection reconnects on its own;
    - an ack that fails because the broker is down is logged ("Couldn't ack") and dropped, and the
      message keeps its prefetch slot for ever, so BRPOP is never sent again.
    """

    lost: str | None = None

    def broker_lost(self, why: str) -> None:
        """Make the next poll raise `BrokerConnectionLost`."""
        if self.lost is None:
            self.lost = why

    def _raise_if_lost(self) -> None:
        why, self.lost = self.lost, None
        if why is not None:
            raise BrokerConnectionLost(why)

    def on_poll_start(self) -> None:
        self._raise_if_lost()
        super().on_poll_start()  # type: ignore[no-untyped-call]

    def on_readable(self, fileno: int) -> None:
        chan_type = self._fd_to_chan.get(fileno)
        if fileno not in self._paused_brpop and chan_type is not None:
            chan, kind = chan_type
            if kind == "BRPOP" and not chan._in_poll and not chan.qos.can_consume():
                # No command is pending on this connection, so readable means the server closed
                # it while every prefetch slot was in use. kombu then disconnects quietly, which
                # is right for an idle-client `timeout` of the same server, not for a lost one.
                if not isinstance(chan, _SafeChannel) or not chan.same_server():
                    chan.client.connection.disconnect()
                    raise BrokerConnectionLost("Redis closed the consumer connection")
        super().on_readable(fileno)  # type: ignore[no-untyped-call]


class _SafeQoS(kombu_redis.QoS):
    """An ack or reject that cannot reach Redis still frees the message's prefetch slot, and the
    connection loss is reported to the consumer (kombu's caller only logs "Couldn't ack")."""

    def ack(self, delivery_tag: str) -> None:
        try:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
        except self.channel.connection_errors:
            self._lost(delivery_tag, "ack")
            raise

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]
        except self.channel.connection_errors:
            self._lost(delivery_tag, "reject")
            raise

    def _lost(self, delivery_tag: str, what: str) -> None:
        self._quick_ack(delivery_tag)
        cycle = getattr(self.channel.connection, "cycle", None)
        if isinstance(cycle, _SafePoller):
            cycle.broker_lost(f"Redis unreachable during a message {what}")


class _SafeChannel(kombu_redis.Channel):
    QoS = _SafeQoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.server_run_id = self._server_run_id()

    def _server_run_id(self) -> str | None:
        """The Redis server's run id (new at every server start), None when unknown."""
        try:
            with self.conn_or_acquire() as client:
                run_id = client.info("server").get("run_id")
        except (*self.connection.connection_errors, *self.connection.channel_errors):
            return None
        return str(run_id) if run_id else None

    def same_server(self) -> bool:
        """True when the server that this channel connected to still answers, not restarted."""
        return self.server_run_id is not None and self._server_run_id() == self.server_run_id

    def _brpop_read(self, **options: Any) -> bool:
        try:
            result: bool = super()._brpop_read(**options)  # type: ignore[no-untyped-call]
        except json.JSONDecodeError as exc:
            # Anything that can write to the queue list could otherwise stop the worker: kombu
            # lets this error escape the consumer loop ("Unrecoverable error"). The item is
            # already popped; drop it, loudly, without echoing its content.
            log.error("dropped a queue item that is not a JSON message envelope: %s", exc.msg)
            raise Empty() from None
        return result


class SafeRedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, but a foreign item pushed into a queue list is dropped and logged
    instead of killing the worker's consumer, and a lost broker always reaches the consumer as a
    connection error (see `_SafePoller`)."""

    Channel = _SafeChannel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.cycle = _SafePoller()  # type: ignore[no-untyped-call,assignment]


SAFE_REDIS_TRANSPORT = f"{__name__}:SafeRedisTransport"
