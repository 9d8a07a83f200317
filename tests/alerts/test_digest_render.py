"""Digest renderings: one entry per story (its first report and follow-ups merged), best story
first, bounded bodies, and hostile feed text literal in every format (checked through the
conversions Apprise applies, as for single messages)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from apprise.conversion import markdown_to_html

from alerts.digest import (
    MAX_STORIES,
    DigestContent,
    render_digest_for,
    render_digest_html,
    render_digest_markdown,
    render_digest_text,
    stories_of,
)
from alerts.render import BodyFormat, WatchItem
from tests.alerts.test_formats import LINK, assert_inert_html, message, parse


def digest(*msgs: object, label: str = "Daily digest") -> DigestContent:
    return DigestContent(label, tuple(msgs))  # type: ignore[arg-type]


def test_a_followup_merges_into_its_story_and_the_best_story_comes_first() -> None:
    first = message()
    update = replace(first, kind="followup", revision=2, outlets=("a.example", "b.example", "c.example"),
                     items=(WatchItem("w-ru", "Russia", 0.99, "better ⟦snippet⟧", "asserted"),
                            WatchItem("w-dr", "Drones", 0.7, "⟦drones⟧", "speculative")))
    other = message(story_id=9, headline="Another story",
                    items=(WatchItem("w-x", "X", 0.95, "x", "asserted"),))
    stories = stories_of(digest(first, other, update))
    assert [s.story_id for s in stories] == [7, 9]  # 0.99 beats 0.95
    merged = stories[0]
    assert merged.updates == 1 and merged.outlets == update.outlets  # the story as it stands now
    assert [i.watch_id for i in merged.items] == ["w-ru", "w-ir", "w-dr"]  # every watch, best score first
    assert merged.items[0].snippet == "better ⟦snippet⟧" and merged.link == LINK  # first article's link

    text = render_digest_text(digest(first, other, update))
    assert text.title.startswith("[newswatch] Daily digest: 2 stories — ") and "\n" not in text.title
    assert text.body.startswith("Daily digest: 2 stories, 3 messages")
    assert "1. Story 7 (+1 update): شويغو يصل إلى طهران" in text.body
    assert "2. Story 9: Another story" in text.body
    assert "(DENIED)" in text.body and "(SPECULATIVE)" in text.body and "Outlets (3)" in text.body


def test_markdown_digest_keeps_feed_text_literal() -> None:
    rendered = render_digest_markdown(digest(message(), message(story_id=8)))
    assert rendered.body_format is BodyFormat.MARKDOWN and rendered.title == ""
    html = markdown_to_html(rendered.body, extensions=())  # what Apprise's Matrix plugin sends
    assert_inert_html(html)
    text = "".join(parse(html).text)
    assert "javascript:" not in text and "<img src=x onerror=alert(1)>" in text
    assert "https://news.example.org/2026/11/21/drone_%281%29" in text  # the bare article URL


def test_html_digest_isolates_arabic_and_links_only_the_articles() -> None:
    rendered = render_digest_html(digest(message(), message(story_id=8), label="Held during quiet hours"))
    assert rendered.body_format is BodyFormat.HTML and rendered.title.startswith("[newswatch] Held during")
    assert_inert_html(rendered.body, allowed_links=(LINK,))
    tags = parse(rendered.body)
    paragraphs = [a for t, a in tags.tags if t == "p"]
    assert paragraphs and all(a.get("dir") == "auto" and a.get("lang") for a in paragraphs)
    assert any(t == "bdi" and a.get("lang") == "ar" for t, a in tags.tags)  # the Arabic headline
    assert any(t == "p" and a.get("lang") == "ar" and a.get("class") == "snippet" for t, a in tags.tags)
    assert rendered.body.count("<mark>") == rendered.body.count("</mark>") >= 2


@pytest.mark.parametrize("body_format", list(BodyFormat))
def test_a_huge_digest_is_bounded_and_counts_what_it_leaves_out(body_format: BodyFormat) -> None:
    many = [message(story_id=i, items=(WatchItem("w", "W*" * 60, 1.0 - i / 1000, "*[" * 900, "asserted"),))
            for i in range(MAX_STORIES + 15)]
    rendered = render_digest_for(body_format, digest(*many))
    limit = 20000 if body_format is BodyFormat.HTML else 4000
    assert len(rendered.body) <= limit
    body = rendered.body.replace("\\", "")
    shown = len(re.findall(r"\b\d+\. Story \d+", body))
    assert shown >= 8 and f"+{MAX_STORIES + 15 - shown} more stories" in body  # every story accounted for
