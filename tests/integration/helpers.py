"""Build test configurations from the shipped one and read the seed expectations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.services import ROOT

SEEDS = ROOT / "seeds"


def shipped_watchlist() -> dict[str, Any]:
    """The entities, concepts and watches of the shipped newswatch.yaml."""
    tree = yaml.safe_load((ROOT / "newswatch.yaml").read_text(encoding="utf-8"))
    return {k: tree[k] for k in ("entities", "concepts", "watches") if k in tree}


def write_config(
    workdir: Path,
    *,
    feeds: list[dict[str, Any]],
    channels: dict[str, list[str]],
    broker_url: str | None = None,
    database_url: str | None = None,
    tick_seconds: float = 1.0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete configuration (shipped watchlist, given feeds and channels) and return
    its path. Every channel is a default channel. Feeds that do not say otherwise get
    `backfill: all`: the fixture articles are years old, and must alert on a first poll."""
    service: dict[str, Any] = {"data_dir": str(workdir / "data"), "tick_seconds": tick_seconds}
    if broker_url:
        service["broker_url"] = broker_url
    if database_url:
        service["database_url"] = database_url
    tree: dict[str, Any] = {
        "service": service,
        "feeds": [{"backfill": "all", **f} for f in feeds],
        "channels": channels,
        "default_channels": list(channels),
        "delivery": {"backoff_s": [1, 1, 2], "requeue_after_s": 3},
        **shipped_watchlist(),
        **(extra or {}),
    }
    path = workdir / "newswatch.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def expected_watches() -> dict[str, tuple[set[str], set[str]]]:
    """Per seed stem: (watches that must fire, watches that must not), from
    seeds/expected_watches.yaml."""
    tree = yaml.safe_load((SEEDS / "expected_watches.yaml").read_text(encoding="utf-8"))
    out: dict[str, tuple[set[str], set[str]]] = {}
    for name, spec in tree.items():
        out[Path(name).stem] = (set(spec.get("fire", [])), set(spec.get("silent", [])))
    return out
