"""Every reach into kombu's internals, in one module, checked against the installed kombu.

The subclasses here change behaviour that kombu exposes no option for:
- `SafeRedisTransport`: a foreign item pushed into a queue list is dropped and logged instead of
  killing the consumer, and a lost broker always reaches the consumer as a connection error.
- `InOrderSqlaTransport` (the embedded SQLite broker): queues are read in the order they are
  consumed (kombu's virtual transports cycle round-robin; only the Redis transport has a
  `queue_order_strategy`), and a message requeued after its pool process died carries
  `delivery_info['redelivered']`, which is where Celery looks (kombu's virtual transport sets a
  top-level flag that nothing reads).

They were written against the kombu versions in `TESTED_KOMBU`. `check_internals()` verifies that
every internal name they rely on is still there and raises `KombuInternalsChanged`, naming kombu
and its version, when one is gone; `make_celery` runs it, so a kombu upgrade that breaks them
stops the worker at start-up with that message instead of misbehaving under load.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
from typing import Any

import kombu
from kombu.transport import redis as kombu_redis
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport import virtual
from kombu.transport.virtual import Empty
from kombu.utils.scheduling import FairCycle
from redis import exceptions as redis_exceptions

log = logging.getLogger(__name__)

TESTED_KOMBU = ("5.7",)  # major.minor releases whose internals this module was checked against


class KombuInternalsChanged(RuntimeError):
    """The installed kombu no longer has an internal that this module subclasses or calls."""


# (owner, attribute) pairs this module relies on; instance attributes are checked on instances.
_CLASS_ATTRIBUTES: tuple[tuple[type[Any], str], ...] = (
    (kombu_redis.MultiChannelPoller, "on_poll_start"),
    (kombu_redis.MultiChannelPoller, "on_readable"),
    (kombu_redis.QoS, "ack"),
    (kombu_redis.QoS, "reject"),
    (kombu_redis.Channel, "_brpop_read"),
    (kombu_redis.Channel, "conn_or_acquire"),
    (kombu_redis.Channel, "active_queues"),
    (kombu_redis.Transport, "Channel"),
    (virtual.Channel, "_restore"),
    (virtual.Channel, "_reset_cycle"),
    (virtual.Channel, "_get_and_deliver"),
    (virtual.Channel, "basic_ack"),
    (virtual.Channel, "basic_reject"),
    (virtual.Transport, "drain_events"),
    (virtual.Transport, "_deliver"),
    (virtual.Transport, "cycle"),
    (kombu_sqla.Transport, "Channel"),
    (FairCycle, "get"),
    (FairCycle, "_next"),
)
_POLLER_ATTRIBUTES = ("_fd_to_chan", "_paused_brpop")
_CYCLE_ATTRIBUTES = ("pos", "resources")


def _changed(what: str) -> KombuInternalsChanged:
    return KombuInternalsChanged(
        f"kombu {kombu.__version__}: {what}; worker/kombu_internals.py was written against kombu "
        f"{', '.join(TESTED_KOMBU)} and must be checked against this release"
    )


def check_internals() -> None:
    """Raise `KombuInternalsChanged` when an internal name this module relies on is missing."""
    for owner, name in _CLASS_ATTRIBUTES:
        if not hasattr(owner, name):
            raise _changed(f"{owner.__module__}.{owner.__qualname__}.{name} no longer exists")
    poller = kombu_redis.MultiChannelPoller()  # type: ignore[no-untyped-call]
    try:
        for name in _POLLER_ATTRIBUTES:
            if not hasattr(poller, name):
                raise _changed(f"kombu.transport.redis.MultiChannelPoller() has no attribute {name}")
    finally:
        poller.close()  # type: ignore[no-untyped-call]
    if "self._quick_ack" not in inspect.getsource(virtual.QoS.__init__):
        raise _changed("kombu.transport.virtual.QoS() no longer sets _quick_ack")
    cycle = FairCycle(lambda *_: None, [], Empty)  # type: ignore[no-untyped-call]
    for name in _CYCLE_ATTRIBUTES:
        if not hasattr(cycle, name):
            raise _changed(f"kombu.utils.scheduling.FairCycle() has no attribute {name}")
    if "queue_order_strategy" not in kombu_redis.Channel.from_transport_options:
        raise _changed("the Redis transport no longer accepts the queue_order_strategy option")
    source = inspect.getsource(kombu_redis.Channel.active_queues.fget)  # type: ignore[attr-defined]
    if "set(" in source or "{queue for" in source:  # before kombu#2464 the order was lost
        raise _changed("Redis Channel.active_queues no longer keeps the consume order")


# --- Redis ---------------------------------------------------------------------------------------


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
    connection error (see `_SafePoller`). Queue order is kombu's `queue_order_strategy` option."""

    Channel = _SafeChannel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.cycle = _SafePoller()  # type: ignore[no-untyped-call,assignment]


