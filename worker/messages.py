"""Message stage: one message per story per channel, and follow-ups only on material change.

`announce(...)` runs inside the transaction that stores an article, its alerts (the per-(watch,
article) match records) and its story assignment, after `StoryClusterer.assign` — which holds the
story-assignment lock (`worker.stories.assign`), so two workers with two copies of one story
decide one after the other, and the second sees the first one's message.

- The first article of a story that matches any watch creates ONE message (kind `first`) listing
  every watch it matched (score, best snippet, claim status) and the outlets and languages so far.
- A later article of the story that matches a watch creates a follow-up only on a material change
  since the story's last message (`messages.*` settings, `MessagesSpec`); a change held back by
  the minimum interval or the daily cap is compared again at the story's next matching article,
  or by the sweeper once the interval or cap allows (`worker.followups`), whichever comes first.
- `messages.cooldown`: a channel does not get a watch of a message while that watch was announced
  there, for another story, within its cooldown (the message goes to the channels left, if any).
- `messages.digest` and `messages.quiet_hours`: a digest channel collects its messages per period,
  and quiet hours collect what they hold until the window's end, unless a watch shown bypasses
  them (`hold_for`); the sweeper sends each collection as one digest (`worker.digest_outbox`).
- `messages (story_id, revision)` and `deliveries (message_id, destination)` are unique: a
  message exists once per story revision and is delivered once per destination, across restarts
  and workers; the provider idempotency key is `message_key(...)`.

The decision itself is pure (`decide`); this module only reads and writes the store around it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from worker.config import CooldownSpec, FeedSpec, MessagesSpec, QuietHoursSpec, Settings
from worker.digests import due_after, parse_schedule, period_key, quiet_key
from worker.matching import WatchMatch
from worker.outbox import add_deliveries
from worker.schema import deliveries, messages
from worker.store import insert_ignore
from worker.stories.assign import Outcome, StoryDecision
from worker.stories.schema import stories, story_members
from worker.stories.service import mark_alerted

log = logging.getLogger(__name__)

DAY_S = 86_400.0


class Kind(StrEnum):
    """What a message is: the story's first announcement, or a follow-up."""

    FIRST = "first"
    FOLLOWUP = "followup"


@dataclass(frozen=True)
class Item:
    """One watch a message shows. `channels`: where this watch's matches go (the watch's own,
    plus its feed's, or `default_channels`)."""

    watch_id: str
    watch_title: str
    score: float
    snippet: str
    claim: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Sent:
    """A message already stored for the story (what the next decision compares with)."""

    kind: str
    items: tuple[Item, ...]
    outlets: tuple[str, ...]
    langs: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class Decision:
    """`kind` None: no message (then `reason` says why, for the log); `retry_at`: a material change
    was held back by the follow-up interval or cap and may go out then."""

    kind: Kind | None
    reason: str
    retry_at: float | None = None


def message_key(story_id: int, revision: int, destination: str) -> str:
    """The idempotency key a receiver sees for one message at one destination."""
    return f"newswatch-s{story_id}-r{revision}-{destination}"


def decide(items: Sequence[Item], outlets: Sequence[str], langs: Sequence[str], sent: Sequence[Sent],
           now: float, policy: MessagesSpec) -> Decision:
    """Whether the article that brought the story to (`outlets`, `langs`) and matched `items`
    creates a message, given the story's earlier messages `sent` (oldest first)."""
    if not items:
        return Decision(None, "no watch matched")
    if not sent:
        return Decision(Kind.FIRST, "first report")
    last = sent[-1]
    changes = []
    crossed = [n for n in policy.followup_outlets if len(last.outlets) < n <= len(outlets)]
    if crossed:
        changes.append(f"outlets {len(last.outlets)} → {len(outlets)}")
    announced_langs = {lang for s in sent for lang in s.langs}
    new_langs = [lang for lang in langs if lang not in announced_langs]
    if new_langs:
        changes.append(f"new language: {', '.join(new_langs)}")
    best: dict[str, float] = {}
    for s in sent:
        for it in s.items:
            best[it.watch_id] = max(best.get(it.watch_id, it.score), it.score)
    new_watches = [it.watch_title for it in items if it.watch_id not in best]
    if new_watches:
        changes.append(f"newly matching: {', '.join(new_watches)}")
    for it in items:
        if it.watch_id in best and it.score >= best[it.watch_id] * policy.followup_score_factor:
            changes.append(f"higher score: {it.watch_title} {best[it.watch_id]:.2f} → {it.score:.2f}")
    if not changes:
        return Decision(None, "no material change")
    if now - last.created_at < policy.followup_min_interval_s:
        return Decision(None, f"held: within {policy.followup_min_interval_s:g} s of the last message",
                        last.created_at + policy.followup_min_interval_s)
    recent = [s.created_at for s in sent if s.kind == Kind.FOLLOWUP and s.created_at > now - DAY_S]
    if len(recent) >= policy.followup_daily_cap:
        retry = min(recent) + DAY_S if policy.followup_daily_cap > 0 else None
        return Decision(None, f"held: {len(recent)} follow-ups in 24 h (followup_daily_cap)", retry)
    return Decision(Kind.FOLLOWUP, "; ".join(changes))


