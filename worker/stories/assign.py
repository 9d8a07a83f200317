"""Store access of the clustering stage: assign one article to a story, durably, with many workers.

`assign_story(conn, article, features, now, settings)` runs inside the caller's transaction
(`engine.begin()`, so it can share the transaction that stores the article and its alerts):

1. take the story-assignment lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
   store's `BEGIN IMMEDIATE` write lock, see `worker.schema.make_engine`), so two workers with two
   copies of one wire story decide one after the other and end with one story. A keyed lock would
   not be finer in practice: every article shares some entity with the one before it;
2. return the stored decision when the article was assigned before (`article_key` is unique);
3. read the document frequencies of the article's terms over `df_window_days` (one indexed query);
4. look candidates up in `story_keys` by band keys and the `search_keys` rarest terms, among
   stories that started at most `window_h` ago (one statement of per-key index range scans,
   each capped at `postings_per_key` newest postings; common terms are never search keys),
   load at most `max_candidates` members,
   score them (pure `worker.stories.scoring`), and join the best story or start a new one;
5. write the member, its keys and the frequencies. Stories are never merged or renumbered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from worker.stories.features import CROSS_PREFIXES, Features, StoryInput
from worker.stories.schema import KEY_CHARS
from worker.stories.scoring import Member, PairScore, Reason, Vector, best_match, idf, score_pair, weigh
from worker.stories.settings import StoriesSpec

STORY_LOCK_KEY = 7102025  # PostgreSQL advisory lock held while a story is assigned
DOCS = ""  # the document-count row of story_df
_DAY = 86_400.0
_TERMS_STORED = 48  # heaviest terms kept in a member's stored vector


class Outcome(StrEnum):
    """What happened to the article."""

    NEW = "new"  # it started a story
    JOINED = "joined"  # it joined an existing story
    ALREADY = "already"  # it had been assigned before; the first decision is returned


@dataclass(frozen=True)
class StoryDecision:
    """The story of one article. `new`: this article started the story (also when a repeated call
    returns the first decision). `revision`: the story's revision after this article (its current
    one for `ALREADY`); with `story_id` the idempotency key of a message about it. `why` is
    JSON-ready: `reason` (a `scoring.Reason`) and the evidence of the best candidate."""

    story_id: int
    outcome: Outcome
    new: bool
    revision: int
    why: dict[str, Any]


def assign_story(conn: Connection, article: StoryInput, features: Features, now: float,
                 settings: StoriesSpec) -> StoryDecision:
    """Assign `article` (with its precomputed `features`) to a story inside `conn`'s transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STORY_LOCK_KEY})")
    previous = _previous(conn, article.key)
    if previous is not None:
        return previous
    at = min(article.published_at, now) if article.published_at is not None else now
    day = int(at // _DAY)
    terms = {t[:KEY_CHARS]: b for t, b in features.terms.items()}
    window = {"terms": [*terms, DOCS], "first": day - settings.df_window_days + 1, "last": day}
    dfs: dict[str, int] = dict(conn.execute(_DF_SQL, window).all())
    docs = int(dfs.pop(DOCS, 0))
    # countries are common in any news stream: they start with a prior share of the pseudo-articles
    prior = settings.idf_prior_docs * settings.country_prior_share
    idfs = {t: idf(dfs.get(t, 0) + (prior if t in features.generic else 0.0), docs, settings.idf_prior_docs)
            for t in terms}
    rare = [t for t in terms if idfs[t] >= settings.rare_idf]
    # search by the rarest terms that other articles have (df 0 finds nothing); index this
    # article under its most prominent rare terms: title, then facts, then lead words in text order
    search = sorted((t for t in rare if dfs.get(t, 0) > 0), key=lambda t: (dfs[t], -terms[t], t))
    index = sorted(rare, key=lambda t: (-terms[t], not t.startswith(CROSS_PREFIXES)))  # stable: text order
    vector = Vector.build(features.lang, weigh(terms, idfs), features.title, features.signature,
                          features.anchors, article.source)
    keys = list(dict.fromkeys([*features.bands, *search[: settings.search_keys]]))
    members = _candidates(conn, keys, at - settings.window_h * 3600, settings)
    best = best_match([score_pair(vector, m, idfs, settings) for m in members])
    why = _why(best, len(members))
    if best is not None and best.joins:
        story_id = best.member.story_id
        revision = conn.execute(_JOIN_SQL, {"id": story_id, "at": at}).scalar_one()
        outcome = Outcome.JOINED
    else:
        headline = article.title.strip()[:300] or article.text.strip()[:120]
        story_id = conn.execute(_NEW_SQL, {"headline": headline, "at": at}).scalar_one()
        revision, outcome = 1, Outcome.NEW
    member_id = conn.execute(_MEMBER_SQL, {
        "key": article.key, "article_id": article.article_id, "story_id": story_id,
        "started": outcome is Outcome.NEW, "source": article.source[:255], "lang": features.lang,
        "title": article.title, "url": article.url, "at": at, "vector": encode_vector(vector),
        "why": json.dumps(why, ensure_ascii=False)}).scalar_one()
    written = dict.fromkeys([*features.bands, *index[: settings.index_keys]])
    # the two bulk writes go straight to the driver: SQLAlchemy's per-row parameter handling
    # costs more than SQLite's own work for these ~150 small rows
    conn.exec_driver_sql(_driver(conn, _KEY_SQL), [(k, member_id, at) for k in written])
    counted = [(t, day) for t in dict.fromkeys([*terms, DOCS])]
    conn.exec_driver_sql(_driver(conn, _COUNT_SQL), counted)
    return StoryDecision(story_id, outcome, outcome is Outcome.NEW, revision, why)


# Hand-written statements: building them with the expression language costs more than running them.
_DF_SQL = text("SELECT term, SUM(n) FROM story_df WHERE term IN :terms AND day >= :first AND day <= :last"
               " GROUP BY term").bindparams(bindparam("terms", expanding=True))
_JOIN_SQL = text("UPDATE stories SET articles = articles + 1, revision = revision + 1, last_seen_at = CASE"
                 " WHEN last_seen_at < :at THEN :at ELSE last_seen_at END WHERE id = :id RETURNING revision")
_NEW_SQL = text("INSERT INTO stories (headline, first_seen_at, last_seen_at, articles, revision)"
                " VALUES (:headline, :at, :at, 1, 1) RETURNING id")
_MEMBER_SQL = text("INSERT INTO story_members (article_key, article_id, story_id, started, source, lang,"
                   " title, url, at, vector, why) VALUES (:key, :article_id, :story_id, :started, :source,"
                   " :lang, :title, :url, :at, :vector, :why) RETURNING id")
_KEY_SQL = 'INSERT INTO story_keys ("key", member_id, at) VALUES (?, ?, ?)'
_COUNT_SQL = ("INSERT INTO story_df (term, day, n) VALUES (?, ?, 1)"
              " ON CONFLICT (term, day) DO UPDATE SET n = story_df.n + 1")
_MEMBERS_SQL = text("SELECT m.story_id, m.article_key, m.vector FROM story_members m JOIN stories s"
                    " ON s.id = m.story_id WHERE m.id IN :ids AND s.first_seen_at >= :since ORDER BY m.id"
                    ).bindparams(bindparam("ids", expanding=True))
_PREVIOUS_SQL = text("SELECT m.story_id, m.started, m.why, s.revision FROM story_members m"
                     " JOIN stories s ON s.id = m.story_id WHERE m.article_key = :key")
_SEARCH_SQL: dict[int, TextClause] = {}


def _driver(conn: Connection, sql: str) -> str:
    """`sql` written with `?` placeholders, in the driver's own parameter style."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def _search_sql(n: int) -> TextClause:
    """Per key, its newest postings inside the window (an index range scan each), for n keys."""
    if n not in _SEARCH_SQL:
        parts = [f'SELECT member_id FROM (SELECT member_id FROM story_keys WHERE "key" = :k{i}'
                 f" AND at >= :since ORDER BY at DESC LIMIT :per_key) AS q{i}" for i in range(n)]
        _SEARCH_SQL[n] = text(" UNION ALL ".join(parts))
    return _SEARCH_SQL[n]


def encode_vector(vector: Vector) -> str:
    """The stored form of a member's vector: its `_TERMS_STORED` heaviest terms, norms of the full
    vector, title words and signature (compact JSON)."""
    # dates always (a conflict needs them all), then the heaviest terms
    stored = sorted(((t, w) for t, w in vector.weights.items() if w > 0),
                    key=lambda tw: (not tw[0].startswith("d:"), -tw[1], tw[0]))
    return json.dumps({"l": vector.lang, "v": {t: round(w, 4) for t, w in stored[:_TERMS_STORED]},
                       "n": vector.norm, "x": vector.cross_norm, "h": sorted(vector.title),
                       "s": vector.signature, "q": sorted(vector.anchors), "o": vector.source},
                      ensure_ascii=False, separators=(",", ":"))


def _previous(conn: Connection, key: str) -> StoryDecision | None:
    row = conn.execute(_PREVIOUS_SQL, {"key": key}).one_or_none()
    if row is None:
        return None
    first = json.loads(row.why)
    why = {**first, "first_reason": first.get("reason"), "reason": str(Reason.ALREADY_ASSIGNED)}
    return StoryDecision(row.story_id, Outcome.ALREADY, bool(row.started), row.revision, why)


def _candidates(conn: Connection, keys: list[str], since: float, s: StoriesSpec) -> list[Member]:
    """Members sharing the most search keys inside the window, most shared first. Each key reads
    at most `postings_per_key` of its newest postings, so a key that many recent articles share
    costs the same as a rare one, and the store's size does not matter."""
    if not keys:
        return []
    params: dict[str, object] = {f"k{i}": k for i, k in enumerate(keys)}
    params |= {"since": since, "per_key": s.postings_per_key}
    counts: dict[int, int] = {}
    for (member_id,) in conn.execute(_search_sql(len(keys)), params):
        counts[member_id] = counts.get(member_id, 0) + 1
    ids = sorted(counts, key=lambda m: (-counts[m], -m))[: s.max_candidates]
    if not ids:
        return []
    out = []
    for story_id, key, raw in conn.execute(_MEMBERS_SQL, {"ids": ids, "since": since}):
        d = json.loads(raw)
        vector = Vector(d["l"], d["v"], d["n"], d["x"], frozenset(d["h"]), tuple(d["s"]), frozenset(d["q"]),
                        d["o"])
        out.append(Member(story_id, key, vector))
    return out


def _why(best: PairScore | None, candidates: int) -> dict[str, Any]:
    if best is None:
        return {"reason": str(Reason.NO_CANDIDATE), "candidates": candidates}
    detail = {**best.why(), "candidates": candidates, "matched_story": best.member.story_id}
    if best.joins:
        return detail
    return {"reason": str(Reason.BELOW_THRESHOLD), "candidates": candidates,
            "best_rejected": {k: v for k, v in detail.items() if k not in ("reason", "candidates")}}
