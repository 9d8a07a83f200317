"""Retention: delete rows older than the `retention:` settings, never a row still referenced.

Rules (each table by its own age column; a setting of 0 or null keeps that table forever):
- deliveries `sent` (and `digested` into a digest that was sent) by `sent_at`, `failed` by
  `created_at`. Pending, sending and held rows are the outbox's live work and are never deleted.
- entries by `seen_at` (when the item was first seen), never one still `new` (waiting to be
  processed). An entry row is the dedupe record of its feed item: deleting it while the feed still
  lists the item would process and alert it again. Feeds list an item for days, rarely weeks, so
  `entries_days` must be 0 or at least 30 (validated in worker/config.py), far beyond that.
- articles by `processed_at`, only those nothing references: no alert, no story message, no story
  member, no entry. Story processing gives every article a story member, so in a store written by
  the current pipeline an article is only deleted once its member row is gone (this module does not
  delete story rows: they are the story's history).

The story search index is derived data and goes by the story windows, whatever the settings: a
search reads only postings (`story_keys`) within `window_h` before its article's story time, which
is itself at most `window_h` old, and document frequencies (`story_df`) of the last
`df_window_days` before it; older rows (with a day's margin) are never read again.

Each run deletes at most `batch_size` rows per table (oldest first), so a run is bounded; running it
again continues where it stopped, and running it twice at once deletes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from worker.config import RetentionSpec
from worker.schema import DeliveryState, EntryState, alerts, articles, deliveries, entries, messages
from worker.stories.schema import story_df, story_keys, story_members
from worker.stories.settings import StoriesSpec

_DAY_S = 86_400.0


@dataclass(frozen=True)
class Pruned:
    """Rows one run deleted, per table."""

    deliveries_sent: int = 0
    deliveries_failed: int = 0
    entries: int = 0
    articles: int = 0
    story_index: int = 0

    @property
    def total(self) -> int:
        """All rows deleted."""
        return self.deliveries_sent + self.deliveries_failed + self.entries + self.articles + self.story_index


def prune(engine: Engine, spec: RetentionSpec, now: float, stories: StoriesSpec | None = None) -> Pruned:
    """Delete what `spec` says has expired at `now` (one transaction per table, at most
    `spec.batch_size` rows each), and the story index rows outside the windows of `stories`
    (see the module docstring; one range delete per index table)."""
    sent = failed = gone_entries = gone_articles = 0
    if spec.deliveries_sent_days:
        sent = _delete_oldest(engine, deliveries.c.id, deliveries.c.sent_at,
                              [deliveries.c.state.in_((DeliveryState.SENT, DeliveryState.DIGESTED)),
                               deliveries.c.sent_at < _cutoff(now, spec.deliveries_sent_days)],
                              spec.batch_size)
    if spec.deliveries_failed_days:
        failed = _delete_oldest(engine, deliveries.c.id, deliveries.c.created_at,
                                [deliveries.c.state == DeliveryState.FAILED,
                                 deliveries.c.created_at < _cutoff(now, spec.deliveries_failed_days)],
                                spec.batch_size)
    if spec.entries_days:
        gone_entries = _delete_oldest(engine, entries.c.id, entries.c.seen_at,
                                      [entries.c.state != EntryState.NEW,
                                       entries.c.seen_at < _cutoff(now, spec.entries_days)],
                                      spec.batch_size)
    if spec.articles_days:
        unreferenced = [
            ~exists().where(alerts.c.article_id == articles.c.id),
            ~exists().where(messages.c.article_id == articles.c.id),
            ~exists().where(story_members.c.article_id == articles.c.id),
            ~exists().where(entries.c.article_id == articles.c.id),
        ]
        gone_articles = _delete_oldest(engine, articles.c.id, articles.c.processed_at,
                                       [articles.c.processed_at < _cutoff(now, spec.articles_days),
                                        *unreferenced],
                                       spec.batch_size)
    index = _prune_story_index(engine, stories or StoriesSpec(), now)
    return Pruned(sent, failed, gone_entries, gone_articles, index)


def _prune_story_index(engine: Engine, s: StoriesSpec, now: float) -> int:
    window_s = s.window_h * 3600
    keys_before = now - 2 * window_s - _DAY_S
    df_before = int((now - window_s) // _DAY_S) - s.df_window_days - 1
    with engine.begin() as conn:
        keys: int = conn.execute(delete(story_keys).where(story_keys.c.at < keys_before)).rowcount
        dfs: int = conn.execute(delete(story_df).where(story_df.c.day < df_before)).rowcount
    return keys + dfs


def _cutoff(now: float, days: int) -> float:
    return now - days * _DAY_S


def _delete_oldest(engine: Engine, key: ColumnElement[int], age: ColumnElement[float],
                   cond: list[ColumnElement[bool]], batch: int) -> int:
    """Delete up to `batch` rows matching `cond`, oldest by `age` first. The conditions are checked
    again by the DELETE itself, so a row referenced meanwhile (or deleted by a concurrent run) is
    left alone."""
    table = key.table
    with engine.begin() as conn:
        ids = conn.execute(select(key).where(*cond).order_by(age, key).limit(batch)).scalars().all()
        if not ids:
            return 0
        gone: int = conn.execute(delete(table).where(key.in_(ids), *cond)).rowcount
    return gone
