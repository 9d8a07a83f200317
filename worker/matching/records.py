"""The scanner's per-surface records: what one surface means for each owner, flattened into
tuples for the hot loop, and the per-surface shortcuts (plain, several plain, later phrase words).
"""

from __future__ import annotations

from dataclasses import dataclass

STRONG = 1.0
HIT, MASK = 0, 1


@dataclass(frozen=True)
class FormRef:
    """What a surface means for one owner: a hit form, a mask form, or one word of a slop phrase."""

    owner: int
    term: int
    kind: int
    prefixes: frozenset[str]
    weight: float = STRONG
    variant: bool = False
    exact: str | None = None
    phrase: int = -1
    part: int = -1


# ``refs`` flattened into plain tuples for the scanner's hot loop (tuple unpacking instead of
# attribute access): (prefixes, exact, owner, term, weight, variant, kind, phrase, part).
Record = tuple[frozenset[str], str | None, int, int, float, bool, int, int, int]


def form_records(refs: tuple[tuple[FormRef, ...], ...]) -> tuple[tuple[Record, ...], ...]:
    return tuple(tuple((r.prefixes, r.exact, r.owner, r.term, r.weight, r.variant, r.kind, r.phrase, r.part)
                       for r in form_refs) for form_refs in refs)


def later_parts(records: tuple[tuple[Record, ...], ...]) -> tuple[tuple[int, ...] | None, ...]:
    """Per surface whose every record is a later word of a phrase (``the`` in ``=bank =of =the``):
    the ids of those phrases; else None. Such a hit is of use only once a phrase it continues has
    begun, which the scanner checks before anything else."""
    return tuple(tuple(sorted({x[7] for x in r})) if r and all(x[7] >= 0 and x[8] > 0 for x in r) else None
                 for r in records)


def multi_records(records: tuple[tuple[Record, ...], ...]) -> tuple[tuple[Record, ...] | None, ...]:
    """Per surface with several records, all plain hit forms (``عسكري`` of two concepts): those
    records, which the scanner handles inline; else None."""
    return tuple(r if len(r) > 1 and all(x[1] is None and x[6] == HIT and x[7] < 0 for x in r) else None
                 for r in records)


def plain_records(records: tuple[tuple[Record, ...], ...]) -> tuple[Record | None, ...]:
    """Per surface, its record when it is the only one and a plain hit form (no mask, no phrase
    word, no exact-case check), else None: the scanner's fast path."""
    return tuple(r[0] if len(r) == 1 and r[0][1] is None and r[0][6] == HIT and r[0][7] < 0 else None
                 for r in records)


def merge_same_owner(form_refs: list[FormRef],
                     languages: list[frozenset[str] | None]) -> tuple[FormRef, ...]:
    """One surface's records with the plain hit forms of one owner, weight and term languages
    merged into the first (their proclitics united): ``روسيا`` the name and ``روسيا`` the
    accusative of the adjective ``روسي`` would give two hits on one span, of which the scan keeps
    one anyway."""
    out: list[FormRef] = []
    first: dict[tuple[int, float, bool, frozenset[str] | None], int] = {}
    for ref in form_refs:
        if ref.kind != HIT or ref.phrase >= 0 or ref.exact is not None:
            out.append(ref)
            continue
        key = (ref.owner, ref.weight, ref.variant, languages[ref.term])
        if key in first:
            kept = out[first[key]]
            out[first[key]] = FormRef(kept.owner, kept.term, kept.kind, kept.prefixes | ref.prefixes,
                                      kept.weight, kept.variant)
        else:
            first[key] = len(out)
            out.append(ref)
    return tuple(out)


