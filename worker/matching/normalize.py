"""One-pass normalisation of Arabic and Latin text, with an exact map back to the original offsets.

The table deletes marks (harakat, shadda, tatweel, invisible format characters), folds alef/hamza
forms, ى→ي, ة→ه, Persian letters, every decimal digit to ASCII, dash variants to ``-``; it
deletes typographic double quotes and guillemets and makes ASCII quotes, single quotes and
brackets a space (all of them are transparent inside phrases; an apostrophe still separates
``Putin's``), all whitespace to a
space (line breaks to ``\\n``), and Latin/Greek/Cyrillic case and accents. Space runs, and dashes
between spaces, become one space.
A few compatibility characters expand (ligatures such as ﻻ, the ellipsis); every other change is a
deletion or a one-to-one replacement, so offsets map back with a piecewise-constant shift.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

_ARABIC_FOLDS = {
    "ى": "ي", "ی": "ي", "ئ": "ي", "ې": "ي", "ۍ": "ي",
    "ة": "ه", "ۀ": "ه", "ھ": "ه", "ە": "ه", "ۃ": "ه",
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ؤ": "و", "ک": "ك", "ڪ": "ك", "گ": "ك",
    "ڤ": "ف", "ڥ": "ف", "پ": "ب", "چ": "ج", "ژ": "ز",
    "ـ": "", "،": ",", "؛": ";", "؟": "?", "٪": "%", "٫": ".", "٬": ",", "۔": ".",
}
_DOUBLE_QUOTES = "\"“”„‟«»″〝〞＂"
_SINGLE_QUOTES = "'‘’‚‛‹›′`´"
_BRACKETS = "()[]{}"
_LINE_BREAKS = "\n\r\u2028\u2029\x0b\x0c\x85"
_DELETE_CATEGORIES = frozenset({"Mn", "Me", "Cf"})


def _fold_char(ch: str) -> str:
    """Return the normalised replacement of one code point (possibly empty or several characters)."""
    if ch in _ARABIC_FOLDS:
        return _ARABIC_FOLDS[ch]
    if ch in _DOUBLE_QUOTES and not ch.isascii():
        return ""  # transparent: شراكة «استراتيجية» is the phrase شراكة استراتيجية
    if ch in _DOUBLE_QUOTES or ch in _SINGLE_QUOTES or ch in _BRACKETS:
        # A space (then collapsed): transparent too, and ASCII stays one-to-one, which keeps
        # str.translate on its ASCII fast path. An apostrophe separates (Putin's → putin s).
        return " "
    if ch in _LINE_BREAKS:
        return "\n"
    category = unicodedata.category(ch)
    if category in _DELETE_CATEGORIES:
        return ""
    if category == "Nd":
        return str(unicodedata.digit(ch))
    if ch.isspace():
        return " "
    if category == "Pd":
        return "-"
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed != ch:
        return "".join(_fold_char(part) for part in decomposed)
    return ch.casefold()


def _build_table() -> tuple[list[str], str]:
    table: list[str] = []
    irregular: list[str] = []
    for code in range(0x10000):
        ch = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            table.append(ch)
            continue
        folded = _fold_char(ch)
        table.append(folded)
        if len(folded) != 1:
            irregular.append(ch)
    return table, "".join(irregular)


_TABLE, _IRREGULAR_CHARS = _build_table()
_IRREGULAR_RE = re.compile("[" + re.escape(_IRREGULAR_CHARS) + "]")
_DELETED = frozenset(ch for ch in _IRREGULAR_CHARS if _TABLE[ord(ch)] == "")
_TRAILING = _DELETED.difference(_ARABIC_FOLDS, _DOUBLE_QUOTES)  # marks kept at the end of a mapped span
# Runs of spaces, and dashes standing between spaces (``a - b``, ``a – b``): one space each.
_SPACE_RUN_RE = re.compile(" (?: |- )+")


def _has_runs(translated: str) -> bool:
    """Whether ``_SPACE_RUN_RE`` can match (C scans instead of a regex pass)."""
    return "  " in translated or " - " in translated


def collapse_runs(translated: str) -> str:
    """``_SPACE_RUN_RE.sub(" ", translated)``, done with ``str.replace`` passes (C loops, several
    times quicker than the regex on text with many runs, which quotes made spaces produce)."""
    while True:
        while "  " in translated:
            translated = translated.replace("  ", " ")
        if " - " not in translated:
            return translated
        translated = translated.replace(" - ", " ")
# No ASCII character is deleted or expanded: an ASCII text needs no scan for them (~3x quicker).
_ASCII_REGULAR = not any(ch.isascii() for ch in _IRREGULAR_CHARS)


# ``str.translate`` looks each character above U+00FF up through a new int object (~25 ns a
# character, most of an Arabic article's normalisation). A text made only of the 256 characters
# below (ASCII; Arabic letters, marks, digits and punctuation; common typographic and accented
# Latin characters) is translated through bytes instead: encoded one byte per character with a
# private charmap, bytes.translate, decoded back, all C loops (~7x quicker), with the same result:
# each byte is mapped, deleted, or (for an expansion such as … → ...) left and replaced after.
_BYTE_CHARS = "".join(map(chr, [
    *range(0x80), 0x060C, 0x061B, 0x061F, *range(0x0621, 0x063B), *range(0x0640, 0x0653),
    *range(0x0660, 0x066D), 0x0670, 0x0671, 0x067E, 0x0686, 0x0698, 0x06A9, 0x06AF, 0x06CC, 0x06D4,
    *range(0x06F0, 0x06FA), 0x00A0, 0x00A3, 0x00AB, 0x00B0, 0x00B1, 0x00B7, 0x00BB, 0x00D7, 0x00C9,
    0x00E0, 0x00E1, 0x00E2, 0x00E4, 0x00E7, 0x00E8, 0x00E9, 0x00EA, 0x00EB, 0x00ED, 0x00EE, 0x00EF,
    0x00F1, 0x00F3, 0x00F4, 0x00F6, 0x00FA, 0x00FB, 0x00FC, 0x2009, 0x200C, 0x200D, 0x200E, 0x200F,
    0x2011, 0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026, 0x2032, 0x2033, 0x202F,
    0x20AC, 0x2212, 0xFEFF]))


def _byte_tables() -> tuple[bytes, bytes, tuple[tuple[str, str], ...]] | None:
    """(byte table, bytes to delete, expansions) for ``_BYTE_CHARS``; None if a character would
    map onto an expanded one (the replacements after decoding could then not tell them apart)."""
    index = {ch: i for i, ch in enumerate(_BYTE_CHARS)}
    table = bytearray(range(256))
    deleted = bytearray()
    expanded: list[tuple[str, str]] = []
    for i, ch in enumerate(_BYTE_CHARS):
        folded = _TABLE[ord(ch)]
        if not folded:
            deleted.append(i)
        elif folded in index:
            table[i] = index[folded]
        else:
            expanded.append((ch, folded))
    sources = {ch for ch, _ in expanded}
    if len(index) != len(_BYTE_CHARS) or len(index) > 256 or any(
            table[index[ch]] != index[ch] or table.count(index[ch]) != 1 or sources.intersection(out)
            for ch, out in expanded):
        return None
    return bytes(table), bytes(deleted), tuple(expanded)


_BYTE_PATH = _byte_tables()
_BYTE_MAP = codecs.charmap_build(_BYTE_CHARS)


def _translate(text: str) -> str:
    """``text.translate(_TABLE)``."""
    if _BYTE_PATH is None or text.isascii():  # an ASCII text takes translate's own fast path
        return text.translate(_TABLE)
    try:
        data = codecs.charmap_encode(text, "strict", _BYTE_MAP)[0]
    except UnicodeEncodeError:
        return text.translate(_TABLE)
    table, deleted, expanded = _BYTE_PATH
    out: str = codecs.charmap_decode(data.translate(table, deleted), "strict", _BYTE_CHARS)[0]
    for ch, folded in expanded:
        if ch in out:
            out = out.replace(ch, folded)
    return out


def normalize(text: str) -> str:
    """Return the normalised form of ``text``: folded letters, digits and punctuation, single spaces.

    Deterministic and idempotent; used for both watch terms and article text.
    """
    return normalize_pair(text)[1]


def normalize_pair(text: str) -> tuple[str, str]:
    """Return ``(translated, normalised)``: the text after the table only, and ``normalize(text)``.

    The matcher keeps the first to build the offset map later without translating twice.
    """
    translated = _translate(text)
    # The substring test is ~5x cheaper than a regex pass, and most texts have no space run.
    return translated, collapse_runs(translated) if _has_runs(translated) else translated


@dataclass(frozen=True)
class OffsetMap:
    """Maps offsets in ``normalize(original)`` back to offsets in ``original``.

    Two piecewise-constant shifts are composed: collapsed space runs (normalised → translated) and
    deleted or expanded characters (translated → original). Each lookup is two bisections.
    """

    original: str
    collapse_keys: tuple[int, ...]
    collapse_shifts: tuple[int, ...]
    table_keys: tuple[int, ...]
    table_shifts: tuple[int, ...]

    @property
    def identity(self) -> bool:
        """True when normalised offsets are original offsets (no deletion, expansion or collapse)."""
        return not self.collapse_keys and not self.table_keys

    def start(self, index: int) -> int:
        """Original offset of the character at normalised ``index``."""
        k = bisect_right(self.collapse_keys, index) - 1
        index += self.collapse_shifts[k] if k >= 0 else 0
        k = bisect_right(self.table_keys, index) - 1
        return index + (self.table_shifts[k] if k >= 0 else 0)

    def end(self, index: int) -> int:
        """Original end offset (exclusive) for a normalised span ending at ``index``.

        Marks following the last character in the original (a trailing shadda or tanwin) are
        included, so the span shows the word as it was written.
        """
        if index <= 0:
            return 0
        pos = self.start(index - 1) + 1
        text = self.original
        while pos < len(text) and text[pos] in _TRAILING:
            pos += 1
        return pos

    def span(self, start: int, end: int) -> tuple[int, int]:
        """``(self.start(start), self.end(end))`` for a non-empty normalised span."""
        return self.spans([(start, end)])[0]

    def spans(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``span`` of each non-empty normalised ``(start, end)``, in one call (the matcher's hot
        path): the bisections are inlined, and an article with one-to-one replacements only is
        returned as is."""
        c_keys, c_shifts, t_keys, t_shifts = (self.collapse_keys, self.collapse_shifts, self.table_keys,
                                              self.table_shifts)
        if not c_keys and not t_keys:
            return pairs
        text = self.original
        size = len(text)
        out = []
        for start, last in pairs:
            last -= 1
            if c_keys:
                k = bisect_right(c_keys, start) - 1
                if k >= 0:
                    start += c_shifts[k]
                k = bisect_right(c_keys, last) - 1
                if k >= 0:
                    last += c_shifts[k]
            k = bisect_right(t_keys, start) - 1
            if k >= 0:
                start += t_shifts[k]
            k = bisect_right(t_keys, last) - 1
            pos = (last + t_shifts[k] if k >= 0 else last) + 1
            while pos < size and text[pos] in _TRAILING:
                pos += 1
            out.append((start, pos))
        return out


