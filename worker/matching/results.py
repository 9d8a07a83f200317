"""Records produced by the matcher (frozen dataclasses) and its error type."""

from __future__ import annotations

from dataclasses import dataclass


class WatchlistError(ValueError):
    """The watchlist cannot be compiled; the message names the entity, concept or watch id."""


@dataclass(frozen=True)
class Hit:
    """One accepted occurrence of an entity/concept/literal in an article.

    ``text`` is the original spelling (with any attached proclitic), ``norm`` the normalised form
    that matched, ``start``/``end`` offsets into the original article text. ``weight`` is what the
    hit contributes before repeat damping (base weight × title/lead/position factor); hits that
    only qualify the rule (context) have weight 0. ``variant`` marks a generated name spelling.
    """

    id: str
    text: str
    norm: str
    start: int
    end: int
    weight: float
    variant: bool


@dataclass(frozen=True)
class WatchMatch:
    """A watch that fired: its score, the sentence around the best hit (hits marked ⟦ ⟧) and
    every hit supporting it, in text order."""

    watch_id: str
    score: float
    snippet: str
    hits: tuple[Hit, ...]
