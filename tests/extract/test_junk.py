"""Hostile and broken input: wrong charsets, NUL bytes, binary garbage, floods. Nothing may raise."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.extract.fixtures import SITE, expected_pages, normalized
from worker.extract import DEFAULT_MAX_CHARS, decode_body, extract_page

PAGES = expected_pages()
IDS = [p["page"] for p in PAGES]


def _html(entry: dict[str, Any]) -> str:
    return (SITE / str(entry["page"])).read_text(encoding="utf-8")


def _as_windows_1256(html: str) -> str:
    """The same page as a legacy site would publish it: meta tags say windows-1256."""
    return html.replace('<meta charset="utf-8">', '<meta charset="windows-1256">').replace(
        "charset=utf-8", "charset=windows-1256")


def _assert_article(html: str, entry: dict[str, Any]) -> None:
    page = extract_page(html)
    assert page is not None
    text = normalized(page.text)
    assert all(normalized(p) in text for p in entry["must_contain"])
    assert not [m for m in entry["must_not_contain"] if m in page.text]
    assert page.lang == entry["lang"]


@pytest.mark.parametrize("entry", PAGES, ids=IDS)
def test_windows_1256_body_declared_utf8_uses_meta_charset(entry: dict[str, Any]) -> None:
    legacy = _as_windows_1256(_html(entry))
    # Characters windows-1256 lacks become numeric references, as legacy CMSs emit them.
    body = legacy.encode("cp1256", errors="xmlcharrefreplace")
    decoded = decode_body(body, "utf-8")
    assert "\ufffd" not in decoded
    assert decoded == body.decode("cp1256")
    _assert_article(decoded, entry)


@pytest.mark.parametrize("entry", PAGES, ids=IDS)
def test_utf8_body_declared_windows_1256_stays_utf8(entry: dict[str, Any]) -> None:
    html = _html(entry)
    assert decode_body(html.encode("utf-8"), "windows-1256") == html


def test_charset_lies_everywhere_degrades_without_raising() -> None:
    entry = PAGES[0]
    body = _html(entry).encode("cp1256", errors="xmlcharrefreplace")  # meta still claims utf-8
    decoded = decode_body(body, "utf-8")
    assert "\ufffd" in decoded
    page = extract_page(decoded)
    assert page is None or isinstance(page.text, str)


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_mark_wins(codec: str) -> None:
    html = _html(PAGES[1])
    assert decode_body(html.encode(codec), "windows-1256") == html


@pytest.mark.parametrize("label", [None, "", "utf-8", "UTF8", "utf-16", "x-no-such-charset", "base64",
                                   "rot13", "utf-7", "idna", '"windows-1256"', "latin1", "us-ascii"])
def test_decode_body_never_raises(label: str | None) -> None:
    garbage = random.Random(1256).randbytes(50_000) + b"\x00\xff\xfe\x00"
    text = decode_body(garbage, label)
    assert isinstance(text, str) and "\x00" not in text


@pytest.mark.parametrize("entry", PAGES, ids=IDS)
def test_nul_bytes_are_removed(entry: dict[str, Any]) -> None:
    html = _html(entry)
    poisoned = "\x00".join(html[i:i + 97] for i in range(0, len(html), 97))
    assert decode_body(poisoned.encode("utf-8"), None) == html
    _assert_article(poisoned, entry)


def test_binary_garbage_yields_nothing() -> None:
    garbage = random.Random(42).randbytes(200_000)
    assert extract_page(decode_body(garbage, None)) is None


@pytest.mark.parametrize(
    "junk",
    ["", "   \n\t ", "<", "<<<>>>", "</p></div></body>", "<html/>", "\ud800 lone surrogate <p>\udfff</p>",
     '{"title": "json, not html", "items": [1, 2, 3]}', "<" * 10_000, "<div>" * 100_000,
     "<!DOCTYPE html><html><body>" + "<p>" + "x" * 500_000 + "</p></body></html>",
     "<?xml version='1.0' encoding='utf-8'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;&a;</x>"],
    ids=["empty", "whitespace", "lt", "brackets", "closers", "void-html", "surrogates", "json", "lt-flood",
         "deep-nesting", "one-huge-paragraph", "xml-entity"],
)
def test_junk_never_raises(junk: str) -> None:
    page = extract_page(junk)
    assert page is None or (isinstance(page.text, str) and "\x00" not in page.text)


@pytest.mark.timeout(60)
def test_paragraph_flood_is_refused_quickly() -> None:
    flood = "<html><body>" + "<p>word" * 300_000 + "</body></html>"  # ~2.1 MB, under max_chars
    assert len(flood) < DEFAULT_MAX_CHARS
    started = time.monotonic()
    assert extract_page(flood) is None
    assert time.monotonic() - started < 5.0


def test_size_guard_refuses_without_parsing() -> None:
    oversized = "<html><body><p>" + "كلمة " * (DEFAULT_MAX_CHARS // 5 + 1) + "</p></body></html>"
    started = time.monotonic()
    assert extract_page(oversized) is None
    assert time.monotonic() - started < 0.5


def test_limits_are_keyword_arguments() -> None:
    html = _html(PAGES[0])
    assert extract_page(html) is not None
    assert extract_page(html, max_chars=len(html) - 1) is None
    assert extract_page(html, max_elements=50) is None
