"""The in-process document-frequency cache never serves a count the store does not hold: across
days, after another worker's write, after a rolled-back assignment (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from tests.stories.conftest import HOUR, T0, article
from tests.stories.texts import A_AR, A_EN1, A_EN2, B_EN
from worker.stories.dfcache import DOCS, DfCache, read_window
from worker.stories.schema import KEY_CHARS
from worker.stories.service import StoryClusterer
from worker.stories.settings import StoriesSpec

pytestmark = pytest.mark.timeout(120)
DAY = 86_400.0
T0 = T0 // DAY * DAY + 6 * HOUR  # early in a UTC day, so that a few hours later is the same day


def _terms(c: StoryClusterer, text: tuple[str, str]) -> list[str]:
    return [t[:KEY_CHARS] for t in c.features(article("x", text, source="s", lang="en", at=T0)).terms]


def _assert_current(cache: DfCache, engine: Engine, terms: list[str], at: float) -> dict[str, int]:
    """The cache's answer for the window ending on `at`'s day equals the store's, twice (the second
    answer comes from the cache)."""
    last = int(at // DAY)
    first = last - StoriesSpec().df_window_days + 1
    for _ in range(2):
        with engine.begin() as conn:
            stored = read_window(conn, [*terms, DOCS], first, last)
            cached = cache.lookup(conn, terms, first, last)
        assert cached == {t: stored.get(t, 0) for t in [*terms, DOCS]}
    return cached


def test_cache_follows_its_own_writes_and_the_day(engine: Engine) -> None:
    c = StoryClusterer(StoriesSpec())
    cache = c.df_caches.for_engine(engine)
    terms = sorted(set(_terms(c, A_EN1)) | set(_terms(c, A_EN2)))
    c.assign_tx(engine, article("a1", A_EN1, source="one.example", lang="en", at=T0), T0)
    first = _assert_current(cache, engine, terms, T0)
    assert first[DOCS] == 1
    c.assign_tx(engine, article("a2", A_EN2, source="two.example", lang="en", at=T0 + HOUR), T0 + HOUR)
    assert cache.hits > 0  # the second article was served from the cache, then counted into it
    assert _assert_current(cache, engine, terms, T0 + HOUR)[DOCS] == 2
    # the next day: a window that ends a day later holds the same articles plus this one
    later = T0 + DAY
    c.assign_tx(engine, article("a3", A_EN2, source="three.example", lang="en", at=later), later)
    assert _assert_current(cache, engine, terms, later)[DOCS] == 3
    # back to the first day (a late article): its window does not see the later day's article
    c.assign_tx(engine, article("a4", A_EN1, source="four.example", lang="en", at=T0 + 2 * HOUR), later)
    assert _assert_current(cache, engine, terms, T0 + 2 * HOUR)[DOCS] == 3
    # a window far enough ahead that the first days fell out of it
    far = T0 + 20 * DAY
    assert _assert_current(cache, engine, terms, far)[DOCS] == 0


def test_another_workers_write_invalidates_the_cache(engine: Engine) -> None:
    one, two = StoryClusterer(StoriesSpec()), StoryClusterer(StoriesSpec())  # two processes' caches
    cache = one.df_caches.for_engine(engine)
    terms = sorted(set(_terms(one, A_EN1)) | set(_terms(one, B_EN)))
    one.assign_tx(engine, article("a1", A_EN1, source="one.example", lang="en", at=T0), T0)
    _assert_current(cache, engine, terms, T0)
    two.assign_tx(engine, article("a2", A_EN2, source="two.example", lang="en", at=T0 + HOUR), T0 + HOUR)
    assert _assert_current(cache, engine, terms, T0 + HOUR)[DOCS] == 2
    one.assign_tx(engine, article("b1", B_EN, source="one.example", lang="en", at=T0 + 2 * HOUR), T0)
    two.assign_tx(engine, article("a3", A_AR, source="three.example", lang="ar", at=T0 + 3 * HOUR), T0)
    assert _assert_current(cache, engine, terms, T0 + 3 * HOUR)[DOCS] == 4


def test_a_rolled_back_assignment_is_not_counted(engine: Engine) -> None:
    c = StoryClusterer(StoriesSpec())
    cache = c.df_caches.for_engine(engine)
    terms = _terms(c, A_EN1)
    c.assign_tx(engine, article("a1", A_EN1, source="one.example", lang="en", at=T0), T0)
    _assert_current(cache, engine, terms, T0)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), engine.begin() as conn:
        c.assign(conn, article("a2", A_EN1, source="two.example", lang="en", at=T0 + HOUR), T0 + HOUR)
        raise Abort
    assert _assert_current(cache, engine, terms, T0 + HOUR)[DOCS] == 1
    decision = c.assign_tx(engine, article("a2", A_EN1, source="two.example", lang="en", at=T0 + HOUR),
                           T0 + HOUR)
    assert decision.outcome == "joined"
    assert _assert_current(cache, engine, terms, T0 + HOUR)[DOCS] == 2


def test_cache_is_bounded() -> None:
    cache = DfCache(max_terms=10)
    cache._sums = {str(i): i for i in range(10)}  # full
    cache.record(["0"], 5, (1, "k"))  # no window yet: recording resets, never grows
    assert cache._sums == {}
