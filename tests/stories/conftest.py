"""Fixtures for the story tests: a clusterer over the test entities and a fresh store on each
backend (SQLite and PostgreSQL, through the suite's `database_url` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.stories.texts import ENTITIES
from worker.schema import make_engine
from worker.stories.features import StoryInput
from worker.stories.service import StoryClusterer
from worker.stories.settings import StoriesSpec

T0 = 1_700_000_000.0  # a fixed clock
HOUR = 3600.0


@pytest.fixture(scope="session")
def clusterer() -> StoryClusterer:
    return StoryClusterer(StoriesSpec(), ENTITIES)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def article(key: str, text: tuple[str, str], *, source: str, lang: str, at: float) -> StoryInput:
    """A StoryInput from a (title, body) pair."""
    return StoryInput(key=key, title=text[0], text=text[1], source=source, lang=lang, published_at=at,
                      url=f"https://{source}/{key}")
