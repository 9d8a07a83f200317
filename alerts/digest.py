"""Render a digest — the story messages a channel collected over a period or its quiet hours — as
one message, in plain text, Markdown or HTML e-mail.

Several messages of one story (its first report and follow-ups) become one entry: the story's
latest outlets and languages, every watch it matched with its best score and snippet, and the
link of its first article. Stories are listed by their best score. Feed text is cleaned and
escaped exactly as in single messages (`alerts.render`, `alerts.formats`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alerts.formats import (
    _MARK_RE,
    _STYLE,
    _bdi,
    _h,
    _html_link,
    _html_names,
    _lang,
    _md,
    _md_link,
    _md_names,
    _md_snippet,
    _p,
    _snippet_lang,
    escape_markdown,
)
from alerts.render import (
    _CLAIM_NOTES,
    _MAX_ARTICLE_TITLE,
    _MAX_LANG,
    _MAX_OUTLET,
    _MAX_WATCH,
    _MIN_SNIPPET_ROOM,
    MAX_TITLE,
    TITLE_PREFIX,
    BodyFormat,
    MessageContent,
    RenderedAlert,
    WatchItem,
    _names,
    clean_text,
    format_score,
    safe_link,
    truncate,
)

MAX_STORIES = 25  # stories shown at most (fewer when they do not fit); the rest are counted
_MAX_WATCHES = 6  # watches named per story
_MAX_OUTLETS = 5
_MAX_SNIPPET = 240  # a digest shows each story's best snippet, shorter than a message does
_UNTITLED_STORY = "\\(untitled story\\)"


@dataclass(frozen=True)
class DigestContent:
    """What one digest shows: `label` (e.g. "Daily digest") and its messages, oldest first."""

    label: str
    messages: tuple[MessageContent, ...]


@dataclass(frozen=True)
class DigestStory:
    """One story of a digest: its messages merged."""

    story_id: int
    headline: str
    items: tuple[WatchItem, ...]  # best score per watch, highest first
    outlets: tuple[str, ...]
    langs: tuple[str, ...]
    article_title: str
    link: str | None
    lang: str
    updates: int  # messages of the story in this digest beyond the first

    @property
    def score(self) -> float:
        return self.items[0].score if self.items else 0.0


def stories_of(digest: DigestContent) -> list[DigestStory]:
    """The digest's stories, best score first (ties: story id)."""
    by_story: dict[int, list[MessageContent]] = {}
    for msg in digest.messages:
        by_story.setdefault(msg.story_id, []).append(msg)
    out = []
    for story_id, msgs in by_story.items():
        best: dict[str, WatchItem] = {}
        for msg in msgs:
            for item in msg.items:
                if item.watch_id not in best or item.score > best[item.watch_id].score:
                    best[item.watch_id] = item
        first, last = msgs[0], msgs[-1]
        items = tuple(sorted(best.values(), key=lambda i: (-i.score, i.watch_id)))
        out.append(DigestStory(story_id, last.headline, items, last.outlets, last.langs, first.article_title,
                               first.link, first.lang, len(msgs) - 1))
    return sorted(out, key=lambda s: (-s.score, s.story_id))


def _title(label: str, stories: list[DigestStory]) -> str:
    top = clean_text(stories[0].headline, MAX_TITLE) if stories else ""
    count = f"{len(stories)} stor{'y' if len(stories) == 1 else 'ies'}"
    head = f"{TITLE_PREFIX} {clean_text(label, 60)}: {count}"
    return truncate(head + (f" — {top}" if top else ""), MAX_TITLE)


def _watches_text(story: DigestStory) -> str:
    shown = []
    for item in story.items[:_MAX_WATCHES]:
        note = _CLAIM_NOTES.get(item.claim)
        shown.append(f"{clean_text(item.watch_title, _MAX_WATCH) or '(untitled watch)'} "
                     f"{format_score(item.score)}" + (f" ({note})" if note else ""))
    extra = len(story.items) - _MAX_WATCHES
    return ", ".join(shown) + (f" (+{extra} more)" if extra > 0 else "")


def _updates(story: DigestStory) -> str:
    return f" (+{story.updates} update{'s' if story.updates > 1 else ''})" if story.updates else ""


