"""Render an alert as bounded, untrusted-safe plain text (title + body) for any Apprise destination.

Feed text is hostile: it is never evaluated as a template, never formatted as markup, and is cleaned
of control/bidi characters, chat mass-mentions and non-http(s) links before it reaches a destination.
Send the result with Apprise body_format=TEXT (alerts.deliver does) so HTML targets escape it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

TITLE_PREFIX = "[newswatch]"
MAX_TITLE = 200
LINK_REMOVED_SCHEME = "(link removed: unsupported scheme)"
LINK_REMOVED_INVALID = "(link removed: invalid)"
ELLIPSIS = "…"
ZWSP = "\u200b"

# Per-field caps so one huge field cannot crowd out the others (or blow up memory downstream).
_MAX_WATCH = 120
_MAX_ARTICLE_TITLE = 500
_MAX_SOURCE = 200
_MAX_LINK = 2048
_MAX_LANG = 16
_MAX_TERM = 100
_MAX_TERMS = 20
_MAX_SNIPPET = 3000
_MIN_SNIPPET_ROOM = 40

# C0 (except \n, \t handled separately), DEL, C1, bidi embeddings/overrides/isolates/marks incl. the
# Arabic letter mark, lone surrogates, BOM/noncharacters and Unicode tag characters.
_STRIP_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufeff\ufffe\uffff\U000e0000-\U000e007f]"
)
_NEWLINES_RE = re.compile("\r\n|[\r\u2028\u2029\x85]")
_SPACES_RE = re.compile(r"\s+")
# `<!channel>`, `<@U123>`, `<#C123>` (Slack/Discord entity syntax) and `@everyone`/`@here`/`@all`/
# `@user` at a word start (Mattermost, Rocket.Chat, Matrix, Zulip `@**all**`); e-mail addresses keep.
_ANGLE_MENTION_RE = re.compile(r"<(?=[!@#&])")
_AT_MENTION_RE = re.compile(r"(?<![\w.+-])@(?=[\w*\[])")
_BAD_LINK_RE = re.compile(
    r"(?:\b(?:javascript|vbscript|livescript)\s*:|\bdata:[a-z]+/[\w.+-]+[;,]|\bfile:/{2,}|\bblob:)"
    r"[^\s)\]>\"']*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AlertContent:
    """One match to announce. Every string field is untrusted feed/config text."""

    watch_id: str
    watch_title: str
    article_title: str
    source: str  # feed name
    link: str | None
    published: datetime | None
    snippet: str  # sentence with matched words marked ⟦like this⟧
    terms: tuple[str, ...]  # the surface forms that hit, as written
    score: float
    lang: str


class BodyFormat(StrEnum):
    """How a rendered body is written; the value is Apprise's NotifyFormat value."""

    TEXT = "text"
    MARKDOWN = "markdown"  # CommonMark; Apprise translates it to each service's dialect
    HTML = "html"  # a whole HTML document (e-mail)


