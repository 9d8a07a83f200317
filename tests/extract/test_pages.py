"""Extraction quality on the fixture site pages and on the self-describing case files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.extract.fixtures import SITE, case_files, expected_pages, load_case, normalized
from worker.extract import ExtractedText, decode_body, extract_page

PAGES = expected_pages()


def _extract_seed_page(entry: dict[str, Any]) -> ExtractedText:
    body = (SITE / entry["page"]).read_bytes()
    page = extract_page(decode_body(body, "utf-8"), url=f"https://news.example/{entry['page']}")
    assert page is not None, f"{entry['page']}: no text extracted"
    return page


@pytest.mark.parametrize("entry", PAGES, ids=[p["page"] for p in PAGES])
def test_seed_page_keeps_article_text(entry: dict[str, Any]) -> None:
    text = normalized(_extract_seed_page(entry).text)
    missing = [phrase for phrase in entry["must_contain"] if normalized(phrase) not in text]
    assert not missing


@pytest.mark.parametrize("entry", PAGES, ids=[p["page"] for p in PAGES])
def test_seed_page_drops_boilerplate_and_comments(entry: dict[str, Any]) -> None:
    text = _extract_seed_page(entry).text
    leaked = [marker for marker in entry["must_not_contain"] if marker in text]
    assert not leaked


@pytest.mark.parametrize("entry", PAGES, ids=[p["page"] for p in PAGES])
def test_seed_page_title_and_language(entry: dict[str, Any]) -> None:
    page = _extract_seed_page(entry)
    assert page.title == entry["title"]
    assert page.lang == entry["lang"]
    assert "\n\n" not in page.text and page.text == page.text.strip()


@pytest.mark.parametrize("entry", PAGES, ids=[p["page"] for p in PAGES])
def test_extraction_needs_no_network(entry: dict[str, Any], socket_disabled: None) -> None:
    # Given sockets are blocked, a page with an absolute URL still extracts fully (nothing was fetched).
    page = _extract_seed_page(entry)
    assert all(normalized(p) in normalized(page.text) for p in entry["must_contain"])


@pytest.mark.parametrize("path", case_files(), ids=[p.name for p in case_files()])
def test_case_file(path: Any) -> None:
    case = load_case(path)
    page = extract_page(path.read_text(encoding="utf-8"))
    if case.expect_none:
        assert page is None
        return
    assert page is not None
    text = normalized(page.text)
    assert [c for c in case.contains if normalized(c) not in text] == []
    assert [c for c in case.not_contains if c in page.text] == []
    if case.lang:
        assert page.lang == case.lang
    if case.title:
        assert page.title == case.title
