"""Retention: a store with old and new rows of each kind, pruned; exactly the expired rows that
nothing references are gone, in bounded batches, and a second run deletes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from tests.support.clock import T0
from worker.config import ConfigError, RetentionSpec, load_settings
from worker.retention import Pruned, prune
from worker.schema import alerts, articles, deliveries, entries, feeds, make_engine, messages
from worker.stories.schema import stories, story_df, story_keys, story_members
from worker.stories.settings import StoriesSpec

pytestmark = pytest.mark.timeout(120)

DAY = 86_400.0


def _days_ago(n: float) -> float:
    return T0 - n * DAY


def _add(conn: Connection, table: Table, **values: Any) -> int:
    return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def _article(conn: Connection, name: str, age_days: float) -> int:
    return _add(conn, articles, url_key=name, url=f"http://example.org/{name}", source="f", title=name,
                text=name, lang="en", extracted_from="feed", processed_at=_days_ago(age_days))


def _entry(conn: Connection, feed: int, key: str, age_days: float, state: str,
           article: int | None = None) -> int:
    return _add(conn, entries, feed_id=feed, key=key, title=key, summary="", content="",
                seen_at=_days_ago(age_days), state=state, article_id=article)


def _delivery(conn: Connection, alert: int, dest: str, state: str, created_days: float,
              sent_days: float | None = None) -> int:
    sent_at = None if sent_days is None else _days_ago(sent_days)
    return _add(conn, deliveries, alert_id=alert, channel="sink", destination=dest, label=dest, state=state,
                created_at=_days_ago(created_days), sent_at=sent_at)


def _ids(conn: Connection, table: Table) -> set[int]:
    return set(conn.execute(select(table.c.id)).scalars())


def test_prune_deletes_exactly_the_expired_unreferenced_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        feed = _add(conn, feeds, name="f", source="http://example.org/feed", next_check_at=0.0,
                    lease_until=0.0, error_streak=0)
        old_free = _article(conn, "old-free", 40)
        new_free = _article(conn, "new-free", 10)
        old_alerted = _article(conn, "old-alerted", 40)
        old_member = _article(conn, "old-member", 40)
        old_messaged = _article(conn, "old-messaged", 40)
        old_recent_entry = _article(conn, "old-recent-entry", 40)
        old_old_entry = _article(conn, "old-old-entry", 40)
        alert = _add(conn, alerts, watch_id="w", watch_title="W", article_id=old_alerted, score=1.0,
                     snippet="s", hits_json="[]", created_at=_days_ago(40))
        story = _add(conn, stories, headline="h", first_seen_at=_days_ago(40), last_seen_at=_days_ago(40),
                     articles=1, revision=1)
        _add(conn, story_members, article_key="old-member", article_id=old_member, story_id=story,
             started=True, source="f", lang="en", title="t", at=_days_ago(40), vector="{}", why="{}")
        _add(conn, messages, story_id=story, revision=1, kind="first", reason="r", article_id=old_messaged,
             alert_id=alert, items_json="[]", outlets_json="[]", langs_json="[]", created_at=_days_ago(40))
        gone_done = _entry(conn, feed, "old-done", 100, "done", old_old_entry)
        gone_failed = _entry(conn, feed, "old-failed", 100, "failed")
        kept_new = _entry(conn, feed, "old-new", 100, "new")  # still waiting: never deleted
        kept_recent = _entry(conn, feed, "recent", 10, "done", old_recent_entry)
        kept_edge = _entry(conn, feed, "edge", 89, "done")  # 89 days < entries_days 90
        gone_sent = _delivery(conn, alert, "d1", "sent", 120, sent_days=100)
        kept_sent = _delivery(conn, alert, "d2", "sent", 120, sent_days=10)  # sent lately: by sent_at
        gone_failed_d = _delivery(conn, alert, "d3", "failed", 200)
        kept_failed_d = _delivery(conn, alert, "d4", "failed", 100)  # failed kept 180 days
        kept_pending = _delivery(conn, alert, "d5", "pending", 400)  # live outbox work
        kept_sending = _delivery(conn, alert, "d6", "sending", 400)

    pruned = prune(engine, RetentionSpec(), T0)
    assert pruned == Pruned(deliveries_sent=1, deliveries_failed=1, entries=2, articles=2)
    with engine.connect() as conn:
        assert _ids(conn, articles) == {new_free, old_alerted, old_member, old_messaged, old_recent_entry}
        assert old_free not in _ids(conn, articles) and old_old_entry not in _ids(conn, articles)
        assert _ids(conn, entries) == {kept_new, kept_recent, kept_edge}
        assert {gone_done, gone_failed} & _ids(conn, entries) == set()
        assert _ids(conn, deliveries) == {kept_sent, kept_failed_d, kept_pending, kept_sending}
        assert {gone_sent, gone_failed_d} & _ids(conn, deliveries) == set()
        assert len(_ids(conn, alerts)) == len(_ids(conn, messages)) == len(_ids(conn, story_members)) == 1
    assert prune(engine, RetentionSpec(), T0) == Pruned()  # idempotent
    # 0 / null keep a table forever
    forever = RetentionSpec(articles_days=0, entries_days=None, deliveries_sent_days=0,
                            deliveries_failed_days=0)
    assert prune(engine, forever, T0 + 1000 * DAY) == Pruned()
    engine.dispose()


def test_prune_is_batched_oldest_first(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        art = _article(conn, "a", 1)
        alert = _add(conn, alerts, watch_id="w", watch_title="W", article_id=art, score=1.0, snippet="s",
                     hits_json="[]", created_at=T0)
        sent = [_delivery(conn, alert, f"d{age}", "sent", age, sent_days=age) for age in (95, 120, 100)]
    spec = RetentionSpec(batch_size=2)
    assert prune(engine, spec, T0).deliveries_sent == 2
    with engine.connect() as conn:
        assert _ids(conn, deliveries) == {sent[0]}  # the two oldest (120 and 100 days) went first
    assert prune(engine, spec, T0).deliveries_sent == 1
    assert prune(engine, spec, T0) == Pruned()
    engine.dispose()


def test_story_index_rows_outside_the_story_windows_are_pruned(tmp_path: Path) -> None:
    # window 72 h: a search reads postings up to 2 × 72 h (+ a day) back, and document
    # frequencies of the 14 days before the oldest story time it can have
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    spec = StoriesSpec(window_h=72, df_window_days=14)
    today = int(T0 // DAY)
    with engine.begin() as conn:
        story = _add(conn, stories, headline="h", first_seen_at=T0, last_seen_at=T0, articles=1, revision=1)
        member = _add(conn, story_members, article_key="k", story_id=story, started=True, source="f",
                      lang="en", title="t", at=T0, vector="{}", why="{}")
        for age_days in (8, 6.9, 1):
            conn.execute(insert(story_keys).values(key=f"w:{age_days}", at=_days_ago(age_days),
                                                   member_id=member))
        for day in (today - 19, today - 18, today):
            conn.execute(insert(story_df).values(term="t", day=day, n=1))
    assert prune(engine, RetentionSpec(), T0, spec) == Pruned(story_index=2)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(story_keys.c.key)).scalars()) == ["w:1", "w:6.9"]
        assert sorted(conn.execute(select(story_df.c.day)).scalars()) == [today - 18, today]
    assert prune(engine, RetentionSpec(), T0, spec) == Pruned()
    engine.dispose()


def _config(tmp_path: Path, retention: dict[str, Any]) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(yaml.safe_dump({"service": {"data_dir": str(tmp_path)}, "retention": retention}))
    return path


def test_retention_settings_defaults_and_key_naming_errors(tmp_path: Path) -> None:
    defaults = load_settings(_config(tmp_path, {})).retention
    assert (defaults.articles_days, defaults.entries_days, defaults.deliveries_sent_days,
            defaults.deliveries_failed_days, defaults.batch_size, defaults.every_s) == (
        30, 90, 90, 180, 1000, 3600.0)
    forever = load_settings(_config(tmp_path, {"entries_days": 0, "articles_days": None})).retention
    assert (forever.entries_days, forever.articles_days) == (0, None)
    too_short = r"retention\.entries_days: must be 0 \(keep forever\) or at least 30"
    with pytest.raises(ConfigError, match=too_short):
        load_settings(_config(tmp_path, {"entries_days": 7}))
    with pytest.raises(ConfigError, match=r"retention\.article_days: unknown key"):
        load_settings(_config(tmp_path, {"article_days": 7}))
    with pytest.raises(ConfigError, match=r"retention\.deliveries_sent_days: Input should be greater"):
        load_settings(_config(tmp_path, {"deliveries_sent_days": -1}))


def test_prune_task_is_on_beats_schedule_and_prunes(tmp_path: Path) -> None:
    from worker.celery_app import make_celery

    settings = load_settings(_config(tmp_path, {"every_s": 600}))
    app = make_celery(settings)
    entry = app.conf.beat_schedule["prune-expired"]
    assert entry["task"] == "newswatch.prune" and entry["schedule"].total_seconds() == 600
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        _article(conn, "expired", 400)
    assert app.tasks["newswatch.prune"]() == 1  # the task body: real clock, default retention
    with engine.connect() as conn:
        assert _ids(conn, articles) == set()
    engine.dispose()
