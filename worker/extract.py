"""Extract stage: HTTP body → decoded HTML → clean article text with title and language.

Pure functions over bytes/str; no network I/O. Extraction follows performance.md §4b: trafilatura on a
str (never bytes) with ``include_comments=False`` (comments otherwise leak watch words into the text),
``fast=True`` and ``favor_precision=True`` (the table's fastest row, zero boilerplate markers; without it a
page with no article body comes back as a dump of menus and comments). Layout tables are unwrapped first,
and results without one sentence-length line count as "no text". Guards from reliability.md (B6): pages
longer than ``max_chars`` or with more than ``max_elements`` elements are refused, since trafilatura spends
about 40 µs per element (a 2 MB ``<p>`` flood takes 10+ s).
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from types import MappingProxyType

import trafilatura
from billiard.exceptions import SoftTimeLimitExceeded
from lxml import html as lxml_html

log = logging.getLogger(__name__)

MIN_TEXT_CHARS = 40
MIN_PARAGRAPH_CHARS = 50  # the longest line of a real article body is at least one sentence
DEFAULT_MAX_CHARS = 3_000_000
DEFAULT_MAX_ELEMENTS = 50_000
MIN_LETTERS = 10  # below this, script ratios and language guesses are noise
MIN_LATIN_LETTERS = 20  # py3langid needs a few words to tell Latin-script languages apart
LANG_SAMPLE_CHARS = 20_000

# Raised by Celery's soft time limit or by memory exhaustion: must reach the task, never become "no text".
_NEVER_SWALLOW = (MemoryError, SoftTimeLimitExceeded)

# WHATWG maps these labels to windows-1252; Python's latin-1 would turn 0x80–0x9F into C1 controls.
_CHARSET_ALIASES = MappingProxyType(dict.fromkeys(
    ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii"), "cp1252"))
_REFUSED_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "utf-7"})
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})"""
    rb"""|^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""",
    re.IGNORECASE,
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_LETTER = re.compile(r"[^\W\d_]")
_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06ee-\u06ff\u0750-\u077f\u08a0-\u08ff"
                            "\ufb50-\ufdff\ufe70-\ufefc]")
_PERSIAN_URDU_LETTER = re.compile("[\u067e\u0686\u0698\u06af\u06a9\u06cc"  # پ چ ژ گ ک ی
                                  "\u0679\u0688\u0691\u06ba\u06be\u06d2]")  # ٹ ڈ ڑ ں ھ ے
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_URLISH = re.compile(r"\S+://\S+|\S+@\S+\.\S+|www\.\S+")
_ARABIC_SCRIPT_LANGS = frozenset({"ar", "fa", "ur", "ps"})
_LATIN_LANGS = frozenset({"en", "fr", "de", "es", "it", "pt", "nl", "tr", "id", "ms", "pl", "sv", "da", "no",
                          "fi", "ro", "cs", "hu", "sw", "ha", "so", "az", "uz", "sq", "hr", "sk", "sl", "vi"})
_LAYOUT_TABLES = "//table[.//table or .//h1 or .//h2 or .//form or count(.//p) > 2]"
_TABLE_PARTS = ("table", "thead", "tbody", "tfoot", "tr", "td", "th")
_TITLE_XPATHS = ('//meta[@property="og:title"]/@content', '//meta[@name="twitter:title"]/@content', "//h1",
                 "//title")


@dataclass(frozen=True)
class ExtractedText:
    """Article text extracted from one page."""

    title: str | None
    text: str  # clean article text, paragraphs separated by "\n"
    lang: str  # ISO 639-1 code ("ar", "en", ...) or "und"


def decode_body(body: bytes, declared_charset: str | None) -> str:
    """Decode an HTTP body to text; never raises; NUL bytes are removed.

    Order: a byte-order mark; the HTTP-declared charset; the ``<meta charset>``/XML declaration; finally UTF-8
    with replacement characters. One exception to "declared first": a body that is valid UTF-8 *and* contains
    non-ASCII bytes is UTF-8 even when a legacy charset is declared, because legacy-encoded Arabic practically
    never forms valid UTF-8 sequences, while windows-1256 happily decodes UTF-8 bytes into mojibake.
    """
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace").replace("\x00", "")
    declared = _codec_name(declared_charset)
    utf8 = _strict(body, "utf-8")
    if utf8 is not None and not body.isascii() and not (declared or "").startswith(("utf-16", "utf-32")):
        return utf8.replace("\x00", "")
    for codec in (declared, _codec_name(_sniff_charset(body))):
        decoded = _strict(body, codec) if codec else None
        if decoded is not None:
            return decoded.replace("\x00", "")
    return body.decode("utf-8", errors="replace").replace("\x00", "")


