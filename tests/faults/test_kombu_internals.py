"""The reaches into kombu's internals (worker/kombu_internals.py): they hold on the installed kombu,
a change of those internals is reported naming kombu and its version, and the behaviour they add
works on real brokers — queues read in consume order, and a requeued message marked redelivered
where Celery reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from tests.support.services import RedisServer
from worker.broker import QUEUE_ORDER, broker_settings
from worker.kombu_internals import KombuInternalsChanged, check_internals

pytestmark = pytest.mark.timeout(60)


def test_the_installed_kombu_has_every_internal_relied_on() -> None:
    check_internals()


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (kombu_redis.MultiChannelPoller, "on_readable"),
        (kombu_redis.Channel, "_brpop_read"),
        (virtual.Channel, "_restore"),
        (virtual.Channel, "_reset_cycle"),
    ],
)
def test_a_missing_internal_is_reported_with_the_kombu_version(
    monkeypatch: pytest.MonkeyPatch, owner: type[Any], name: str
) -> None:
    for klass in owner.__mro__:  # as if the release had dropped it
        if name in vars(klass):
            monkeypatch.delattr(klass, name)
    with pytest.raises(KombuInternalsChanged) as caught:
        check_internals()
    assert f"kombu {kombu.__version__}" in str(caught.value) and name in str(caught.value)


@pytest.fixture(params=["sqlite", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    if request.param == "sqlite":
        url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
        conf = broker_settings(url)
        conn = Connection(conf["broker_url"], transport=conf["broker_transport"])
        with conn:
            yield conn
        return
    with RedisServer(tmp_path / "redis") as server:
        conf = broker_settings(server.url)
        conn = Connection(
            conf["broker_url"],
            transport=conf["broker_transport"],
            transport_options=conf["broker_transport_options"],
        )
        with conn:
            yield conn


def test_queues_are_read_in_order_and_a_requeued_message_is_redelivered(broker: Connection) -> None:
    queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUE_ORDER]
    producer = broker.Producer()
    for queue in reversed(queues):  # the last queue filled first: order of arrival must not matter
        for i in range(2):
            body = {"queue": queue.name, "i": i}
            producer.publish(body, exchange=queue.exchange, routing_key=queue.name, declare=[queue])
    got: list[tuple[str, bool]] = []

    def on_message(body: Any, message: Any) -> None:
        got.append((body["queue"], bool(message.delivery_info.get("redelivered"))))
        if len(got) == 1:
            message.reject(requeue=True)  # as Celery does when the pool process died
        else:
            message.ack()

    with broker.Consumer(queues, callbacks=[on_message], accept=["json"], prefetch_count=1):
        while len(got) < 2 * len(queues) + 1:
            broker.drain_events(timeout=10)
    first = QUEUE_ORDER[0]
    assert got[0] == (first, False)
    assert (first, True) in got[1:3], got  # the requeued message comes back, marked
    assert [q for q, _ in got[1:]] == [q for q in QUEUE_ORDER for _ in range(2)], got
