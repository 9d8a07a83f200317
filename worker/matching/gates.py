"""Post-scan adjustments of the hits: language gates and weak-term promotion.

Both take the scanner's per-owner hit lists (``scan.scan``) and return or change them in place;
neither reorders hits, so each list stays sorted by start.
"""

from __future__ import annotations

from operator import itemgetter

from worker.matching.compiler import CompiledTables, Promotion
from worker.matching.language import script_language
from worker.matching.records import STRONG
from worker.matching.scan import Found

_TERM = itemgetter(1)


Banned = dict[str, tuple[frozenset[int], frozenset[int]]]


def banned_terms(tables: CompiledTables) -> Banned:
    """Per Arabic-script language (ar, fa, ur): the term ids whose hits do not count in a text of
    that language (an Arabic-script term not allowed in it, a Latin-script term not allowed in en),
    and the owners of those terms."""
    languages, arabic = tables.term_languages, tables.term_arabic
    owner_of = {r.term: r.owner for refs in tables.refs for r in refs}
    owner_of.update({p.term: p.owner for p in tables.phrases})
    latin = {t for t, allowed in enumerate(languages)
             if allowed is not None and not arabic[t] and "en" not in allowed}
    out: Banned = {}
    for script in ("ar", "fa", "ur"):
        terms = frozenset(latin | {t for t, allowed in enumerate(languages)
                                   if allowed is not None and arabic[t] and script not in allowed})
        out[script] = (terms, frozenset(owner_of[t] for t in terms if t in owner_of))
    return out


def apply_languages(banned: Banned, found: dict[int, list[Found]], text: str) -> None:
    """Drop, in place, the hits of terms limited to languages the hit is not in (``banned_terms``):
    an Arabic-script hit is in the text's Arabic-script language (``script_language``), a Latin
    one in en. An owner left without hits is removed."""
    drop, owners = banned[script_language(text)]
    for owner in owners.intersection(found):
        hits = found[owner]
        if not drop.isdisjoint(map(_TERM, hits)):
            kept = [f for f in hits if f[1] not in drop]
            if kept:
                found[owner] = kept
            else:
                del found[owner]


def apply_promotions(promotions: tuple[Promotion, ...], found: dict[int, list[Found]]) -> None:
    """Context masks and promotions, in order (``Promotion``): a hit of a masking owner within
    ``near`` words of a context hit is dropped (only hits of the promotion's ``terms`` when it
    names some; an owner left without hits is removed); a weak
    (below-strong, non-variant) hit of a promoting owner there gets full weight."""
    for promotion in promotions:
        hits = found.get(promotion.owner)
        if not hits or (not promotion.mask and all(f[2] >= STRONG or f[3] for f in hits)):
            continue
        words = sorted(f[7] for owner in promotion.context for f in found.get(owner, ()))
        if not words:
            continue
        close = _close(hits, words, promotion.near)
        if promotion.mask:
            limit = promotion.terms
            kept = [f for f, near in zip(hits, close, strict=True)
                    if not near or (limit is not None and f[1] not in limit)]
            if kept:
                found[promotion.owner] = kept
            else:
                del found[promotion.owner]
            continue
        for i, f in enumerate(hits):
            if close[i] and f[2] < STRONG and not f[3]:
                hits[i] = f._replace(weight=STRONG)


def _close(hits: list[Found], words: list[int], near: int) -> list[bool]:
    """Per hit (sorted by position), whether a context word index lies within ``near`` words: one
    merge over the two ascending lists."""
    out = []
    j, size = 0, len(words)
    for f in hits:
        word = f[7]
        while j < size and words[j] < word - near:
            j += 1
        out.append(j < size and words[j] <= word + near)
    return out
