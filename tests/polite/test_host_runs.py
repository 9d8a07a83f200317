"""Reserved runs per wave (`worker.host_runs`): a wave's reservation gives the previous wave's
slots back in its own transaction, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.polite.support import runtime
from worker.host_runs import release_runs, reserve_runs
from worker.hosts import HostLimits, ensure_rows
from worker.schema import host_pacing, host_slots

LIMITS = HostLimits(concurrency=1, spacing_s=1.0, lease_s=60.0)


def _held(engine: Engine, host: str) -> str | None:
    with engine.connect() as conn:
        token: str | None = conn.execute(select(host_slots.c.token).where(host_slots.c.host == host)).scalar()
        return token


def fallback(host: str) -> AbstractContextManager[object]:
    """The ordinary path; unused here (every host gets a run)."""
    return nullcontext()


def test_the_next_wave_gives_the_previous_waves_slots_back(tmp_path: Path, database_url: str) -> None:
    rt = runtime(tmp_path, feeds_=[], database_url=database_url)
    engine = rt.engine
    first = reserve_runs(engine, {"a.example": 1, "b.example": 2}, LIMITS, wait_s=2.0, fallback=fallback)
    assert set(first.runs) == {"a.example", "b.example"}
    assert _held(engine, "a.example") == first.token == _held(engine, "b.example")
    second = reserve_runs(
        engine, {"c.example": 1}, LIMITS, wait_s=2.0, fallback=fallback, releasing=first
    )
    assert set(second.runs) == {"c.example"}
    assert _held(engine, "a.example") is None and _held(engine, "b.example") is None
    assert _held(engine, "c.example") == second.token
    # the first wave's runs can no longer use their slots, and releasing it again does nothing
    assert not first.runs["a.example"].detach()
    release_runs(engine, first)
    assert _held(engine, "c.example") == second.token
    # every start is still accounted for: b's two requests moved its next start on by two spacings
    with engine.connect() as conn:
        starts = dict(conn.execute(select(host_pacing.c.host, host_pacing.c.next_start_at)).all())
    assert starts["b.example"] - starts["a.example"] == LIMITS.spacing_s
    release_runs(engine, second)
    assert _held(engine, "c.example") is None
    rt.close()


def test_an_empty_wave_still_gives_the_previous_slots_back(tmp_path: Path, database_url: str) -> None:
    rt = runtime(tmp_path, feeds_=[], database_url=database_url)
    ensure_rows(rt.engine, "a.example", LIMITS.concurrency)
    first = reserve_runs(rt.engine, {"a.example": 1}, LIMITS, wait_s=2.0, fallback=fallback)
    assert _held(rt.engine, "a.example") == first.token
    empty = reserve_runs(rt.engine, {}, LIMITS, wait_s=2.0, fallback=fallback, releasing=first)
    assert empty.runs == {} and _held(rt.engine, "a.example") is None
    rt.close()