def announce(
    conn: Connection,
    settings: Settings,
    story: StoryDecision,
    article_id: int,
    alert_ids: Mapping[str, int],
    found: Sequence[WatchMatch],
    feed: FeedSpec | None,
    now: float,
) -> list[int]:
    """Create the message this article's story warrants, if any, with one pending delivery per
    destination of its watches' channels; returns the delivery ids (to send now)."""
    if story.outcome is Outcome.ALREADY or not alert_ids:
        return []
    watches = {w.id: w for w in settings.watches}
    feed_channels = list(feed.channels) if feed else []
    items = sorted(
        (
            Item(m.watch_id, watches[m.watch_id].title, m.score, m.snippet, str(m.claim),
                 tuple(dict.fromkeys([*watches[m.watch_id].channels, *feed_channels]
                                     or settings.default_channels)))
            for m in found if m.watch_id in alert_ids
        ),
        key=lambda it: (-it.score, it.watch_id),
    )
    outlets, langs = story_sources(conn, story.story_id)
    decision = decide(items, outlets, langs, sent_messages(conn, story.story_id), now, settings.messages)
    if decision.kind is None:
        log.info("story %d: no message (%s)", story.story_id, decision.reason)
        if decision.retry_at is not None:  # the sweeper looks again then (worker/followups.py)
            conn.execute(update(stories).where(stories.c.id == story.story_id)
                         .values(followup_due_at=decision.retry_at, followup_article_id=article_id))
        return []
    cooldown = settings.messages.cooldown
    if cooldown.longest > 0:
        recent = recent_items(conn, story.story_id, now - cooldown.longest)
        items = apply_cooldown(items, recent, now, cooldown)
    ids = insert_ignore(conn, messages, [{
        "story_id": story.story_id, "revision": story.revision, "kind": str(decision.kind),
        "reason": decision.reason, "article_id": article_id, "alert_id": alert_ids[items[0].watch_id],
        "items_json": json.dumps([asdict(it) for it in items], ensure_ascii=False),
        "outlets_json": json.dumps(outlets, ensure_ascii=False),
        "langs_json": json.dumps(langs), "created_at": now,
    }], returning=messages.c.id)
    if not ids:  # this revision was announced already (a repeated call)
        return []
    mark_alerted(conn, story.story_id, now)
    conn.execute(update(stories).where(stories.c.id == story.story_id)
                 .values(followup_due_at=None, followup_article_id=None))  # nothing held any more
    lead = alert_ids[items[0].watch_id]
    send_now: list[int] = []
    for channel in dict.fromkeys(c for it in items for c in it.channels):
        held = hold_for(settings.messages, channel, [it for it in items if channel in it.channels], now)
        if held is not None:
            key, due = held
            log.info("story %d: message for %s collected in %s", story.story_id, channel, key)
            add_deliveries(conn, settings, lead, [channel], now, enqueued=False, message_id=ids[0],
                           not_before=due, digest_key=key)  # the sweeper flushes it when due
            continue
        send_now += add_deliveries(conn, settings, lead, [channel], now, enqueued=True, message_id=ids[0])
    return send_now


def hold_for(
    policy: MessagesSpec, channel: str, shown: Sequence[Item], now: float
) -> tuple[str, float] | None:
    """(digest key, due time) when a message for `channel` showing `shown` at `now` waits to go
    out in a digest; None when it is sent at once. A channel with `messages.digest` collects every
    message per period (a period that ends inside the channel's quiet hours waits for their end);
    otherwise quiet hours collect what they hold into one digest at their end, unless a watch
    shown bypasses them."""
    quiet = policy.quiet_hours.get(channel)
    digest = policy.digest.get(channel)
    if digest is not None:
        schedule = parse_schedule(digest.every, digest.timezone)
        due = due_after(schedule, now)
        end = quiet_until(quiet, due) if quiet is not None else None
        return period_key(channel, schedule, now), end if end is not None else due
    until = quiet_until(quiet, now) if quiet is not None else None
    if quiet is not None and until is not None and not bypasses(quiet, shown):
        return quiet_key(channel, until), until
    return None


