"""Page chrome: lines above an article's title that are not the headline, and link lines.

Stored and extracted pages often open with a section label (``News World``, ``وكالات``), a
category tag (``Iran``), a date or a URL line before the real headline. Taken as the title, such a
line gets the title weight while the headline is scored as body, and its words count as mentions
(a category tag ``Iran`` is no mention of Iran). ``chrome_prefix`` finds those opening lines; the
matcher blanks them in the normalised text (same length, so offsets are unchanged). Link lines
inside the body (``اقرأ أيضا..`` / ``Read more:`` followed by another story's headline) are
blanked too (``blank_link_lines``): that headline is not this article's text.
"""

from __future__ import annotations

import re

from worker.matching.scoring import MAX_TITLE_CHARS

MAX_CHROME_LINES = 3  # opening lines looked at; a real headline comes within the first few
MIN_TITLE_WORDS = 2  # a one-word line (once URLs and dates are removed) is a label, not a headline
_NOISE_RE = re.compile(r"https?://\S+|www\.\S+|\d[\d:/.,-]*(?:t\d[\d:+.-]*)?")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")


def is_chrome_line(line: str) -> bool:
    """A label, date or URL line: fewer than ``MIN_TITLE_WORDS`` words of two letters or more
    once URLs, numbers, dates and times are removed (``date 2023-07-28 https://…`` has one)."""
    return len(_WORD_RE.findall(_NOISE_RE.sub(" ", line), 0)) < MIN_TITLE_WORDS


def chrome_prefix(norm: str) -> int:
    """The offset of the first line after the opening chrome lines of normalised ``norm`` (0 when
    it opens with no chrome). Chrome counts only when a line that is not chrome follows within
    ``MAX_CHROME_LINES`` non-empty lines: a text of labels alone keeps them. The line after the
    chrome is the title when it is at most ``MAX_TITLE_CHARS`` long (``scoring.layout``)."""
    pos, size, seen = 0, len(norm), 0
    while pos < size and seen <= MAX_CHROME_LINES:
        end = norm.find("\n", pos)
        end = size if end < 0 else end
        line = norm[pos:end]
        if line.strip():
            if not is_chrome_line(line if end - pos <= MAX_TITLE_CHARS else line[:MAX_TITLE_CHARS]):
                return pos if seen else 0
            seen += 1
        pos = end + 1
    return 0


def blank_prefix(norm: str, offset: int) -> str:
    """``norm`` with its first ``offset`` characters spaces, line breaks kept (same length)."""
    head = norm[:offset]
    return "".join(" " if ch != "\n" else ch for ch in head) + norm[offset:]


# Normalised openings of a line that links to another story (hamza folded: اقرأ → اقرا).
_LINK_OPENINGS = ("اقرا ايضا", "اقرا المزيد", "اقرا كذلك", "شاهد ايضا", "read also", "also read", "read more",
                  "see also", "related:", "related articles", "related stories")
_LINKS = "|".join(re.escape(o) for o in _LINK_OPENINGS)
_LINK_LINE_RE = re.compile(r"^[^\w\n]*(?:" + _LINKS + r")[^\n]*", re.MULTILINE)
# The detector starts with a literal line break, which the regex engine finds by a quick scan for
# that character (one search is ~8x quicker than a substring test per label, or the line regex).
_LINK_START_RE = re.compile(r"\n[^\w\n]*(?:" + _LINKS + r")")


def blank_link_lines(norm: str) -> str:
    """``norm`` with each line that opens with a link label (``_LINK_OPENINGS``, after any
    punctuation) blanked, same length. The first line is the title's: never a link line."""
    if _LINK_START_RE.search(norm) is None:
        return norm
    return _LINK_LINE_RE.sub(lambda m: " " * len(m.group()) if m.start() else m.group(), norm)
