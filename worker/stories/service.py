"""The clustering stage as the pipeline calls it, and the story listing.

`StoryClusterer.from_settings(settings)` is built once per process (it compiles the entity tables);
then, per processed article:

    decision = clusterer.assign(conn, StoryInput(...), now)   # inside the article's transaction

or `clusterer.assign_tx(engine, article, now)` for a transaction of its own. Feature extraction
runs before the store is touched, so the assignment lock is held only for the store work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from worker.config import Settings
from worker.matching.schema import EntitySpec
from worker.stories.assign import StoryDecision, assign_story
from worker.stories.dfcache import DfCaches
from worker.stories.entities import EntityFinder
from worker.stories.features import FeatureExtractor, Features, StoryInput
from worker.stories.schema import stories, story_members
from worker.stories.settings import StoriesSpec


class StoryClusterer:
    """Features + assignment with one settings object. Its settings are immutable; thread-safe."""

    def __init__(self, settings: StoriesSpec, entities: Mapping[str, EntitySpec] | None = None) -> None:
        self.settings = settings
        self.extractor = FeatureExtractor(settings, EntityFinder(entities))
        self.df_caches = DfCaches()  # per store: see `worker.stories.dfcache`

    @classmethod
    def from_settings(cls, settings: Settings) -> StoryClusterer:
        """The clusterer of a configuration: its `stories:` section and its watchlist entities."""
        return cls(settings.stories, settings.entities)

    def features(self, article: StoryInput) -> Features:
        """The article's evidence (pure; no store access)."""
        return self.extractor.features(article)

    def assign(self, conn: Connection, article: StoryInput, now: float,
               features: Features | None = None) -> StoryDecision:
        """Assign inside the caller's open transaction (see `worker.stories.assign`)."""
        return assign_story(conn, article, features or self.features(article), now, self.settings,
                            self.df_caches.for_engine(conn.engine))

    def assign_tx(self, engine: Engine, article: StoryInput, now: float) -> StoryDecision:
        """Extract the features, then assign in a transaction of its own."""
        features = self.features(article)
        with engine.begin() as conn:
            return assign_story(conn, article, features, now, self.settings,
                                self.df_caches.for_engine(engine))


@dataclass(frozen=True)
class StorySummary:
    """One story as `newswatch stories` lists it."""

    story_id: int
    headline: str
    first_seen_at: float
    last_seen_at: float
    articles: int
    revision: int
    outlets: tuple[str, ...]
    languages: tuple[str, ...]
    alerted_at: float | None


def recent_stories(conn: Connection, limit: int = 20) -> list[StorySummary]:
    """The most recently updated stories, newest first, with their outlets and languages."""
    rows = conn.execute(select(stories).order_by(stories.c.last_seen_at.desc(), stories.c.id.desc())
                        .limit(limit)).all()
    if not rows:
        return []
    members = conn.execute(
        select(story_members.c.story_id, story_members.c.source, story_members.c.lang)
        .where(story_members.c.story_id.in_([r.id for r in rows])).order_by(story_members.c.id)
    ).all()
    outlets: dict[int, dict[str, None]] = {}
    langs: dict[int, dict[str, None]] = {}
    for story_id, source, lang in members:
        outlets.setdefault(story_id, {})[source] = None
        langs.setdefault(story_id, {})[lang] = None
    return [StorySummary(r.id, r.headline, r.first_seen_at, r.last_seen_at, r.articles, r.revision,
                         tuple(outlets.get(r.id, {})), tuple(langs.get(r.id, {})), r.alerted_at)
            for r in rows]


def mark_alerted(conn: Connection, story_id: int, now: float) -> bool:
    """Record that a story has been announced (first time only); True when this call set it."""
    done = conn.execute(update(stories).where(stories.c.id == story_id, stories.c.alerted_at.is_(None))
                        .values(alerted_at=now))
    return bool(done.rowcount)


def story_count(conn: Connection) -> int:
    """How many stories the store holds."""
    return int(conn.execute(select(func.count()).select_from(stories)).scalar_one())
