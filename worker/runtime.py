"""Per-process resources: the settings, the store engine, one HTTP client and the compiled matcher.

A `Runtime` is built once per process (after a fork, never before) and passed to the pipeline
functions; nothing here is global. `clock` is injectable so tests can move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from worker.config import FeedSpec, Settings
from worker.matching import Matcher, compile_watchlist
from worker.net import Fetcher, FetchLimits
from worker.schema import make_engine

if TYPE_CHECKING:
    from worker.stories.service import StoryClusterer


@dataclass
class Runtime:
    """Lazily created, process-local resources derived from one `Settings`."""

    settings: Settings
    clock: Callable[[], float] = field(default=time.time)
    # the stored watchlist version in force (worker/watchlist_versions.py); None: the file's own
    watchlist_version: int | None = None
    watchlist_checked_at: float = float("-inf")  # time.monotonic() of the last look at the store

    @cached_property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the state store (tables created on first use)."""
        self.settings.service.data_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(self.settings.database_url)

    @cached_property
    def fetcher(self) -> Fetcher:
        """One long-lived HTTP client for this process (keep-alive, hardened)."""
        f = self.settings.fetch
        limits = FetchLimits(
            deadline_s=f.deadline_s,
            connect_timeout_s=f.connect_timeout_s,
            read_timeout_s=f.read_timeout_s,
            max_bytes=f.feed_max_bytes,
        )
        return Fetcher(user_agent=self.settings.service.user_agent, limits=limits)

    @cached_property
    def matcher(self) -> Matcher:
        """The compiled watchlist."""
        return compile_watchlist(self.settings)

    @cached_property
    def clusterer(self) -> StoryClusterer:
        """The story clustering stage of this configuration."""
        from worker.stories.service import StoryClusterer

        return StoryClusterer.from_settings(self.settings)

    def adopt_compiled(self, other: Runtime) -> None:
        """Use `other`'s compiled matcher and clusterer (built from the same settings, before a
        fork): both are immutable once built."""
        self.__dict__["matcher"] = other.matcher
        self.__dict__["clusterer"] = other.clusterer

    def switch_watchlist(self, settings: Settings, version: int | None) -> None:
        """Use `settings` (another watchlist, same feeds) from now on: the matcher and the
        clusterer are rebuilt on next use."""
        self.settings = settings
        self.watchlist_version = version
        self.__dict__.pop("matcher", None)
        self.__dict__.pop("clusterer", None)

    @cached_property
    def _feeds_by_name(self) -> dict[str, FeedSpec]:
        return {f.name: f for f in self.settings.feeds}

    def feed_spec(self, name: str) -> FeedSpec | None:
        """The configured feed called `name`, if it is still configured."""
        return self._feeds_by_name.get(name)

    def close(self) -> None:
        """Release the HTTP client and the database pool if they were created."""
        if "fetcher" in self.__dict__:
            self.fetcher.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
