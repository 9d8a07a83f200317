"""Whether each watch's examples pass, as `newswatch check` runs them (computed once at start-up:
the watchlist in force does not change while `serve` runs)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from worker.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExampleStatus:
    """How many examples a watch has and the readable description of each that fails."""

    total: int
    failures: tuple[str, ...]


def example_status(settings: Settings) -> dict[str, ExampleStatus] | None:
    """Watch id → its examples' result; None when the watchlist cannot be compiled here."""
    from worker.matching import compile_watchlist
    from worker.matching.report import run_examples

    try:
        failures = run_examples(settings, compile_watchlist(settings))
    except Exception:  # noqa: BLE001 - the dashboard still serves; `newswatch check` says why
        log.exception("cannot run the watch examples")
        return None
    out = {}
    for watch in settings.watches:
        mine = tuple(f for f in failures if f.startswith(f"watch {watch.id!r} "))
        total = len(watch.examples.should_match) + len(watch.examples.should_not_match)
        out[watch.id] = ExampleStatus(total, mine)
    return out
