"""Markdown and HTML renderings of a story message: hostile feed text stays literal in each format,
checked through the conversions Apprise really applies (CommonMark→HTML as for Matrix, CommonMark→
Telegram and →Slack mrkdwn) and through an HTML parser; and which destination gets which format."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from apprise.conversion import markdown_to_html
from apprise.plugins.slack import NotifySlack
from apprise.plugins.telegram import NotifyTelegram

from alerts.deliver import body_format_for
from alerts.formats import escape_markdown, render_for, render_html, render_markdown
from alerts.render import BodyFormat, MessageContent, WatchItem, render_message

HOSTILE_TITLE = "[x](javascript:alert(1)) @everyone <script>window.pwned=1</script> *bold* _it_ \u202eevil"
HOSTILE_SNIPPET = "قال ⟦شويغو⟧ <img src=x onerror=alert(1)> [y](https://evil.example/p) `code` # no @here"
LINK = "https://news.example.org/2026/11/21/drone_(1)"


def message(**over: object) -> MessageContent:
    fields: dict[str, object] = {
        "kind": "first", "story_id": 7, "revision": 1, "headline": "شويغو يصل إلى طهران",
        "reason": "", "article_title": HOSTILE_TITLE, "source": "Al <@123> *Example*", "link": LINK,
        "published": datetime(2026, 11, 21, 18, 30, tzinfo=UTC), "lang": "ar",
        "items": (WatchItem("w-ru", "Russia " + HOSTILE_TITLE, 0.91, HOSTILE_SNIPPET, "asserted"),
                  WatchItem("w-ir", "Iran", 0.8, "Shoigu met ⟦Iran⟧ officials", "denied")),
        "outlets": ("a.example", "b.example"), "langs": ("ar", "en"),
    }
    fields.update(over)
    return MessageContent(**fields)  # type: ignore[arg-type]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def assert_inert_html(html: str, allowed_links: tuple[str, ...] = ()) -> None:
    """No tag, attribute or link came from feed text."""
    tags = parse(html)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "code", "em", "h1"}, names
    for tag, attrs in tags.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if tag == "a":
            assert attrs.get("href") in allowed_links, attrs
    text = "".join(tags.text)
    assert "<script>window.pwned=1</script>" in text  # shown as text
    assert "@everyone" not in text and "@here" not in text and "\u202e" not in text


# --- Markdown --------------------------------------------------------------------------------------


def test_escape_markdown_makes_every_markup_character_literal() -> None:
    assert escape_markdown("*a* _b_ [c](d) <e> `f` #g |h| ~i~ \\") == (
        "\\*a\\* \\_b\\_ \\[c\\]\\(d\\) \\<e\\> \\`f\\` \\#g \\|h\\| \\~i\\~ \\\\"
    )
    assert escape_markdown("see https://evil.example and www.evil.example") == (
        "see https:\u200b//evil.example and www\u200b.evil.example"
    )


def test_markdown_rendered_as_html_keeps_feed_text_literal() -> None:
    rendered = render_markdown(message())
    assert rendered.body_format is BodyFormat.MARKDOWN and rendered.title == ""
    html = markdown_to_html(rendered.body, extensions=())  # what Apprise's Matrix plugin sends
    assert_inert_html(html)
    tags = parse(html)
    bold = [t for t, _ in tags.tags if t == "strong"]
    text = "".join(tags.text)
    assert "[x](javascript:alert(1))" not in text and "javascript:" not in text
    assert "*bold* _it_" in text  # literal asterisks and underscores, not emphasis
    assert "<img src=x onerror=alert(1)>" in text and "`code` # no" in text
    assert len(bold) >= 4  # our own labels and the ⟦hit⟧ marks are the only bold
    assert "https://news.example.org/2026/11/21/drone_%281%29" in text  # the bare article URL


def test_markdown_through_apprise_chat_dialects_has_no_link_or_mention() -> None:
    body = render_markdown(message()).body
    telegram, slack = NotifyTelegram._commonmark_to_telegram, NotifySlack._commonmark_to_slack
    for converted in (telegram(body), telegram(body, strict=True), slack(body)):  # type: ignore[no-untyped-call]
        assert "](javascript" not in converted and "](https://evil" not in converted
        assert "@everyone" not in converted and "@here" not in converted
        assert "<@123>" not in converted and "https://evil" not in converted
        assert not re.search(r"(?<!\\)\*bold(?<!\\)\*", converted)
        # Telegram escapes `_` and `.` itself; its parser removes the backslashes again
        assert "https://news.example.org/2026/11/21/drone_%281%29" in converted.replace("\\", "")
    assert "<script>" not in slack(body)  # type: ignore[no-untyped-call]  # entity-escaped for Slack


@pytest.mark.parametrize("max_body", [300, 1000, 4000])
def test_markdown_is_bounded_and_never_cut_inside_an_escape(max_body: int) -> None:
    huge = message(items=tuple(WatchItem(f"w{i}", "W*" * 60, 0.5, "*[" * 900, "asserted") for i in range(15)))
    body = render_markdown(huge, max_body=max_body).body
    assert len(body) <= max_body
    assert "\\[x\\]" in render_markdown(message(), max_body=max_body).body


# --- HTML e-mail -----------------------------------------------------------------------------------


def test_html_escapes_feed_text_and_only_links_the_checked_article_url() -> None:
    rendered = render_html(message())
    assert rendered.body_format is BodyFormat.HTML
    assert "\n" not in rendered.title and rendered.title.startswith("[newswatch]")
    assert_inert_html(rendered.body, allowed_links=(LINK,))
    bad = render_html(message(link="javascript:alert(1)")).body
    assert_inert_html(bad)
    assert "javascript:" not in bad and "(link removed: unsupported scheme)" in bad


def test_every_html_paragraph_has_a_language_and_auto_direction() -> None:
    tags = parse(render_html(message(lang='ar" onclick="x')).body).tags
    paragraphs = [attrs for tag, attrs in tags if tag == "p"]
    assert len(paragraphs) > 8
    assert all(p.get("dir") == "auto" and p.get("lang") for p in paragraphs), paragraphs
    assert {p["lang"] for p in paragraphs} == {"en", "und", "ar"}  # a hostile lang is not echoed
    good = [attrs for tag, attrs in parse(render_html(message()).body).tags if tag == "p"]
    assert [p.get("class") for p in good if p["lang"] == "ar"] == ["snippet"]  # the Arabic one
    assert [p.get("class") for p in good if p["lang"] == "und"] == ["snippet"]  # the English quote


def test_arabic_inside_english_lines_is_isolated_in_bdi() -> None:
    body = render_html(message()).body
    assert '<strong>Story 7:</strong> <bdi lang="ar" dir="auto">شويغو يصل إلى طهران</bdi>' in body
    assert "<mark>شويغو</mark>" in body


def test_render_for_picks_the_renderer() -> None:
    msg = message()
    assert render_for(BodyFormat.TEXT, msg) == render_message(msg)
    assert render_for(BodyFormat.MARKDOWN, msg) == render_markdown(msg)
    assert render_for(BodyFormat.HTML, msg) == render_html(msg)
    followup = render_markdown(replace(msg, kind="followup", revision=3, reason="*new* outlet"))
    assert "**What changed:** \\*new\\* outlet" in followup.body


# --- which destination gets which format ----------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("tgram://123456789:abcdefg_hijklmnop/12315544/", BodyFormat.MARKDOWN),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", BodyFormat.MARKDOWN),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", BodyFormat.MARKDOWN),
    ("matrix://user:pass@matrix.example.org/#room", BodyFormat.MARKDOWN),
    ("rocket://user:pass@chat.example.org/#general", BodyFormat.MARKDOWN),
    ("mailto://user:pw@example.org?to=a@example.org", BodyFormat.HTML),
    ("mailtos://user:pw@example.org?to=a@example.org", BodyFormat.HTML),
    ("mailto://user:pw@example.org?to=a@example.org&format=text", BodyFormat.TEXT),
    ("tgram://123456789:abcdefg_hijklmnop/12315544/?format=html", BodyFormat.TEXT),
    ("json://127.0.0.1:9/hook", BodyFormat.TEXT),
    ("jsonl://out.jsonl", BodyFormat.TEXT),
    ("console://", BodyFormat.TEXT),
    ("ntfy://topic", BodyFormat.TEXT),
    ("nosuchscheme://x", BodyFormat.TEXT),
])
def test_body_format_follows_what_the_apprise_plugin_shows(url: str, expected: BodyFormat) -> None:
    assert body_format_for(url) is expected