# --- SQLAlchemy (the embedded broker) ------------------------------------------------------------


class _InOrderCycle(FairCycle):
    """Every read starts at the first queue: the first non-empty queue in consume order wins
    (kombu's FairCycle resumes after the queue it read last, i.e. round-robin)."""

    def get(self, callback: Any, **kwargs: Any) -> Any:
        self.pos = 0
        return super().get(callback, **kwargs)  # type: ignore[no-untyped-call]


class _InOrderSqlaChannel(kombu_sqla.Channel):
    # One SQLAlchemy session per channel, and sessions are not thread-safe: a message rejected back
    # to the queue when a pool process dies is restored from the pool's result thread while the
    # consumer may be inside `_get`'s commit ("IllegalStateChangeError ... commit() is already in
    # progress", which kills the worker). Every session use takes this lock.
    _session_lock = threading.RLock()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self._session_lock:
            return super()._get(queue)  # type: ignore[no-untyped-call]

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        with self._session_lock:
            return super()._put(queue, payload, **kwargs)  # type: ignore[no-untyped-call]

    def _purge(self, queue: Any) -> Any:
        with self._session_lock:
            return super()._purge(queue)  # type: ignore[no-untyped-call]

    def _size(self, queue: Any) -> Any:
        with self._session_lock:
            return super()._size(queue)  # type: ignore[no-untyped-call]

    def _reset_cycle(self) -> None:
        self._cycle = _InOrderCycle(self._get_and_deliver, self._active_queues, Empty)  # type: ignore[no-untyped-call]

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        self.connection.slot_freed.set()  # a prefetch slot is free: read again now

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        self.connection.slot_freed.set()

    def _restore(self, message: Any) -> None:
        # A message rejected back to the queue (its pool process died) is a redelivery; Celery
        # reads the flag from delivery_info, which kombu's virtual transport never sets.
        message.delivery_info["redelivered"] = True
        with self._session_lock:
            super()._restore(message)  # type: ignore[no-untyped-call]


class InOrderSqlaTransport(kombu_sqla.Transport):
    """kombu's SQLAlchemy transport with in-order queue reads and a visible redelivery flag."""

    Channel = _InOrderSqlaChannel
    # kombu's virtual transports sleep `polling_interval` (1 s) whenever a read finds nothing to
    # take — also while every prefetch slot is taken, so each finished task left its pool process
    # idle for up to a second (about 2 articles/s on two processes). Here the wait ends as soon as
    # an ack or reject frees a slot, and an idle worker looks at the queues ten times a second.
    # (Not a transport option: this transport hands its options to create_engine.)
    polling_interval = 0.1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.slot_freed = threading.Event()

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        """kombu's virtual `Transport.drain_events`, with the sleep cut short by a freed slot."""
        start, cycle = time.monotonic(), self.cycle
        assert cycle is not None  # set up with the transport's first channel
        while True:
            self.slot_freed.clear()  # before the read: an ack during it makes the wait return at once
            try:
                cycle.get(self._deliver, timeout=timeout)  # type: ignore[no-untyped-call]
                return
            except Empty:
                if timeout is not None and time.monotonic() - start >= timeout:
                    raise TimeoutError() from None  # socket.timeout, what Celery expects
                self.slot_freed.wait(self.polling_interval)


SAFE_REDIS_TRANSPORT = f"{__name__}:SafeRedisTransport"
IN_ORDER_SQLA_TRANSPORT = f"{__name__}:InOrderSqlaTransport"
