"""plain_text_from_html: feed summaries and content:encoded to plain text."""

from __future__ import annotations

import io
from typing import Any

import feedparser
import pytest

from tests.extract.fixtures import SITE, seed_lines
from worker.extract import plain_text_from_html

RSS = feedparser.parse(io.BytesIO((SITE / "feed.rss.xml").read_bytes()))

CASES = [
    ("entities", "<p>Tom &amp; Jerry &lt;3 &quot;cheese&quot; &#x627;&#1604;</p>",
     'Tom & Jerry <3 "cheese" ال'),
    ("paragraphs", "<p>one</p><p>two</p><br>three", "one\ntwo\nthree"),
    ("inline-collapse", "a  <b>bold</b>\n\t<i>move</i>   here", "a bold move here"),
    ("scripts-dropped", "<script>var x = 'روسيا';</script><style>p{}</style><p>نص</p><!-- تعليق -->", "نص"),
    ("plain-text", "no markup at all", "no markup at all"),
    ("empty", "", ""),
    ("only-tags", "<div><span></span></div>", ""),
    ("nul-bytes", "<p>a\x00b</p>", "ab"),
    ("broken", "<p>unclosed <b>tags <i>everywhere", "unclosed tags everywhere"),
    ("full-document", "<html><head><title>T</title></head><body><p>Body</p></body></html>", "Body"),
]


@pytest.mark.parametrize(("fragment", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plain_text(fragment: str, expected: str) -> None:
    assert plain_text_from_html(fragment) == expected


@pytest.mark.parametrize("junk", ["<" * 5000, "\ud800<p>\udfff</p>", "<![CDATA[x]]>", "&#xD800;&#0;&bogus;"])
def test_plain_text_never_raises(junk: str) -> None:
    assert isinstance(plain_text_from_html(junk), str)


@pytest.mark.parametrize("entry", RSS.entries, ids=[e.id for e in RSS.entries])
def test_rss_content_encoded_is_the_seed_body(entry: Any) -> None:
    stem = entry.link.rsplit("/", 1)[-1].removesuffix(".html")
    _title, body = seed_lines(f"{stem}.txt")
    assert plain_text_from_html(entry.content[0].value) == "\n".join(body)
    assert plain_text_from_html(entry.summary) == entry.summary
