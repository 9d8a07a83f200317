"""Alert stage: send one outbox row through Apprise, and sweep the outbox for lost work.

A row sends its story message (`worker.messages`; idempotency key `message_key`), a digest of
several (`worker.digest_outbox`; key `newswatch-digest-<carrier>-<destination>`), an operator
notice (`worker.notices`), or its alert (a spike, `worker.spikes`).

A delivery is claimed with a conditional UPDATE (pending and due, or `sending` with an expired
lease) before the provider is called, so two workers holding the same message never both send.
A transient failure goes back to `pending` with the next attempt time from the backoff list —
the sweeper re-enqueues it then, so no long Celery countdown ever exists. When the list is used
up, or the failure is permanent, the row ends `failed` with its (secret-free) reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from alerts.deliver import body_format_for, send
from alerts.digest import DigestContent, render_digest_for
from alerts.formats import render_for
from alerts.render import (
    AlertContent,
    BodyFormat,
    MessageContent,
    RenderedAlert,
    WatchItem,
    render_alert,
    render_notice,
)
from worker.config import Settings
from worker.digest_outbox import digest_messages, flush_due, mark_members_sent
from worker.digests import label_of
from worker.followups import flush_held_followups
from worker.messages import decode, message_key
from worker.outbox import destination_keys
from worker.polling import stale_new_entries
from worker.runtime import Runtime
from worker.schema import DeliveryState, alerts, articles, deliveries, messages, notices
from worker.stories.schema import stories

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0  # per connect/read of one provider call
MAX_SEND_SOFT_S, MAX_SEND_HARD_S = 45.0, 60.0


def send_timeout(settings: Settings) -> float:
    """Socket timeout of a provider call: a connect plus a read stay well inside the lease, so a
    live sender never loses its claim to another worker mid-send."""
    return max(0.5, min(SEND_TIMEOUT_S, settings.delivery.lease_s / 4))


def send_time_limits(settings: Settings) -> tuple[float, float]:
    """(soft, hard) Celery time limits of the send task, both shorter than the lease: a hung send
    is stopped before its claim expires and the sweeper hands the row to another worker."""
    lease = settings.delivery.lease_s
    return min(MAX_SEND_SOFT_S, lease * 0.7), min(MAX_SEND_HARD_S, lease * 0.85)


class SendOutcome(StrEnum):
    """What one send attempt left: the row's new state, or `skipped` (not ours to send now)."""

    SENT = DeliveryState.SENT.value
    PENDING = DeliveryState.PENDING.value  # will retry
    FAILED = DeliveryState.FAILED.value
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send attempt (`error`: why it did not end `sent`)."""

    delivery_id: int
    state: SendOutcome
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """Work found lost or due by one sweep: deliveries and entries to enqueue again."""

    delivery_ids: tuple[int, ...]
    entry_ids: tuple[int, ...]


def send_delivery(rt: Runtime, delivery_id: int) -> SendResult:
    """Claim, send and record one delivery; safe to run twice or concurrently."""
    now = rt.clock()
    lease_until = now + rt.settings.delivery.lease_s
    with rt.engine.begin() as conn:
        claimed = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, _claimable(now))
            .values(state=DeliveryState.SENDING, lease_until=lease_until, attempts=deliveries.c.attempts + 1)
        ).rowcount
        if claimed != 1:
            return SendResult(delivery_id, SendOutcome.SKIPPED)
        row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
        configured = rt.settings.destinations(row.channel)
        url = next((u for u in configured if row.destination in destination_keys(rt.settings, u)), None)
        if row.digest_id == row.id:
            rendered, key = _digest(rt, conn, row.id, row.digest_key or "", row.destination, url)
        elif row.message_id is not None:
            rendered, key = _message(rt, conn, row.message_id, row.destination, url)
        elif row.notice_id is not None:
            notice = conn.execute(select(notices).where(notices.c.id == row.notice_id)).one()
            rendered = render_notice(notice.title, notice.text, notice.source, _published(notice.created_at))
            key = f"newswatch-notice-{row.notice_id}-{row.destination}"
        else:
            rendered, key = _alert(conn, row.alert_id), f"newswatch-{row.alert_id}-{row.destination}"
    if url is None:
        return _finish(rt, delivery_id, lease_until, DeliveryState.FAILED,
                       "destination is no longer configured")
    if row.attempts > len(rt.settings.delivery.backoff_s) + 1:  # only a send that died mid-way gets here
        reason = f"gave up after {row.attempts - 1} attempts (the last ones ended without an outcome)"
        return _finish(rt, delivery_id, lease_until, DeliveryState.FAILED, row.last_error or reason)
    outcome = send(url, rendered, idempotency_key=key, timeout_s=send_timeout(rt.settings))
    if outcome.ok:
        return _finish(rt, delivery_id, lease_until, DeliveryState.SENT, None)
    backoff = rt.settings.delivery.backoff_s
    if outcome.transient and row.attempts <= len(backoff):
        delay = max(backoff[row.attempts - 1], outcome.retry_after or 0.0)
        return _finish(rt, delivery_id, lease_until, DeliveryState.PENDING, outcome.error,
                       next_attempt_at=rt.clock() + delay)
    return _finish(rt, delivery_id, lease_until, DeliveryState.FAILED, outcome.error)


def _published(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def _link(url: str | None) -> str | None:
    return None if (url or "").startswith("file:") else url  # local fixtures: no link


def _alert(conn: Connection, alert_id: int) -> RenderedAlert:
    """An alert without a message: a spike, or a notice or alert of an older release."""
    row = conn.execute(
        select(alerts, articles.c.title, articles.c.url, articles.c.source, articles.c.published_at,
               articles.c.lang)
        .join(articles, articles.c.id == alerts.c.article_id)
        .where(alerts.c.id == alert_id)
    ).one()
    return render_alert(AlertContent(
        watch_id=row.watch_id,
        watch_title=row.watch_title,
        article_title=row.title,
        source=row.source,
        link=_link(row.url),
        published=_published(row.published_at),
        snippet=row.snippet,
        terms=tuple(dict.fromkeys(h["text"] for h in json.loads(row.hits_json))),
        score=row.score,
        lang=row.lang,
    ))


def _message(
    rt: Runtime, conn: Connection, message_id: int, destination: str, url: str | None
) -> tuple[RenderedAlert, str]:
    """A story message as this destination sees it, in the format `url` shows best
    (`alerts.deliver.body_format_for`), and its idempotency key."""
    content = _content(rt, conn, message_id, destination)
    key = message_key(content.story_id, content.revision, destination)
    return render_for(_format(url), content), key


def _digest(
    rt: Runtime, conn: Connection, carrier_id: int, digest_key: str, destination: str, url: str | None
) -> tuple[RenderedAlert, str]:
    """The digest a carrier row sends (`worker.digest_outbox`); one message alone goes out as itself."""
    message_ids = digest_messages(conn, carrier_id)
    if len(message_ids) == 1:
        return _message(rt, conn, message_ids[0], destination, url)
    digest = DigestContent(label_of(digest_key),
                           tuple(_content(rt, conn, m, destination) for m in message_ids))
    return render_digest_for(_format(url), digest), f"newswatch-digest-{carrier_id}-{destination}"


def _format(url: str | None) -> BodyFormat:
    return body_format_for(url) if url is not None else BodyFormat.TEXT


def _content(rt: Runtime, conn: Connection, message_id: int, destination: str) -> MessageContent:
    """A stored story message with the watches routed to one of the channels that name this
    destination (all of them, unless watches go to different channels)."""
    row = conn.execute(
        select(messages, stories.c.headline, articles.c.title, articles.c.url, articles.c.source,
               articles.c.published_at, articles.c.lang)
        .join(stories, stories.c.id == messages.c.story_id)
        .join(articles, articles.c.id == messages.c.article_id)
        .where(messages.c.id == message_id)
    ).one()
    sent = decode(row)
    mine = {c for c in rt.settings.channels
            if any(destination in destination_keys(rt.settings, u) for u in rt.settings.destinations(c))}
    items = [i for i in sent.items if mine & set(i.channels)] or list(sent.items)
    return MessageContent(
        kind=row.kind, story_id=row.story_id, revision=row.revision, headline=row.headline,
        reason=row.reason,
        items=tuple(WatchItem(i.watch_id, i.watch_title, i.score, i.snippet, i.claim) for i in items),
        article_title=row.title, source=row.source, link=_link(row.url),
        published=_published(row.published_at), lang=row.lang, outlets=sent.outlets, langs=sent.langs,
    )


def _claimable(now: float):  # type: ignore[no-untyped-def]
    return or_(
        and_(deliveries.c.state == DeliveryState.PENDING, deliveries.c.next_attempt_at <= now),
        and_(deliveries.c.state == DeliveryState.SENDING, deliveries.c.lease_until < now),
    )


def _finish(
    rt: Runtime,
    delivery_id: int,
    lease_until: float,
    state: DeliveryState,
    error: str | None,
    *,
    next_attempt_at: float | None = None,
) -> SendResult:
    """Record the attempt, only while our claim is still the current one: a sender that outlived
    its lease must not overwrite the outcome of the worker that took the row over."""
    values: dict[str, object] = {"state": state, "last_error": error, "lease_until": 0.0}
    sent_at = rt.clock()
    if state == DeliveryState.SENT:
        values["sent_at"] = sent_at
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
        values["enqueued_at"] = None
    with rt.engine.begin() as conn:
        current = conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == delivery_id,
                deliveries.c.state == DeliveryState.SENDING,
                deliveries.c.lease_until == lease_until,
            )
            .values(**values)
        ).rowcount
        if current == 1 and state == DeliveryState.SENT:
            mark_members_sent(conn, delivery_id, sent_at)
    if current != 1:
        log.warning("delivery %s: lease lost before the outcome (%s) was recorded", delivery_id, state)
        return SendResult(delivery_id, SendOutcome.SKIPPED, error)
    if state != DeliveryState.SENT:
        log.warning("delivery %s: %s", state, error, extra={"delivery_id": delivery_id})
    return SendResult(delivery_id, SendOutcome(state), error)


def retry_failed(rt: Runtime) -> int:
    """Offer every `failed` delivery again with a fresh attempt count (after the operator fixed
    the cause, e.g. upgraded a broken installation); the sweeper enqueues them. Returns how many."""
    now = rt.clock()
    with rt.engine.begin() as conn:
        count: int = conn.execute(
            update(deliveries)
            .where(deliveries.c.state == DeliveryState.FAILED)
            .values(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, enqueued_at=None,
                    lease_until=0.0)
        ).rowcount
    return count


def sweep(rt: Runtime) -> SweepResult:
    """Send the held follow-ups that are due and flush due digests, then find deliveries that are
    due but not queued (retries, lost messages, expired leases) and entries stored but never
    processed; mark them enqueued now and return their ids."""
    now = rt.clock()
    grace = rt.settings.delivery.requeue_after_s
    followups = flush_held_followups(rt, now)
    with rt.engine.begin() as conn:
        flush_due(conn, now)
        due = (
            conn.execute(
                select(deliveries.c.id).where(
                    _claimable(now),
                    or_(deliveries.c.enqueued_at.is_(None), deliveries.c.enqueued_at < now - grace),
                )
            )
            .scalars()
            .all()
        )
        if due:
            conn.execute(update(deliveries).where(deliveries.c.id.in_(due)).values(enqueued_at=now))
    return SweepResult(tuple(dict.fromkeys([*followups, *due])), tuple(stale_new_entries(rt, grace)))
