"""The compiled matcher: one automaton over every surface form, rules, scores, evidence."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Mapping

import ahocorasick_rs

from worker.matching.compiler import CompiledTables, CompiledWatch, compile_tables
from worker.matching.normalize import OffsetMap, build_offset_map, normalize_pair
from worker.matching.results import Hit, WatchlistError, WatchMatch
from worker.matching.rules import Position, Ref, evaluate
from worker.matching.scan import Found, scan
from worker.matching.schema import WatchlistSpec
from worker.matching.scoring import assess, layout
from worker.matching.snippet import best_hit, make_snippet, sentence_bounds
from worker.matching.variants import Rejected

# Hit records are built without the frozen dataclass ``__init__`` (one ``object.__setattr__`` per
# field, ~3x slower); the result is equal to ``Hit(...)`` with the same values (see the tests).
_object_new = object.__new__


class _Article:
    """Per-call state: the text, its normalised form, its hits, and caches shared by all watches
    (offset map, mapped spans, Hit records and snippet bounds are computed at most once)."""

    __slots__ = ("text", "translated", "norm", "where", "owners", "_map", "_spans", "_hits", "_bounds")

    def __init__(self, text: str, translated: str, norm: str, owners: tuple[str, ...]) -> None:
        self.text = text
        self.translated = translated
        self.norm = norm
        self.where = layout(norm)
        self.owners = owners
        self._map: OffsetMap | None = None
        self._spans: dict[int, tuple[int, int]] = {}  # id(Found) -> original (start, end)
        self._hits: dict[tuple[int, float], Hit] = {}  # (id(Found), weight) -> Hit
        self._bounds: dict[tuple[int, int], tuple[int, int]] = {}

    def offsets(self) -> OffsetMap:
        if self._map is None:
            self._map = build_offset_map(self.text, self.translated)
        return self._map

    def exact_ok(self, start: int, end: int, exact: str) -> bool:
        offsets = self.offsets()
        return self.text[offsets.start(start):offsets.end(end)] == exact

    def snippet(self, hits: list[Hit]) -> str:
        """``make_snippet`` of ``hits``; the sentence search is shared by watches whose best hit is
        the same."""
        best = best_hit(hits)
        bounds = self._bounds.get((best.start, best.end))
        if bounds is None:
            bounds = self._bounds[(best.start, best.end)] = sentence_bounds(self.text, best.start, best.end)
        return make_snippet(self.text, hits, bounds)

    def hits(self, found: list[Found], weights: list[float]) -> list[Hit]:
        """The Hit record of each hit with its weight, offsets mapped back to the original text.

        Keyed by ``id``: every Found of the article stays alive (in the scan result) meanwhile."""
        spans = self._spans
        missing = [f for f in found if id(f) not in spans]
        if missing:
            mapped = self.offsets().spans([(f.start, f.end) for f in missing])
            for f, span in zip(missing, mapped, strict=True):
                spans[id(f)] = span
        cache = self._hits
        text, norm, owners = self.text, self.norm, self.owners
        out = []
        for f, weight in zip(found, weights, strict=True):
            hit = cache.get((id(f), weight))
            if hit is None:
                start, end = spans[id(f)]
                hit = _object_new(Hit)
                vars(hit).update(id=owners[f.owner], text=text[start:end], norm=norm[f.form_start:f.end],
                                 start=start, end=end, weight=weight, variant=f.variant)
                cache[(id(f), weight)] = hit
            out.append(hit)
        return out


class Matcher:
    """Matches articles against a compiled watchlist. Immutable after construction; thread-safe."""

    def __init__(self, tables: CompiledTables) -> None:
        self.tables = tables
        self.watch_ids: tuple[str, ...] = tuple(w.id for w in tables.watches)
        self._automaton = ahocorasick_rs.AhoCorasick(list(tables.surfaces) or ["\x00"])
        self._owner_index = {key: i for i, key in enumerate(tables.owners)}
        by_owner: dict[int, list[tuple[CompiledWatch, int]]] = defaultdict(list)
        for watch in tables.watches:
            # A one-operand rule holds iff its owner has hits: the second item names that owner.
            single = self._owner_index.get(watch.node.key, -1) if isinstance(watch.node, Ref) else -1
            for key in watch.subjects:
                if key in self._owner_index:
                    by_owner[self._owner_index[key]].append((watch, single))
        self._by_owner = {k: tuple(v) for k, v in by_owner.items()}

    @property
    def forms(self) -> Mapping[str, tuple[str, ...]]:
        """Generated surface forms per entity/concept/literal id, one line per written term."""
        return self.tables.listing

    @property
    def rejected_variants(self) -> Mapping[str, tuple[Rejected, ...]]:
        """Generated name variants that were dropped, per entity id, with the reason."""
        return self.tables.rejected

    def match(self, text: str) -> list[WatchMatch]:
        """Return the watches that fire on ``text`` (first non-empty line = title), best score first.

        Hit offsets refer to ``text`` itself.
        """
        article = _Article(text, *normalize_pair(text), self.tables.owners)
        found = scan(self.tables, self._automaton, article.norm, article.exact_ok)
        if not found:
            return []
        by_owner = self._by_owner
        candidates = {w.id: (w, single) for owner in found for w, single in by_owner.get(owner, ())}
        out = []
        rules: _Rules | None = None
        for watch, single in candidates.values():
            if single >= 0:
                result = _fire(watch, article, found[single], [])
            else:
                if rules is None:
                    rules = _Rules(found, self._owner_index)
                result = _match_rule(watch, article, rules)
            if result is not None:
                out.append(result)
        out.sort(key=lambda m: (-m.score, m.watch_id))
        return out


class _Rules:
    """Rule inputs, built only for the keys of multi-operand candidate rules: per key, the
    (word index, hit number) of each hit; ``flat[hit number]`` is the hit."""

    def __init__(self, found: dict[int, list[Found]], index: Mapping[str, int]) -> None:
        self.found = found
        self.index = index
        self.flat: list[Found] = []
        self.positions: dict[str, list[Position]] = {}

    def relevant(self, keys: frozenset[str]) -> dict[str, list[Position]]:
        positions, found, index = self.positions, self.found, self.index
        out = {}
        for key in keys:
            listed = positions.get(key)
            if listed is None:
                hits = found.get(index.get(key, -1), [])
                base = len(self.flat)
                self.flat.extend(hits)
                listed = positions[key] = [(f.word, base + i) for i, f in enumerate(hits)]
            if listed:
                out[key] = listed
        return out


def _match_rule(watch: CompiledWatch, article: _Article, rules: _Rules) -> WatchMatch | None:
    relevant = rules.relevant(watch.keys)
    outcome = evaluate(watch.node, relevant)
    if not outcome.ok:
        return None
    subject = [gid for key in watch.subjects for _, gid in relevant.get(key, ())]
    context = {gid for _, gid in outcome.support}.difference(subject)
    flat = rules.flat
    return _fire(watch, article, [flat[gid] for gid in subject], [flat[gid] for gid in context])


def _fire(watch: CompiledWatch, article: _Article, subject: list[Found],
          context: list[Found]) -> WatchMatch | None:
    if not subject:
        return None
    assessed = assess(subject, article.where, about=watch.mode == "about", threshold=watch.threshold)
    if assessed is None or assessed[0] < watch.threshold:
        return None
    total, weights = assessed
    hits = article.hits(subject, weights)
    if context:
        hits += article.hits(context, [0.0] * len(context))
    hits.sort(key=_hit_order)
    return WatchMatch(watch.id, total, article.snippet(hits), tuple(hits))


def _hit_order(hit: Hit) -> tuple[int, int, str]:
    return hit.start, hit.end, hit.id


def compile_watchlist(spec: WatchlistSpec) -> Matcher:
    """Compile ``spec`` into a Matcher; raise WatchlistError naming the id on any problem."""
    # Compiling allocates ~10^5 long-lived objects and frees almost none: the cyclic collector's
    # passes over them are pure overhead (~30 % of a 5,000-term compile), so it is paused meanwhile.
    paused = gc.isenabled()
    gc.disable()
    try:
        return Matcher(compile_tables(spec))
    except ValueError as exc:
        raise WatchlistError(str(exc)) from None
    finally:
        if paused:
            gc.enable()
