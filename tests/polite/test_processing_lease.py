"""The processing lease (`entries.processing_until`): the sweeper leaves an entry alone while an
attempt may still be running, offers it again once the lease has passed, and at once after an
attempt that recorded its error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select

from tests.polite.support import feed_id, runtime
from worker.polling import stale_new_entries, sync_feeds
from worker.processing import _start_attempt, entry_error
from worker.runtime import Runtime
from worker.schema import entries

pytestmark = pytest.mark.timeout(60)
GRACE_S = 60.0  # what the sweeper passes (delivery.requeue_after_s)


def _entry(rt: Runtime, key: str) -> int:
    fid = feed_id(rt, "f")
    with rt.engine.begin() as conn:
        return int(conn.execute(insert(entries).values(
            feed_id=fid, key=key, link=None, title=key, seen_at=rt.clock(),
            state="new", enqueued_at=rt.clock()).returning(entries.c.id)).scalar_one())


def _setup(tmp_path: Path) -> Runtime:
    feed = {"name": "f", "url": "http://127.0.0.1:9/feed.xml", "allow_private": True}
    rt = runtime(tmp_path, feeds_=[feed], extra={"service": {"task_time_limit_s": 300}})
    sync_feeds(rt)
    return rt


def test_a_running_attempt_is_not_offered_again_before_its_lease_ends(tmp_path: Path) -> None:
    rt = _setup(tmp_path)
    held = _entry(rt, "held")
    start = rt.clock()
    assert _start_attempt(rt, held)
    with rt.engine.connect() as conn:
        until = conn.execute(select(entries.c.processing_until).where(entries.c.id == held)).scalar_one()
    assert until == start + 300  # the lease is the configured task time limit
    rt.clock.now = start + GRACE_S + 1  # type: ignore[attr-defined]
    assert stale_new_entries(rt, GRACE_S) == []  # enqueued long ago, but an attempt holds it
    rt.clock.now = start + 301  # type: ignore[attr-defined]
    assert stale_new_entries(rt, GRACE_S) == [held]  # the attempt died with its process


def test_an_attempt_that_recorded_its_error_ends_the_lease(tmp_path: Path) -> None:
    rt = _setup(tmp_path)
    failed = _entry(rt, "failed")
    start = rt.clock()
    assert _start_attempt(rt, failed)
    entry_error(rt, failed, "ValueError: boom")
    assert stale_new_entries(rt, GRACE_S) == []  # just re-stamped: not before the grace
    rt.clock.now = start + GRACE_S + 1  # type: ignore[attr-defined]
    assert stale_new_entries(rt, GRACE_S) == [failed]
    with rt.engine.connect() as conn:
        row = conn.execute(select(entries).where(entries.c.id == failed)).one()
    assert row.processing_until is None and row.attempts == 1 and row.error == "ValueError: boom"


def test_a_lost_message_without_an_attempt_is_offered_after_the_grace(tmp_path: Path) -> None:
    rt = _setup(tmp_path)
    lost = _entry(rt, "lost")
    start = rt.clock()
    assert stale_new_entries(rt, GRACE_S) == []
    rt.clock.now = start + GRACE_S + 1  # type: ignore[attr-defined]
    assert stale_new_entries(rt, GRACE_S) == [lost]
