"""Arabic-aware watch matching: normalisation, surface forms, rules, aboutness scores, evidence.

Public contract: ``compile_watchlist(spec) -> Matcher``; ``Matcher.match(text) -> list[WatchMatch]``.
"""

from worker.matching.matcher import Matcher, compile_watchlist
from worker.matching.normalize import normalize
from worker.matching.results import Hit, WatchlistError, WatchMatch

__all__ = ["Hit", "Matcher", "WatchMatch", "WatchlistError", "compile_watchlist", "normalize"]