def quiet_until(quiet: QuietHoursSpec, now: float) -> float | None:
    """The end of the quiet window `now` lies in (a Unix time), or None outside it."""
    zone = ZoneInfo(quiet.timezone)
    local = datetime.fromtimestamp(now, zone)
    (sh, sm), (eh, em) = (map(int, quiet.start.split(":")), map(int, quiet.end.split(":")))
    minute, start, end = local.hour * 60 + local.minute, sh * 60 + sm, eh * 60 + em
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, eh, em, tzinfo=zone).timestamp()


def bypasses(quiet: QuietHoursSpec, items: Sequence[Item]) -> bool:
    """Whether a message showing `items` goes out despite the quiet hours."""
    return any(it.watch_id in quiet.bypass_watches
               or (quiet.bypass_score is not None and it.score >= quiet.bypass_score) for it in items)


def apply_cooldown(items: Sequence[Item], recent: Sequence[tuple[float, Sequence[Item]]], now: float,
                   cooldown: CooldownSpec) -> list[Item]:
    """`items` without the channels where their watch was announced (in `recent`: other stories'
    messages as (created_at, items)) less than the cooldown of that watch on that channel ago."""
    def cooled(watch_id: str, channel: str) -> bool:
        limit = cooldown.of(watch_id, channel)
        return limit > 0 and any(now - at < limit and any(o.watch_id == watch_id and channel in o.channels
                                                             for o in shown) for at, shown in recent)

    return [replace(it, channels=tuple(c for c in it.channels if not cooled(it.watch_id, c))) for it in items]


def recent_items(conn: Connection, story_id: int, since: float) -> list[tuple[float, tuple[Item, ...]]]:
    """(created_at, items) of the other stories' messages created since `since`."""
    rows = conn.execute(select(messages).where(messages.c.created_at >= since,
                                               messages.c.story_id != story_id)).all()
    return [(r.created_at, decode(r).items) for r in rows]


def story_sources(conn: Connection, story_id: int) -> tuple[list[str], list[str]]:
    """The story's outlets and languages so far, in order of arrival."""
    rows = conn.execute(select(story_members.c.source, story_members.c.lang)
                        .where(story_members.c.story_id == story_id).order_by(story_members.c.id)).all()
    return list(dict.fromkeys(r.source for r in rows)), list(dict.fromkeys(r.lang for r in rows))


def sent_messages(conn: Connection, story_id: int) -> list[Sent]:
    """The story's messages, oldest first."""
    rows = conn.execute(select(messages).where(messages.c.story_id == story_id).order_by(messages.c.id)).all()
    return [decode(r) for r in rows]


def decode(row: Any) -> Sent:
    """A stored `messages` row as a `Sent`."""
    items = tuple(Item(**{**d, "channels": tuple(d["channels"])}) for d in json.loads(row.items_json))
    return Sent(row.kind, items, tuple(json.loads(row.outlets_json)), tuple(json.loads(row.langs_json)),
                row.created_at)


@dataclass(frozen=True)
class MessageView:
    """One stored message as the listings show it; `deliveries`: (label, state, last error)."""

    message_id: int
    story_id: int
    kind: str
    revision: int
    reason: str
    watches: tuple[str, ...]
    headline: str
    created_at: float
    deliveries: tuple[tuple[str, str, str | None], ...]


def recent_messages(
    conn: Connection, limit: int, story_ids: Sequence[int] | None = None
) -> list[MessageView]:
    """The `limit` newest messages (of `story_ids` only, when given), newest first."""
    query = (select(messages, stories.c.headline).join(stories, stories.c.id == messages.c.story_id)
             .order_by(messages.c.id.desc()).limit(limit))
    if story_ids is not None:
        query = query.where(messages.c.story_id.in_(list(story_ids)))
    rows = conn.execute(query).all()
    sent: dict[int, list[tuple[str, str, str | None]]] = {}
    if rows:
        for d in conn.execute(select(deliveries.c.message_id, deliveries.c.label, deliveries.c.state,
                                     deliveries.c.last_error)
                              .where(deliveries.c.message_id.in_([r.id for r in rows]))
                              .order_by(deliveries.c.id)):
            sent.setdefault(d.message_id, []).append((d.label, d.state, d.last_error))
    return [MessageView(r.id, r.story_id, r.kind, r.revision, r.reason,
                        tuple(i.watch_id for i in decode(r).items), r.headline, r.created_at,
                        tuple(sent.get(r.id, ()))) for r in rows]