def _fit_stories(build: Callable[[int, int], str], max_body: int, stories: int, share: int) -> str:
    """The fullest `build(count, room)` within `max_body`: snippets shrink, then go, then fewer
    stories are shown (the rest are counted)."""
    count = min(stories, MAX_STORIES)
    while True:
        room = min(_MAX_SNIPPET, max_body // share // max(count, 1))
        while True:
            body = build(count, room)
            if len(body) <= max_body:
                return body
            if room <= 0:
                break
            room = room // 2 if room // 2 >= _MIN_SNIPPET_ROOM else 0
        if count <= 1:
            return truncate(body, max(max_body, 0))
        count = count * 3 // 4


def render_digest_text(digest: DigestContent, *, max_body: int = 4000) -> RenderedAlert:
    """Plain text: one numbered block per story, at most `max_body` characters."""
    stories = stories_of(digest)

    def build(count: int, room: int) -> str:
        shown, rest = stories[:count], stories[count:]
        blocks = [f"{clean_text(digest.label, 60)}: {len(stories)} stories, {len(digest.messages)} messages"]
        for n, story in enumerate(shown, 1):
            lines = [f"{n}. Story {story.story_id}{_updates(story)}: "
                     f"{clean_text(story.headline, _MAX_ARTICLE_TITLE) or '(untitled story)'}",
                     f"   Watches: {_watches_text(story)}"]
            if room >= _MIN_SNIPPET_ROOM and story.items:
                lines.append("   » " + (clean_text(story.items[0].snippet, room) or "(no snippet)"))
            outlets = _names(story.outlets, _MAX_OUTLETS, _MAX_OUTLET)
            langs = _names(story.langs, 6, _MAX_LANG)
            lines.append(f"   Outlets ({len(story.outlets)}): {outlets} — languages: {langs}")
            lines.append(f"   Link: {safe_link(story.link)}")
            blocks.append("\n".join(lines))
        if rest:
            blocks.append(f"(+{len(rest)} more stories)")
        return "\n\n".join(blocks)

    body = _fit_stories(build, max_body, len(stories), 3)
    return RenderedAlert(title=_title(digest.label, stories), body=body)


def render_digest_markdown(digest: DigestContent, *, max_body: int = 4000) -> RenderedAlert:
    """Escaped CommonMark (title first, in bold; the Apprise title is left empty)."""
    stories = stories_of(digest)

    def build(count: int, room: int) -> str:
        shown, rest = stories[:count], stories[count:]
        blocks = [f"**{escape_markdown(_title(digest.label, stories))}**"]
        for n, story in enumerate(shown, 1):
            headline = _md(story.headline, _MAX_ARTICLE_TITLE) or _UNTITLED_STORY
            lines = [f"**{n}\\. Story {story.story_id}{escape_markdown(_updates(story))}:** {headline}",
                     f"Watches: {escape_markdown(_watches_text(story))}"]
            if room >= _MIN_SNIPPET_ROOM and story.items:
                lines.append("» " + (_md_snippet(story.items[0].snippet, room) or "\\(no snippet\\)"))
            outlets = _md_names(story.outlets, _MAX_OUTLETS, _MAX_OUTLET)
            lines.append(f"Outlets \\({len(story.outlets)}\\): {outlets}"
                         f" — languages: {_md_names(story.langs, 6, _MAX_LANG)}")
            lines.append(f"Link: {_md_link(story.link)}")
            blocks.append("  \n".join(lines))
        if rest:
            blocks.append(f"\\(+{len(rest)} more stories\\)")
        return "\n\n".join(blocks)

    body = _fit_stories(build, max_body, len(stories), 3)
    return RenderedAlert(title="", body=body, body_format=BodyFormat.MARKDOWN)


def render_digest_html(digest: DigestContent, *, max_body: int = 20000) -> RenderedAlert:
    """An HTML e-mail document; every paragraph carries `lang` and `dir="auto"`, feed values in
    English lines are isolated in `<bdi>`."""
    stories = stories_of(digest)
    title = _title(digest.label, stories)

    def build(count: int, room: int) -> str:
        shown, rest = stories[:count], stories[count:]
        parts = [_p(f"<strong>{_h(clean_text(digest.label, 60))}:</strong> {len(stories)} stories, "
                    f"{len(digest.messages)} messages")]
        for n, story in enumerate(shown, 1):
            headline = clean_text(story.headline, _MAX_ARTICLE_TITLE)
            parts.append(_p(f"<strong>{n}. Story {story.story_id}{_h(_updates(story))}:</strong> "
                            + (_bdi(headline) if headline else "(untitled story)")))
            parts.append(_p("Watches: " + _bdi(_watches_text(story))))
            if room >= _MIN_SNIPPET_ROOM and story.items:
                snippet = clean_text(story.items[0].snippet, room)
                inner = _MARK_RE.sub(r"<mark>\1</mark>", _h(snippet)) if snippet else "(no snippet)"
                lang = _snippet_lang(snippet, _lang(story.lang)) if snippet else "en"
                parts.append(_p(inner, lang, "snippet"))
            outlets = _html_names(story.outlets, _MAX_OUTLETS, _MAX_OUTLET)
            parts.append(_p(f"Outlets ({len(story.outlets)}): {outlets}"
                            f" — languages: {_html_names(story.langs, 6, _MAX_LANG)}"))
            parts.append(_p("Link: " + _html_link(story.link)))
        if rest:
            parts.append(_p(f"(+{len(rest)} more stories)"))
        return ('<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
                f"<title>{_h(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
                + "\n".join(parts) + "\n</body></html>\n")

    body = _fit_stories(build, max_body, len(stories), 8)
    return RenderedAlert(title=title, body=body, body_format=BodyFormat.HTML)


def render_digest_for(body_format: BodyFormat, digest: DigestContent) -> RenderedAlert:
    """`digest` rendered in `body_format`."""
    if body_format is BodyFormat.MARKDOWN:
        return render_digest_markdown(digest)
    if body_format is BodyFormat.HTML:
        return render_digest_html(digest)
    return render_digest_text(digest)
