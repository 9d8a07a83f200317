"""Story tables, on the shared `worker.schema.metadata` (created with the others at start-up).

- `stories`: one row per real-world event; ids are never reused, renumbered or merged. `revision`
  grows with every article that joins (part of a follow-up's idempotency key); `alerted_at` is set
  by the alerting stage once a story has been announced.
- `story_members (article_key)` unique: an article is assigned once, ever; a second assignment
  returns the first decision. `vector` holds the article's evidence, `why` the decision's reasons.
- `story_keys` keyed (key, at, member): the search index (LSH band keys, rare entity ids, numbers and
  words → member), read only inside the time window; never a scan of all stories.
- `story_df (term, day)`: document frequencies per UTC day, summed over a window for IDF, plus the
  rows of `story_df_log` not yet folded into it (one row per article; `story_df_folds` holds the
  fold mark). See `worker.stories.dfcache`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from worker.schema import metadata

KEY_CHARS = 200  # longer terms are cut (an index key must stay small)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("headline", Text, nullable=False),
    Column("first_seen_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("articles", Integer, nullable=False, default=1),
    Column("revision", Integer, nullable=False, default=1),
    Column("alerted_at", Float),
    # a material change held back by the follow-up interval or cap (worker/followups.py): when it
    # may go out, and the article that brought it; NULL: none waiting
    Column("followup_due_at", Float),
    Column("followup_article_id", Integer),
    Index("ix_stories_last_seen", "last_seen_at"),
    Index("ix_stories_followup_due", "followup_due_at"),  # every sweep looks for due ones
)

story_members = Table(
    "story_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_key", Text, nullable=False, unique=True),
    Column("article_id", Integer, ForeignKey("articles.id")),
    Column("story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("started", Boolean, nullable=False),  # this article started the story
    Column("source", String(255), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("url", Text),
    Column("at", Float, nullable=False),
    Column("vector", Text, nullable=False),
    Column("why", Text, nullable=False),
    Index("ix_story_members_story", "story_id"),
)

story_keys = Table(
    "story_keys",
    metadata,
    Column("key", String(KEY_CHARS), primary_key=True),
    Column("at", Float, primary_key=True),
    Column("member_id", Integer, ForeignKey("story_members.id"), primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,  # one B-tree, ordered as the search reads it (key, newest first)
)

story_df = Table(
    "story_df",
    metadata,
    Column("term", String(KEY_CHARS), primary_key=True),
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    sqlite_with_rowid=False,
)

story_df_log = Table(
    "story_df_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("day", Integer, nullable=False),
    Column("terms", Text, nullable=False),  # JSON list of the article's terms, DOCS included
)

story_df_folds = Table(
    "story_df_folds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("through", BigInteger, nullable=False),  # every log row up to this id is in story_df
)
