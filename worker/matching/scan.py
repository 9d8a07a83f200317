"""Per-article scanning: automaton hits → boundary/clitic check → slop phrases → masks → dedupe.

Works on the normalised text only; offsets are mapped back to the original later, and only for
the hits that end up in a fired watch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import ahocorasick_rs

from worker.matching.compiler import HIT, CompiledTables, Record, SlopPhrase, form_records

_MAX_PREFIX = 4


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


_Candidate = tuple[Record, int, int, int]  # (form record, token start, form start, end)


def _accepted(norm: str, automaton: ahocorasick_rs.AhoCorasick, records: tuple[tuple[Record, ...], ...],
              exact_ok: Callable[[int, int, str], bool]) -> list[_Candidate]:
    """Automaton hits that end at a word end and whose proclitic (the letters between the word
    start and the hit, at most ``_MAX_PREFIX``) is allowed for the form."""
    out: list[_Candidate] = []
    append = out.append
    size = len(norm)
    for index, start, end in automaton.find_matches_as_indexes(norm, overlapping=True):
        if end < size and norm[end].isalnum():
            continue
        token = start
        if start and norm[start - 1].isalnum():
            limit = start - _MAX_PREFIX - 1 if start > _MAX_PREFIX else 0
            token -= 1
            while token > limit and norm[token - 1].isalnum():
                token -= 1
        prefix = norm[token:start] if token != start else ""
        for record in records[index]:
            if prefix in record[0] and (record[1] is None or exact_ok(start, end, record[1])):
                append((record, token, start, end))
    return out


def _word_indexes(norm: str, starts: list[int]) -> dict[int, int]:
    words: dict[int, int] = {}
    count = 0
    previous = 0
    for start in sorted(set(starts)):
        count += norm.count(" ", previous, start) + norm.count("\n", previous, start)
        words[start] = count
        previous = start
    return words


def _join_phrase(phrase: SlopPhrase, parts: list[list[Found]], norm: str) -> list[Found]:
    """Join phrase words in order, with at most ``slop`` extra words in total and no line break."""
    out: list[Found] = []
    for first in parts[0]:
        chain = [first]
        budget = phrase.slop
        for candidates in parts[1:]:
            last = chain[-1]
            nxt = next((c for c in candidates if last.word < c.word <= last.word + 1 + budget
                        and c.start >= last.end and "\n" not in norm[last.end:c.start]), None)
            if nxt is None:
                break
            budget -= nxt.word - last.word - 1
            chain.append(nxt)
        if len(chain) == phrase.parts:
            out.append(Found(phrase.owner, phrase.term, phrase.weight, False, first.start, first.form_start,
                             chain[-1].end, first.word))
    return out


def _inside(span: tuple[int, int], masks: list[tuple[int, int]]) -> bool:
    return any(m_start <= span[0] and span[1] <= m_end for m_start, m_end in masks)


def scan(tables: CompiledTables, automaton: ahocorasick_rs.AhoCorasick, norm: str,
         exact_ok: Callable[[int, int, str], bool]) -> dict[int, list[Found]]:
    """Return the accepted, unmasked, non-contained hits of each owner, sorted by position."""
    candidates = _accepted(norm, automaton, tables.records or form_records(tables.refs), exact_ok)
    if not candidates:
        return {}
    words = _word_indexes(norm, [c[1] for c in candidates])
    hits: dict[int, list[Found]] = {}
    masks: dict[int, list[Found]] = {}
    parts: dict[int, list[list[Found]]] = {}
    new = tuple.__new__
    for record, token, form_start, end in candidates:
        _, _, owner, term, weight, variant, kind, phrase, part = record
        found: Found = new(Found, (owner, term, weight, variant, token, form_start, end, words[token]))
        if phrase >= 0:
            slots = parts.get(phrase)
            if slots is None:
                slots = parts[phrase] = [[] for _ in range(tables.phrases[phrase].parts)]
            slots[part].append(found)
        else:
            target = hits if kind == HIT else masks
            owned = target.get(owner)
            if owned is None:
                target[owner] = [found]
            else:
                owned.append(found)
    for index, slots in parts.items():
        compiled = tables.phrases[index]
        if all(slots):
            for slot in slots:
                slot.sort(key=_start)
            target = hits if compiled.kind == HIT else masks
            joined = _join_phrase(compiled, slots, norm)
            if joined:
                target.setdefault(compiled.owner, []).extend(joined)
    result: dict[int, list[Found]] = {}
    for owner, owner_hits in hits.items():
        if len(owner_hits) == 1 and owner not in masks:
            result[owner] = owner_hits
            continue
        spans = [(m.start, m.end) for m in masks.get(owner, [])]
        kept = _drop_contained([f for f in owner_hits if not spans or not _inside((f.start, f.end), spans)])
        if kept:
            result[owner] = kept
    return result


def _start(found: Found) -> int:
    return found.start


def _order(found: Found) -> tuple[int, int, float]:
    return found.start, -found.end, -found.weight


def _drop_contained(found: list[Found]) -> list[Found]:
    found.sort(key=_order)
    kept: list[Found] = []
    reach_end = -1
    for f in found:
        if f.end <= reach_end:
            continue
        kept.append(f)
        reach_end = max(reach_end, f.end)
    return kept
