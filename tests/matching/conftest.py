"""Shared fixtures: the shipped watchlist (newswatch.yaml), as shipped and all in mention mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.matching import Matcher, compile_watchlist
from worker.matching.schema import WatchlistSpec

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"


def watchlist_dict() -> dict[str, Any]:
    """The watchlist sections of the shipped newswatch.yaml."""
    raw = yaml.safe_load((ROOT / "newswatch.yaml").read_text(encoding="utf-8"))
    return {key: raw[key] for key in ("entities", "concepts", "watches") if key in raw}


def load_yaml(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shipped_spec() -> WatchlistSpec:
    return WatchlistSpec.model_validate(watchlist_dict())


@pytest.fixture(scope="session")
def shipped(shipped_spec: WatchlistSpec) -> Matcher:
    return compile_watchlist(shipped_spec)


@pytest.fixture(scope="session")
def mention() -> Matcher:
    data = watchlist_dict()
    for watch in data["watches"]:
        watch["mode"] = "mention"
        watch.pop("min_score", None)
    return compile_watchlist(WatchlistSpec.model_validate(data))
