"""Aboutness versus mention (data/aboutness.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.matching.conftest import load_yaml
from worker.matching import Matcher

CASES: list[dict[str, Any]] = load_yaml("aboutness.yaml")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_about(case: dict[str, Any], shipped: Matcher) -> None:
    fired = {m.watch_id for m in shipped.match(case["text"])}
    assert set(case["fire"]) - fired == set()
    assert set(case["silent"]) & fired == set()


@pytest.mark.parametrize("case", [c for c in CASES if c.get("mention_fire")],
                         ids=[c["name"] for c in CASES if c.get("mention_fire")])
def test_mention(case: dict[str, Any], mention: Matcher) -> None:
    fired = {m.watch_id for m in mention.match(case["text"])}
    assert set(case["mention_fire"]) - fired == set()


def test_context_terms_qualify_without_adding_score(shipped: Matcher) -> None:
    text = CASES[0]["text"]
    match = next(m for m in shipped.match(text) if m.watch_id == "defence_agreement")
    context = [h for h in match.hits if h.id == "defence_words"]
    assert context and all(h.weight == 0.0 for h in context)
    assert all(h.weight > 0 for h in match.hits if h.id == "agreement")


def test_title_weighs_more_than_body(shipped: Matcher) -> None:
    body = "Markets were calm today.\n" + "Traders watched the news.\n" * 3
    in_title = shipped.match("New sanctions on Iran\n" + body + "Sanctions were mentioned.\n")
    in_body = shipped.match("Markets today\n" + body + "New sanctions on Iran. Sanctions were mentioned.\n")
    score_title = next((m.score for m in in_title if m.watch_id == "sanctions"), 0.0)
    score_body = next((m.score for m in in_body if m.watch_id == "sanctions"), 0.0)
    assert score_title > score_body
