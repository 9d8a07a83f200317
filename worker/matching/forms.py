"""Surface forms of a term: inflection from the written shape, proclitic classes, hyphen variants.

No stemming: every inflected form is enumerated at compile time and a hit is accepted only when
the letters before it in its word are an allowed proclitic combination for the form's class.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from worker.matching.normalize import normalize

NAME_PREFIXES = frozenset({"", "و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك", "فك"})
NOUN_PREFIXES = NAME_PREFIXES | {"ال", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل", "وبال", "وكال", "فبال",
                                 "فكال"}
DEFINITE_PREFIXES = frozenset({"", "و", "ف", "ب", "ك", "وب", "فب", "وك", "فك"})
LAM_PREFIXES = frozenset({"لل", "ولل", "فلل"})  # ل + a form's own ال, written لل
SHORT_NOUN_PREFIXES = frozenset({"", "و", "ال", "وال"})
SHORT_NAME_PREFIXES = frozenset({"", "و"})
NO_PREFIXES = frozenset({""})

FUNCTION_WORDS = frozenset(normalize(w) for w in (
    "من", "دون", "بدون", "في", "على", "عن", "الى", "إلى", "مع", "ضد", "بين", "ذات", "غير", "لا", "و", "او",
    "عبر", "حول", "نحو", "بعد", "قبل", "تحت", "فوق", "ضمن"))

# Attached pronouns (his, her, their, their two, their (f.), your, your (pl.), our, my).
_PRONOUNS = ("ه", "ها", "هم", "هما", "هن", "ك", "كم", "نا", "ي")
# What each class has, and no more. A masculine noun: bare, indefinite accusative (tanween alif:
# صاروخا), dual (ان/ين) and attached pronouns; its plural is not predictable (صواريخ), so it is
# listed as a term of its own. A feminine noun (ة): dual (تان/تين, construct تا), sound plural
# (ات) and pronouns after ة→ت (اتفاقيته, مسيرتها) or after ات. A nisba adjective (ي): accusative
# (باليستيا), feminine (ية), masculine and feminine duals and plurals. A plural (broken, or ات):
# pronouns only (diptote broken plurals and ات take no tanween alif).
LATIN_FUNCTION_WORDS = frozenset({"the", "of", "by", "a", "an", "in", "on", "at", "to", "for", "and", "or",
                                  "with", "from", "de", "la", "al", "el"})

_AR_SUFFIXES = {
    "fem": ("ه", "ات", "تان", "تين", "تا", *("ت" + p for p in _PRONOUNS), *("ات" + p for p in _PRONOUNS)),
    "nisba": ("", "ا", "ه", "ين", "ون", "ان", "تين", "تان", "ات"),
    "noun": ("", "ا", "ان", "ين", *_PRONOUNS),
    "plural": ("", *_PRONOUNS),
    "none": ("",),
}
# Later words of a phrase agree with the head (number, case); possessive endings make no sense there.
_AR_LATER_SUFFIXES = {
    "fem": ("ه", "ات", "تان", "تين"),
    "nisba": _AR_SUFFIXES["nisba"],
    "noun": ("", "ا", "ان", "ين"),
    "plural": ("",),
    "none": ("",),
}
# Per class, the suffixes after which the word cannot also carry the article ال: tanween and
# attached pronouns (in ``fem`` a bare ه is the folded ة, not a pronoun).
_INDEFINITE_SUFFIXES = {
    "fem": frozenset({"تا", *("ت" + p for p in _PRONOUNS), *("ات" + p for p in _PRONOUNS)}),
    "nisba": frozenset({"ا"}),
    "noun": frozenset({"ا", *_PRONOUNS}),
    "plural": frozenset(_PRONOUNS),
    "none": frozenset(),
}
_HYPHEN_JOINERS = ("-", " ", "", " -", "- ", " - ")
_SLOP_RE = re.compile(r"~(\d+)\s*$")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


@dataclass(frozen=True)
class Form:
    """One normalised surface string and the proclitics allowed before it."""

    surface: str
    prefixes: frozenset[str]


@dataclass(frozen=True)
class TermForms:
    """Everything one written term compiles to.

    ``forms`` are contiguous surfaces. For a phrase with slop (``~N``) they are empty and ``parts``
    holds the forms of each word, joined at match time in order within N extra words.
    """

    label: str
    forms: tuple[Form, ...]
    parts: tuple[tuple[Form, ...], ...] = ()
    slop: int = 0


def is_arabic(text: str) -> bool:
    """True when ``text`` contains an Arabic-script letter."""
    return _ARABIC_RE.search(text) is not None


def split_slop(written: str) -> tuple[str, int]:
    """Split a trailing ``~N`` off a written term."""
    m = _SLOP_RE.search(written)
    if not m:
        return written.strip(), 0
    return written[: m.start()].strip(), int(m.group(1))


def arabic_shape(word: str) -> str:
    """Inflection class of an Arabic word from its written shape (before ة/ى folding)."""
    bare = "".join(ch for ch in word if normalize(ch) or ch in "ةى")
    if normalize(bare) in FUNCTION_WORDS:
        return "none"
    if bare.endswith("ية"):
        return "nisba_fem"
    if bare.endswith("ة"):
        return "fem"
    if bare.endswith("ي"):
        return "nisba"
    if bare.endswith("ات"):
        return "plural"
    if bare[-1:] in ("ا", "ى", "و", "ء", "ه"):
        return "none"
    return "noun"


def _arabic_word_forms(word: str, cls: str, *, later: bool, name: bool = False,
                       pronouns: bool = True) -> list[tuple[str, bool]]:
    """``(surface, may_follow_the_article)`` of each form of one written Arabic word."""
    frozen = word.startswith("=")
    word = word.lstrip("=")
    norm = normalize(word)
    if frozen or not norm or name:
        return [(norm, True)]
    if cls == "auto":
        cls = arabic_shape(word)
    stem = norm
    if cls in ("fem", "nisba_fem"):
        cls, stem = "fem", norm[:-1] if norm.endswith("ه") else norm
    table = _AR_LATER_SUFFIXES if later else _AR_SUFFIXES
    indefinite = _INDEFINITE_SUFFIXES.get(cls, frozenset())
    suffixes = [x for x in table.get(cls, ("",)) if pronouns or x in ("ا", "تا") or x not in indefinite]
    forms = [(stem + suffix, suffix not in indefinite) for suffix in suffixes]
    if later and not norm.startswith("ال"):
        forms += [("ال" + f, False) for f, definite in forms if definite]
    return forms


def _latin_plurals(norm: str) -> list[str]:
    if norm.endswith(("s", "ese", "ish")):  # Chinese, Lebanese, Kurdish: no plural of their own
        return [norm]
    if norm.endswith(("x", "z", "ch", "sh")):
        return [norm, norm + "es"]
    if len(norm) > 2 and norm.endswith("y") and norm[-2] not in "aeiou":
        return [norm, norm[:-1] + "ies"]
    return [norm, norm + "s"]


def _hyphen_variants(surface: str) -> list[str]:
    if "-" not in surface:
        return [surface]
    return [surface.replace("-", joiner) for joiner in _HYPHEN_JOINERS]


def _first_prefixes(first_norm: str, *, name: bool, single: bool) -> frozenset[str]:
    if not is_arabic(first_norm):
        return NO_PREFIXES
    if first_norm.startswith("ال"):
        return DEFINITE_PREFIXES
    if single and len(first_norm) <= 3:
        return SHORT_NAME_PREFIXES if name else SHORT_NOUN_PREFIXES
    return NAME_PREFIXES if name else NOUN_PREFIXES


def _with_lam(form: Form) -> list[Form]:
    """A form with its own article also occurs as لل + rest (ل + ال with the alef dropped)."""
    if form.prefixes is DEFINITE_PREFIXES and form.surface.startswith("ال") and len(form.surface) > 4:
        return [form, Form(form.surface[2:], LAM_PREFIXES)]
    return [form]


def _word_forms(word: str, cls: str, *, index: int, last: bool, name: bool,
                pronouns: bool) -> list[tuple[str, bool]]:
    if is_arabic(word):
        word_cls = "none" if name and cls == "auto" else cls
        return _arabic_word_forms(word, word_cls, later=index > 0, name=name and cls == "auto",
                                  pronouns=pronouns)
    norm = normalize(word.lstrip("="))
    if not last or name or cls in ("none", "plural") or word.startswith("=") or not norm[-1:].isalpha():
        return [(norm, True)]
    return [(form, True) for form in _latin_plurals(norm)]


def _forms_with_prefixes(surfaces: list[tuple[str, bool]], prefixes: frozenset[str]) -> tuple[Form, ...]:
    out: dict[str, Form] = {}
    indefinite = prefixes & NAME_PREFIXES
    for surface, definite in surfaces:
        for variant in _hyphen_variants(surface):
            if variant.strip():
                form = Form(variant.strip(), prefixes if definite or prefixes is DEFINITE_PREFIXES
                            else frozenset(indefinite))
                for with_lam in _with_lam(form):
                    out.setdefault(with_lam.surface, with_lam)
    return tuple(out.values())


def phrase_surfaces(phrase: str, cls: str, *, name: bool, pronouns: bool = True) -> tuple[Form, ...]:
    """All contiguous surface forms of a written word or phrase (without slop)."""
    words = phrase.split()
    if not words:
        return ()
    per_word = [_word_forms(w, cls, index=i, last=i == len(words) - 1, name=name, pronouns=pronouns)
                for i, w in enumerate(words)]
    surfaces = [(" ".join(s for s, _ in combo), combo[0][1]) for combo in itertools.product(*per_word)]
    return _forms_with_prefixes(surfaces, _first_prefixes(normalize(words[0].lstrip("=")), name=name,
                                                          single=len(words) == 1))


def _glued(word: str) -> bool:
    """A function word or a word of at most two letters: it stays attached to its neighbour in a
    phrase part (``من دون``, ``of iran``, ``jong un``) instead of being a part of its own."""
    norm = normalize(word.lstrip("="))
    return norm in FUNCTION_WORDS or norm in LATIN_FUNCTION_WORDS or len(norm) <= 2


def _chunks(words: list[str]) -> list[list[int]]:
    """Word indexes grouped into phrase parts: a glued word joins the next word (the last one
    joins the previous part)."""
    chunks: list[list[int]] = []
    pending: list[int] = []
    for i, word in enumerate(words):
        pending.append(i)
        if not _glued(word):
            chunks.append(pending)
            pending = []
    if pending:
        if chunks:
            chunks[-1].extend(pending)
        else:
            chunks.append(pending)
    return chunks


def phrase_parts(phrase: str, cls: str, *, name: bool, pronouns: bool = True) -> tuple[tuple[Form, ...], ...]:
    """The forms of each part of a multi-word phrase, joined at match time (see ``TermForms``). A
    part is a content word with the function words before it (``_chunks``); the first part takes
    proclitics, a later one its own article."""
    words = phrase.split()
    per_word = [_word_forms(w, cls, index=i, last=i == len(words) - 1, name=name, pronouns=pronouns)
                for i, w in enumerate(words)]
    parts = []
    for k, chunk in enumerate(_chunks(words)):
        combos = itertools.product(*(per_word[i] for i in chunk))
        surfaces = [(" ".join(s for s, _ in combo), combo[0][1]) for combo in combos]
        prefixes = (_first_prefixes(normalize(words[0].lstrip("=")), name=name, single=False) if k == 0
                    else NO_PREFIXES)
        parts.append(_forms_with_prefixes(surfaces, prefixes))
    return tuple(parts)


def term_forms(written: str, cls: str = "auto", *, name: bool = False, pronouns: bool = True,
               contiguous: bool = False) -> TermForms:
    """Compile one written term (``=`` freezes a word, trailing ``~N`` allows N extra words).

    A phrase without slop is contiguous surfaces (quotes and spaced dashes between its words are
    spaces after normalisation, so they do not break it); a phrase with slop compiles to parts
    joined at match time (``phrase_parts``). ``contiguous`` is accepted for callers that need one
    surface whatever happens (exact-case terms)."""
    phrase, slop = split_slop(written)
    if len(phrase.split()) < 2 or slop == 0 or len(_chunks(phrase.split())) < 2:
        return TermForms(label=written, forms=phrase_surfaces(phrase, cls, name=name, pronouns=pronouns))
    return TermForms(label=written, forms=(), parts=phrase_parts(phrase, cls, name=name, pronouns=pronouns),
                     slop=slop)
