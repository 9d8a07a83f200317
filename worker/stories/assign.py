"""Store access of the clustering stage: assign one article to a story, durably, with many workers.

`assign_story(conn, article, features, now, settings, df_cache)` runs inside the caller's transaction
(`engine.begin()`, so it can share the transaction that stores the article and its alerts):

1. take the story-assignment lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
   store's `BEGIN IMMEDIATE` write lock, see `worker.schema.make_engine`), so two workers with two
   copies of one wire story decide one after the other and end with one story. A keyed lock would
   not be finer in practice: every article shares some entity with the one before it;
2. return the stored decision when the article was assigned before (`article_key` is unique);
3. read the document frequencies of the article's terms over `df_window_days` through the
   process's `worker.stories.dfcache.DfCache` (the log rows new since its last lookup, and one
   indexed query for the terms it has not seen);
4. look candidates up in `story_keys` by band keys and the `search_keys` rarest terms, among
   stories that started at most `window_h` ago, and load at most `max_candidates` members (one
   statement of per-key index range scans, each capped at `postings_per_key` newest postings,
   see `worker.stories.index`; common terms are never search keys),
   score them (pure `worker.stories.scoring`), and join the best story or start a new one;
5. write the member, its keys and one document-frequency log row (folding the log into `story_df`
   once `FOLD_ROWS` rows wait). Stories are never merged or renumbered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection

from worker.stories.dfcache import DOCS, DfCache, fold_log, log_terms
from worker.stories.features import CROSS_PREFIXES, Features, StoryInput
from worker.stories.index import candidates, driver, encode_vector, run
from worker.stories.schema import KEY_CHARS
from worker.stories.scoring import PairScore, Reason, Vector, best_match, idf, score_pair, weigh
from worker.stories.settings import StoriesSpec

__all__ = ["DOCS", "STORY_LOCK_KEY", "Outcome", "StoryDecision", "assign_story", "encode_vector"]

STORY_LOCK_KEY = 7102025  # PostgreSQL advisory lock held while a story is assigned
_DAY = 86_400.0


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
                 settings: StoriesSpec, df_cache: DfCache) -> StoryDecision:
    """Assign `article` (with its precomputed `features`) to a story inside `conn`'s transaction;
    `df_cache`: the document-frequency cache of this connection's store."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STORY_LOCK_KEY})")
    previous = _previous(conn, article.key)
    if previous is not None:
        return previous
    at = min(article.published_at, now) if article.published_at is not None else now
    day = int(at // _DAY)
    terms = {t[:KEY_CHARS]: b for t, b in features.terms.items()}
    first = day - settings.df_window_days + 1
    dfs = df_cache.lookup(conn, terms, first, day)
    docs = int(dfs.get(DOCS, 0))
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
    members = candidates(conn, keys, at - settings.window_h * 3600, settings)
    best = best_match([score_pair(vector, m, idfs, settings) for m in members])
    why = _why(best, len(members))
    # the writes go straight to the driver (`index.run`): SQLAlchemy's per-statement and per-row
    # parameter handling costs more than SQLite's own work for these small rows
    if best is not None and best.joins:
        story_id = best.member.story_id
        revision = run(conn, _JOIN_SQL, (at, at, story_id))[0][0]
        outcome = Outcome.JOINED
    else:
        headline = article.title.strip()[:300] or article.text.strip()[:120]
        story_id = run(conn, _NEW_SQL, (headline, at, at))[0][0]
        revision, outcome = 1, Outcome.NEW
    member_id = run(conn, _MEMBER_SQL, (
        article.key, article.article_id, story_id, outcome is Outcome.NEW, article.source[:255],
        features.lang, article.title, article.url, at, encode_vector(vector),
        json.dumps(why, ensure_ascii=False)))[0][0]
    written = dict.fromkeys([*features.bands, *index[: settings.index_keys]])
    run(conn, _KEY_SQL, [(k, member_id, at) for k in written], many=True)
    log_terms(conn, terms, day)
    if (fold := df_cache.fold_range()) is not None:
        fold_log(conn, *fold)
    return StoryDecision(story_id, outcome, outcome is Outcome.NEW, revision, why)


# Hand-written statements with `?` placeholders (see `worker.stories.index.driver`).
_JOIN_SQL = ("UPDATE stories SET articles = articles + 1, revision = revision + 1, last_seen_at = CASE"
             " WHEN last_seen_at < ? THEN ? ELSE last_seen_at END WHERE id = ? RETURNING revision")
_NEW_SQL = ("INSERT INTO stories (headline, first_seen_at, last_seen_at, articles, revision)"
            " VALUES (?, ?, ?, 1, 1) RETURNING id")
_MEMBER_SQL = ("INSERT INTO story_members (article_key, article_id, story_id, started, source, lang,"
               " title, url, at, vector, why) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_KEY_SQL = 'INSERT INTO story_keys ("key", member_id, at) VALUES (?, ?, ?)'
_PREVIOUS_SQL = ("SELECT m.story_id, m.started, m.why, s.revision FROM story_members m"
                 " JOIN stories s ON s.id = m.story_id WHERE m.article_key = ?")


def _previous(conn: Connection, key: str) -> StoryDecision | None:
    # through SQLAlchemy on purpose: the first statement begins the transaction if the caller has not
    row = conn.exec_driver_sql(driver(conn, _PREVIOUS_SQL), (key,)).first()
    if row is None:
        return None
    story_id, started, raw_why, revision = row
    first = json.loads(raw_why)
    why = {**first, "first_reason": first.get("reason"), "reason": str(Reason.ALREADY_ASSIGNED)}
    return StoryDecision(story_id, Outcome.ALREADY, bool(started), revision, why)


def _why(best: PairScore | None, candidates: int) -> dict[str, Any]:
    if best is None:
        return {"reason": str(Reason.NO_CANDIDATE), "candidates": candidates}
    detail = {**best.why(), "candidates": candidates, "matched_story": best.member.story_id}
    if best.joins:
        return detail
    return {"reason": str(Reason.BELOW_THRESHOLD), "candidates": candidates,
            "best_rejected": {k: v for k, v in detail.items() if k not in ("reason", "candidates")}}
