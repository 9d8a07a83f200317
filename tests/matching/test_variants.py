"""Person-name variants (data/variants.yaml) and their use by the matcher."""

from __future__ import annotations

from typing import Any

import pytest

from tests.matching.conftest import load_yaml
from worker.matching import Matcher, compile_watchlist, normalize
from worker.matching.schema import WatchlistSpec
from worker.matching.variants import name_variants, rejection_reason

CASES: list[dict[str, Any]] = load_yaml("variants.yaml")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_variants(case: dict[str, Any]) -> None:
    kept, _ = name_variants(normalize(case["name"]))
    for spelling in case.get("kept", []):
        assert normalize(spelling) in kept
    for spelling in case.get("not_kept", []):
        assert normalize(spelling) not in kept


def test_common_words_are_rejected_with_a_reason() -> None:
    assert "common word" in (rejection_reason(normalize("مشيرة")) or "")
    assert rejection_reason(normalize("بالوزير")) == "ب+الوزير is a common word"
    assert "shorter than 5 letters" == rejection_reason(normalize("بوتن"))
    assert rejection_reason(normalize("بيزشكيان")) is None


def test_variant_colliding_with_another_entity_is_dropped() -> None:
    spec = WatchlistSpec.model_validate({
        "entities": {"a": {"kind": "person", "names": ["شويغو"]},
                     "b": {"kind": "person", "names": ["شويجو"], "variants": False}},
        "watches": [{"id": "w", "title": "T", "rule": "a", "mode": "mention"}]})
    matcher = compile_watchlist(spec)
    assert matcher.match("قال شويجو إن") == []
    assert any("collides with b" in r.reason for r in matcher.rejected_variants["a"])


def test_hits_say_whether_they_are_variants(shipped: Matcher) -> None:
    match = next(m for m in shipped.match("قال سيرجي شويجو وشويغو إن") if m.watch_id == "shoigu")
    flags = {h.text: h.variant for h in match.hits}
    assert flags == {"سيرجي شويجو": True, "وشويغو": False}