@dataclass(frozen=True)
class RenderedAlert:
    """A rendered alert: `title` is one line of at most MAX_TITLE chars (plain text, or empty when
    the body carries it); `body` is at most max_body chars, written in `body_format`."""

    title: str
    body: str
    body_format: BodyFormat = BodyFormat.TEXT


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def clean_text(text: str, limit: int, *, multiline: bool = False) -> str:
    """Untrusted text made safe to show: controls/bidi stripped, mentions and bad links neutralised,
    whitespace normalised (collapsed to single spaces unless `multiline`), cut to `limit` chars."""
    # Cut early (cleaning only shrinks text, except for a few ZWSPs) so a 1 MB field costs little.
    text = text[: limit * 2 + 64]
    text = _NEWLINES_RE.sub("\n", text).replace("\t", " ")
    text = _STRIP_RE.sub("", text)
    if multiline:
        lines = (_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    else:
        text = _SPACES_RE.sub(" ", text).strip()
    text = _BAD_LINK_RE.sub(LINK_REMOVED_SCHEME, text)
    text = _ANGLE_MENTION_RE.sub("<" + ZWSP, text)
    text = _AT_MENTION_RE.sub("@" + ZWSP, text)
    return truncate(text, limit)


def safe_link(link: str | None) -> str:
    """The link if it is a plain absolute http(s) URL, else a '(link removed: …)' / '(no link)' note."""
    if link is None or not link.strip():
        return "(no link)"
    candidate = link.strip()
    if len(candidate) > _MAX_LINK or _STRIP_RE.search(candidate) or _SPACES_RE.search(candidate):
        return LINK_REMOVED_INVALID
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return LINK_REMOVED_INVALID
    if parts.scheme.lower() not in ("http", "https"):
        return LINK_REMOVED_SCHEME
    if not parts.hostname:
        return LINK_REMOVED_INVALID
    return candidate


def format_published(published: datetime | None) -> str:
    """UTC time as 'YYYY-MM-DD HH:MM:SS UTC'; naive datetimes are taken as UTC."""
    if published is None:
        return "unknown"
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return published.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_score(score: float) -> str:
    """Score with two decimals, or 'n/a' for NaN/inf."""
    return f"{score:.2f}" if math.isfinite(score) else "n/a"


def format_terms(terms: tuple[str, ...]) -> str:
    """Comma-separated cleaned terms (at most _MAX_TERMS, then '+N more')."""
    shown = [t for t in (clean_text(term, _MAX_TERM) for term in terms[:_MAX_TERMS]) if t]
    extra = len(terms) - _MAX_TERMS
    text = ", ".join(shown) if shown else "(none)"
    return f"{text} (+{extra} more)" if extra > 0 else text


def render_title(watch_title: str, article_title: str) -> str:
    """'[newswatch] <watch>: <article>' as one line of at most MAX_TITLE chars."""
    watch = clean_text(watch_title, _MAX_WATCH) or "(untitled watch)"
    article = clean_text(article_title, MAX_TITLE) or "(untitled article)"
    return truncate(f"{TITLE_PREFIX} {watch}: {article}", MAX_TITLE)


def render_alert(alert: AlertContent, *, max_body: int = 4000) -> RenderedAlert:
    """Render `alert` as plain text. The snippet gets whatever room the bounded header and footer
    leave under `max_body`; the body never exceeds `max_body` characters."""
    watch = clean_text(alert.watch_title, _MAX_WATCH) or "(untitled watch)"
    watch_id = clean_text(alert.watch_id, 64)
    header = "\n".join(
        (
            f"Watch: {watch}" + (f" [{watch_id}]" if watch_id else ""),
            f"Article: {clean_text(alert.article_title, _MAX_ARTICLE_TITLE) or '(untitled article)'}",
            f"Source: {clean_text(alert.source, _MAX_SOURCE) or '(unknown source)'}",
            f"Link: {safe_link(alert.link)}",
            f"Published: {format_published(alert.published)}",
            f"Language: {clean_text(alert.lang, _MAX_LANG) or 'unknown'}",
        )
    )
    footer = f"Matched: {format_terms(alert.terms)}\nScore: {format_score(alert.score)}"
    room = min(_MAX_SNIPPET, max_body - len(header) - len(footer) - 4)
    parts = [header]
    if room >= _MIN_SNIPPET_ROOM:
        parts.append(clean_text(alert.snippet, room, multiline=True) or "(no snippet)")
    parts.append(footer)
    body = truncate("\n\n".join(parts), max(max_body, 0))
    return RenderedAlert(title=render_title(alert.watch_title, alert.article_title), body=body)


def render_notice(title: str, text: str, source: str, raised: datetime | None) -> RenderedAlert:
    """An operator notice (worker/notices.py) as plain text: its title, what happened and what to
    do, what it is about and when it was raised."""
    about = f"About: {clean_text(source, _MAX_SOURCE) or '(unknown)'}\nRaised: {format_published(raised)}"
    body = "\n\n".join((clean_text(text, 3000, multiline=True) or "(no details)", about))
    return RenderedAlert(title=truncate(f"{TITLE_PREFIX} notice: {clean_text(title, MAX_TITLE)}", MAX_TITLE),
                         body=body)


# --- story messages (worker/messages.py) ---------------------------------------------------------

_MAX_ITEMS = 12  # watches shown in full; the rest are named on one line
_MAX_ITEM_SNIPPET = 600
_MAX_OUTLETS = 8
_MAX_OUTLET = 50
_MAX_REASON = 300
_CLAIM_NOTES = {"denied": "DENIED", "speculative": "SPECULATIVE"}


@dataclass(frozen=True)
class WatchItem:
    """One watch a story message shows. Every string field is untrusted."""

    watch_id: str
    watch_title: str
    score: float
    snippet: str
    claim: str  # asserted | denied | speculative | unclassified


@dataclass(frozen=True)
class MessageContent:
    """One story message: the triggering article, every watch it matched, the story so far."""

    kind: str  # first | followup
    story_id: int
    revision: int
    headline: str
    reason: str
    items: tuple[WatchItem, ...]
    article_title: str
    source: str
    link: str | None
    published: datetime | None
    lang: str
    outlets: tuple[str, ...]
    langs: tuple[str, ...]


def _names(values: tuple[str, ...], limit: int, each: int) -> str:
    shown = [v for v in (clean_text(x, each) for x in values[:limit]) if v]
    extra = len(values) - limit
    text = ", ".join(shown) if shown else "(none)"
    return f"{text} (+{extra} more)" if extra > 0 else text


def _item_line(item: WatchItem) -> str:
    watch = clean_text(item.watch_title, _MAX_WATCH) or "(untitled watch)"
    watch_id = clean_text(item.watch_id, 64)
    note = _CLAIM_NOTES.get(item.claim)
    return (f"- {watch}" + (f" [{watch_id}]" if watch_id else "") + f" — score {format_score(item.score)}"
            + (f" — {note}" if note else ""))


def render_message(msg: MessageContent, *, max_body: int = 4000) -> RenderedAlert:
    """Render a story message as plain text: a one-line title naming the top watch and the
    article, then the reason (follow-ups), every watch with its claim status and snippet, the
    article and the story's outlets and languages. The body never exceeds `max_body` characters:
    the snippets share whatever room the bounded header and footer leave."""
    items = msg.items[:_MAX_ITEMS]
    top = items[0].watch_title if items else ""
    more = f" (+{len(msg.items) - 1})" if len(msg.items) > 1 else ""
    prefix = "update: " if msg.kind == "followup" else ""
    title = render_title(f"{prefix}{clean_text(top, _MAX_WATCH)}{more}", msg.article_title)
    head = [f"Story {msg.story_id}" + (f", update (revision {msg.revision})" if msg.kind == "followup"
                                       else "") + f": {clean_text(msg.headline, _MAX_ARTICLE_TITLE)}"]
    if msg.kind == "followup":
        head.append(f"What changed: {clean_text(msg.reason, _MAX_REASON) or '(unknown)'}")
    header = "\n".join(head)
    article = "\n".join((
        f"Article: {clean_text(msg.article_title, _MAX_ARTICLE_TITLE) or '(untitled article)'}",
        f"Source: {clean_text(msg.source, _MAX_SOURCE) or '(unknown source)'}",
        f"Link: {safe_link(msg.link)}",
        f"Published: {format_published(msg.published)}",
        f"Language: {clean_text(msg.lang, _MAX_LANG) or 'unknown'}",
    ))
    rest = msg.items[_MAX_ITEMS:]
    footer = "\n".join((
        *([f"Also matched: {_names(tuple(i.watch_title for i in rest), 6, 40)}"] if rest else []),
        f"Outlets so far ({len(msg.outlets)}): {_names(msg.outlets, _MAX_OUTLETS, _MAX_OUTLET)}",
        f"Languages so far: {_names(msg.langs, 10, _MAX_LANG)}",
    ))
    # each section gets a bounded share, so a huge field cannot push the others out
    header, article, footer = (truncate(header, max_body // 5), truncate(article, max_body // 4),
                               truncate(footer, max_body // 4))
    lines = [_item_line(i) for i in items]
    room_watches = max_body - len(header) - len(article) - len(footer) - 16
    room = min(_MAX_ITEM_SNIPPET, (room_watches - sum(len(x) + 1 for x in lines)) // max(len(items), 1) - 4)
    watches = []
    for item, line in zip(items, lines, strict=True):
        watches.append(line)
        if room >= _MIN_SNIPPET_ROOM:
            watches.append("  " + (clean_text(item.snippet, room) or "(no snippet)"))
    block = truncate("Watches:\n" + "\n".join(watches), max(room_watches, 0))
    body = "\n\n".join(part for part in (header, block, article, footer) if part)
    return RenderedAlert(title=title, body=truncate(body, max(max_body, 0)))
