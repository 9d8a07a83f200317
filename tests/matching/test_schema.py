"""Watchlist validation errors name the id and the problem (data/bad_watchlists.yaml)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.matching.conftest import load_yaml
from worker.matching import WatchlistError, compile_watchlist
from worker.matching.schema import WatchlistSpec

DATA: dict[str, list[dict[str, Any]]] = load_yaml("bad_watchlists.yaml")


@pytest.mark.parametrize("case", DATA["schema_errors"], ids=[c["name"] for c in DATA["schema_errors"]])
def test_schema_rejects(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        WatchlistSpec.model_validate(case["spec"])
    for fragment in case["errors"]:
        assert fragment in str(info.value)


@pytest.mark.parametrize("case", DATA["compile_errors"], ids=[c["name"] for c in DATA["compile_errors"]])
def test_compile_rejects(case: dict[str, Any]) -> None:
    spec = WatchlistSpec.model_validate(case["spec"])
    with pytest.raises(WatchlistError) as info:
        compile_watchlist(spec)
    for fragment in case["errors"]:
        assert fragment in str(info.value)


class _Settings(WatchlistSpec):
    feeds: list[str] = []


def test_validators_work_for_subclasses() -> None:
    with pytest.raises(ValidationError) as info:
        _Settings.model_validate({"feeds": ["a"], "concepts": {"c": {"terms": ["x"]}},
                                  "watches": [{"id": "w", "title": "T", "rule": "c OR missing"}]})
    assert "unknown id(s) missing" in str(info.value)
    ok = _Settings.model_validate({"feeds": ["a"], "concepts": {"c": {"terms": ["x"]}},
                                   "watches": [{"id": "w", "title": "T", "rule": "c"}]})
    assert compile_watchlist(ok).watch_ids == ("w",)


def test_shipped_watchlist_is_valid(shipped_spec: WatchlistSpec) -> None:
    assert {"drones", "sanctions", "defence_agreement", "missiles", "nuclear", "shoigu", "pezeshkian",
            "putin",
            "iran", "russia", "north_korea"} <= {w.id for w in shipped_spec.watches}
    assert all(w.examples.should_match and w.examples.should_not_match for w in shipped_spec.watches)
