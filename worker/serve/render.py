"""The Jinja2 environment of the dashboard: autoescaping on, feed text made inert.

Every `{{ value }}` is escaped by autoescaping and, through `finalize`, loses bidi embedding and
override controls (U+202A–U+202E, U+2066–U+2069), so hostile text cannot reorder the page around
it; isolation comes from `dir="auto"` blocks and `<bdi>` in the templates. Snippets keep their
hit markers: they are escaped FIRST, and only then are `⟦ ⟧` turned into `<mark>`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_MARKED = re.compile("⟦(.*?)⟧", re.DOTALL)
TEMPLATES = Path(__file__).with_name("templates")


def inert(value: Any) -> Any:
    """Strings lose bidi controls; everything else (Markup we built, numbers) is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return BIDI_CONTROLS.sub("", value)
    return value


def marked(snippet: str | None) -> Markup:
    """An evidence snippet, escaped, with each ⟦hit⟧ shown as <mark>hit</mark>."""
    safe = str(escape(BIDI_CONTROLS.sub("", snippet or "")))
    return Markup(_MARKED.sub(r"<mark>\1</mark>", safe))


def highlighted(text: str, hits: list[dict[str, Any]]) -> Markup:
    """`text` escaped, with the spans of `hits` (start/end offsets that still agree with the text)
    shown as <mark>; overlapping or stale spans are skipped."""
    spans = sorted(
        (int(h["start"]), int(h["end"]))
        for h in hits
        if isinstance(h.get("start"), int) and isinstance(h.get("end"), int)
        and text[h["start"] : h["end"]] == h.get("text")
    )
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out += [str(escape(inert(text[pos:start]))), f"<mark>{escape(inert(text[start:end]))}</mark>"]
        pos = end
    out.append(str(escape(inert(text[pos:]))))
    return Markup("".join(out))


def http_href(url: str | None) -> str | None:
    """`url` when it is an http(s) URL, else None: `javascript:` and `data:` never become links."""
    if url and re.match(r"^https?://", url.strip(), re.IGNORECASE):
        return BIDI_CONTROLS.sub("", url.strip())
    return None


def when(ts: float | None) -> str:
    """A stored Unix time as UTC, or `never`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "never"


def ago(seconds: float | None) -> str:
    """A duration in the largest unit that keeps it readable."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def environment() -> Environment:
    """The dashboard's template environment."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=inert,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(marked=marked, highlighted=highlighted, http_href=http_href, when=when, ago=ago)
    return env
