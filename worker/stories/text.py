"""Pure text evidence for story clustering: tokens, numbers, stopwords and a shingle fingerprint.

Everything works on `worker.matching.normalize` output, so Arabic spelling variants (hamza forms,
ى/ي, ة/ه, diacritics, Arabic-Indic digits) compare equal exactly as they do for the watches.

The fingerprint is hand-written on purpose: a one-permutation MinHash (Li, Owen & Zhang 2012)
hashes every 3-word shingle once with CRC-32 (stable across processes, unlike `hash()`) and keeps
the minimum per bin, so it costs one pass in C-level calls instead of K hash passes (datasketch
would add numpy/scipy and K passes for the same estimate). Bands of `BAND_ROWS` bins are the LSH
keys stored in the index table.
"""

from __future__ import annotations

import operator
import re
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache

BINS = 32
BAND_ROWS = 2
EMPTY = -1
ANCHOR_EVERY = 8

_WORD_RE = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*$")
# Light Arabic prefix removal for comparing words (not for matching watches): the definite article
# and its combinations only. `و`/`ب` alone are kept, since stripping them breaks وزير, بوتين.
_AR_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")

_EN_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no nor
not now of off on once only or other our out over own same she should so some such than that the
their them then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your said says say told tuesday monday
wednesday thursday friday saturday sunday today yesterday news report reports reported according
new one two three first last year years day days week time after its amid over under via per
since while get got make made may might must s t mr ms
""".split())
_AR_STOP = frozenset("""
في من على الى إلى عن مع هذا هذه ذلك تلك التي الذي الذين اللذين ان أن إن كان كانت يكون تكون
قد لقد لا لم لن ما ماذا هل او أو ثم بعد قبل حتى عند عندما بين كل بعض غير حيث أي اي هو هي هم
نحن انا أنا انت كما لكن بل اذا إذا منذ خلال ضد نحو وفق وفقا حول دون عبر تحت فوق امام أمام
وقال قال قالت وقالت اعلن أعلن اعلنت أعلنت اليوم امس أمس يوم الاثنين الثلاثاء الأربعاء الاربعاء
الخميس الجمعة السبت الأحد الاحد وكان وكانت الى وفي ومن وعلى وهو وهي كما ايضا أيضا عام العام
مساء صباح اخر آخر اخرى أخرى الذي واضاف وأضاف اضاف أضاف وذكر ذكر ذكرت حسب بحسب نقلا عن لها له
لهم بها به فيها فيه منها منه عليه عليها اليه إليه وقد وقال ولم ولا وان وأن وإن يتم تم
""".split())


def _fold_stop(words: Iterable[str]) -> frozenset[str]:
    from worker.matching.normalize import normalize

    return frozenset(strip_prefix(normalize(w)) for w in words)


def strip_prefix(word: str) -> str:
    """The word without a leading Arabic definite article (and و/ب/ف/ك before it), when at least
    three letters remain; other words unchanged."""
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return word[len(prefix):]
    return word


STOPWORDS = _fold_stop(_EN_STOP | _AR_STOP)


def tokens(norm: str) -> list[str]:
    """Word and number tokens of normalised text, in order (numbers keep `.`/`,` inside)."""
    return _WORD_RE.findall(norm)


def number_key(token: str) -> str | None:
    """The comparable form of a numeric token (`1,700` → `1700`, `7.8` stays), or None when it is
    not a number or carries no evidence (one digit, or a year 1950-2100, present in every story
    of a year)."""
    if not token[0].isdigit() or not _NUMBER_RE.match(token):  # every `\d` is `isdigit`: a cheap pre-test
        return None
    if "," in token:
        head, _, tail = token.rpartition(",")
        # a thousands separator groups three digits; otherwise `,` is a decimal comma
        token = token.replace(",", "") if len(tail) == 3 else f"{head.replace(',', '')}.{tail}"
    if "." not in token and (len(token) < 2 or (len(token) == 4 and 1950 <= int(token) <= 2100)):
        return None
    return token.rstrip("0").rstrip(".") if "." in token else token.lstrip("0") or "0"


_MONTHS = {
    **{m: i for i, m in enumerate(("january february march april may june july august september october "
                                    "november december").split(), 1)},
    **{m: i for i, m in enumerate("jan feb mar apr _ jun jul aug sep oct nov dec".split(), 1)},
    "sept": 9,
    # Egyptian/Gulf and Levantine/Iraqi month names, as `normalize` spells them
    **{m: i for i, m in enumerate("يناير فبراير مارس ابريل مايو يونيو يوليو اغسطس سبتمبر اكتوبر نوفمبر ديسمبر"
                                  .split(), 1)},
    "يونيه": 6, "يوليه": 7, "شباط": 2, "اذار": 3, "نيسان": 4, "ايار": 5, "حزيران": 6, "تموز": 7, "اب": 8,
    "ايلول": 9,
}
_TWO_WORD_MONTHS = {("تشرين", "الاول"): 10, ("تشرين", "الثاني"): 11, ("كانون", "الاول"): 12,
                    ("كانون", "الثاني"): 1}


# every token that `date_keys` reads as a month (prefixed Arabic forms included), for one lookup
_MONTH_FORMS = {form: _MONTHS[base] for form in {*_MONTHS, *(p + m for p in _AR_PREFIXES for m in _MONTHS)}
                if (base := strip_prefix(form) if len(form) > 4 else form) in _MONTHS}
_TWO_WORD_FIRST = frozenset(first for first, _ in _TWO_WORD_MONTHS)
_MONTH_WORDS = _TWO_WORD_FIRST | frozenset(_MONTH_FORMS)


def _day(token: str) -> int | None:
    return int(token) if token.isdigit() and 1 <= int(token) <= 31 and len(token) <= 2 else None


def date_keys(toks: Sequence[str]) -> list[str]:
    """Day-and-month mentions (`13 April`, `April 13`, `13 أبريل`, `13 نيسان`, `13 تشرين الأول`) as
    script-independent keys `<month>-<day>`: the event date bridges languages and tells apart two
    launches of one missile."""
    out = []
    for i in [i for i, tok in enumerate(toks) if tok in _MONTH_WORDS]:  # most tokens are no month
        tok = toks[i]
        two_word = tok in _TWO_WORD_FIRST and i + 1 < len(toks)
        month = _TWO_WORD_MONTHS.get((tok, toks[i + 1])) if two_word else None
        width = 2 if month else 1
        month = month or _MONTH_FORMS.get(tok)
        if month is None:
            continue
        before = _day(toks[i - 1]) if i > 0 else None
        after = _day(toks[i + width]) if i + width < len(toks) else None
        day = before or after
        if day:
            out.append(f"{month}-{day}")
    return out


@lru_cache(maxsize=1 << 16)
def content_word(token: str) -> str | None:
    """The comparable form of a word token, or None for stopwords, numbers and short words."""
    if token[0].isdigit():
        return None
    word = strip_prefix(token)
    if len(word) < 3 or word in STOPWORDS:
        return None
    return word


def _shingle_hashes(toks: Sequence[str], width: int) -> list[int]:
    crc = zlib.crc32
    if width == 3:
        return [crc(f"{a} {b} {c}".encode()) for a, b, c in zip(toks, toks[1:], toks[2:], strict=False)]
    return [crc(" ".join(toks[i:i + width]).encode("utf-8")) for i in range(len(toks) - width + 1)]


def _minhash(hashes: Iterable[int]) -> tuple[int, ...]:
    mins = [EMPTY] * BINS
    for h in hashes:
        slot, value = h % BINS, h // BINS
        current = mins[slot]
        if current == EMPTY or value < current:
            mins[slot] = value
    return tuple(mins)


def signature(toks: Sequence[str]) -> tuple[int, ...]:
    """One-permutation MinHash of the token 3-shingles: per bin the smallest hash, `EMPTY` where
    no shingle fell (texts under three tokens hash their tokens one by one)."""
    return _minhash(_shingle_hashes(toks, 3 if len(toks) >= 3 else 1))


def anchors(toks: Sequence[str]) -> frozenset[int]:
    """Content-defined sample of the 3-word shingles (those whose CRC-32 is 0 mod `ANCHOR_EVERY`):
    two texts that share a passage share about one anchor per `ANCHOR_EVERY` shingles of it,
    wherever the passage sits in each text."""
    return frozenset(h for h in _shingle_hashes(toks, 3) if h % ANCHOR_EVERY == 0)


def fingerprint(toks: Sequence[str]) -> tuple[tuple[int, ...], frozenset[int]]:
    """`(signature(toks), anchors(toks))`, hashing each shingle once."""
    if len(toks) < 3:
        return signature(toks), frozenset()
    hashes = _shingle_hashes(toks, 3)
    return _minhash(hashes), frozenset(h for h in hashes if h % ANCHOR_EVERY == 0)


def resemblance(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the two shingle sets (0.0 when either is empty)."""
    if EMPTY not in a and EMPTY not in b and len(a) == len(b):  # the usual case: every bin filled
        return sum(map(operator.eq, a, b)) / len(a) if a else 0.0
    equal = filled = 0
    for x, y in zip(a, b, strict=True):
        if x == EMPTY and y == EMPTY:
            continue
        filled += 1
        equal += x == y
    return equal / filled if filled else 0.0


def band_keys(sig: Sequence[int]) -> list[str]:
    """LSH band keys (`b<i>:<crc>`) of a signature; bands with an empty bin give none."""
    out = []
    for band in range(0, len(sig), BAND_ROWS):
        rows = sig[band:band + BAND_ROWS]
        if EMPTY not in rows:
            out.append(f"b{band // BAND_ROWS}:{zlib.crc32(repr(rows).encode()):x}")
    return out
