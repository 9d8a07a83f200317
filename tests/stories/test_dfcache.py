"""The in-process document-frequency cache never serves a count the store does not hold: across
days, after another worker's write, after a rolled-back assignment, while the log is folded by
this worker or another one (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

import worker.stories.dfcache
from tests.stories.conftest import HOUR, T0, article
from tests.stories.texts import A_AR, A_EN1, A_EN2, B_EN
from worker.stories.dfcache import DOCS, DfCache, read_window
from worker.stories.schema import KEY_CHARS, story_df_folds, story_df_log
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
    misses = cache.misses
    assert _assert_current(cache, engine, terms, T0 + 3 * HOUR)[DOCS] == 4
    assert cache.misses == misses  # brought up to date from the new log rows, not read again


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


def test_cache_is_bounded(engine: Engine) -> None:
    c = StoryClusterer(StoriesSpec())
    cache = DfCache(max_terms=20)
    for n, text in enumerate((A_EN1, A_EN2, B_EN)):
        c.assign_tx(engine, article(f"a{n}", text, source=f"s{n}.example", lang="en", at=T0), T0)
        terms = _terms(c, text)
        assert len(terms) > 20
        _assert_current(cache, engine, terms, T0)
        assert sum(map(len, cache._sums.values())) <= len(terms) + 1  # started over, never grew past


def _log(conn: Connection) -> tuple[int, int]:
    """Unfolded log rows and the fold mark."""
    rows = conn.execute(select(func.count()).select_from(story_df_log)).scalar_one()
    return rows, int(conn.execute(select(story_df_folds.c.through)).scalar() or 0)


TEXTS = [A_EN1, A_EN2, B_EN, A_AR]


def test_the_log_is_folded_and_every_count_stays_exact(engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.stories.dfcache, "FOLD_ROWS", 3)
    one, two = StoryClusterer(StoriesSpec()), StoryClusterer(StoriesSpec())
    terms = sorted({t for text in TEXTS for t in _terms(one, text)})
    marks = set()
    for n in range(14):
        # worker one assigns most articles; worker two now and then, so each folds rows the other
        # has or has not read yet
        writer = two if n % 5 == 4 else one
        at = T0 + n * HOUR
        writer.assign_tx(engine, article(f"a{n}", TEXTS[n % 4], source=f"s{n}.example",
                                         lang="ar" if n % 4 == 3 else "en", at=at), at)
        with engine.connect() as conn:
            rows, mark = _log(conn)
        marks.add(mark)
        assert rows <= 4  # folded once three rows wait (the newest is folded by the next one)
        # the writer's cache; the other one lags behind until it writes (or the end)
        cache = writer.df_caches.for_engine(engine)
        assert _assert_current(cache, engine, terms, at)[DOCS] == n + 1
        _assert_current(cache, engine, terms, at + (n + 1) * DAY)  # a window not asked before
    for c in (one, two):
        assert _assert_current(c.df_caches.for_engine(engine), engine, terms, at)[DOCS] == 14
    assert len(marks) >= 4  # folded again and again
    with engine.connect() as conn:  # folded and unfolded rows together: every article counted once
        counted = read_window(conn, [DOCS], int(T0 // DAY) - 30, int(T0 // DAY) + 30)
    assert counted[DOCS] == 14


def test_a_rolled_back_fold_keeps_the_log(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.stories.dfcache, "FOLD_ROWS", 2)
    c = StoryClusterer(StoriesSpec())
    cache = c.df_caches.for_engine(engine)
    terms = _terms(c, A_EN1)
    for n in range(2):
        c.assign_tx(engine, article(f"a{n}", A_EN1, source=f"s{n}.example", lang="en", at=T0), T0)
    with engine.connect() as conn:
        assert _log(conn) == (2, 0)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), engine.begin() as conn:
        c.assign(conn, article("a2", A_EN2, source="s2.example", lang="en", at=T0), T0)
        assert _log(conn) == (1, 2)  # folded inside the transaction
        raise Abort
    with engine.connect() as conn:
        assert _log(conn) == (2, 0)
    assert _assert_current(cache, engine, terms, T0)[DOCS] == 2

