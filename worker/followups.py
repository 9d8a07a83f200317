"""Held follow-ups: a material change the follow-up interval or daily cap held back goes out once
they allow it, even if the story brings no further article.

`worker.messages.announce` records such a change on the story (`followup_due_at`, and the article
that brought it). Every sweep takes the stories whose time has come and, one transaction each
under the story-assignment lock (`worker.stories.assign`), clears the mark and decides again with
that article's stored matches at the story's current revision — the same decision a new article
would get, so a change that is no longer material sends nothing, and one still held is marked
again. Messages stay unique per (story, revision), so two sweepers never send one twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from worker.matching import WatchMatch
from worker.matching.results import Claim
from worker.messages import announce
from worker.runtime import Runtime
from worker.schema import alerts, articles
from worker.stories.assign import STORY_LOCK_KEY, Outcome, StoryDecision
from worker.stories.schema import stories

log = logging.getLogger(__name__)

BATCH = 100  # stories per sweep; the rest wait for the next one


def flush_held_followups(rt: Runtime, now: float) -> list[int]:
    """Decide again for every story whose held follow-up is due; the delivery ids to send now."""
    with rt.engine.connect() as conn:
        due = list(conn.execute(select(stories.c.id).where(stories.c.followup_due_at <= now)
                                .order_by(stories.c.followup_due_at).limit(BATCH)).scalars())
    send_now: list[int] = []
    for story_id in due:
        with rt.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STORY_LOCK_KEY})")
            story = conn.execute(select(stories.c.revision, stories.c.followup_article_id)
                                 .where(stories.c.id == story_id, stories.c.followup_due_at <= now)).first()
            if story is None:  # another sweeper, or a new article, took it
                continue
            conn.execute(update(stories).where(stories.c.id == story_id)
                         .values(followup_due_at=None, followup_article_id=None))
            article_id = story.followup_article_id
            watches = {w.id for w in rt.settings.watches}
            rows = [r for r in conn.execute(select(alerts).where(alerts.c.article_id == article_id))
                    if r.watch_id in watches]  # a watch removed since then is not announced
            source = conn.execute(select(articles.c.source).where(articles.c.id == article_id)).scalar()
            found = [WatchMatch(r.watch_id, r.score, r.snippet, (), Claim(r.claim or Claim.ASSERTED))
                     for r in rows]
            decision = StoryDecision(story_id, Outcome.JOINED, False, story.revision, {})
            ids = announce(conn, rt.settings, decision, article_id, {r.watch_id: r.id for r in rows}, found,
                           rt.feed_spec(source) if source else None, now)
            if ids:
                log.info("story %d: held follow-up sent (%d deliveries)", story_id, len(ids))
            send_now += ids
    return send_now
