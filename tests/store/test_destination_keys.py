"""Destinations are named in the store by a keyed hash: no unsalted digest of a secret URL."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.integration.helpers import SEEDS, write_config
from tests.support.clock import Clock
from tests.support.receivers import WebhookReceiver
from worker.config import Settings, load_settings
from worker.oneshot import run_once
from worker.outbox import KEY_FILE, _key_file, destination_key
from worker.runtime import Runtime
from worker.schema import deliveries

pytestmark = pytest.mark.timeout(120)


def _settings(tmp_path: Path, url: str, **service: object) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = write_config(
        tmp_path,
        feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml"), "interval": 60}],
        channels={"hook": [url]},
        extra={"service": {"data_dir": str(tmp_path / "data"), **service}},
    )
    return load_settings(config)


def test_the_key_lives_in_data_dir_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = "json://user:S3cret@127.0.0.1:9/hook"
    settings = _settings(tmp_path, url)
    first = destination_key(settings, url)
    key = (tmp_path / "data" / KEY_FILE).read_bytes()
    assert len(key) == 64 and stat.S_IMODE((tmp_path / "data" / KEY_FILE).stat().st_mode) == 0o600
    assert first == hmac.new(key, url.encode(), hashlib.sha256).hexdigest()[:32]
    assert first != hashlib.sha256(url.encode()).hexdigest()[: len(first)]
    other = _settings(tmp_path / "elsewhere", url)
    assert destination_key(other, url) != first, "two data_dirs share a key by accident"
    shared = _settings(tmp_path / "third", url, destination_key="a shared key from the environment")
    expected = hmac.new(b"a shared key from the environment", url.encode(), hashlib.sha256)
    assert destination_key(shared, url) == expected.hexdigest()[:32]


def _read_key(path: str) -> bytes:
    return _key_file(Path(path))


def test_processes_creating_the_key_together_agree(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / KEY_FILE
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        keys = pool.map(_read_key, [str(path)] * 8)
    assert len(set(keys)) == 1 and keys[0] == path.read_bytes()


@pytest.mark.delivers
def test_deliveries_store_the_keyed_hash_and_rows_of_older_releases_still_deliver(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        url = hook.apprise_url()
        rt = Runtime(_settings(tmp_path, url), clock=Clock())
        hook.fail_next(10_000, status=503)
        run_once(rt)
        with rt.engine.begin() as conn:
            stored = set(conn.execute(select(deliveries.c.destination)).scalars())
            assert stored == {destination_key(rt.settings, url)}
            legacy = hashlib.sha256(url.encode()).hexdigest()[:24]
            conn.execute(update(deliveries).values(destination=legacy, next_attempt_at=0))
        hook.recover()
        report = run_once(rt)
        assert report.alerts_sent == len(stored_rows(rt)) > 0 and report.deliveries_failed == 0
        rt.close()


def stored_rows(rt: Runtime) -> list[str]:
    with rt.engine.connect() as conn:
        return list(conn.execute(select(deliveries.c.state)).scalars())
