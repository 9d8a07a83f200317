"""Seed articles against seeds/expected_watches.yaml (gold labels and shipped modes)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.matching.conftest import SEEDS
from worker.matching import Matcher, normalize

EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((SEEDS / "expected_watches.yaml").read_text("utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gold_labels_in_mention_mode(name: str, mention: Matcher) -> None:
    fired = {m.watch_id for m in mention.match((SEEDS / name).read_text("utf-8"))}
    assert set(EXPECTED[name]["gold_fire"]) - fired == set()
    assert set(EXPECTED[name]["gold_silent"]) & fired == set()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_modes(name: str, shipped: Matcher) -> None:
    fired = {m.watch_id for m in shipped.match((SEEDS / name).read_text("utf-8"))}
    assert set(EXPECTED[name]["fire"]) - fired == set()
    assert set(EXPECTED[name]["silent"]) & fired == set()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_evidence_points_into_the_original(name: str, shipped: Matcher) -> None:
    text = (SEEDS / name).read_text("utf-8")
    matches = shipped.match(text)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    for match in matches:
        assert "⟦" in match.snippet and "⟧" in match.snippet
        for hit in match.hits:
            assert text[hit.start:hit.end] == hit.text
            assert normalize(hit.text).endswith(hit.norm)
            marked = match.snippet.replace("⟦", "").replace("⟧", "")
            assert normalize(marked)  # the snippet keeps the original spelling
        assert any(h.weight > 0 for h in match.hits)


def test_every_seed_has_expectations() -> None:
    assert sorted(p.name for p in SEEDS.glob("00*.txt")) == sorted(EXPECTED)