def _codec_name(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when unknown or not a safe text encoding."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(_CHARSET_ALIASES.get(cleaned, cleaned)).name
    except LookupError:
        return None
    return None if name in _REFUSED_CODECS else name


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _sniff_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    if found is None:
        return None
    raw = found.group(1) or found.group(2)
    return raw.decode("ascii", errors="replace")


def extract_page(
    html: str,
    *,
    url: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> ExtractedText | None:
    """Main article text of an HTML page, or None when there is no usable text.

    None means: empty/non-HTML input; input longer than ``max_chars`` characters or with more than
    ``max_elements`` elements (refused for its adversarial cost); fewer than 40 characters of article text,
    or no line of at least 50 characters (bylines and widget leftovers, not an article). Reader comments are
    never included; a first line repeating the title is dropped. ``url`` only informs trafilatura's
    heuristics; nothing is fetched. Never raises on junk input (MemoryError and Celery's soft time limit
    still propagate).
    """
    if not isinstance(html, str) or len(html) > max_chars or not html.strip():
        return None
    try:
        return _extract(_clean_input(html), url, max_elements)
    except _NEVER_SWALLOW:
        raise
    except Exception as exc:  # noqa: BLE001 - parser internals raise anything on hostile input
        log.info("extraction failed", extra={"stage": "extract", "url": url, "outcome": type(exc).__name__})
        return None


def _clean_input(html: str) -> str:
    """Drop NULs/C0 controls and lone surrogates, which lxml rejects or mis-parses."""
    html = _CONTROL.sub("", html)
    if _SURROGATES.search(html):
        html = html.encode("utf-8", errors="replace").decode("utf-8")
    return html


def _extract(html: str, url: str | None, max_elements: int) -> ExtractedText | None:
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    size = sum(1 for _ in tree.iter())
    if size > max_elements:
        log.info("page refused", extra={"stage": "extract", "url": url, "outcome": "too_many_elements"})
        return None
    title = _page_title(tree)
    _unwrap_layout_tables(tree)
    doc = trafilatura.bare_extraction(tree, url=url, fast=True, favor_precision=True, include_comments=False,
                                       with_metadata=False)
    raw = getattr(doc, "text", None) if doc is not None else None
    lines = _normalize_lines(raw or "").split("\n")
    if title and lines[0] == title:
        lines = lines[1:]  # the headline is ExtractedText.title; repeating it would double its matches
    text = "\n".join(lines)
    # Bylines, datelines and widget leftovers are short: a page without one sentence-length line has no body.
    if len(text) < MIN_TEXT_CHARS or max(map(len, lines), default=0) < MIN_PARAGRAPH_CHARS:
        return None
    return ExtractedText(title=title, text=text, lang=detect_language(text))


def _page_title(tree: lxml_html.HtmlElement) -> str | None:
    """og:title, twitter:title, the first <h1>, then <title>: first non-empty one, whitespace collapsed."""
    for xpath in _TITLE_XPATHS:
        for found in tree.xpath(xpath):
            value = found if isinstance(found, str) else "".join(found.itertext())
            title = " ".join(value.split())
            if title:
                return title
    return None


def _unwrap_layout_tables(tree: lxml_html.HtmlElement) -> None:
    """Turn tables used for page layout into <div>s so the extractor scores their cells as blocks.

    A table holding headings, forms, nested tables or several paragraphs is layout, not data; left alone,
    trafilatura emits the whole page (menus, comments and all) as one table.
    """
    for table in tree.xpath(_LAYOUT_TABLES):
        for part in table.iter(*_TABLE_PARTS):
            part.tag = "div"


def _normalize_lines(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s main language, or "und" when there is too little text to tell.

    Arabic script is decided by script ratio alone (Persian/Urdu letters send it to py3langid restricted to
    Arabic-script languages). Latin script goes to py3langid restricted to common Latin-script languages;
    other scripts take py3langid's best two-letter answer. URLs and e-mail addresses are ignored.
    """
    sample = _URLISH.sub(" ", text[:LANG_SAMPLE_CHARS])
    letters = len(_LETTER.findall(sample))
    if letters < MIN_LETTERS:
        return "und"
    arabic = len(_ARABIC_LETTER.findall(sample))
    latin = len(_LATIN_LETTER.findall(sample))
    other = letters - arabic - latin
    if arabic >= latin and arabic >= other:
        if len(_PERSIAN_URDU_LETTER.findall(sample)) * 30 > arabic:
            found = _ranked(sample, _ARABIC_SCRIPT_LANGS)
            return "ar" if found == "und" else found
        return "ar"
    if latin >= other:
        return _ranked(sample, _LATIN_LANGS) if latin >= MIN_LATIN_LETTERS else "und"
    return _ranked(sample, None)


def _ranked(sample: str, allowed: frozenset[str] | None) -> str:
    """py3langid's best-ranked two-letter language among ``allowed`` (any when None), else "und"."""
    import py3langid  # lazy: loading the model costs ~0.7 s and Arabic text never needs it

    for lang, _score in py3langid.rank(sample):
        code = "ar" if lang in ("ary", "arz") else str(lang)
        if len(code) == 2 and (allowed is None or code in allowed):
            return code
    return "und"
