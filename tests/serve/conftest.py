"""One seeded store per module: the seed site and a hostile feed through `newswatch run --once`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import SEEDS
from tests.serve.support import run_once, seeded_config
from tests.support.site_server import SiteServer


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The configuration of a store that a real pass over the seeds has filled."""
    workdir = tmp_path_factory.mktemp("serve")
    with SiteServer(SEEDS / "site") as site:
        config = seeded_config(workdir, site)
        run_once(config)
        yield config