def _space_runs(translated: str) -> list[tuple[int, int]]:
    """The spans of ``_SPACE_RUN_RE.finditer(translated)``. A run starts at the first ``"  "`` or
    ``" - "``, found by C substring searches: the regex alone tries every space (~8x slower)."""
    out: list[tuple[int, int]] = []
    size = len(translated)
    double = translated.find("  ")
    dash = translated.find(" - ")
    while double >= 0 or dash >= 0:
        start = double if dash < 0 or 0 <= double < dash else dash
        m = _SPACE_RUN_RE.match(translated, start)
        assert m is not None  # a space, then " " or "- ": the regex matches there
        end = m.end()
        out.append((start, end))
        if end >= size:
            break
        if double >= 0 and double < end:
            double = translated.find("  ", end)
        if dash >= 0 and dash < end:
            dash = translated.find(" - ", end)
    return out


def build_offset_map(text: str, translated: str | None = None) -> OffsetMap:
    """Build the map from ``normalize(text)`` offsets back to offsets in ``text``.

    ``translated`` may pass ``normalize_pair(text)[0]`` to save translating the text again.
    """
    table_keys: list[int] = []
    table_shifts: list[int] = []
    shift = 0  # original index minus translated index, for regular characters
    for m in () if _ASCII_REGULAR and text.isascii() else _IRREGULAR_RE.finditer(text):
        orig = m.start()
        out_len = len(_TABLE[ord(m.group())])
        pos = orig - shift
        for k in range(out_len):
            table_keys.append(pos + k)
            table_shifts.append(orig - pos - k)
        shift = shift + 1 - out_len
        table_keys.append(orig + 1 - shift)
        table_shifts.append(shift)
    collapse_keys: list[int] = []
    collapse_shifts: list[int] = []
    removed = 0
    if translated is None:
        translated = text.translate(_TABLE)
    for start, end in _space_runs(translated):
        removed += end - start - 1
        collapse_keys.append(end - removed)
        collapse_shifts.append(removed)
    return OffsetMap(text, tuple(collapse_keys), tuple(collapse_shifts), tuple(table_keys),
                     tuple(table_shifts))
