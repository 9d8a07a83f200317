"""The durable state: tables shared by every worker (SQLite by default, PostgreSQL at scale).

Uniqueness constraints carry the delivery guarantees:
- `entries (feed_id, key)`: an entry is seen once per feed, whatever the polls.
- `articles (url_key)`: the same story listed by two feeds is processed once.
- `alerts (watch_id, article_id)`: one alert per (watch, article), ever.
- `deliveries (alert_id, destination)`: one delivery per destination; its state is the outbox.
- `messages (story_id, revision)`: one message per story revision (worker/messages.py), and
  `deliveries (message_id, destination)`: one delivery of it per destination, ever.
- `notices (key)`: one operator notice per event (worker/notices.py), and
  `deliveries (notice_id, destination)`: one delivery of it per destination.
"""

from __future__ import annotations

import sqlite3
import time
from enum import StrEnum

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, Engine

_SQLITE_LOCK_WAIT_S = 30.0  # as the connections' busy timeout
SCHEMA_LOCK_KEY = 7102024  # PostgreSQL advisory lock held while tables are created

metadata = MetaData()


class EntryState(StrEnum):
    """Where one feed entry stands: `new` (to process), `done` (processed, a duplicate, or seen
    without alerting under the backfill policy), `failed` (given up, with its reason)."""

    NEW = "new"
    DONE = "done"
    FAILED = "failed"


class DeliveryState(StrEnum):
    """Where one outbox row stands. `pending` → `sending` → `sent` | `failed` (or back to
    `pending` to retry); `held` rows wait for a digest (worker/digest_outbox.py), which makes one
    of them the `pending` carrier and the others `digested`."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    DIGESTED = "digested"


feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("next_check_at", Float, nullable=False, default=0.0),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("last_checked_at", Float),
    Column("last_success_at", Float),
    Column("last_full_fetch_at", Float),
    Column("error_streak", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("claim", Integer),  # number of the latest claim (worker/polling.py); NULL = 0
    Column("polling_until", Float),  # a poll is running until then (its lease); NULL = none
    # `newswatch feeds audit` (worker/feed_audit.py): successful polls, those answered 304, and
    # the WebSub hub the last parsed fetch advertised; NULL = 0 / none (stores before these columns)
    Column("polls", Integer),
    Column("polls_not_modified", Integer),
    Column("hub_url", Text),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id"), nullable=False),
    Column("key", Text, nullable=False),
    Column("link", Text),
    Column("canonical_link", Text),
    Column("title", Text, nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("content", Text, nullable=False, default=""),
    Column("published_at", Float),
    Column("seen_at", Float, nullable=False),
    Column("state", String(16), nullable=False, default=EntryState.NEW),  # an EntryState
    Column("enqueued_at", Float),  # when its process message was last sent (the sweeper's clock)
    Column("processing_until", Float),  # an attempt holds the entry until then; NULL: none running
    Column("article_id", Integer, ForeignKey("articles.id")),
    Column("error", Text),  # why a `failed` entry was given up (or the last attempt's error)
    Column("attempts", Integer),  # processing attempts started; NULL = 0 (worker/processing.py)
    UniqueConstraint("feed_id", "key", name="uq_entries_feed_key"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url_key", Text, nullable=False, unique=True),
    Column("url", Text),
    Column("source", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("extracted_from", String(8), nullable=False),  # page | feed
    Column("extract_note", Text),
    Column("published_at", Float),
    Column("processed_at", Float, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("watch_id", String(64), nullable=False),
    Column("watch_title", Text, nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id"), nullable=False),
    Column("score", Float, nullable=False),
    Column("snippet", Text, nullable=False),
    Column("hits_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("claim", String(16)),  # asserted | denied | speculative | unclassified; NULL: older rows
    # the stored watchlist version that matched (worker/watchlist_versions.py); NULL: notices,
    # older rows, or a process that had not seen a stored version yet
    Column("watchlist_version", Integer),
    UniqueConstraint("watch_id", "article_id", name="uq_alerts_watch_article"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    # the match record it announces (a story message's best one, or a spike); NULL for a notice
    Column("alert_id", Integer, ForeignKey("alerts.id")),
    Column("channel", String(64), nullable=False),
    Column("destination", String(32), nullable=False),  # hash of the URL: no secret stored
    Column("label", Text, nullable=False),  # secret-free description of the destination
    Column("state", String(16), nullable=False, default=DeliveryState.PENDING),  # a DeliveryState
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("enqueued_at", Float),
    Column("last_error", Text),
    Column("sent_at", Float),
    Column("created_at", Float, nullable=False),
    # the story message this delivery sends (worker/messages.py); NULL: an operator notice
    Column("message_id", Integer, ForeignKey("messages.id")),
    Column("digest_key", String(120)),  # the digest (or quiet-hours hold) it waits for; NULL: none
    Column("digest_id", Integer),  # the delivery that sends the digest this row went into
    Column("notice_id", Integer, ForeignKey("notices.id")),  # the operator notice it sends
    UniqueConstraint("alert_id", "destination", name="uq_deliveries_alert_destination"),
    # an index, not a table constraint, so that stores created before it get it too
    Index("uq_deliveries_message_destination", "message_id", "destination", unique=True),
    Index("ix_deliveries_state_due", "state", "next_attempt_at"),
    Index("uq_deliveries_notice_destination", "notice_id", "destination", unique=True),
)

# Operator notices (worker/notices.py): feed health, watchlist reloads. Not news: no article.
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),  # one notice per event, across workers
    Column("kind", String(32), nullable=False),  # a NoticeKind
    Column("source", Text, nullable=False),  # what it is about: a feed name, the watchlist file
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Story messages (worker/messages.py): what was announced about a story, once per revision.
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("revision", Integer, nullable=False),  # the story's revision after the triggering article
    Column("kind", String(16), nullable=False),  # first | followup
    Column("reason", Text, nullable=False),  # why it was sent (human-readable)
    Column("article_id", Integer, ForeignKey("articles.id"), nullable=False),  # the triggering article
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),  # its best match
    Column("items_json", Text, nullable=False),  # watches shown: id, title, score, snippet, claim, channels
    Column("outlets_json", Text, nullable=False),  # outlets of the story so far
    Column("langs_json", Text, nullable=False),  # languages of the story so far
    Column("created_at", Float, nullable=False),
    UniqueConstraint("story_id", "revision", name="uq_messages_story_revision"),
    Index("ix_messages_story_created", "story_id", "created_at"),
    Index("ix_messages_created", "created_at"),  # cooldowns read the recent messages
)


# Per-host politeness (worker/hosts.py): spacing between request starts and concurrency slots.
host_pacing = Table(
    "host_pacing",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("next_start_at", Float, nullable=False, default=0.0),
)

host_slots = Table(
    "host_slots",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("token", String(32)),
)

# Feed health episodes (worker/health.py): one operator notice per episode and one on recovery.
feed_health = Table(
    "feed_health",
    metadata,
    Column("feed_id", Integer, ForeignKey("feeds.id"), primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False, default="ok"),  # ok | failing | silent
    Column("episode", Integer, nullable=False, default=0),
    Column("changed_at", Float, nullable=False),
    Column("last_new_at", Float, nullable=False),  # last poll that stored a new entry
)

from worker import heartbeat as _heartbeat_tables  # noqa: E402,F401  (the liveness table)
from worker import watchlist_versions as _watchlist_tables  # noqa: E402,F401  (versions)
from worker.stories import schema as _story_tables  # noqa: E402,F401  (registers the story tables)


def make_engine(url: str) -> Engine:
    """Create the engine and the tables (idempotent). SQLite gets WAL and a busy timeout so that
    worker processes, beat and the CLI can share one file."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        connect_args={"timeout": _SQLITE_LOCK_WAIT_S} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    if engine.dialect.name == "postgresql":
        # workers starting together on a fresh database would race on CREATE TABLE
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            _migrate(conn)
    else:
        with engine.begin() as conn:
            _migrate(conn)
    return engine


