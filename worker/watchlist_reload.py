"""Hot reload of the watchlist from the configuration file, and `newswatch watchlist`.

Every scheduler tick `reload_watchlist` reads the configuration file. When its bytes differ from
the file last compared (`watchlist_active.file_sha256`) it is validated exactly as `newswatch
check` validates the watchlist: the whole file through `load_settings`, the compile, and every
watch's examples. A valid file whose watchlist differs from the active version is stored as a new
immutable version (or an identical older one is reused) and made active; workers switch within
`worker.watchlist_versions.CHECK_EVERY_S`. An invalid file keeps the active version, is recorded
in `watchlist_rejections` and raises ONE operator notice per file hash (an alert with watch id
`_watchlist` and one outbox row per `health.operator_channels` destination, sent by the sweeper).
While the file looked at is a rejected one, the active row names it (`rejected_sha256`, the
dashboard's banner); the next good file compared — a valid edit, or the edit reverted — clears it.
A rollback (`newswatch watchlist activate N`) stays in force until the file changes again.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from worker.config import ConfigError, Settings, load_settings
from worker.matching import Matcher, WatchlistError, compile_watchlist
from worker.matching.report import run_examples
from worker.notices import NoticeKind, raise_notice
from worker.runtime import Runtime
from worker.store import insert_ignore
from worker.watchlist_versions import (
    WATCHLIST_KEYS,
    activate,
    list_versions,
    mark_rejected,
    open_engine,
    record_file,
    reload_state,
    store_version,
    watchlist_rejections,
)

log = logging.getLogger(__name__)

_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:")  # a top-level key of a block-style file
NOTICE_KEY_PREFIX = "_watchlist:rejected:"


class ReloadOutcome(StrEnum):
    """What one look at the configuration file did."""

    UNCHANGED = "unchanged"  # same file as last compared
    SAME_WATCHLIST = "same-watchlist"  # the file changed, its watchlist did not
    ACTIVATED = "activated"  # a new (or older identical) version is now active
    REJECTED = "rejected"  # invalid: the active version stays, a notice was raised
    REJECTED_AGAIN = "rejected-again"  # invalid, and already reported for this file hash
    UNREADABLE = "unreadable"  # the file could not be read at all (missing, permissions)


@dataclass(frozen=True)
class ReloadResult:
    outcome: ReloadOutcome
    version: int | None
    error: str | None = None


class WatchlistRejected(Exception):
    """The file fails validation; the message says why (as `newswatch check` would)."""


def config_path() -> Path:
    """The configuration file of this process, as `load_settings` finds it by default (the CLI
    exports `--config` as `$NEWSWATCH_CONFIG`)."""
    return Path(os.environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml").resolve()


def validate(path: Path) -> tuple[Settings, Matcher]:
    """Load `path` and check its watchlist as `newswatch check` does: schema, compile, examples;
    return the settings and their compiled matcher."""
    try:
        settings = load_settings(path)
        matcher = compile_watchlist(settings)
    except (ConfigError, WatchlistError) as exc:
        raise WatchlistRejected(str(exc)) from None
    failures = run_examples(settings, matcher)
    if failures:
        raise WatchlistRejected(f"{len(failures)} watch example(s) fail:\n" + "\n".join(failures))
    return settings, matcher


def watchlist_yaml(text: str) -> str:
    """The watchlist sections (`entities`, `concepts`, `watches`) of a configuration file's text,
    comments kept: the rest of the file holds destination URLs, which must not reach the store.
    A file whose top level is not in block style gets its watchlist re-serialised instead."""
    wanted = set(WATCHLIST_KEYS)
    kept: list[str] = []
    keep = False
    for line in text.splitlines(keepends=True):
        top = _TOP_KEY.match(line)
        if top:
            keep = top.group(1) in wanted
        if keep:
            kept.append(line)
    sliced = "".join(kept)
    tree = yaml.safe_load(text) or {}
    expected = {k: tree[k] for k in WATCHLIST_KEYS if k in tree}
    if (yaml.safe_load(sliced) or {}) == expected:
        return sliced
    return yaml.safe_dump(expected, allow_unicode=True, sort_keys=False)


def reload_watchlist(rt: Runtime, path: Path | None = None) -> ReloadResult:
    """Compare the configuration file with the store and act on a change (see the module doc).
    Safe to run twice and from several processes: versions are keyed by hash, the active row is
    one row, a rejection is one row per file hash."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.error("watchlist reload: cannot read %s: %s", path, exc)
        return ReloadResult(ReloadOutcome.UNREADABLE, None, str(exc))
    file_sha = hashlib.sha256(raw).hexdigest()
    with rt.engine.connect() as conn:
        state = reload_state(conn)
        current = state.version
        known_bad = None if state.file_sha256 == file_sha else conn.execute(
            select(watchlist_rejections.c.error).where(watchlist_rejections.c.file_sha256 == file_sha)
        ).scalar()
    if state.file_sha256 == file_sha or known_bad is not None:  # a file judged before is in view
        in_view = file_sha if known_bad is not None else None
        if current is not None and state.rejected_sha256 != in_view:
            with rt.engine.begin() as conn:  # the banner follows the file: reverted, or bad again
                mark_rejected(conn, in_view, rt.clock())
    if state.file_sha256 == file_sha:
        return ReloadResult(ReloadOutcome.UNCHANGED, current)
    if known_bad is not None:  # reported once already: no second validation, no second notice
        return ReloadResult(ReloadOutcome.REJECTED_AGAIN, current, known_bad)
    now = rt.clock()
    try:
        settings, matcher = validate(path)
    except WatchlistRejected as exc:
        return _reject(rt, path, file_sha, str(exc), current, now)
    if _sha_of(path) != file_sha:  # edited while being validated: look again next tick
        return ReloadResult(ReloadOutcome.UNCHANGED, current)
    with rt.engine.begin() as conn:
        version = store_version(conn, settings, matcher, yaml_text=watchlist_yaml(raw.decode("utf-8")),
                                source=str(path), now=now)
        if version == current:
            record_file(conn, file_sha)
            return ReloadResult(ReloadOutcome.SAME_WATCHLIST, current)
        activate(conn, version, now, file_sha256=file_sha)
    log.warning("watchlist version %d is now active (was %s), from %s", version, current, path)
    return ReloadResult(ReloadOutcome.ACTIVATED, version)


