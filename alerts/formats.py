"""Render a story message as Markdown (chat services) or as an HTML e-mail, from the same
`MessageContent` the plain-text renderer (`alerts.render.render_message`) uses.

Feed text is hostile in every format. It is first cleaned exactly as for plain text (controls and
bidi overrides stripped, mass mentions broken with a zero-width space, non-http(s) links removed),
then escaped for the target syntax:

- Markdown is CommonMark, which Apprise 2.3 translates to each service's dialect (Telegram
  Markdown v1/v2, Slack mrkdwn, Matrix HTML, Discord as is). Every ASCII character that can start
  markup in any of them (`\\ ` * _ [ ] ( ) < > # | ~`) is backslash-escaped, `scheme://` and `www.`
  in feed text are broken so chat clients do not autolink them, and feed text never starts a line
  (no headings, lists or quotes). The only link is the article's checked http(s) URL, written bare
  (with format=markdown some services drop the URL of a `[label](url)` link from the plain body).
  The title goes into the body (first, bold) because some services insert a title raw.
- HTML is a small document: every paragraph carries `lang` and `dir="auto"`, feed values inside
  English lines are wrapped in `<bdi>` (with `lang="ar"` when they hold Arabic), everything is
  HTML-escaped, the only `href` is the article's checked http(s) URL. Apprise's e-mail plugin sends
  it as multipart/alternative with a text/plain part it derives from this HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from alerts.render import (
    _CLAIM_NOTES,
    _MAX_ARTICLE_TITLE,
    _MAX_ITEM_SNIPPET,
    _MAX_ITEMS,
    _MAX_LANG,
    _MAX_OUTLET,
    _MAX_OUTLETS,
    _MAX_REASON,
    _MAX_SOURCE,
    _MAX_WATCH,
    _MIN_SNIPPET_ROOM,
    BodyFormat,
    MessageContent,
    RenderedAlert,
    WatchItem,
    clean_text,
    format_published,
    format_score,
    render_message,
    render_title,
    safe_link,
    truncate,
)

__all__ = ["BodyFormat", "escape_markdown", "render_for", "render_html", "render_markdown"]

ZWSP = "\u200b"
_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]()<>#|~])")
_AUTOLINK_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}):(?=//)|\b(www)\.")
_MARK_RE = re.compile("⟦([^⟦⟧]*)⟧")
_ARABIC_RE = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")
# URL characters percent-encoded in a Markdown body so the bare link cannot carry markup.
_UNTITLED, _NO_SOURCE, _UNKNOWN = "\\(untitled article\\)", "\\(unknown source\\)", "\\(unknown\\)"
_URL_ENCODE = {c: f"%{ord(c):02X}" for c in "\\`*[]()<>|~\"'"}


def _defang(text: str) -> str:
    return _AUTOLINK_RE.sub(lambda m: f"{m[1]}:{ZWSP}" if m[1] else f"{m[2]}{ZWSP}.", text)


def escape_markdown(text: str) -> str:
    """Already-cleaned text made literal in CommonMark: markup characters backslash-escaped,
    autolinkable `scheme://` and `www.` broken with a zero-width space."""
    return _MD_SPECIAL_RE.sub(r"\\\1", _defang(text))


def _md(text: str, limit: int) -> str:
    return escape_markdown(clean_text(text, limit))


def _md_snippet(text: str, limit: int) -> str:
    # ⟦hit⟧ marks become bold; the text inside is escaped like the rest
    return _MARK_RE.sub(r"**\1**", _md(text, limit))


def _md_link(link: str | None) -> str:
    checked = safe_link(link)
    if link is not None and checked == link.strip():
        return "".join(_URL_ENCODE.get(c, c) for c in checked)
    return escape_markdown(checked)


def _md_names(values: tuple[str, ...], limit: int, each: int) -> str:
    shown = [v for v in (_md(x, each) for x in values[:limit]) if v]
    extra = len(values) - limit
    text = ", ".join(shown) if shown else "\\(none\\)"
    return f"{text} \\(+{extra} more\\)" if extra > 0 else text


def _md_item(item: WatchItem, room: int) -> str:
    watch = _md(item.watch_title, _MAX_WATCH) or "\\(untitled watch\\)"
    watch_id = _md(item.watch_id, 64)
    note = _CLAIM_NOTES.get(item.claim)
    line = (f"- **{watch}**" + (f" \\[{watch_id}\\]" if watch_id else "")
            + f" — score {format_score(item.score)}" + (f" — {note}" if note else ""))
    if room >= _MIN_SNIPPET_ROOM:
        line += "  \n  » " + (_md_snippet(item.snippet, room) or "\\(no snippet\\)")
    return line


def _title(msg: MessageContent) -> str:
    top = msg.items[0].watch_title if msg.items else ""
    more = f" (+{len(msg.items) - 1})" if len(msg.items) > 1 else ""
    prefix = "update: " if msg.kind == "followup" else ""
    return render_title(f"{prefix}{clean_text(top, _MAX_WATCH)}{more}", msg.article_title)


def _story_line(msg: MessageContent) -> tuple[str, str]:
    update = f", update (revision {msg.revision})" if msg.kind == "followup" else ""
    label = f"Story {msg.story_id}{update}"
    return label, clean_text(msg.headline, _MAX_ARTICLE_TITLE)


def _fit(build: Callable[[int], str], max_body: int, room: int) -> str:
    """The longest `build(room)` within `max_body`: snippets shrink first, then go entirely."""
    while True:
        body = build(room)
        if len(body) <= max_body or room <= 0:
            return body if len(body) <= max_body else truncate(body, max(max_body, 0))
        room = room // 2 if room // 2 >= _MIN_SNIPPET_ROOM else 0


def _room(msg: MessageContent, max_body: int, share: int) -> int:
    items = max(len(msg.items[:_MAX_ITEMS]), 1)
    return min(_MAX_ITEM_SNIPPET, max_body // share // items)


def render_markdown(msg: MessageContent, *, max_body: int = 4000) -> RenderedAlert:
    """The message as escaped CommonMark (title first, in bold; the Apprise title is left empty),
    at most `max_body` characters."""
    def build(room: int) -> str:
        label, headline = _story_line(msg)
        head = [f"**{escape_markdown(_title(msg))}**", f"**{label}:** {escape_markdown(headline)}"]
        if msg.kind == "followup":
            head[-1] += f"  \n**What changed:** {_md(msg.reason, _MAX_REASON) or _UNKNOWN}"
        watches = [_md_item(item, room) for item in msg.items[:_MAX_ITEMS]]
        rest = msg.items[_MAX_ITEMS:]
        if rest:
            watches.append(f"- Also matched: {_md_names(tuple(i.watch_title for i in rest), 6, 40)}")
        article = "  \n".join((
            f"**Article:** {_md(msg.article_title, _MAX_ARTICLE_TITLE) or _UNTITLED}",
            f"**Source:** {_md(msg.source, _MAX_SOURCE) or _NO_SOURCE}",
            f"**Link:** {_md_link(msg.link)}",
            f"**Published:** {format_published(msg.published)}",
            f"**Language:** {_md(msg.lang, _MAX_LANG) or 'unknown'}",
        ))
        story = "  \n".join((
            f"**Outlets so far ({len(msg.outlets)}):** {_md_names(msg.outlets, _MAX_OUTLETS, _MAX_OUTLET)}",
            f"**Languages so far:** {_md_names(msg.langs, 10, _MAX_LANG)}",
        ))
        return "\n\n".join((*head, "**Watches**", "\n".join(watches), article, story))

    body = _fit(build, max_body, _room(msg, max_body, 3))
    return RenderedAlert(title="", body=body, body_format=BodyFormat.MARKDOWN)


# --- HTML e-mail ---------------------------------------------------------------------------------

_STYLE = ("body{font-family:'Noto Sans','Noto Naskh Arabic',Arial,sans-serif;line-height:1.5}"
          "mark{background:#ffe58a}.snippet{margin:0 0 0.8em 1.2em}")


def _lang(value: str) -> str:
    """A safe BCP 47-looking language tag, or 'und'."""
    value = value.strip()
    return value if _LANG_RE.fullmatch(value) else "und"


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _bdi(text: str) -> str:
    """A feed value inside an English line, isolated so Arabic runs right to left in place."""
    lang = ' lang="ar"' if _ARABIC_RE.search(text) else ""
    return f'<bdi{lang} dir="auto">{_h(text)}</bdi>'


def _p(inner: str, lang: str = "en", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<p lang="{lang}" dir="auto"{klass}>{inner}</p>'


def _field(label: str, value: str, fallback: str) -> str:
    return _p(f"<strong>{_h(label)}:</strong> " + (_bdi(value) if value else _h(fallback)))


def _html_link(link: str | None) -> str:
    checked = safe_link(link)
    if link is not None and checked == link.strip():
        url = _h(checked)
        return f'<a href="{url}" dir="ltr">{url}</a>'
    return _h(checked)


def _html_names(values: tuple[str, ...], limit: int, each: int) -> str:
    shown = [_bdi(v) for v in (clean_text(x, each) for x in values[:limit]) if v]
    extra = len(values) - limit
    text = ", ".join(shown) if shown else "(none)"
    return f"{text} (+{extra} more)" if extra > 0 else text


def _html_item(item: WatchItem, lang: str, room: int) -> str:
    watch = clean_text(item.watch_title, _MAX_WATCH)
    watch_id = clean_text(item.watch_id, 64)
    note = _CLAIM_NOTES.get(item.claim)
    line = _p(f"<strong>{_bdi(watch) if watch else '(untitled watch)'}</strong>"
              + (f" [{_bdi(watch_id)}]" if watch_id else "") + f" — score {format_score(item.score)}"
              + (f" — <strong>{note}</strong>" if note else ""))
    if room < _MIN_SNIPPET_ROOM:
        return line
    snippet = clean_text(item.snippet, room)
    inner = _MARK_RE.sub(r"<mark>\1</mark>", _h(snippet)) if snippet else "(no snippet)"
    return line + "\n" + _p(inner, _snippet_lang(snippet, lang) if snippet else "en", "snippet")


def _snippet_lang(snippet: str, lang: str) -> str:
    """The article's language, unless the snippet's script says otherwise (an English quote in an
    Arabic article, or the reverse)."""
    arabic = bool(_ARABIC_RE.search(snippet))
    if arabic != lang.lower().startswith("ar"):
        return "ar" if arabic else "und"
    return lang


def render_html(msg: MessageContent, *, max_body: int = 20000) -> RenderedAlert:
    """The message as an HTML e-mail document (plain-text one-line subject as the title), at most
    `max_body` characters. Snippet paragraphs carry the article's language."""
    lang = _lang(msg.lang)

    def build(room: int) -> str:
        label, headline = _story_line(msg)
        parts = [_p(f"<strong>{_h(label)}:</strong> " + _bdi(headline))]
        if msg.kind == "followup":
            parts.append(_field("What changed", clean_text(msg.reason, _MAX_REASON), "(unknown)"))
        parts.append(_p("<strong>Watches</strong>"))
        parts += [_html_item(item, lang, room) for item in msg.items[:_MAX_ITEMS]]
        rest = msg.items[_MAX_ITEMS:]
        if rest:
            parts.append(_p("Also matched: " + _html_names(tuple(i.watch_title for i in rest), 6, 40)))
        parts += [
            _field("Article", clean_text(msg.article_title, _MAX_ARTICLE_TITLE), "(untitled article)"),
            _field("Source", clean_text(msg.source, _MAX_SOURCE), "(unknown source)"),
            _p("<strong>Link:</strong> " + _html_link(msg.link)),
            _p(f"<strong>Published:</strong> {_h(format_published(msg.published))}"),
            _p(f"<strong>Language:</strong> {_h(clean_text(msg.lang, _MAX_LANG) or 'unknown')}"),
            _p(f"<strong>Outlets so far ({len(msg.outlets)}):</strong> "
               + _html_names(msg.outlets, _MAX_OUTLETS, _MAX_OUTLET)),
            _p("<strong>Languages so far:</strong> " + _html_names(msg.langs, 10, _MAX_LANG)),
        ]
        return ('<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
                f"<title>{_h(_title(msg))}</title><style>{_STYLE}</style></head>\n<body>\n"
                + "\n".join(parts) + "\n</body></html>\n")

    body = _fit(build, max_body, _room(msg, max_body, 8))
    return RenderedAlert(title=_title(msg), body=body, body_format=BodyFormat.HTML)


def render_for(body_format: BodyFormat, msg: MessageContent) -> RenderedAlert:
    """`msg` rendered in `body_format` (plain text is `alerts.render.render_message`)."""
    if body_format is BodyFormat.MARKDOWN:
        return render_markdown(msg)
    if body_format is BodyFormat.HTML:
        return render_html(msg)
    return render_message(msg)