def _migrate(conn: Connection) -> None:
    metadata.create_all(conn)
    _add_missing_columns(conn)
    _relax_delivery_alert(conn)
    _add_missing_indexes(conn)


def _relax_delivery_alert(conn: Connection) -> None:
    """Stores made before operator notices had a table require `deliveries.alert_id`: drop that
    requirement (PostgreSQL alters the column; SQLite cannot, so the table is rebuilt with every
    row kept, in this transaction)."""
    columns = {c["name"]: c for c in inspect(conn).get_columns("deliveries")}
    if columns["alert_id"]["nullable"]:
        return
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("ALTER TABLE deliveries ALTER COLUMN alert_id DROP NOT NULL")
        return
    for index in inspect(conn).get_indexes("deliveries"):
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index["name"]}"')
    conn.exec_driver_sql("ALTER TABLE deliveries RENAME TO deliveries_before_notices")
    deliveries.create(conn)
    names = ", ".join(f'"{name}"' for name in columns)
    conn.exec_driver_sql(f"INSERT INTO deliveries ({names}) SELECT {names} FROM deliveries_before_notices")
    conn.exec_driver_sql("DROP TABLE deliveries_before_notices")


def _add_missing_columns(conn: Connection) -> None:
    """Add columns that a newer release defines to tables an older one created (new columns are
    always nullable, so this is the whole migration story for additive changes)."""
    found = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')


def _add_missing_indexes(conn: Connection) -> None:
    """Create indexes (unique ones carry guarantees) that a newer release defines on tables an
    older one created: `create_all` only creates indexes together with their table."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    # pysqlite's own transaction handling would start deferred transactions that deadlock
    # between processes upgrading read locks; we issue BEGIN IMMEDIATE ourselves instead.
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # Switching a new file to WAL answers "database is locked" at once, without the busy timeout,
    # while another process (worker and beat starting together) holds a lock: retry for a while.
    deadline = time.monotonic() + _SQLITE_LOCK_WAIT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
