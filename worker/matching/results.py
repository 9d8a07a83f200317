"""Records produced by the matcher (frozen dataclasses) and its error type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Claim(StrEnum):
    """How the article reports what the watch matched (``claims.classify``): as a fact, as denied,
    or as possible/expected/alleged. ``unclassified``: the watch has ``claims: all``."""

    ASSERTED = "asserted"
    DENIED = "denied"
    SPECULATIVE = "speculative"
    UNCLASSIFIED = "unclassified"


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

    def as_json(self) -> dict[str, object]:
        """The hit as stored in `alerts.hits_json` (what `dataclasses.asdict` gives, without its
        deep copy: ~50 µs per hit, and an article carries hundreds)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class WatchMatch:
    """A watch that fired: its score, the sentence around the best hit (hits marked ⟦ ⟧),
    every hit supporting it, in text order, and the claim status of the sentences that carry its
    subject (an alert should show ``denied``/``speculative``)."""

    watch_id: str
    score: float
    snippet: str
    hits: tuple[Hit, ...]
    claim: Claim = Claim.ASSERTED
