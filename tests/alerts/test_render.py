"""render_alert: hostile feed text becomes bounded, inert plain text (test catalogue item 26)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerts.render import (
    LINK_REMOVED_SCHEME,
    MAX_TITLE,
    ZWSP,
    MessageContent,
    WatchItem,
    render_alert,
    render_message,
)
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


# --- story messages ------------------------------------------------------------------------------


def _message(**over: object) -> MessageContent:
    fields: dict[str, object] = {
        "kind": "first", "story_id": 7, "revision": 1, "headline": "شويغو في طهران", "reason": "first report",
        "items": (WatchItem("shoigu", "Sergei Shoigu", 3.5, "⟦شويغو⟧ في طهران", "asserted"),
                  WatchItem("drones", "Drones", 2.0, "نفت طهران ⟦طائرات مسيرة⟧", "denied"),
                  WatchItem("missiles", "Missiles", 1.2, "قد ترسل ⟦صواريخ⟧", "speculative")),
        "article_title": "شويغو في إيران", "source": "seeds", "link": "https://news.example/a",
        "published": datetime(2026, 11, 21, 18, 30, 5, tzinfo=UTC), "lang": "ar",
        "outlets": ("one.example", "two.example"), "langs": ("ar", "en"),
    }
    fields.update(over)
    return MessageContent(**fields)  # type: ignore[arg-type]


def test_a_story_message_lists_every_watch_with_its_claim_and_the_story_so_far() -> None:
    rendered = render_message(_message())
    assert rendered.title == "[newswatch] Sergei Shoigu (+2): شويغو في إيران"
    body = rendered.body
    for expected in ("Story 7: شويغو في طهران", "- Sergei Shoigu [shoigu] — score 3.50\n  ⟦شويغو⟧ في طهران",
                     "- Drones [drones] — score 2.00 — DENIED",
                     "- Missiles [missiles] — score 1.20 — SPECULATIVE", "Link: https://news.example/a",
                     "Outlets so far (2): one.example, two.example", "Languages so far: ar, en"):
        assert expected in body
    assert "What changed" not in body and "ASSERTED" not in body
    update = render_message(_message(kind="followup", revision=3, reason="outlets 1 → 2"))
    assert update.title.startswith("[newswatch] update: Sergei Shoigu (+2):")
    assert "Story 7, update (revision 3)" in update.body and "What changed: outlets 1 → 2" in update.body


@pytest.mark.parametrize("max_body", [0, 50, 300, 1000, 4000])
def test_a_story_message_is_bounded_and_hostile_text_stays_inert(max_body: int) -> None:
    hostile = f"@everyone <!channel> {BIDI_AND_CONTROLS} javascript:alert(1) " + "x" * 100_000
    many = tuple(WatchItem(f"w{i}", hostile, 1.0, hostile, "denied") for i in range(40))
    msg = _message(items=many, headline=hostile, article_title=hostile, source=hostile, reason=hostile,
                   link="javascript:alert(1)", outlets=(hostile,) * 100, langs=(hostile,) * 30,
                   kind="followup")
    rendered = render_message(msg, max_body=max_body)
    assert len(rendered.body) <= max_body and len(rendered.title) <= MAX_TITLE
    for text in (rendered.title, rendered.body):
        assert "@everyone" not in text and "<!channel>" not in text and "javascript:alert" not in text
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n" + ZWSP for ch in text)
    if max_body >= 4000:  # every section keeps its place
        for section in ("Watches:\n- ", "DENIED", "Article: ", "Also matched: ", "(+22 more)",
                        "Outlets so far (100): ", "(+92 more)", "Languages so far: "):
            assert section in rendered.body, section
