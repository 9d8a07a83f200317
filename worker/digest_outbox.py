"""Digest outbox: story messages a channel collects, sent as one message when their time comes.

A delivery `held` under a `digest_key` (the channel's digest period, `worker.digests.period_key`,
or its quiet-hours window, `worker.digests.quiet_key`) waits until its `next_attempt_at`.
`flush_due`, run by every sweep, turns each due group (digest key, destination) into ONE sendable
row: the group's oldest delivery becomes `pending` and carries the digest (`digest_id` = its own
id), the others become `digested` (`digest_id` = that carrier). Each step is a conditional UPDATE
on `state = 'held'`, so two sweepers never make two carriers of one row; a message stored after
its group was flushed is still `held` and goes out with the next flush (as a carrier of its own):
nothing is lost, nothing is sent twice. The carrier then goes through the ordinary outbox
(claim, send, back-off); when it is sent, its members get the same `sent_at`.

Hand-written, beside `worker.outbox`, because it is the product's delivery guarantee.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from worker.schema import DeliveryState, deliveries


def flush_due(conn: Connection, now: float) -> list[int]:
    """Make every due digest group sendable; the ids of the carrier rows (now `pending`)."""
    rows = conn.execute(
        select(deliveries.c.id, deliveries.c.digest_key, deliveries.c.destination)
        .where(deliveries.c.state == DeliveryState.HELD, deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.id)
    ).all()
    groups: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        groups.setdefault((row.digest_key or "", row.destination), []).append(row.id)
    carriers = []
    for carrier, *members in groups.values():
        took = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == carrier, deliveries.c.state == DeliveryState.HELD)
            .values(state=DeliveryState.PENDING, digest_id=carrier, next_attempt_at=now, enqueued_at=None)
        ).rowcount
        if took != 1:  # another sweeper flushed this group first
            continue
        if members:
            conn.execute(update(deliveries)
                         .where(deliveries.c.id.in_(members), deliveries.c.state == DeliveryState.HELD)
                         .values(state=DeliveryState.DIGESTED, digest_id=carrier))
        carriers.append(carrier)
    return carriers


def digest_messages(conn: Connection, carrier_id: int) -> list[int]:
    """The message ids a carrier sends, oldest first (its own included)."""
    return list(conn.execute(
        select(deliveries.c.message_id)
        .where(deliveries.c.digest_id == carrier_id, deliveries.c.message_id.is_not(None))
        .order_by(deliveries.c.id)
    ).scalars())


def mark_members_sent(conn: Connection, carrier_id: int, sent_at: float) -> None:
    """Record that the digest `carrier_id` sent went out (its members' `sent_at`)."""
    conn.execute(update(deliveries)
                 .where(deliveries.c.digest_id == carrier_id, deliveries.c.state == DeliveryState.DIGESTED)
                 .values(sent_at=sent_at))
