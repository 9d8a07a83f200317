"""Article → clustering evidence (pure, CPU only; run it outside any store transaction).

Terms are namespaced so that the scorer knows which ones cross languages:
`e:`/`g:` entity ids, `n:` numbers and `d:` day-month dates are script-independent, `w:<lang>:` words are not.
Each term carries a position boost (title > lead > body); rarity (IDF) is applied later, from the
store, because it changes as articles arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.matching.normalize import normalize, normalize_pair
from worker.stories.entities import EntityFinder
from worker.stories.settings import StoriesSpec
from worker.stories.text import band_keys, content_word, date_keys, fingerprint, number_key, tokens

TITLE_BOOST = 2.0
LEAD_BOOST = 1.0
BODY_BOOST = 0.5  # entities and numbers only: body words are not kept
CROSS_PREFIXES = ("e:", "g:", "n:", "d:")


@dataclass(frozen=True)
class StoryInput:
    """One processed article as the clustering stage sees it.

    `key` identifies the article for idempotency (the store's `articles.url_key`, or the contract
    file's `id`); assigning the same key twice returns the first decision. `published_at` is a
    Unix time or None (then the arrival time is used). `lang` is an ISO 639-1 code or None.
    """

    key: str
    title: str
    text: str
    source: str
    url: str | None = None
    lang: str | None = None
    published_at: float | None = None
    article_id: int | None = None


@dataclass(frozen=True)
class Features:
    """The evidence of one article: `terms` maps term → position boost, `title` holds the title's
    content words, `signature` the shingle MinHash (same language only), `bands` its LSH keys,
    `anchors` a content-defined sample of its shingles (shared passages, such as one quote)."""

    lang: str
    terms: dict[str, float]
    title: frozenset[str]
    signature: tuple[int, ...]
    bands: tuple[str, ...] = field(default=())
    anchors: frozenset[int] = frozenset()
    generic: frozenset[str] = frozenset()  # country entity ids: common by default (see `country_prior_share`)


def _guess_lang(norm: str) -> str:
    arabic = sum(1 for ch in norm[:2000] if "\u0600" <= ch <= "\u06ff")
    latin = sum(1 for ch in norm[:2000] if "a" <= ch <= "z")
    return "ar" if arabic > latin else "en" if latin else "und"


class FeatureExtractor:
    """Builds `Features` from a `StoryInput`. Immutable after construction; thread-safe."""

    def __init__(self, settings: StoriesSpec, finder: EntityFinder) -> None:
        self.settings = settings
        self.finder = finder

    def features(self, article: StoryInput) -> Features:
        """Normalise, tokenise, find entities and fingerprint one article."""
        title = article.title.strip()
        text = f"{title}\n\n{article.text}" if title else article.text
        translated, norm = normalize_pair(text)  # once: the title's and body's tokens are its slices
        lang = (article.lang or _guess_lang(norm)).lower()[:8]
        title_norm = normalize(title)
        toks = tokens(norm)
        # normalising is per character and tokens never span the blank line, so the text's tokens
        # are the title's followed by the body's
        n_title = len(tokens(title_norm)) if title else 0
        lead = self.settings.lead_words
        title_words = {w for w in map(content_word, toks[:n_title]) if w}
        terms: dict[str, float] = {}
        for word in title_words:
            terms[f"w:{lang}:{word}"] = TITLE_BOOST
        for tok in toks[n_title:n_title + lead]:
            lead_word = content_word(tok)
            if lead_word:
                terms.setdefault(f"w:{lang}:{lead_word}", LEAD_BOOST)
        lead_end = self._lead_end(norm, len(title_norm))
        for i, tok in [(i, tok) for i, tok in enumerate(toks) if tok[0].isdigit()]:  # numbers only
            num = number_key(tok)
            if num:
                boost = TITLE_BOOST if i < n_title else LEAD_BOOST if i < n_title + lead else BODY_BOOST
                terms[f"n:{num}"] = max(terms.get(f"n:{num}", 0.0), boost)
        for date in date_keys(toks[:n_title + lead * 3]):
            terms[f"d:{date}"] = LEAD_BOOST
        found = self.finder.find_normalized(text, translated, norm)
        for key, start in found.items():
            terms[key] = TITLE_BOOST if title and start < len(title_norm) else \
                LEAD_BOOST if start < lead_end else BODY_BOOST
        sig, shared = fingerprint(toks)
        generic = frozenset(key for key in found if key in self.finder.countries)
        return Features(lang, terms, frozenset(title_words), sig, tuple(band_keys(sig)), shared, generic)

    def _lead_end(self, norm: str, title_len: int) -> int:
        """Normalised offset where the lead (title + `lead_words` words) ends."""
        pos, words = title_len, 0
        while words < self.settings.lead_words:
            nxt = norm.find(" ", pos + 1)
            if nxt < 0:
                return len(norm)
            pos, words = nxt, words + 1
        return pos
