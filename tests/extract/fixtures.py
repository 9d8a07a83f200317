"""Loaders for the extraction fixtures: seed pages with their expectations, and self-describing case files."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SITE = SEEDS / "site"
CASES = Path(__file__).resolve().parent / "cases"
_HEADER = re.compile(r"<!--(.*?)-->", re.DOTALL)


def normalized(text: str) -> str:
    """Whitespace collapsed to single spaces, so phrases match across line wraps."""
    return " ".join(text.split())


def expected_pages() -> list[dict[str, Any]]:
    """Entries of seeds/expected_pages.yaml (page, seed, title, lang, must_contain, must_not_contain)."""
    with (SEEDS / "expected_pages.yaml").open(encoding="utf-8") as fh:
        pages: list[dict[str, Any]] = yaml.safe_load(fh)["pages"]
    return pages


def seed_lines(seed: str) -> tuple[str, list[str]]:
    """(headline, body lines) of a seed as the fixture site publishes it: the generator decides
    (seeds/build_site.py: the real headline, page chrome left out); whitespace collapsed."""
    if str(SEEDS) not in sys.path:
        sys.path.insert(0, str(SEEDS))  # the generator's own modules are top-level there
    from build_site import load_article  # type: ignore[import-not-found]

    article = load_article(SEEDS / seed)
    return article.title, [normalized(p) for p in article.paragraphs]


@dataclass(frozen=True)
class Case:
    """An HTML case file whose first comment states what extraction must produce."""

    path: Path
    expect_none: bool
    lang: str | None
    title: str | None
    contains: tuple[str, ...]
    not_contains: tuple[str, ...]


def load_case(path: Path) -> Case:
    """Parse the ``Key: value`` lines of the file's first HTML comment."""
    header = _HEADER.search(path.read_text(encoding="utf-8"))
    assert header is not None, f"{path.name} has no expectation comment"
    fields: dict[str, list[str]] = {}
    for line in header.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    return Case(
        path=path,
        expect_none=fields.get("expect", [""])[0] == "none",
        lang=fields.get("expect-lang", [None])[0],
        title=fields.get("expect-title", [None])[0],
        contains=tuple(fields.get("contains", [])),
        not_contains=tuple(fields.get("not-contains", [])),
    )


def case_files() -> list[Path]:
    """All case files, sorted."""
    return sorted(CASES.glob("*.html"))
