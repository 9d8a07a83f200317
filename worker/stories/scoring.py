"""Pure scoring: does a new article belong to the story of an earlier one, and why.

Evidence, from strongest to weakest:
0. Only stories whose first article is at most `window_h` old are candidates (an event story
   lasts at most that long; a longer one continues as a new story).
1. **Near-duplicate** (same language): estimated Jaccard of the 3-word shingle sets at least
   `near_duplicate` — a syndicated or lightly edited copy joins whatever else it shares, unless
   both texts carry numbers and share none (the same template with other figures).
2. **Shared rare evidence**: IDF-weighted cosine of the two term vectors — over the facts
   (script-independent entity ids, numbers, dates; the only path across languages) at least
   `join_score_cross` with `min_shared_cross` shared items whose IDF is at least `rare_idf`, or,
   within a language, over all terms at least `join_score` with `min_shared` rare items of which
   `min_shared_facts` are facts.
3. **Shared passage** (same language, two outlets): at least `min_shared_passage` shingle anchors
   in common (a quoted statement or wire paragraph of some 40 words) and `min_shared_facts` rare
   facts. Common entities (Iran, Russia in every article
   this service sees) weigh almost nothing and never count as shared evidence, so they cannot glue
   two events together. When both articles name day-month dates and none is shared, the
   threshold is multiplied by `date_conflict_factor` (the same kind of event on another day).
Everything is deterministic: ties go to the older story.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from worker.stories.features import CROSS_PREFIXES
from worker.stories.settings import StoriesSpec
from worker.stories.text import resemblance


class Reason(StrEnum):
    """Why an article joined a story or started one."""

    NEAR_DUPLICATE = "near_duplicate"
    SHARED_PASSAGE = "shared_passage"
    SHARED_EVIDENCE = "shared_evidence"
    NO_CANDIDATE = "no_candidate"
    BELOW_THRESHOLD = "below_threshold"
    ALREADY_ASSIGNED = "already_assigned"


@dataclass(frozen=True)
class Vector:
    """An article's evidence as scored: term weights (position boost × IDF when computed), their
    Euclidean norms over all terms and over the cross-language terms, title words, signature."""

    lang: str
    weights: Mapping[str, float]
    norm: float
    cross_norm: float
    title: frozenset[str]
    signature: tuple[int, ...]
    anchors: frozenset[int] = frozenset()
    source: str = ""

    @cached_property
    def facts(self) -> frozenset[str]:
        """The script-independent terms (entity ids, numbers, dates): `CROSS_PREFIXES`."""
        return frozenset(t for t in self.weights if t[:2] in _FACT_PREFIXES)

    @cached_property
    def numbers(self) -> frozenset[str]:
        """The `n:` terms."""
        return frozenset(t for t in self.weights if t[:2] == "n:")

    @cached_property
    def dates(self) -> frozenset[str]:
        """The `d:` terms."""
        return frozenset(t for t in self.weights if t[:2] == "d:")

    @classmethod
    def build(cls, lang: str, weights: Mapping[str, float], title: frozenset[str], signature: tuple[int, ...],
              anchors: frozenset[int] = frozenset(), source: str = "") -> Vector:
        """A vector with its norms computed from `weights`."""
        norm = math.sqrt(sum(w * w for w in weights.values()))
        cross = math.sqrt(sum(w * w for t, w in weights.items() if t.startswith(CROSS_PREFIXES)))
        return cls(lang, weights, norm, cross, title, signature, anchors, source)


@dataclass(frozen=True)
class Member:
    """A stored article of a candidate story, with its vector as it was stored."""

    story_id: int
    key: str
    vector: Vector


@dataclass(frozen=True)
class PairScore:
    """The comparison of the new article with one member; `joins` says whether it is enough."""

    member: Member
    score: float
    resemblance: float | None
    title_overlap: float | None
    shared: tuple[tuple[str, float], ...]  # rare shared terms and their IDF now, rarest first
    cross_language: bool
    joins: bool
    reason: Reason
    date_conflict: bool = False
    passage: int = 0  # shingle anchors shared with another outlet's text (a quoted passage)

    def rank(self) -> tuple[bool, bool, float, int]:
        """Sort key, best first when sorted descending (older story wins a tie)."""
        return (self.joins, self.reason is Reason.NEAR_DUPLICATE, round(self.score, 9), -self.member.story_id)

    def why(self) -> dict[str, object]:
        """The explanation recorded with the decision (JSON-ready)."""
        def group(prefixes: tuple[str, ...]) -> list[dict[str, object]]:
            return [{"id": t.split(":", 1)[1], "idf": round(v, 2)}
                    for t, v in self.shared if t.startswith(prefixes)]

        return {
            "reason": str(self.reason),
            "matched": self.member.key,
            "score": round(self.score, 3),
            "near_duplicate": None if self.resemblance is None else round(self.resemblance, 3),
            "title_overlap": None if self.title_overlap is None else round(self.title_overlap, 3),
            "cross_language": self.cross_language,
            "shared_entities": group(("e:", "g:")),
            "shared_numbers": group(("n:",)),
            "shared_dates": group(("d:",)),
            "date_conflict": self.date_conflict,
            "shared_passage": self.passage,
            "shared_words": [t.split(":", 2)[2] for t, _ in self.shared if t.startswith("w:")][:10],
        }


def idf(df: float, docs: float, prior: float) -> float:
    """Smoothed inverse document frequency; `prior` pseudo-documents without the term keep a
    fresh store from treating everything as rare."""
    return math.log((docs + prior) / (df + 1.0))


def weigh(boosts: Mapping[str, float], idfs: Mapping[str, float]) -> dict[str, float]:
    """Term weights of the new article: position boost × IDF now."""
    return {t: b * idfs.get(t, 0.0) for t, b in boosts.items()}


_FACT_PREFIXES = frozenset(CROSS_PREFIXES)


def score_pair(new: Vector, member: Member, idfs: Mapping[str, float], s: StoriesSpec) -> PairScore:
    """Compare the new article's vector (weights now) with a stored member's.

    Two paths join: the facts path (cosine over entity ids, numbers and dates, `join_score_cross`,
    `min_shared_cross` rare ones; the only one across languages) and, within a language, the
    words path (cosine over every term, `join_score`, `min_shared` rare items of which
    `min_shared_facts` facts). `score` is the better of the paths that apply."""
    other = member.vector
    cross = new.lang != other.lang
    mine, theirs = new.weights, other.weights
    facts_new = new.facts
    common = mine.keys() & theirs.keys()
    if cross:
        common &= facts_new
    dot = dot_facts = 0.0
    for term in sorted(common):  # sorted: float sums in a fixed order
        product = mine[term] * theirs[term]
        dot += product
        if term in facts_new:
            dot_facts += product
    shared = sorted(((t, idfs[t]) for t in common if idfs.get(t, 0.0) >= s.rare_idf), key=_rarest_first)
    facts = sum(1 for t, _ in shared if t in facts_new)
    by_facts = dot_facts / (new.cross_norm * other.cross_norm) if new.cross_norm * other.cross_norm else 0.0
    by_words = dot / (new.norm * other.norm) if not cross and new.norm * other.norm else 0.0
    score = max(by_facts, by_words)
    near = None if cross else resemblance(new.signature, other.signature)
    overlap = None
    if not cross and (new.title or other.title):
        overlap = len(new.title & other.title) / len(new.title | other.title)
    # a template filled with other figures (the daily launch or casualty report) is not a copy
    other_figures = bool(new.numbers and other.numbers and not new.numbers & other.numbers)
    if near is not None and near >= s.near_duplicate and not other_figures:
        return PairScore(member, score, near, overlap, tuple(shared), cross, True, Reason.NEAR_DUPLICATE)
    conflict = bool(new.dates and other.dates and not new.dates & other.dates)
    factor = s.date_conflict_factor if conflict else 1.0  # both name a date, never the same one
    joins = by_facts >= min(1.0, s.join_score_cross * factor) and facts >= s.min_shared_cross
    if not cross:
        joins = joins or (by_words >= min(1.0, s.join_score * factor) and len(shared) >= s.min_shared
                          and facts >= s.min_shared_facts)
    # a passage shared by two outlets (one quote, one wire paragraph); within one outlet it is boilerplate
    passage = len(new.anchors & other.anchors) if not cross and new.source != other.source else 0
    quoted = not joins and passage >= s.min_shared_passage and facts >= s.min_shared_facts
    reason = Reason.SHARED_PASSAGE if quoted else Reason.SHARED_EVIDENCE if joins else Reason.BELOW_THRESHOLD
    return PairScore(member, score, near, overlap, tuple(shared), cross, joins or quoted, reason, conflict,
                     passage)


def _rarest_first(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]


def best_match(scores: list[PairScore]) -> PairScore | None:
    """The best comparison (joining or not), or None when there was no candidate."""
    return max(scores, key=PairScore.rank) if scores else None
