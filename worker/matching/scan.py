"""Per-article scanning: automaton hits → boundary/clitic check → slop phrases → masks → dedupe.

Works on the normalised text only; offsets are mapped back to the original later, and only for
the hits that end up in a fired watch.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from operator import itemgetter
from typing import NamedTuple

import ahocorasick_rs

from worker.matching.compiler import CompiledTables, SlopPhrase
from worker.matching.records import HIT, Record, form_records, later_parts, multi_records, plain_records
from worker.matching.sentences import sentence_stops

_MAX_PREFIX = 4
_START = itemgetter(4)
_END = itemgetter(6)
_WEIGHT = itemgetter(2)


class Found(NamedTuple):
    """An accepted hit on the normalised text (an immutable record). ``start`` includes an
    attached proclitic; ``word`` is the index of the word it starts in."""

    owner: int
    term: int
    weight: float
    variant: bool
    start: int
    form_start: int
    end: int
    word: int


def sentence_starts(norm: str) -> list[int]:
    """The word indexes (as in ``Found.word``) at which a new sentence starts, ascending: after each
    ``sentences.sentence_stops`` stop (not an abbreviation's dot) and after every line break. A
    hit's sentence number is ``bisect_right(starts, hit.word)``."""
    starts: list[int] = []
    count = previous = 0
    for stop in sentence_stops(norm):
        # the space or line break that closes the sentence is the first one the next word follows
        gap = stop if norm[stop - 1] == "\n" else stop + 1
        count += norm.count(" ", previous, gap) + norm.count("\n", previous, gap)
        previous = gap
        starts.append(count)
    return starts


# Between the words of a phrase, quotes, brackets and dashes are transparent; any other mark
# touching a word boundary (``. , ; : ! ?``) ends the phrase, as does a line break.
_GAP_STOP_RE = re.compile(r"\n|(?:^|(?<=\s))[^\w\s\"'()\[\]-]|[^\w\s\"'()\[\]-](?=\s|$)")
_MAX_GAP_CHARS = 120


def gap_words(gap: str) -> int:
    """Words in the text between two phrase words (quotes, brackets and dashes are not words), or
    -1 when the phrase cannot continue across it (a line break, a stop or comma at a word boundary)."""
    if gap == " ":
        return 0
    if _GAP_STOP_RE.search(gap):
        return -1
    return sum(1 for token in gap.split() if any(ch.isalnum() for ch in token))


def _join_phrase(phrase: SlopPhrase, parts: list[list[Found]], norm: str) -> list[Found]:
    """Join phrase words in order, with at most ``slop`` extra words in total (``gap_words``)."""
    out: list[Found] = []
    for first in parts[0]:
        chain = [first]
        budget = phrase.slop
        for candidates in parts[1:]:
            last = chain[-1]
            nxt = None
            for c in candidates:
                if c.start < last.end:
                    continue
                if c.start - last.end > _MAX_GAP_CHARS:
                    break
                words = gap_words(norm[last.end:c.start])
                if 0 <= words <= budget:
                    nxt = c
                    budget -= words
                break
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) == phrase.parts:
            out.append(Found(phrase.owner, phrase.term, phrase.weight, phrase.variant, first.start,
                             first.form_start, chain[-1].end, first.word))
    return out


def _inside(span: tuple[int, int], masks: list[tuple[int, int]]) -> bool:
    return any(m_start <= span[0] and span[1] <= m_end for m_start, m_end in masks)


def scan(tables: CompiledTables, automaton: ahocorasick_rs.AhoCorasick, norm: str,  # noqa: C901 - flat hot loop
         exact_ok: Callable[[int, int, str], bool], cue_at: tuple[int | None, ...] | None = None,
         cue_hits: list[tuple[int, int, int]] | None = None) -> dict[int, list[Found]]:
    """Return the accepted, unmasked, non-contained hits of each owner, sorted by position.

    A hit is accepted when it ends at a word end and its proclitic (the letters between the word
    start and the hit, at most ``_MAX_PREFIX``) is allowed for the form. This loop runs once per
    automaton hit, so it is written flat: no helper calls, word indexes counted incrementally.

    ``cue_at``: when the automaton also holds the claim cues (``claims.cues``), the cue index of
    each automaton pattern (None: no cue); every cue occurrence goes to ``cue_hits`` as (cue
    index, start, end), and patterns past the watch surfaces are cues only.
    """
    matches = automaton.find_matches_as_indexes(norm, overlapping=True)
    if not matches:
        return {}
    records = tables.records or form_records(tables.refs)
    plain = tables.plain or plain_records(records)
    later = tables.later or later_parts(records)
    multi = tables.multi or multi_records(records)
    spaced = norm.replace("\n", " ") if "\n" in norm else norm  # words end at spaces and line breaks
    last_token = last_word = 0
    hits: defaultdict[int, list[Found]] = defaultdict(list)
    masks: dict[int, list[Found]] = {}
    parts: dict[int, list[list[Found]]] = {}
    new = tuple.__new__
    padded = norm + " "  # a word end after the last character: no bounds check per hit
    base = len(records)
    for index, start, end in matches:
        if cue_at is not None:
            cue = cue_at[index]
            if cue is not None:
                cue_hits.append((cue, start, end))  # type: ignore[union-attr]
                if index >= base:
                    continue
        elif index >= base:  # a cue pattern of a matcher whose cues the caller does not want
            continue
        if padded[end].isalnum():
            continue
        waits = later[index]
        if waits is not None and (not parts or not any(p in parts for p in waits)):
            continue  # only a later word of phrases none of which has begun
        if start and norm[start - 1].isalnum():
            limit = start - _MAX_PREFIX - 1 if start > _MAX_PREFIX else 0
            token = start - 1
            while token > limit and norm[token - 1].isalnum():
                token -= 1
            prefix = norm[token:start]
        else:
            token = start
            prefix = ""
        record = plain[index]
        if record is not None and prefix not in record[0]:
            continue
        if token != last_token:
            if token > last_token:
                last_word += spaced.count(" ", last_token, token)
            else:
                last_word -= spaced.count(" ", token, last_token)
            last_token = token
        if record is not None:  # the commonest case: one plain hit form (see ``plain_records``)
            hits[record[2]].append(new(Found, (record[2], record[3], record[4], record[5], token, start,
                                               end, last_word)))
        elif multi[index] is not None:  # several plain hit forms (see ``multi_records``)
            for r in multi[index]:  # type: ignore[union-attr]
                if prefix in r[0]:
                    hits[r[2]].append(new(Found, (r[2], r[3], r[4], r[5], token, start, end, last_word)))
        else:
            _add_records(tables, records[index], (prefix, token, start, end, last_word), exact_ok,
                         (hits, masks, parts))
    if parts:
        _join_phrases(tables, parts, norm, hits, masks)
    return _unmasked(hits, masks)


