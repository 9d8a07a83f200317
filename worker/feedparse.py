"""Feed-parse stage: untrusted feed bytes in, plain-text entries out.

feedparser only ever sees UTF-8 *bytes* that we decoded and cleaned ourselves, after a guard refused any
``<!ENTITY`` declaration (feedparser's loose fallback parser expands a large internal entity referenced
many times: 103 KB became 200 M characters, reliability.md B2). Text fields are converted to plain text
with lxml; links are resolved and filtered here, not by feedparser.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import feedparser
import lxml.html
from lxml import etree

from worker.net import FetchError, check_url
from worker.net.models import split_content_type

MAX_TITLE = 1000
MAX_SUMMARY = 65536
MAX_CONTENT = 1_000_000
MAX_GUID = 2048
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_FIRST_ELEMENT = re.compile(r"<\w", re.ASCII)  # the same split feedparser's replace_doctype uses
_ROOT_NAME = re.compile(r"<([\w:.-]+)", re.ASCII)
_ENTRY_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.ASCII)
_TAG = re.compile(r"<[^>]*>")
_LINK_VALUE = re.compile(r"<([^>]*)>((?:\s*;[^,<]*)*)")  # one `<url>; param=…` of a Link header
_DROP_TAGS = ("script", "style", "noscript", "template")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 header hr "
    "li main nav ol p pre section table td th tr ul".split()
)
_TRACKING = frozenset({"fbclid", "gclid"})
_NUL_SNIFF = MappingProxyType(
    {b"<\0?\0": "utf-16-le", b"\0<\0?": "utf-16-be", b"<\0\0\0": "utf-32-le", b"\0\0\0<": "utf-32-be"}
)


@dataclass(frozen=True)
class FeedEntry:
    """One entry. ``key`` is the dedupe key: ``"guid:<guid>"`` when the entry has a GUID/id, else
    ``"link:<canonical link>"``, else ``"hash:<sha256 hex of title + "\\n" + summary>"``."""

    key: str
    guid: str | None
    link: str | None
    canonical_link: str | None
    title: str
    summary: str
    content: str
    published: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed; ``warnings`` says what was repaired, ignored or parsed leniently."""

    title: str
    entries: tuple[FeedEntry, ...]
    ttl_seconds: int | None
    warnings: tuple[str, ...]
    hub: str | None = None  # the WebSub hub it advertises (feed link or HTTP Link header), if any


