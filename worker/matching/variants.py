"""Spelling variants of Arabic-script person names, generated at compile time.

Edits (at most two per variant): swap among the "g" letters غ ج ق (and ك when the name has one
of them), insert ي between two consonants, drop an internal ي/و between consonants. A variant is
rejected when it is shorter than five letters or is a common word, alone or after a proclitic.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from worker.matching.forms import NAME_PREFIXES, NOUN_PREFIXES
from worker.matching.normalize import normalize

_G_LETTERS = "غجق"
_VOWEL_LETTERS = "اويه"
_MAX_EDITS = 2
_MAX_PER_NAME = 60
MIN_VARIANT_LETTERS = 5
_PREFIXES = tuple(sorted(NOUN_PREFIXES | NAME_PREFIXES, key=lambda p: (len(p), p)))


@dataclass(frozen=True)
class Rejected:
    """A generated variant that was dropped, and why."""

    variant: str
    reason: str


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The shipped list of common Arabic words (normalised), used to reject variants."""
    text = resources.files("worker.matching").joinpath("data/common_ar.txt").read_text(encoding="utf-8")
    return frozenset(normalize(line.strip()) for line in text.splitlines() if line.strip()
                     and not line.startswith("#"))


def _is_consonant(ch: str) -> bool:
    return ch.isalpha() and ch not in _VOWEL_LETTERS


def _one_edit(word: str) -> set[str]:
    out: set[str] = set()
    swaps = _G_LETTERS + "ك" if any(ch in word for ch in _G_LETTERS) else ""
    for i, ch in enumerate(word):
        if swaps and ch in swaps:
            out.update(word[:i] + other + word[i + 1:] for other in swaps if other != ch)
        if 0 < i and _is_consonant(word[i - 1]) and _is_consonant(ch):
            out.add(word[:i] + "ي" + word[i:])
        if 0 < i < len(word) - 1 and ch in "يو" and _is_consonant(word[i - 1]) and _is_consonant(word[i + 1]):
            out.add(word[:i] + word[i + 1:])
    out.discard(word)
    return out


def word_variants(word: str) -> list[tuple[str, int]]:
    """Variants of one normalised name word with their edit count, fewest edits first."""
    first = _one_edit(word)
    second: set[str] = set()
    for variant in sorted(first):
        second.update(_one_edit(variant))
    second -= first | {word}
    return [(v, 1) for v in sorted(first)] + [(v, 2) for v in sorted(second)]


def rejection_reason(token: str, *, alone: bool = True) -> str | None:
    """Why a generated variant of one name word must not be used, or None when it is acceptable.

    The length limit applies to one-word names only: the other words of a full name disambiguate.
    """
    if alone and len(token) < MIN_VARIANT_LETTERS:
        return f"shorter than {MIN_VARIANT_LETTERS} letters"
    common = common_words()
    for prefix in _PREFIXES:
        if token.startswith(prefix) and token[len(prefix):] in common:
            return f"{prefix + '+' if prefix else ''}{token[len(prefix):]} is a common word"
    return None


def name_variants(name: str, refused: frozenset[str] = frozenset()) -> tuple[list[str], list[Rejected]]:
    """Variants of a normalised (possibly multi-word) person name, and the rejected ones.

    Multi-word names vary per word; the edits of all words together stay within the limit.
    """
    rejected: list[Rejected] = []
    options: list[list[tuple[str, int]]] = []
    words = name.split()
    for word in words:
        choices = [(word, 0)]
        for variant, edits in word_variants(word) if len(word) >= 3 else []:
            reason = ("listed in not_variants" if variant in refused
                      else rejection_reason(variant, alone=len(words) == 1))
            if reason:
                rejected.append(Rejected(variant, reason))
            else:
                choices.append((variant, edits))
        options.append(choices)
    combos = sorted(itertools.product(*options), key=lambda combo: sum(edits for _, edits in combo))
    kept = [" ".join(w for w, _ in combo) for combo in combos
            if 0 < sum(edits for _, edits in combo) <= _MAX_EDITS]
    kept = [v for v in kept if v not in refused]
    return kept[:_MAX_PER_NAME], rejected
