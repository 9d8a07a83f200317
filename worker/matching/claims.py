"""Claim status of a fired watch: asserted, denied or speculative.

The sentences that carry the watch's subject hits are each marked denied (a denial cue), else
speculative (a speculation cue, or a question mark), else asserted, from the cue lexicons in
``data/claims.yaml``.
A sentence weighs ``TITLE_WEIGHT`` in the title, ``LEAD_WEIGHT`` in the lead, 1 elsewhere; the
watch is denied when denied sentences carry at least ``DENIED_SHARE`` of that weight, else
speculative when speculative ones carry at least ``SPECULATIVE_SHARE`` and the title or at least
two sentences are speculative, else asserted. One hedged clause in a factual report therefore
does not flip it. Only the first ``MAX_HITS`` subject
hits are read.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import ahocorasick_rs
import yaml

from worker.matching.normalize import normalize
from worker.matching.results import Claim
from worker.matching.snippet import first_stop_end, last_stop_end

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
DENIED_SHARE = 0.34
SPECULATIVE_SHARE = 0.4
SENTENCE_REACH = 600
MAX_HITS = 8  # the first subject hits decide (title, lead, the first passages)
_PROCLITICS = "وف"


@dataclass(frozen=True)
class Cues:
    """The cue lexicons compiled: one automaton over every normalised cue; per cue its status and
    whether it ends in a wildcard (``*``: any word ending)."""

    automaton: ahocorasick_rs.AhoCorasick
    claims: tuple[Claim, ...]
    open_end: tuple[bool, ...]
    surfaces: tuple[str, ...] = ()  # the normalised cues, in the automaton's pattern order


@lru_cache(maxsize=1)
def cues() -> Cues:
    """``Cues`` of ``data/claims.yaml`` (a ``denied`` and a ``speculative`` mapping of language to
    cue list); ValueError naming the key when the file is malformed."""
    text = resources.files("worker.matching").joinpath("data/claims.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    found: dict[str, tuple[Claim, bool]] = {}
    for key, claim in (("speculative", Claim.SPECULATIVE), ("denied", Claim.DENIED)):
        if not isinstance(data.get(key), dict) or not all(isinstance(v, list) for v in data[key].values()):
            raise ValueError(f"claims.yaml: {key}: expected a mapping of language to a list of cues")
        for cue in (c for listed in data[key].values() for c in listed):
            norm = normalize(str(cue)).strip()
            if norm.rstrip("*"):
                found[norm.rstrip("*")] = (claim, norm.endswith("*"))  # denied wins a tie
    surfaces = list(found)
    automaton = ahocorasick_rs.AhoCorasick(surfaces, implementation=ahocorasick_rs.Implementation.DFA)
    return Cues(automaton, tuple(found[s][0] for s in surfaces),
                tuple(found[s][1] for s in surfaces), tuple(surfaces))


CueHit = tuple[int, int, int]  # (cue index in ``Cues.surfaces``, start, end) in the normalised text


def with_cues(surfaces: list[str], cue_surfaces: tuple[str, ...]) -> tuple[list[str], tuple[int | None, ...]]:
    """The automaton's patterns: the watch ``surfaces``, then each cue that is not one of them;
    and per pattern its cue index (None: no cue)."""
    position = {surface: i for i, surface in enumerate(surfaces)}
    cue_at: list[int | None] = [None] * len(surfaces)
    out = list(surfaces)
    for cue, surface in enumerate(cue_surfaces):
        if surface in position:
            cue_at[position[surface]] = cue
        else:
            out.append(surface)
            cue_at.append(cue)
    return out, tuple(cue_at)


def cue_positions(norm: str, limit: int | None = None,
                  found: list[CueHit] | None = None) -> tuple[list[int], list[int]]:
    """Start offsets of the denial and of the speculation cues in ``norm[:limit]``, ascending: whole
    words, optionally after the proclitic و or ف. ``found``: every cue occurrence in the whole of
    ``norm`` (the matcher's scan collects them), instead of a scan of its own."""
    compiled = cues()
    denied: list[int] = []
    speculative: list[int] = []
    size = len(norm)
    text = norm if limit is None or limit >= size else norm[:limit]
    if found is None:
        found = compiled.automaton.find_matches_as_indexes(text, overlapping=True)
    elif len(text) < size:
        found = [f for f in found if f[2] <= len(text)]  # what a scan of norm[:limit] finds
    for index, start, end in found:
        if end < size and norm[end].isalnum() and not compiled.open_end[index]:
            continue
        if start and norm[start - 1].isalnum():
            if norm[start - 1] not in _PROCLITICS or (start > 1 and norm[start - 2].isalnum()):
                continue
        (denied if compiled.claims[index] is Claim.DENIED else speculative).append(start)
    # A question is speculation (متى تجري كوريا تجربتها؟ / Will Iran send drones?).
    mark = text.find("?")
    while mark >= 0:
        speculative.append(mark)
        mark = text.find("?", mark + 1)
    denied.sort()
    speculative.sort()
    return denied, speculative


class ClaimReader:
    """Per-article sentence classification, shared by every watch that fires on the article."""

    __slots__ = ("norm", "title_end", "lead_end", "found", "_cues", "_limit")

    def __init__(self, norm: str, title_end: int, lead_end: int, found: list[CueHit] | None = None) -> None:
        self.norm = norm
        self.title_end = title_end
        self.lead_end = lead_end
        self.found = found  # the cue occurrences, when the matcher's scan collected them
        self._cues: tuple[list[int], list[int]] | None = None
        self._limit = 0  # the cues are known in norm[:_limit]

    def sentence(self, offset: int) -> tuple[int, int]:
        """``(start, end)`` of the sentence holding normalised ``offset`` (searched at most
        ``SENTENCE_REACH`` characters back)."""
        return (last_stop_end(self.norm, max(0, offset - SENTENCE_REACH), offset),
                first_stop_end(self.norm, offset))

    def _known(self, end: int) -> tuple[list[int], list[int]]:
        """The cue positions, found at least up to ``end`` (the text is read only as far as the
        subject hits' sentences reach; most lie in the title and lead)."""
        if self._cues is None or end > self._limit:
            self._limit = max(end, self._limit, self.lead_end) + SENTENCE_REACH
            self._cues = cue_positions(self.norm, self._limit, self.found)
        return self._cues

    def mark(self, start: int, end: int) -> Claim:
        """The status of the sentence ``norm[start:end]`` alone."""
        for positions, claim in zip(self._known(end), (Claim.DENIED, Claim.SPECULATIVE), strict=True):
            k = bisect_left(positions, start)  # (``classify`` made the cues known that far)
            if k < len(positions) and positions[k] < end:
                return claim
        return Claim.ASSERTED

    def classify(self, starts: Iterable[int]) -> Claim:
        """The claim status of the sentences holding the subject hits starting at ``starts``."""
        first = list(itertools.islice(starts, MAX_HITS))
        if not first:
            return Claim.ASSERTED
        denied, speculative = self._known(max(first) + SENTENCE_REACH)
        if not denied and not speculative:
            return Claim.ASSERTED  # no cue where the hits are: no sentence can be denied or speculative
        cued = sorted(denied + speculative)
        # Per sentence (its bounds), or per line for a hit with no cue within reach (its sentence
        # is asserted whatever its bounds, which are then not looked for): weight and status.
        weights: dict[tuple[int, int], tuple[float, Claim]] = {}
        for start in first:
            k = bisect_left(cued, start - SENTENCE_REACH)
            if k < len(cued) and cued[k] <= start + SENTENCE_REACH:
                key = self.sentence(start)
                status = self.mark(*key)
            else:
                key, status = (-1, self.norm.rfind("\n", 0, start)), Claim.ASSERTED
            weight = TITLE_WEIGHT if start < self.title_end else LEAD_WEIGHT if start < self.lead_end else 1.0
            weights[key] = (max(weights.get(key, (0.0, status))[0], weight), status)
        total = sum(weight for weight, _ in weights.values())
        share = {Claim.DENIED: 0.0, Claim.SPECULATIVE: 0.0, Claim.ASSERTED: 0.0}
        count = {Claim.DENIED: 0, Claim.SPECULATIVE: 0, Claim.ASSERTED: 0}
        for weight, status in weights.values():
            share[status] += weight / total
            count[status] += 1
        if share[Claim.DENIED] >= DENIED_SHARE:
            return Claim.DENIED
        # Speculation needs the title, or two hedged sentences: one "reportedly" in the lead of an
        # attack report is a hedge, not the story.
        title_hedged = any(w == TITLE_WEIGHT and st is Claim.SPECULATIVE for w, st in weights.values())
        if share[Claim.SPECULATIVE] >= SPECULATIVE_SHARE and (title_hedged or count[Claim.SPECULATIVE] >= 2):
            return Claim.SPECULATIVE
        return Claim.ASSERTED