class FeedParseError(Exception):
    """The body is not a usable feed (a permanent problem); ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_feed(
    body: bytes, *, base_url: str, headers: Mapping[str, str] | None = None, max_entries: int = 500
) -> ParsedFeed:
    """Parse feed bytes fetched from ``base_url`` (relative links resolve against it).

    Never raises anything but FeedParseError on bad input. At most ``max_entries`` entries are kept
    (duplicates by key appear once); text fields are plain text within the documented length caps.
    """
    if not body.strip():
        raise FeedParseError("empty response body")
    warnings: list[str] = []
    text = _decode(body, _header(headers, "content-type"), warnings)
    head = _refuse_non_feeds(text)
    if "<!ENTITY" in head.upper():
        raise FeedParseError("XML entity declarations are refused (<!ENTITY)")
    text, found = _cap_entries(text, max_entries)
    parsed = feedparser.parse(
        text.encode("utf-8"),
        response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    reason = _clean(str(parsed.get("bozo_exception", "")))[:200] or "unknown format"
    if not parsed.entries and not parsed.get("version"):
        raise FeedParseError(f"no entries and not a feed: {reason}")
    if parsed.get("bozo"):
        warnings.append(f"feed is not well-formed XML: {reason}, parsed leniently")
    entries = _entries(parsed.entries, base_url, max_entries)
    total = max(found, len(parsed.entries))
    if total > max_entries:
        warnings.append(f"entry cap of {max_entries} reached; {total - max_entries} entries ignored")
    return ParsedFeed(
        title=_plain(parsed.feed.get("title"), MAX_TITLE),
        entries=entries,
        ttl_seconds=_ttl(parsed.feed.get("ttl")),
        warnings=tuple(warnings),
        hub=_hub(parsed.feed.get("links"), _header(headers, "link"), base_url),
    )


def _hub(links: object, link_header: str | None, base_url: str) -> str | None:
    """The WebSub hub: `<link rel="hub">` (Atom) / `<atom:link rel="hub">` (RSS), else an HTTP
    `Link: <…>; rel="hub"` header; an http(s) URL of at most 2048 characters, else None."""
    found = [str(link.get("href") or "") for link in links if isinstance(link, Mapping)
             and "hub" in str(link.get("rel") or "").lower().split()] if isinstance(links, list) else []
    for m in _LINK_VALUE.finditer(link_header or ""):
        if re.search(r'rel\s*=\s*"?[^";,]*\bhub\b', m.group(2), re.IGNORECASE):
            found.append(m.group(1))
    for href in found:
        url = _absolute_link(href, base_url)
        if url is not None and url.lower().startswith(("http://", "https://")) and len(url) <= 2048:
            return url
    return None


def canonical_link(link: str) -> str:
    """``link`` without fragment and utm_*/fbclid/gclid parameters, scheme and host lower-cased."""
    parts = urlsplit(link)
    kept = [p for p in parts.query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    path = parts.path or ("/" if parts.netloc else "")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "&".join(kept), ""))


def _is_tracking(name: str) -> bool:
    name = unquote_plus(name).lower()
    return name.startswith("utm_") or name in _TRACKING


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _sniffed(body: bytes) -> str | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"  # checked before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return _NUL_SNIFF.get(body[:4])


def _codec(name: str | None, warnings: list[str]) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        warnings.append(f"unknown charset {_clean(name)[:40]!r} ignored")
        return None


def _decode(body: bytes, content_type: str | None, warnings: list[str]) -> str:
    header = _codec(split_content_type(content_type)[1], warnings)
    match = _DECLARED.match(body[:1024])
    declared = _codec(match.group(1).decode("ascii") if match else None, warnings)
    if header and declared and header != declared:
        warnings.append(f"charset conflict: HTTP header says {header}, XML declaration says {declared}")
    text = None
    for candidate in (_sniffed(body), "utf-8", header, declared):
        if candidate is None:
            continue
        try:
            text = body.decode(candidate)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        warnings.append("invalid UTF-8 sequences replaced")
        text = body.decode("utf-8", errors="replace")
    cleaned, removed = _CONTROL.subn("", text.lstrip("\ufeff"))
    if removed:
        warnings.append(f"removed {removed} NUL/control characters")
    return _XML_DECL_ENCODING.sub(r"\1\2utf-8\2", cleaned, count=1)


def _refuse_non_feeds(text: str) -> str:
    """Return the prologue (text before the first element) or raise for JSON/HTML/element-less input."""
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        raise FeedParseError("not a feed: looks like JSON")
    first = _FIRST_ELEMENT.search(text)
    if first is None:
        raise FeedParseError("not a feed: no XML element found")
    head = text[: first.start()]
    root = _ROOT_NAME.match(text, first.start())
    if (root and root.group(1).lower() == "html") or "<!doctype html" in head.lower():
        raise FeedParseError("not a feed: looks like HTML")
    return head


def _cap_entries(text: str, max_entries: int) -> tuple[str, int]:
    """Cut the XML after the max_entries-th entry (feedparser costs ~0.3 ms per entry); returns the
    text and the number of entry end tags found."""
    ends = [m.end() for m in _ENTRY_END.finditer(text)]
    keep = max(max_entries, 1)
    if len(ends) <= keep:
        return text, len(ends)
    return text[: ends[keep - 1]] + text[ends[-1] :], len(ends)


def _entries(raw_entries: list[Any], base_url: str, max_entries: int) -> tuple[FeedEntry, ...]:
    seen: set[str] = set()
    kept: list[FeedEntry] = []
    for raw in raw_entries:
        if len(kept) >= max_entries:
            break
        entry = _entry(raw, base_url)
        if entry.key not in seen:
            seen.add(entry.key)
            kept.append(entry)
    return tuple(kept)


def _entry(raw: Mapping[str, Any], base_url: str) -> FeedEntry:
    title = _plain(raw.get("title"), MAX_TITLE)
    summary = _plain(raw.get("summary"), MAX_SUMMARY)
    contents = raw.get("content") or []
    content = _plain(contents[0].get("value") if contents else None, MAX_CONTENT)
    guid = _clean(str(raw.get("id") or "")).strip()[:MAX_GUID] or None
    link = _absolute_link(raw.get("link"), base_url)
    canonical = canonical_link(link) if link else None
    if guid:
        key = f"guid:{guid}"
    elif canonical:
        key = f"link:{canonical}"
    else:
        key = "hash:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    published = _date(raw.get("published_parsed")) or _date(raw.get("updated_parsed"))
    return FeedEntry(key, guid, link, canonical, title, summary, content, published)


def _absolute_link(raw: object, base_url: str) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    value = raw.strip()
    local_base = base_url.lower().startswith("file:")
    if local_base and value.startswith("file://") and not value.startswith("file:///"):
        value = "file:///" + value[len("file://") :]  # feedparser collapses "file:///x" to "file://x"
    try:
        joined = urljoin(base_url, value)
        scheme = urlsplit(joined).scheme.lower()
    except ValueError:
        return None
    if scheme in ("http", "https"):
        try:
            return check_url(joined)
        except FetchError:
            return None
    if scheme == "file" and local_base and not _CONTROL.search(joined) and len(joined) <= 2048:
        return joined
    return None


def _date(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, TypeError, OverflowError):
        return None


def _ttl(value: object) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text.isdigit() or len(text) > 7 or int(text) <= 0:
        return None
    return int(text) * 60


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _plain(value: object, limit: int) -> str:
    """Plain text: tags stripped, entities unescaped, controls removed, whitespace collapsed, capped."""
    if not isinstance(value, str) or not value:
        return ""
    text = _html_text(value) if ("<" in value or "&" in value) else value
    return " ".join(_clean(text).split())[:limit]


def _html_text(markup: str) -> str:
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return _TAG.sub(" ", html.unescape(markup))
    for element in [e for e in root.iter(*_DROP_TAGS)]:
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = " " + (element.tail or "")
    return str(root.text_content())