_Targets = tuple[defaultdict[int, list[Found]], dict[int, list[Found]], dict[int, list[list[Found]]]]


def _add_records(tables: CompiledTables, records: tuple[Record, ...], where: tuple[str, int, int, int, int],
                 exact_ok: Callable[[int, int, str], bool], targets: _Targets) -> None:
    """The general case of ``scan``: a surface with several records, a mask form, a phrase word
    or an exact-case form. ``where`` is (prefix, token start, form start, end, word index)."""
    prefix, token, start, end, word = where
    hits, masks, parts = targets
    for record in records:
        if prefix not in record[0] or (record[1] is not None and not exact_ok(start, end, record[1])):
            continue
        found: Found = tuple.__new__(Found, (record[2], record[3], record[4], record[5], token, start, end,
                                             word))
        if record[7] >= 0:
            slots = parts.get(record[7])
            if slots is None:
                if record[8]:  # a later word before any first word: hits end in text order
                    continue
                slots = parts[record[7]] = [[] for _ in range(tables.phrases[record[7]].parts)]
            elif record[8] and not slots[record[8] - 1]:
                continue
            slots[record[8]].append(found)
        elif record[6] == HIT:
            hits[record[2]].append(found)
        else:
            masks.setdefault(record[2], []).append(found)


def _unmasked(hits: defaultdict[int, list[Found]], masks: dict[int, list[Found]]) -> dict[int, list[Found]]:
    """Each owner's hits without the masked and the contained ones, sorted (see ``_drop_contained``)."""
    for owner, owner_hits in hits.items():
        if owner in masks:
            spans = [(m.start, m.end) for m in masks[owner]]
            owner_hits = [f for f in owner_hits if not _inside((f.start, f.end), spans)]
            hits[owner] = _drop_contained(owner_hits) if owner_hits else []  # [] dropped below
        elif len(owner_hits) > 1:
            # Hits mostly come in the automaton's order, by end: when none starts before the end
            # of the one before, they are sorted by start and none is contained, which is all
            # ``_drop_contained`` would find (without its sort).
            previous_end = -1
            for f in owner_hits:
                if f[4] < previous_end:
                    hits[owner] = _drop_contained(owner_hits)
                    break
                previous_end = f[6]
    return {owner: kept for owner, kept in hits.items() if kept} if masks else dict(hits)


def _join_phrases(tables: CompiledTables, parts: dict[int, list[list[Found]]], norm: str,
                  hits: defaultdict[int, list[Found]], masks: dict[int, list[Found]]) -> None:
    for index, slots in parts.items():
        compiled = tables.phrases[index]
        if all(slots):
            for slot in slots:
                slot.sort(key=_start)
            joined = _join_phrase(compiled, slots, norm)
            if joined and compiled.kind == HIT:
                hits[compiled.owner].extend(joined)
            elif joined:
                masks.setdefault(compiled.owner, []).extend(joined)


def _start(found: Found) -> int:
    return found.start


def _drop_contained(found: list[Found]) -> list[Found]:
    """Drop hits lying inside another hit of the same owner; the rest sorted by start, then end
    (descending), then weight (descending), equal hits in their scan order."""
    # Commonest case: no two hits overlap (repeated mentions), so nothing is dropped and the order
    # by start alone is the full order. The key is C-level; the check is one flat pass.
    found.sort(key=_START)
    previous_end = -1
    for f in found:
        if f[4] < previous_end:
            break
        previous_end = f[6]
    else:  # hits are non-empty, so equal starts overlap too: the order by start is total
        return found
    # Three stable sorts on C-level keys, last key first, make that order without a Python key
    # function per hit.
    found.sort(key=_WEIGHT, reverse=True)
    found.sort(key=_END, reverse=True)
    found.sort(key=_START)
    kept: list[Found] = []
    reach_end = -1
    for f in found:
        if f[6] > reach_end:  # then it is the new reach
            kept.append(f)
            reach_end = f[6]
        elif not f[3] and f[2] > kept[-1][2] and f[6] <= kept[-1][6]:
            # A listed spelling inside a longer (generated or weaker) hit: the longer hit weighs at
            # least as much as the best listed form it covers (سيرجي شويغو keeps شويغو's 1.0).
            kept[-1] = kept[-1]._replace(weight=f[2])
    return kept
