"""render_alert: hostile feed text becomes bounded, inert plain text (test catalogue item 26)."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone

import pytest

from alerts.render import LINK_REMOVED_SCHEME, MAX_TITLE, ZWSP, render_alert
from tests.alerts.conftest import make_alert

BIDI_AND_CONTROLS = "\u202e\u202d\u202a\u202b\u202c\u2066\u2067\u2068\u2069\u200e\u200f\u061c\x00\x07\x1b\x7f"


def test_plain_alert_has_every_field() -> None:
    rendered = render_alert(make_alert())
    assert rendered.title == "[newswatch] Drones: هجوم بطائرة مسيرة على ميناء الحديدة"
    for expected in (
        "Watch: Drones",
        "Article: هجوم بطائرة مسيرة على ميناء الحديدة",
        "Source: Al Example News",
        "Link: https://news.example.org/2026/11/21/drone",
        "Published: 2026-11-21 18:30:05 UTC",
        "⟦طائرة مسيرة⟧",
        "Matched: طائرة مسيرة",
        "Score: 0.91",
    ):
        assert expected in rendered.body


def test_script_tags_stay_literal_text() -> None:
    title = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    rendered = render_alert(make_alert(article_title=title, snippet=f"before {title} after"))
    assert title in rendered.title
    assert f"before {title} after" in rendered.body


@pytest.mark.parametrize(
    "mention",
    ["@everyone", "@here", "@channel", "<!channel>", "<!here>", "<!everyone>", "<@123456>", "<#C024BE7LR>"],
)
def test_mass_mentions_are_neutralised(mention: str) -> None:
    rendered = render_alert(
        make_alert(article_title=f"hi {mention}", snippet=f"ping {mention} now", terms=(mention,))
    )
    for text in (rendered.title, rendered.body):
        assert mention not in text
        assert ZWSP in text
        assert mention.replace(ZWSP, "") in text.replace(ZWSP, "")  # still readable


def test_email_addresses_are_not_mangled() -> None:
    rendered = render_alert(make_alert(snippet="write to desk@example.org today"))
    assert "desk@example.org" in rendered.body


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
    ],
)
def test_unsupported_link_schemes_are_removed(link: str) -> None:
    rendered = render_alert(make_alert(link=link, snippet=f"click [here]({link}) or {link}"))
    assert f"Link: {LINK_REMOVED_SCHEME}" in rendered.body
    assert link not in rendered.body
    assert link.split(":", 1)[0].lower() + ":" not in rendered.body.lower()


def test_http_links_in_text_survive() -> None:
    rendered = render_alert(make_alert(snippet="see [report](https://example.org/r?id=1) and data: rose 5%"))
    assert "[report](https://example.org/r?id=1)" in rendered.body
    assert "data: rose 5%" in rendered.body  # the word "data:" in prose is not a link


def test_templates_are_shown_literally() -> None:
    hostile = "{{7*7}} {% for x in y %}{{x}}{% endfor %} {0.__class__} ${HOME} %(x)s"
    rendered = render_alert(
        make_alert(watch_title=hostile, article_title=hostile, snippet=hostile, terms=(hostile,))
    )
    assert hostile in rendered.body
    assert "49" not in rendered.body
    assert "{{7*7}}" in rendered.title


def test_bidi_and_control_characters_are_stripped() -> None:
    rendered = render_alert(
        make_alert(
            article_title=f"safe{BIDI_AND_CONTROLS}txt.exe",
            snippet=f"line1\nline2{BIDI_AND_CONTROLS}\r\nline3",
        )
    )
    for text in (rendered.title, rendered.body):
        assert not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in text)
        assert not any(ch in text for ch in BIDI_AND_CONTROLS)
    assert "\n" not in rendered.title
    assert "safetxt.exe" in rendered.title
    assert "line1\nline2\nline3" in rendered.body


def test_huge_fields_are_truncated() -> None:
    huge = "A" * 1_000_000
    rendered = render_alert(
        make_alert(
            watch_title=huge,
            article_title=huge,
            source=huge,
            snippet=huge,
            terms=(huge,) * 500,
            link="https://x.org/" + huge,
        )
    )
    assert len(rendered.title) <= MAX_TITLE
    assert len(rendered.body) <= 4000
    assert rendered.title.endswith("…")
    assert "Matched:" in rendered.body and "Score:" in rendered.body  # the footer survives


@pytest.mark.parametrize("max_body", [50, 300, 1000])
def test_max_body_is_respected(max_body: int) -> None:
    rendered = render_alert(make_alert(snippet="كلمة " * 5000), max_body=max_body)
    assert len(rendered.body) <= max_body


def test_published_is_converted_to_utc() -> None:
    plus3 = timezone(timedelta(hours=3))
    rendered = render_alert(make_alert(published=datetime(2026, 1, 1, 2, 0, tzinfo=plus3)))
    assert "Published: 2025-12-31 23:00:00 UTC" in rendered.body
    assert "Published: unknown" in render_alert(make_alert(published=None)).body


def test_missing_link_and_odd_score() -> None:
    rendered = render_alert(make_alert(link=None, score=float("nan")))
    assert "Link: (no link)" in rendered.body
    assert "Score: n/a" in rendered.body