def _sha_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _reject(rt: Runtime, path: Path, file_sha: str, error: str, current: int | None,
            now: float) -> ReloadResult:
    with rt.engine.begin() as conn:
        mark_rejected(conn, file_sha, now)  # the banner: this file is the one in view
        row = {"file_sha256": file_sha, "error": error[:4000], "created_at": now, "source": str(path)}
        if not insert_ignore(conn, watchlist_rejections, [row], returning=watchlist_rejections.c.file_sha256):
            return ReloadResult(ReloadOutcome.REJECTED_AGAIN, current, error)
        log.error("watchlist reload: %s rejected, version %s stays active: %s", path, current, error)
        title = f"watchlist change rejected; version {current} stays active"
        text = f"The configuration file {path} (sha256 {file_sha[:12]}) was not loaded:\n{error}"
        raise_notice(conn, rt.settings, f"{NOTICE_KEY_PREFIX}{file_sha}", NoticeKind.WATCHLIST,
                     str(path), title, text, now)
    return ReloadResult(ReloadOutcome.REJECTED, current, error)


# --- `newswatch watchlist versions | activate VERSION` -----------------------------------------


def add_parser(command: Any) -> None:
    """Register `newswatch watchlist` (`command(name, help)` makes a subparser)."""
    parser: argparse.ArgumentParser = command("watchlist", "stored watchlist versions: list, roll back")
    sub = parser.add_subparsers(required=True, metavar="ACTION")
    sub.add_parser("versions", help="every stored version, the active one marked").set_defaults(
        command=_cmd_versions)
    act = sub.add_parser("activate", help="make VERSION the active watchlist (roll back)")
    act.add_argument("version", type=int, metavar="VERSION")
    act.set_defaults(command=_cmd_activate)


def _cmd_versions(settings: Settings, _args: argparse.Namespace) -> int:
    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            versions = list_versions(conn)
    finally:
        engine.dispose()
    if not versions:
        print("newswatch: no watchlist version stored yet (a running scheduler stores the first)")
    for v in versions:
        s = v.summary
        print(f"{'*' if v.active else ' '} {v.id:>4}  {_when(v.created_at)}  {v.sha256[:12]}  "
              f"{len(s['watches'])} watches, {s['forms']} forms  {v.source}")
    return 0


def _cmd_activate(settings: Settings, args: argparse.Namespace) -> int:
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            activate(conn, args.version, datetime.now(UTC).timestamp())
    except LookupError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"newswatch: watchlist version {args.version} is active; workers switch within seconds")
    return 0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
