"""Story assignment on a real store (SQLite and PostgreSQL): joins, splits and their reasons."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.stories.conftest import HOUR, T0, article
from tests.stories.texts import A_AR, A_EN1, A_EN2, A_WIRE, B_AR, B_EN, C_ONE, C_TWO, background
from worker.stories.assign import Outcome
from worker.stories.schema import stories
from worker.stories.service import StoryClusterer, mark_alerted, recent_stories

pytestmark = pytest.mark.timeout(120)


def _assign(c: StoryClusterer, engine: Engine, key: str, text: tuple[str, str], source: str, lang: str,
            at: float) -> tuple[int, Outcome, dict[str, object]]:
    d = c.assign_tx(engine, article(key, text, source=source, lang=lang, at=at), at)
    return d.story_id, d.outcome, d.why


def _ids(why: dict[str, object], group: str) -> set[str]:
    return {str(item["id"]) for item in why[group]}  # type: ignore[attr-defined]


def test_same_event_from_two_outlets_is_one_story(clusterer: StoryClusterer, engine: Engine) -> None:
    first, outcome, why = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    assert outcome is Outcome.NEW and why["reason"] == "no_candidate"
    second, outcome, why = _assign(clusterer, engine, "a2", A_EN2, "two.example", "en", T0 + HOUR)
    assert (second, outcome) == (first, Outcome.JOINED)
    assert why["reason"] == "shared_evidence" and why["matched"] == "a1"
    assert {"shoigu"} <= _ids(why, "shared_entities")
    assert {"24", "1.5"} <= _ids(why, "shared_numbers")
    assert why["title_overlap"] is not None and why["cross_language"] is False


def test_arabic_and_english_reports_bridge_by_entities_and_numbers(clusterer: StoryClusterer,
                                                                  engine: Engine) -> None:
    first, _, _ = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    story, outcome, why = _assign(clusterer, engine, "a3", A_AR, "three.example", "ar", T0 + 2 * HOUR)
    assert (story, outcome) == (first, Outcome.JOINED)
    assert why["cross_language"] is True and why["near_duplicate"] is None
    assert {"shoigu", "iran", "russia"} <= _ids(why, "shared_entities")
    assert {"24", "35", "1.5"} <= _ids(why, "shared_numbers")
    assert _ids(why, "shared_dates") == {"3-12"}
    with engine.connect() as conn:
        listed = recent_stories(conn, 5)
    assert listed[0].story_id == first and listed[0].languages == ("en", "ar")
    assert listed[0].outlets == ("one.example", "three.example")


def test_same_entities_different_event_stays_apart(clusterer: StoryClusterer, engine: Engine) -> None:
    a, _, _ = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    _assign(clusterer, engine, "a3", A_AR, "three.example", "ar", T0 + HOUR)
    b, outcome, why = _assign(clusterer, engine, "b1", B_EN, "one.example", "en", T0 + 48 * HOUR)
    assert outcome is Outcome.NEW and b != a
    assert why["reason"] == "below_threshold"
    rejected = why["best_rejected"]
    assert isinstance(rejected, dict) and rejected["matched_story"] == a
    b2, outcome, why = _assign(clusterer, engine, "b2", B_AR, "three.example", "ar", T0 + 49 * HOUR)
    assert (b2, outcome) == (b, Outcome.JOINED), why


def test_syndicated_copy_joins_as_near_duplicate(clusterer: StoryClusterer, engine: Engine) -> None:
    first, _, _ = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    copy, outcome, why = _assign(clusterer, engine, "w", A_WIRE, "wire.example", "en", T0 + HOUR)
    assert (copy, outcome) == (first, Outcome.JOINED)
    assert why["reason"] == "near_duplicate" and float(why["near_duplicate"]) >= 0.5  # type: ignore[arg-type]


def test_common_entities_do_not_glue_stories(clusterer: StoryClusterer, engine: Engine) -> None:
    """Iran and Russia are in every background article: they stop counting as evidence, so the
    naval drill (sharing only them with the visit, across languages) no longer comes close."""
    for n in range(80):
        at = T0 - 40 * HOUR + n * 60
        _assign(clusterer, engine, f"bg{n}", background(n), f"bg{n % 7}.example", "en", at)
    a, _, _ = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    b, outcome, why = _assign(clusterer, engine, "b2", B_AR, "three.example", "ar", T0 + 2 * HOUR)
    assert outcome is Outcome.NEW and b != a
    rejected = why.get("best_rejected", {})
    assert not {"iran", "russia"} & _ids(rejected, "shared_entities") if rejected else True  # type: ignore[arg-type]
    # the visit itself still joins across languages: Shoigu, the jets and the numbers are rare
    story, outcome, why = _assign(clusterer, engine, "a3", A_AR, "four.example", "ar", T0 + 3 * HOUR)
    assert (story, outcome) == (a, Outcome.JOINED)
    assert "iran" not in _ids(why, "shared_entities") and "shoigu" in _ids(why, "shared_entities")


def test_window_and_idempotency_and_alerted_story_kept(clusterer: StoryClusterer, engine: Engine) -> None:
    first, _, _ = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0)
    with engine.begin() as conn:
        assert mark_alerted(conn, first, T0 + 1) is True
        assert mark_alerted(conn, first, T0 + 2) is False
    again, outcome, why = _assign(clusterer, engine, "a1", A_EN1, "one.example", "en", T0 + 5)
    assert (again, outcome) == (first, Outcome.ALREADY) and why["first_reason"] == "no_candidate"
    joined = clusterer.assign_tx(engine, article("a2", A_EN2, source="two.example", lang="en", at=T0 + HOUR),
                                 T0 + HOUR)
    assert joined.story_id == first and joined.revision == 2 and not joined.new
    late, outcome, _ = _assign(clusterer, engine, "a2-late", A_EN2, "six.example", "en", T0 + 80 * HOUR)
    assert outcome is Outcome.NEW and late != first  # outside the 72 h window: a new story
    with engine.connect() as conn:
        row = conn.execute(select(stories).where(stories.c.id == first)).one()
        assert (row.articles, row.revision, row.alerted_at) == (2, 2, T0 + 1)
        assert conn.execute(select(func.count()).select_from(stories)).scalar_one() == 2


@pytest.mark.parametrize("second_outlet", ["two.example", "one.example"])
def test_a_quote_shared_by_two_outlets_joins_but_not_within_one(clusterer: StoryClusterer, engine: Engine,
                                                                 second_outlet: str) -> None:
    first, _, _ = _assign(clusterer, engine, "c1", C_ONE, "one.example", "en", T0)
    story, outcome, why = _assign(clusterer, engine, "c2", C_TWO, second_outlet, "en", T0 + HOUR)
    if second_outlet == "two.example":
        assert (story, outcome) == (first, Outcome.JOINED)
        assert why["reason"] == "shared_passage" and int(why["shared_passage"]) >= 4  # type: ignore[call-overload]
        assert "bagheri" in _ids(why, "shared_entities")
    else:  # the same outlet repeating a passage is its boilerplate, not a quote
        assert outcome is Outcome.NEW and story != first
        rejected = why["best_rejected"]
        assert isinstance(rejected, dict) and rejected["shared_passage"] == 0
