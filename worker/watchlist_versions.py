"""Watchlist versions in the store: immutable, one active, switched by workers between tasks.

- `watchlist_versions`: one row per distinct watchlist (entities, concepts, watches), keyed by the
  SHA-256 of its canonical JSON; it keeps the validated watchlist, its compiled summary and the raw
  YAML of the file's watchlist sections (never the rest: it holds destination URLs). Rows are
  never changed.
- `watchlist_active`: a single row (`slot` 1) naming the version in force, the hash of the
  configuration file it was last compared with (`worker.watchlist_reload`), and — while the file
  last looked at is a rejected one — that file's hash and when it was looked at (the dashboard's
  banner; cleared as soon as a good file is compared). One row, so exactly one version is active
  whatever the number of workers and machines.
- `watchlist_rejections`: one row per configuration-file hash that failed validation (its error
  and file), so a bad file raises one notice however many ticks read it.

A worker calls `refresh(rt)` before each entry: at most every `CHECK_EVERY_S` one indexed SELECT;
when the active version changed, `rt` switches to that watchlist merged into its own settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table, Text, func, select, update
from sqlalchemy.engine import Connection, Engine

from worker.config import Settings
from worker.matching import Matcher
from worker.matching.schema import WatchlistSpec
from worker.schema import metadata
from worker.store import insert_ignore

if TYPE_CHECKING:
    from worker.runtime import Runtime

log = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0  # how stale a worker's idea of the active version may be
WATCHLIST_KEYS = ("entities", "concepts", "watches")
_SLOT = 1

watchlist_versions = Table(
    "watchlist_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("summary_json", Text, nullable=False),  # watch ids; entity, concept and form counts
    Column("watchlist_json", Text, nullable=False),  # the validated watchlist part (what is hashed)
    Column("yaml_text", Text, nullable=False),  # the file's watchlist sections as written
    Column("source", Text, nullable=False),  # the file it came from
    Column("created_at", Float, nullable=False),
)

watchlist_active = Table(
    "watchlist_active",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),  # always 1: a single row
    Column("version_id", Integer, ForeignKey("watchlist_versions.id"), nullable=False),
    Column("file_sha256", String(64)),  # the configuration file last compared
    Column("changed_at", Float, nullable=False),
    Column("rejected_sha256", String(64)),  # the file last looked at, while it is a rejected one
    Column("rejected_at", Float),  # when that file was (last) found rejected
)

_ONE = watchlist_active.c.slot == _SLOT

watchlist_rejections = Table(
    "watchlist_rejections",
    metadata,
    Column("file_sha256", String(64), primary_key=True),
    Column("error", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("source", Text),  # the file it was read from
)


@dataclass(frozen=True)
class Version:
    """One stored watchlist version, as `newswatch watchlist versions` lists it."""

    id: int
    sha256: str
    summary: dict[str, Any]
    source: str
    created_at: float
    active: bool


@dataclass(frozen=True)
class ReloadState:
    """The active row as the reload reads it: version in force, the good file last compared, and
    the rejected file last looked at (None once a good file was compared)."""

    version: int | None
    file_sha256: str | None
    rejected_sha256: str | None


@dataclass(frozen=True)
class Rejection:
    """The rejected configuration file the dashboard's banner names."""

    file_sha256: str
    error: str
    source: str | None
    at: float


