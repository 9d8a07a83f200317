"""Two worker processes assign two copies of the same wire story at the same moment: one story.

Real processes (spawned, each with its own engine and clusterer, as Celery prefork children), on
SQLite and on PostgreSQL; a barrier releases both assignments together, several rounds."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier

import pytest
from sqlalchemy import func, select

from tests.stories.conftest import T0, article
from tests.stories.texts import ENTITIES
from worker.schema import make_engine
from worker.stories.schema import stories, story_members
from worker.stories.service import StoryClusterer
from worker.stories.settings import StoriesSpec

pytestmark = pytest.mark.timeout(180)
ROUNDS = 4


PORTS = [("Anzali", "turbine parts", "Astrakhan"), ("Bandar Abbas", "grain", "Makhachkala"),
         ("Amirabad", "rail sleepers", "Olya"), ("Nowshahr", "fertiliser", "Volgograd")]


def wire_story(n: int, outlet: str) -> tuple[str, str]:
    """Round n's wire story as one outlet frames it (same body, different headline and footer)."""
    port, cargo, origin = PORTS[n]
    body = (f"The port authority of {port} said cargo ship number {1000 + 37 * n} carrying {50 + 11 * n} "
            f"containers of {cargo} docked after a {n + 3} day voyage from {origin}, the first such delivery "
            f"under the new transit protocol. Inspectors logged {700 + 13 * n} tonnes of {cargo} and the "
            f"customs office in {port} cleared the shipment from {origin} within hours, officials added.")
    return (f"{outlet}: cargo ship docks in {port}", f"{outlet.upper()} - {body} Follow {outlet} for more.")


def _worker(url: str, outlet: str, barrier: Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    clusterer = StoryClusterer(StoriesSpec(), ENTITIES)
    engine = make_engine(url)
    for n in range(ROUNDS):
        item = article(f"{outlet}-{n}", wire_story(n, outlet), source=f"{outlet}.example", lang="en",
                       at=T0 + n * 600)
        features = clusterer.features(item)
        barrier.wait(timeout=60)
        with engine.begin() as conn:
            decision = clusterer.assign(conn, item, T0 + n * 600, features)
        out.put((n, outlet, decision.story_id, decision.new))
    engine.dispose()


def test_two_processes_one_wire_story_one_story(database_url: str) -> None:
    make_engine(database_url).dispose()  # tables exist before the race
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(database_url, name, barrier, out))
             for name in ("wire", "copy")]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(2 * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for n in range(ROUNDS):
        pair = [r for r in results if r[0] == n]
        assert len({story for _, _, story, _ in pair}) == 1, pair
        assert sorted(new for _, _, _, new in pair) == [False, True], pair
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stories)).scalar_one() == ROUNDS
        assert conn.execute(select(func.count()).select_from(story_members)).scalar_one() == 2 * ROUNDS
    engine.dispose()
