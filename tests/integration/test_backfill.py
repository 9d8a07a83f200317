"""The backlog policy of a new feed (`feeds[].backfill`): on its first poll, entries published
longer ago than `backfill` (and undated ones) are recorded as seen without being processed or
alerted; entries that appear on later polls are processed whatever their date."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.helpers import SEEDS, write_config
from tests.support.clock import Clock
from worker.config import load_settings
from worker.oneshot import run_once
from worker.polling import claim_due_feeds, poll_feed, sync_feeds
from worker.runtime import Runtime
from worker.schema import entries

HOUR = 3600.0
ARTICLE = (SEEDS / "000_6085b7264f9884e6.txt").read_text(encoding="utf-8")


def _feed(path: Path, items: list[tuple[str, float | None]]) -> None:
    body = "".join(
        f"<item><title>{key}</title><guid>{key}</guid><link>https://news.example/{key}</link>"
        + (f"<pubDate>{formatdate(at)}</pubDate>" if at is not None else "")
        + f"<description>{ARTICLE}</description></item>"
        for key, at in items
    )
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    path.write_text(rss, encoding="utf-8")


def _runtime(tmp_path: Path, backfill: str, clock: Clock) -> Runtime:
    feed = {"name": "new", "path": str(tmp_path / "feed.xml"), "interval": 60, "backfill": backfill}
    config = write_config(tmp_path, feeds=[feed], channels={"sink": [f"jsonl://{tmp_path / 'out.jsonl'}"]})
    return Runtime(load_settings(config), clock=clock)


def _states(rt: Runtime) -> dict[str, tuple[str, bool]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(select(entries.c.key, entries.c.state, entries.c.article_id)).all()
    return {r.key.removeprefix("guid:"): (r.state, r.article_id is not None) for r in rows}


@pytest.mark.parametrize(
    ("backfill", "processed"),
    [
        ("24h", {"fresh"}),
        ("2h", {"fresh"}),
        ("none", set()),
        ("all", {"fresh", "day-old", "undated"}),
        ("30h", {"fresh", "day-old"}),
    ],
)
def test_first_poll_records_the_backlog_as_seen(tmp_path: Path, backfill: str, processed: set[str]) -> None:
    clock = Clock()
    now = clock.now
    _feed(tmp_path / "feed.xml", [("fresh", now - HOUR), ("day-old", now - 26 * HOUR), ("undated", None)])
    rt = _runtime(tmp_path, backfill, clock)
    report = run_once(rt)
    states = _states(rt)
    assert report.entries_processed == len(processed)
    assert {k for k, (_, has_article) in states.items() if has_article} == processed
    assert {s for s, _ in states.values()} == {"done"}  # the rest: seen, never offered again
    # later polls: what is new is processed, however old its date
    _feed(tmp_path / "feed.xml", [("late-old", now - 72 * HOUR), ("fresh", now - HOUR)])
    clock.now += 3600
    sync_feeds(rt)
    (feed_id,) = claim_due_feeds(rt)
    assert len(poll_feed(rt, feed_id).new_entry_ids) == 1
    rt.close()


def test_the_default_is_24h_and_the_shipped_seed_feed_alerts_on_its_backlog() -> None:
    from worker.config import FeedSpec

    assert FeedSpec(name="f", path="x").backfill == "24h"  # type: ignore[arg-type]
    shipped = load_settings(SEEDS.parent / "newswatch.yaml")
    assert [f.backfill for f in shipped.feeds if f.name == "seeds"] == ["all"]
