"""The watchlist version store and the reload logic, in process on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from tests.integration.helpers import write_config
from tests.watchlist.support import NEW_WATCH, NEW_WATCH_TEXT, edit_config
from worker.config import load_settings
from worker.notices import NoticeKind
from worker.runtime import Runtime
from worker.schema import alerts, deliveries, notices
from worker.watchlist_reload import ReloadOutcome, reload_watchlist, watchlist_yaml
from worker.watchlist_versions import (
    activate,
    active_version,
    latest_rejection,
    list_versions,
    refresh,
    store_version,
    watchlist_active,
    watchlist_hash,
    watchlist_versions,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Runtime]]:
    config = write_config(
        tmp_path, feeds=[], channels={"ops": ["json://127.0.0.1:9/ops"]},
        extra={"health": {"operator_channels": ["ops"]}},
    )
    rt = Runtime(load_settings(config))
    yield config, rt
    rt.close()


def _fresh(rt: Runtime) -> int | None:
    rt.watchlist_checked_at = float("-inf")  # skip the 2-second cache
    return refresh(rt)


def _notices(rt: Runtime) -> tuple[int, int]:
    """(watchlist notices, their deliveries); a notice is no alert (news stays news)."""
    with rt.engine.connect() as conn:
        n_notices = conn.execute(
            select(func.count()).where(notices.c.kind == NoticeKind.WATCHLIST)).scalar_one()
        n_rows = conn.execute(
            select(func.count()).select_from(deliveries.join(notices, notices.c.id == deliveries.c.notice_id))
            .where(deliveries.c.alert_id.is_(None))).scalar_one()
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 0
    return n_notices, n_rows


def test_versions_are_immutable_and_keyed_by_hash(world: tuple[Path, Runtime]) -> None:
    _, rt = world
    with rt.engine.begin() as conn:
        first = store_version(conn, rt.settings, rt.matcher, yaml_text="a", source="x", now=1.0)
        again = store_version(conn, rt.settings, rt.matcher, yaml_text="b", source="y", now=2.0)
        assert first == again
        [version] = list_versions(conn)
        assert (version.sha256, version.source, version.created_at) == (watchlist_hash(rt.settings), "x", 1.0)
        assert version.summary["watches"] == [w.id for w in rt.settings.watches]
        assert version.summary["forms"] > 0 and not version.active
        with pytest.raises(LookupError):
            activate(conn, first + 1, 3.0)
        activate(conn, first, 3.0)
        activate(conn, first, 4.0)
        assert conn.execute(select(func.count()).select_from(watchlist_active)).scalar_one() == 1
        assert active_version(conn) == first and list_versions(conn)[0].active


def test_valid_edit_becomes_active_and_workers_switch(world: tuple[Path, Runtime]) -> None:
    config, rt = world
    worker = Runtime(rt.settings)  # another process, started on the original file
    first = reload_watchlist(rt, config)
    assert first.outcome is ReloadOutcome.ACTIVATED
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.UNCHANGED
    assert _fresh(worker) == first.version  # same watchlist as its own: adopted without recompiling
    assert NEW_WATCH not in {m.watch_id for m in worker.matcher.match(NEW_WATCH_TEXT)}

    edit_config(config, "add")
    second = reload_watchlist(rt, config)
    assert second.outcome is ReloadOutcome.ACTIVATED and second.version != first.version
    assert refresh(worker) == first.version  # cached for ~2 s: no store look yet
    assert _fresh(worker) == second.version
    assert NEW_WATCH in {m.watch_id for m in worker.matcher.match(NEW_WATCH_TEXT)}
    assert NEW_WATCH in {w.id for w in worker.settings.watches}
    assert worker.settings.feeds == rt.settings.feeds  # only the watchlist is merged in

    # rollback: the older version is in force again and stays so while the file is unchanged
    with rt.engine.begin() as conn:
        activate(conn, first.version or 0, rt.clock())
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.UNCHANGED
    assert _fresh(worker) == first.version
    assert NEW_WATCH not in {m.watch_id for m in worker.matcher.match(NEW_WATCH_TEXT)}


@pytest.mark.parametrize("change", ["broken", "unparsable"])
def test_bad_edit_keeps_the_version_and_raises_one_notice(world: tuple[Path, Runtime], change: str) -> None:
    config, rt = world
    good = reload_watchlist(rt, config)
    edit_config(config, change)
    bad = reload_watchlist(rt, config)
    assert bad.outcome is ReloadOutcome.REJECTED and bad.version == good.version
    assert bad.error and ("example" in bad.error if change == "broken" else "YAML" in bad.error)
    for _ in range(3):
        assert reload_watchlist(rt, config).outcome is ReloadOutcome.REJECTED_AGAIN
    with rt.engine.connect() as conn:
        assert active_version(conn) == good.version
        assert latest_rejection(conn) is not None  # the dashboard's banner
    assert _notices(rt) == (1, 1)  # one notice, one delivery to the one operator destination


def test_a_fixed_file_clears_the_banner(world: tuple[Path, Runtime]) -> None:
    config, rt = world
    reload_watchlist(rt, config)
    edit_config(config, "broken")
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.REJECTED
    edit_config(config, "add")
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.ACTIVATED
    with rt.engine.connect() as conn:
        assert latest_rejection(conn) is None  # a newer good version clears the banner
    assert _notices(rt) == (1, 1)


def test_reverting_a_bad_edit_clears_the_banner_and_breaking_it_again_restores_it(
        world: tuple[Path, Runtime]) -> None:
    config, rt = world
    good_text = config.read_text(encoding="utf-8")
    good = reload_watchlist(rt, config)
    edit_config(config, "broken")
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.REJECTED
    config.write_text(good_text, encoding="utf-8")  # the analyst undoes the edit
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.UNCHANGED
    with rt.engine.connect() as conn:
        assert latest_rejection(conn) is None  # the file in view is the good one again
        assert active_version(conn) == good.version
    edit_config(config, "broken")
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.REJECTED_AGAIN
    with rt.engine.connect() as conn:
        banner = latest_rejection(conn)
    assert banner is not None and banner.source == str(config) and "example" in banner.error
    assert _notices(rt) == (1, 1)  # the same bad file never notifies twice


def test_file_change_outside_the_watchlist_keeps_the_version(world: tuple[Path, Runtime]) -> None:
    config, rt = world
    first = reload_watchlist(rt, config)
    config.write_text(config.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    again = reload_watchlist(rt, config)
    assert again.outcome is ReloadOutcome.SAME_WATCHLIST and again.version == first.version
    assert reload_watchlist(rt, config).outcome is ReloadOutcome.UNCHANGED


def test_stored_yaml_is_the_watchlist_sections_without_secrets(world: tuple[Path, Runtime]) -> None:
    config, rt = world
    text = config.read_text(encoding="utf-8")
    config.write_text("# analysts edit below\n" + text.replace("watches:", "# the watches\nwatches:", 1),
                      encoding="utf-8")
    reload_watchlist(rt, config)
    with rt.engine.connect() as conn:
        [stored] = conn.execute(select(watchlist_versions.c.yaml_text)).scalars().all()
    assert "127.0.0.1:9" not in stored and "channels" not in stored  # destination URLs stay out
    assert "# the watches" in stored  # the analysts' comments are kept
    tree = yaml.safe_load(stored)
    assert set(tree) == {"entities", "concepts", "watches"}
    assert [w["id"] for w in tree["watches"]] == [w.id for w in rt.settings.watches]
    assert watchlist_yaml("{watches: [], channels: {a: [json://secret@h/x]}}") == "watches: []\n"
