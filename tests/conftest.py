"""Fixtures shared by the whole suite: one private PostgreSQL cluster per session, and a store URL
parametrised over SQLite and PostgreSQL, so that store-level tests run on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.support.services import PostgresServer
from worker.schema import metadata


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL on each backend; PostgreSQL tables are dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.url
    engine = create_engine(server.url)
    metadata.drop_all(engine)
    engine.dispose()
