"""Cross-script entity ids of an article, found by the watch matcher's own scanner.

Two compiled tables: the configured watchlist's entities (ids `e:<id>`, the same ids as the watch
rules, so a story can later say which watched entities it is about) and the built-in gazetteer
(`g:<id>`, places and bodies that bridge Arabic and English). They are scanned separately so that
a surface owned by both (a capital that the watchlist lists as a metonym) counts for each.
"""

from __future__ import annotations

from collections.abc import Mapping

import ahocorasick_rs

from worker.matching.compiler import CompiledTables, compile_tables
from worker.matching.normalize import build_offset_map, normalize_pair
from worker.matching.scan import scan
from worker.matching.schema import EntitySpec, WatchlistSpec, WatchSpec
from worker.stories.gazetteer import GAZETTEER


class _Table:
    def __init__(self, prefix: str, entities: Mapping[str, EntitySpec]) -> None:
        self.prefix = prefix
        # the compiler scans only what some watch needs: one watch naming every entity
        every = WatchSpec(id="story_entities", title="story entities", rule=" OR ".join(entities),
                          mode="mention")
        self.tables: CompiledTables = compile_tables(WatchlistSpec(entities=dict(entities), watches=[every]))
        self.automaton = ahocorasick_rs.AhoCorasick(list(self.tables.surfaces) or ["\x00"])


class EntityFinder:
    """Finds entity ids in normalised text. Immutable after construction; thread-safe."""

    def __init__(self, watchlist: Mapping[str, EntitySpec] | None = None, *, gazetteer: bool = True) -> None:
        own = dict(watchlist or {})
        built_in = {
            key: EntitySpec(kind=kind, names=list(names), variants=False)
            for key, (kind, names) in GAZETTEER.items()
            if key not in own
        } if gazetteer else {}
        self._tables = [_Table(p, e) for p, e in (("e:", own), ("g:", built_in)) if e]
        self.countries = frozenset([f"e:{k}" for k, v in own.items() if v.kind == "country"]
                                   + [f"g:{k}" for k, v in built_in.items() if v.kind == "country"])

    def find(self, text: str) -> dict[str, int]:
        """Per entity id present in `text` (prefixed `e:`/`g:`), the normalised offset of its first
        hit. Offsets are into `normalize(text)`, the string the caller tokenises."""
        return self.find_normalized(text, *normalize_pair(text))

    def find_normalized(self, text: str, translated: str, norm: str) -> dict[str, int]:
        """`find(text)` for a caller that has `normalize_pair(text)` already."""
        offsets = None

        def exact_ok(start: int, end: int, exact: str) -> bool:
            nonlocal offsets
            if offsets is None:
                offsets = build_offset_map(text, translated)
            return text[offsets.start(start):offsets.end(end)] == exact

        out: dict[str, int] = {}
        for table in self._tables:
            owners = table.tables.owners
            for owner, hits in scan(table.tables, table.automaton, norm, exact_ok).items():
                if hits:
                    key = table.prefix + owners[owner]
                    out[key] = min(out.get(key, hits[0].start), hits[0].start)
        return out