def watchlist_json(spec: WatchlistSpec) -> str:
    """The canonical JSON of the watchlist part of `spec` (stable key order, no whitespace)."""
    tree = spec.model_dump(mode="json", include=set(WATCHLIST_KEYS))
    return json.dumps(tree, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def watchlist_hash(spec: WatchlistSpec) -> str:
    """SHA-256 of `watchlist_json(spec)`: equal watchlists, equal hashes."""
    return hashlib.sha256(watchlist_json(spec).encode()).hexdigest()


def summary(spec: WatchlistSpec, matcher: Matcher) -> dict[str, Any]:
    """The compiled summary a version keeps: watch ids and entity, concept and form counts."""
    forms = sum(len(v) for v in matcher.forms.values())
    return {"watches": [w.id for w in spec.watches], "entities": len(spec.entities),
            "concepts": len(spec.concepts), "forms": forms}


def store_version(conn: Connection, spec: WatchlistSpec, matcher: Matcher, *, yaml_text: str,
                  source: str, now: float) -> int:
    """The id of the version holding `spec`'s watchlist, inserted if new (versions are immutable:
    an existing one is returned unchanged)."""
    sha = watchlist_hash(spec)
    row = {"sha256": sha, "summary_json": json.dumps(summary(spec, matcher)),
           "watchlist_json": watchlist_json(spec), "yaml_text": yaml_text, "source": source,
           "created_at": now}
    insert_ignore(conn, watchlist_versions, [row], returning=watchlist_versions.c.id)
    found: int = conn.execute(
        select(watchlist_versions.c.id).where(watchlist_versions.c.sha256 == sha)
    ).scalar_one()
    return found


def activate(conn: Connection, version_id: int, now: float, *, file_sha256: str | None = None) -> None:
    """Make `version_id` the active version (and, when given, record the file hash compared).
    Raise LookupError for an unknown version."""
    known = conn.execute(
        select(watchlist_versions.c.id).where(watchlist_versions.c.id == version_id)).scalar()
    if known is None:
        raise LookupError(f"no watchlist version {version_id}")
    values: dict[str, Any] = {"version_id": version_id, "changed_at": now}
    if file_sha256 is not None:  # a good file was compared: no rejected file in view any more
        values.update(file_sha256=file_sha256, rejected_sha256=None, rejected_at=None)
    done = conn.execute(update(watchlist_active).where(_ONE).values(**values)).rowcount
    if not done:
        row = {"slot": _SLOT, "file_sha256": None, **values}
        if not insert_ignore(conn, watchlist_active, [row], returning=watchlist_active.c.slot):
            conn.execute(update(watchlist_active).where(_ONE).values(**values))


def record_file(conn: Connection, file_sha256: str) -> None:
    """Remember that the good configuration file with this hash was compared (no version change);
    a rejected file is no longer the one in view."""
    conn.execute(update(watchlist_active).where(_ONE).values(
        file_sha256=file_sha256, rejected_sha256=None, rejected_at=None))


def mark_rejected(conn: Connection, file_sha256: str | None, now: float) -> None:
    """Record that the file last looked at is the rejected file `file_sha256` (None: a good file
    is in view again, as when an edit is reverted to the file compared last)."""
    conn.execute(update(watchlist_active).where(_ONE).values(
        rejected_sha256=file_sha256, rejected_at=None if file_sha256 is None else now))


def reload_state(conn: Connection) -> ReloadState:
    """The active row's version, compared file and rejected file (all None before the first version)."""
    row = conn.execute(
        select(watchlist_active.c.version_id, watchlist_active.c.file_sha256,
               watchlist_active.c.rejected_sha256).where(_ONE)
    ).one_or_none()
    return ReloadState(*row) if row else ReloadState(None, None, None)


def active_state(conn: Connection) -> tuple[int | None, str | None]:
    """(active version id, hash of the file last compared); (None, None) before the first version."""
    row = conn.execute(
        select(watchlist_active.c.version_id, watchlist_active.c.file_sha256).where(_ONE)
    ).one_or_none()
    return (row.version_id, row.file_sha256) if row else (None, None)


def active_version(conn: Connection) -> int | None:
    """The id of the version in force (None before the first one was stored)."""
    return active_state(conn)[0]


def activated_at(conn: Connection) -> float | None:
    """When the version in force was made active (None before the first version)."""
    changed: float | None = conn.execute(select(watchlist_active.c.changed_at).where(_ONE)).scalar()
    return changed


def list_versions(conn: Connection) -> list[Version]:
    """Every stored version, newest first (without the stored watchlist and YAML texts)."""
    current = active_version(conn)
    t = watchlist_versions.c
    rows = conn.execute(
        select(t.id, t.sha256, t.summary_json, t.source, t.created_at).order_by(t.id.desc())).all()
    return [Version(r.id, r.sha256, json.loads(r.summary_json), r.source, r.created_at, r.id == current)
            for r in rows]


def latest_rejection(conn: Connection) -> Rejection | None:
    """The rejected file when the newest look at the configuration file found it invalid — what
    the dashboard's banner shows; None once a good file was compared (a valid edit, or the edit
    reverted). Before the first version is stored, the newest rejection, if any."""
    r = watchlist_rejections.c
    active = conn.execute(
        select(watchlist_active.c.rejected_sha256, watchlist_active.c.rejected_at).where(_ONE)
    ).one_or_none()
    query = select(r.file_sha256, r.error, r.source, r.created_at)
    if active is None:
        query = query.order_by(r.created_at.desc()).limit(1)
    elif active.rejected_sha256 is None:
        return None
    else:
        query = query.where(r.file_sha256 == active.rejected_sha256)
    row = conn.execute(query).one_or_none()
    if row is None:
        return None
    at = active.rejected_at if active is not None and active.rejected_at is not None else row.created_at
    return Rejection(row.file_sha256, row.error, row.source, at)


def rejections_count(conn: Connection) -> int:
    """How many distinct configuration files were ever rejected (rows are never deleted)."""
    n: int = conn.execute(select(func.count()).select_from(watchlist_rejections)).scalar_one()
    return n


def version_settings(conn: Connection, version_id: int, base: Settings) -> Settings:
    """`base` with the watchlist of `version_id` in place of its own (feeds, channels and the
    rest stay those of the running process)."""
    text = conn.execute(
        select(watchlist_versions.c.watchlist_json).where(watchlist_versions.c.id == version_id)
    ).scalar_one()
    spec = WatchlistSpec.model_validate(json.loads(text))
    return base.model_copy(update={k: getattr(spec, k) for k in WATCHLIST_KEYS})


def refresh(rt: Runtime) -> int | None:
    """Switch `rt` to the active version if it changed; return the
    version in force (None: no version stored yet, the process's own watchlist applies). Looks
    at the store at most every `CHECK_EVERY_S`; a version that cannot be loaded is logged and the
    current watchlist kept."""
    now = time.monotonic()
    if now - rt.watchlist_checked_at < CHECK_EVERY_S:
        return rt.watchlist_version
    rt.watchlist_checked_at = now
    with rt.engine.connect() as conn:
        wanted = active_version(conn)
        if wanted is None or wanted == rt.watchlist_version:
            return rt.watchlist_version
        try:
            sha = conn.execute(
                select(watchlist_versions.c.sha256).where(watchlist_versions.c.id == wanted)).scalar_one()
            if rt.watchlist_version is None and sha == watchlist_hash(rt.settings):
                rt.watchlist_version = wanted  # the start-up watchlist is that version: no recompile
                return wanted
            settings = version_settings(conn, wanted, rt.settings)
        except Exception:  # noqa: BLE001 - keep working with the current watchlist
            log.exception("cannot load watchlist version %s; keeping %s", wanted, rt.watchlist_version)
            return rt.watchlist_version
    rt.switch_watchlist(settings, wanted)
    log.info("watchlist version %s in force", wanted)
    return wanted


def open_engine(settings: Settings) -> Engine:
    """The store engine of `settings` (for the CLI)."""
    from worker.schema import make_engine

    settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url)
