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

_AR_SUFFIXES = {
    "fem": ("ه", "ات", "تان", "تين", "اتها", "اتهم", "اتهما", "اتنا", "اته"),
    "nisba": ("", "ه", "ين", "ون", "ان", "تين", "تان", "ات"),
    "noun": ("", "ات", "ان", "ين", "ون", "ها", "هم", "هما", "نا"),
    "plural": ("", "ها", "هم", "هما", "نا"),
    "none": ("",),
}
# Later words of a phrase agree with the head; possessive endings make no sense there.
_AR_LATER_SUFFIXES = {
    "fem": ("ه", "ات", "تان", "تين"),
    "nisba": _AR_SUFFIXES["nisba"],
    "noun": ("", "ات", "ان", "ين", "ون"),
    "plural": ("",),
    "none": ("",),
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


def _arabic_word_forms(word: str, cls: str, *, later: bool, name: bool = False) -> list[str]:
    frozen = word.startswith("=")
    word = word.lstrip("=")
    norm = normalize(word)
    if frozen or not norm or name:
        return [norm]
    if cls == "auto":
        cls = arabic_shape(word)
    stem = norm
    if cls == "nisba_fem":
        cls, stem = "nisba", norm[:-1]
    elif cls == "fem":
        stem = norm[:-1] if norm.endswith("ه") else norm
    table = _AR_LATER_SUFFIXES if later else _AR_SUFFIXES
    forms = [stem + suffix for suffix in table.get(cls, ("",))]
    if later and not name and not norm.startswith("ال"):
        forms += ["ال" + f for f in forms]
    return forms


def _latin_plurals(norm: str) -> list[str]:
    if norm.endswith("s"):
        return [norm]
    if norm.endswith(("x", "z", "ch", "sh")):
        return [norm, norm + "es"]
    if len(norm) > 2 and norm.endswith("y") and norm[-2] not in "aeiou":
        return [norm, norm[:-1] + "ies"]
    return [norm, norm + "s"]


def _latin_forms(words: list[str], cls: str) -> list[str]:
    norms = [normalize(w.lstrip("=")) for w in words]
    last_frozen = words[-1].startswith("=")
    if cls in ("none", "plural") or last_frozen or not norms[-1][-1:].isalpha():
        return [" ".join(norms)]
    head = " ".join(norms[:-1])
    return [(head + " " + last).strip() for last in _latin_plurals(norms[-1])]


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


def phrase_surfaces(phrase: str, cls: str, *, name: bool) -> tuple[Form, ...]:
    """All contiguous surface forms of a written word or phrase (without slop)."""
    words = phrase.split()
    if not words:
        return ()
    if not is_arabic(phrase):
        surfaces = _latin_forms(words, "none" if name else cls)
        prefixes = NO_PREFIXES
    else:
        word_cls = "none" if name and cls == "auto" else cls
        per_word = [_arabic_word_forms(w, word_cls, later=i > 0, name=name and cls == "auto")
                    for i, w in enumerate(words)]
        surfaces = [" ".join(combo) for combo in itertools.product(*per_word)]
        prefixes = _first_prefixes(normalize(words[0].lstrip("=")), name=name, single=len(words) == 1)
    out: dict[str, Form] = {}
    for surface in surfaces:
        for variant in _hyphen_variants(surface):
            if variant.strip():
                for form in _with_lam(Form(variant.strip(), prefixes)):
                    out.setdefault(form.surface, form)
    return tuple(out.values())


def term_forms(written: str, cls: str = "auto", *, name: bool = False) -> TermForms:
    """Compile one written term (``=`` freezes a word, trailing ``~N`` allows N extra words)."""
    phrase, slop = split_slop(written)
    if slop == 0 or len(phrase.split()) < 2:
        return TermForms(label=written, forms=phrase_surfaces(phrase, cls, name=name))
    parts = []
    for i, word in enumerate(phrase.split()):
        forms = phrase_surfaces(word, cls, name=name)
        if i > 0:
            forms = tuple(Form(f.surface, NO_PREFIXES if not is_arabic(f.surface) else frozenset({"", "ال"}))
                          for f in forms)
        parts.append(forms)
    return TermForms(label=written, forms=(), parts=tuple(parts), slop=slop)
