"""Trap sentences (data/traps.yaml): must / must_not watches and required hit spellings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.matching.conftest import load_yaml
from worker.matching import Matcher

TRAPS: list[dict[str, Any]] = load_yaml("traps.yaml")


@pytest.mark.parametrize("trap", TRAPS, ids=[t["name"] for t in TRAPS])
def test_trap(trap: dict[str, Any], mention: Matcher) -> None:
    fired = {m.watch_id: m for m in mention.match(trap["text"])}
    for watch in trap.get("must", []):
        assert watch in fired, f"{watch} should fire"
    for watch in trap.get("must_not", []):
        assert watch not in fired, f"{watch} fired on {[h.text for h in fired[watch].hits]}"
    texts = {h.text for w in trap.get("must", []) for h in fired[w].hits}
    for spelling in trap.get("hits", []):
        assert spelling in texts


def test_traps_cover_both_directions() -> None:
    assert sum(len(t.get("must", [])) for t in TRAPS) >= 40
    assert sum(len(t.get("must_not", [])) for t in TRAPS) >= 30
