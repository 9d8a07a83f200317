"""The compiled matcher: one automaton over every surface form, rules, scores, evidence."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Mapping
from operator import attrgetter

import ahocorasick_rs

from worker.matching.casing import all_caps_around, is_dateline
from worker.matching.chrome import blank_link_lines, blank_prefix, chrome_prefix
from worker.matching.claims import ClaimReader, CueHit, cues, with_cues
from worker.matching.compiler import (
    CompiledTables,
    CompiledWatch,
    compile_tables,
    owner_max_weights,
)
from worker.matching.gates import apply_languages, apply_promotions, banned_terms
from worker.matching.language import article_language
from worker.matching.normalize import OffsetMap, build_offset_map, normalize_pair
from worker.matching.results import Claim, Hit, WatchlistError, WatchMatch
from worker.matching.rules import Position, Ref, evaluate
from worker.matching.scan import Found, scan, sentence_starts
from worker.matching.schema import WatchlistSpec
from worker.matching.scoring import assess, hits_needed, layout
from worker.matching.snippet import best_hit, make_snippet, sentence_bounds
from worker.matching.variants import Rejected

# Hit and WatchMatch records are built without the frozen dataclass ``__init__`` (one
# ``object.__setattr__`` per field, ~3x slower): a new instance gets its field dict in one call.
# The result is equal to ``Hit(...)``/``WatchMatch(...)`` with the same values (see the tests).
DFA_MAX_SURFACES = 10_000
_object_new = object.__new__
_set_fields = object.__setattr__


class _Article:
    """Per-call state: the text, its normalised form, its layout, and what all watches share: the
    offset map (built on first use) and the snippet bounds of each best hit."""

    __slots__ = ("text", "translated", "norm", "where", "owners", "cue_hits", "_map", "_bounds", "_claims",
                 "_language")

    def __init__(self, text: str, translated: str, norm: str, owners: tuple[str, ...]) -> None:
        self.text = text
        self.translated = translated
        self.norm = norm
        self.where = layout(norm)
        self.owners = owners
        self.cue_hits: list[CueHit] | None = None  # claim cues found by the scan (None: not scanned)
        self._map: OffsetMap | None = None
        self._bounds: dict[tuple[int, int], tuple[int, int]] = {}
        self._claims: ClaimReader | None = None
        self._language: str | None = None

    def language(self) -> str:
        """``article_language`` of the text, computed on first use."""
        if self._language is None:
            self._language = article_language(self.text)
        return self._language

    def claim(self, subject: list[Found]) -> Claim:
        """``ClaimReader.classify`` of the subject hits (the reader is shared by all watches)."""
        if self._claims is None:
            self._claims = ClaimReader(self.norm, self.where.title_end, self.where.lead_end, self.cue_hits)
        return self._claims.classify(f[4] for f in subject)

    def offsets(self) -> OffsetMap:
        if self._map is None:
            self._map = build_offset_map(self.text, self.translated)
        return self._map

    def exact_ok(self, start: int, end: int, exact: str) -> bool:
        """The hit is spelled exactly ``exact`` in the original, and an upper-case ``exact`` is
        not inside all-caps text (in ``LET US GO`` the case says nothing: ``all_caps_around``).
        """
        if exact not in self.text:  # one C scan, and no offset map to build
            return False
        offsets = self.offsets()
        begin, finish = offsets.start(start), offsets.end(end)
        if self.text[begin:finish] != exact:
            return False
        return not (exact.isupper() and all_caps_around(self.text, begin, finish))

    def drop_datelines(self, found: dict[int, list[Found]], terms: frozenset[int]) -> None:
        """Drop, in place, hits of ``terms`` (Latin metonyms) that are datelines (``is_dateline``):
        looked at only when the text holds the hit's spelling in capitals."""
        for owner in list(found):
            hits = found[owner]
            drop = [f for f in hits if f[1] in terms and self.norm[f[5]:f[6]].upper() in self.text
                    and is_dateline(self.text, *self.offsets().span(f[5], f[6]))]
            if drop:
                kept = [f for f in hits if f not in drop]
                if kept:
                    found[owner] = kept
                else:
                    del found[owner]

    def snippet(self, hits: list[Hit], best: Hit | None = None) -> str:
        """``make_snippet`` of ``hits``; ``best`` may pass their ``best_hit``. The sentence search
        is shared by watches whose best hit is the same."""
        if best is None:
            best = best_hit(hits)
        bounds = self._bounds.get((best.start, best.end))
        if bounds is None:
            bounds = self._bounds[(best.start, best.end)] = sentence_bounds(self.text, best.start, best.end)
        return make_snippet(self.text, hits, bounds)

    def hits(self, found: list[Found], weights: list[float] | None) -> list[Hit]:
        """The Hit record of each hit with its weight (None: all 0.0), offsets mapped back to the
        original text. Mapping a hit is cheaper than looking up a cache of mapped hits."""
        offsets = self.offsets()
        text, norm, owners = self.text, self.norm, self.owners
        out: list[Hit] = []
        append = out.append
        paired = zip(found, weights if weights is not None else [0.0] * len(found), strict=True)
        if offsets.identity:
            for f, weight in paired:
                start, end = f[4], f[6]
                hit = _object_new(Hit)
                _set_fields(hit, "__dict__", {"id": owners[f[0]], "text": text[start:end],
                                              "norm": norm[f[5]:end], "start": start, "end": end,
                                              "weight": weight, "variant": f[3]})
                append(hit)
            return out
        spans = offsets.spans([(f[4], f[6]) for f in found])
        for (f, weight), (start, end) in zip(paired, spans, strict=True):
            hit = _object_new(Hit)
            _set_fields(hit, "__dict__", {"id": owners[f[0]], "text": text[start:end],
                                          "norm": norm[f[5]:f[6]], "start": start, "end": end,
                                          "weight": weight, "variant": f[3]})
            append(hit)
        return out


class Matcher:
    """Matches articles against a compiled watchlist. Immutable after construction; thread-safe."""

    def __init__(self, tables: CompiledTables) -> None:
        self.tables = tables
        self.watch_ids: tuple[str, ...] = tuple(w.id for w in tables.watches)
        surfaces = list(tables.surfaces)
        # The claim cues ride on the same automaton (one scan instead of two) when a watch classifies.
        self._cue_at: tuple[int | None, ...] | None = None
        if any(w.claims != "all" for w in tables.watches):
            surfaces, self._cue_at = with_cues(surfaces, cues().surfaces)
        surfaces = surfaces or ["\x00"]
        # A DFA scans ~1.4x quicker; it costs more memory and compile time per pattern, so only a
        # watchlist of moderate size gets one.
        dfa = ahocorasick_rs.Implementation.DFA if len(surfaces) <= DFA_MAX_SURFACES else None
        self._automaton = ahocorasick_rs.AhoCorasick(surfaces, implementation=dfa)
        self._owner_index = {key: i for i, key in enumerate(tables.owners)}
        weights = owner_max_weights(tables)
        by_owner: dict[int, list[tuple[CompiledWatch, bool, int, int, int]]] = defaultdict(list)
        self._required: dict[str, tuple[int, ...]] = {}  # per multi-operand watch: owners it needs hits of
        for watch in tables.watches:
            # A one-operand rule holds iff its owner has hits: it is scored straight from them,
            # and only when the owner has enough hits that the score could reach the threshold
            # (how many depends on where the first one is: title, lead or body).
            owner = self._owner_index.get(watch.node.key, -1) if isinstance(watch.node, Ref) else -1
            needed = hits_needed(weights[owner], about=watch.mode == "about",
                                 threshold=watch.threshold) if owner >= 0 else (0, 0, 0)
            entry = (watch, owner >= 0, *needed)
            # A rule is looked at when a subject has hits; a subject the rule requires is enough
            # (``sanctions OR sanction_authority AND sanctions`` needs sanctions hits).
            keys = [key for key in watch.subjects if key in watch.required] or watch.subjects
            for key in keys:
                if key in self._owner_index:
                    by_owner[self._owner_index[key]].append(entry)
            if owner < 0:
                self._required[watch.id] = tuple(self._owner_index.get(key, -1) for key in watch.required)
        self._by_owner = {k: tuple(v) for k, v in by_owner.items()}
        self._banned = banned_terms(tables)
        self._gated = any(terms for terms, _ in self._banned.values())

    @property
    def forms(self) -> Mapping[str, tuple[str, ...]]:
        """Generated surface forms per entity/concept/literal id, one line per written term."""
        return self.tables.listing

    @property
    def rejected_variants(self) -> Mapping[str, tuple[Rejected, ...]]:
        """Generated name variants that were dropped, per entity id, with the reason."""
        return self.tables.rejected

    def _found(self, article: _Article) -> dict[int, list[Found]]:
        """The scan's hits after the language gates, datelines, context masks and promotions."""
        if self._cue_at is not None:
            article.cue_hits = []
        found = scan(self.tables, self._automaton, article.norm, article.exact_ok, self._cue_at,
                     article.cue_hits)
        if found and self._gated:
            apply_languages(self._banned, found, article.text)
        if found and self.tables.dateline_terms:
            article.drop_datelines(found, self.tables.dateline_terms)
        if found and self.tables.promotions:
            apply_promotions(self.tables.promotions, found)
        return found

    def match(self, text: str) -> list[WatchMatch]:
        """Return the watches that fire on ``text`` (first non-empty line = title), best score first.

        Opening page chrome (a section label, a date or URL line above the headline:
        ``chrome.chrome_prefix``) is neither title nor text, nor is a link line to another story.
        Hit offsets refer to ``text`` itself.
        """
        translated, norm = normalize_pair(text)
        chrome = chrome_prefix(norm)
        if chrome:
            norm = blank_prefix(norm, chrome)
        norm = blank_link_lines(norm)
        article = _Article(text, translated, norm, self.tables.owners)
        found = self._found(article)
        if not found:
            return []
        out = []
        rules: _Rules | None = None
        multi: dict[str, CompiledWatch] = {}
        by_owner = self._by_owner
        title_end, lead_end = article.where.title_end, article.where.lead_end
        for owner, owner_hits in found.items():
            for watch, single, in_title, in_lead, in_body in by_owner.get(owner, ()):
                if not single:
                    multi[watch.id] = watch
                    continue
                first = owner_hits[0][4]
                if len(owner_hits) >= (in_title if first < title_end else in_lead if first < lead_end
                                       else in_body):
                    result = _fire(watch, article, owner_hits, [], ordered=True)
                    if result is not None:
                        out.append(result)
        required = self._required
        for watch in multi.values():
            if not all(owner in found for owner in required[watch.id]):
                continue  # the rule cannot hold: an owner it requires has no hits
            if rules is None:
                rules = _Rules(found, self._owner_index, article.norm)
            result = _match_rule(watch, article, rules)
            if result is not None:
                out.append(result)
        # best score first, ties by watch id: two stable sorts on C-level keys
        out.sort(key=_watch_id)
        out.sort(key=_score, reverse=True)
        return out


_hit_order = attrgetter("start", "end", "id")
_watch_id = attrgetter("watch_id")
_score = attrgetter("score")


class _Rules:
    """Rule inputs, built only for the keys of multi-operand candidate rules: per key, the
    (word index, hit number) of each hit; ``flat[hit number]`` is the hit."""

    def __init__(self, found: dict[int, list[Found]], index: Mapping[str, int], norm: str) -> None:
        self.found = found
        self.index = index
        self.norm = norm
        self.flat: list[Found] = []
        self.positions: dict[str, list[Position]] = {}
        self._sentences: list[int] | None = None

    def sentences(self) -> list[int]:
        """``sentence_starts`` of the text, computed on first use (only SENT rules need them)."""
        if self._sentences is None:
            self._sentences = sentence_starts(self.norm)
        return self._sentences

    def relevant(self, keys: frozenset[str]) -> dict[str, list[Position]]:
        positions, found, index = self.positions, self.found, self.index
        out = {}
        for key in keys:
            listed = positions.get(key)
            if listed is None:
                hits = found.get(index.get(key, -1), [])
                base = len(self.flat)
                self.flat.extend(hits)
                listed = positions[key] = [(f[7], base + i) for i, f in enumerate(hits)]
            if listed:
                out[key] = listed
        return out


def _match_rule(watch: CompiledWatch, article: _Article, rules: _Rules) -> WatchMatch | None:
    relevant = rules.relevant(watch.keys)
    outcome = evaluate(watch.node, relevant, rules.sentences() if watch.sentences else ())
    if not outcome.ok:
        return None
    subject = [gid for key in watch.subjects for _, gid in relevant.get(key, ())]
    context = {gid for _, gid in outcome.support}.difference(subject)
    flat = rules.flat
    return _fire(watch, article, [flat[gid] for gid in subject], [flat[gid] for gid in context])


def _fire(watch: CompiledWatch, article: _Article, subject: list[Found], context: list[Found], *,
          ordered: bool = False) -> WatchMatch | None:
    """The watch's WatchMatch, or None when its score stays below the threshold. ``ordered``: the
    subject is one owner's scan result, whose starts strictly increase (so do the mapped ones)."""
    if not subject or (watch.languages is not None and article.language() not in watch.languages):
        return None
    assessed = assess(subject, article.where, about=watch.mode == "about", threshold=watch.threshold)
    if assessed is None or assessed[0] < watch.threshold:
        return None
    total, weights = assessed
    claim = Claim.UNCLASSIFIED if watch.claims == "all" else article.claim(subject)
    if watch.claims == "asserted" and claim is not Claim.ASSERTED:
        return None
    hits = article.hits(subject, weights)
    # The best hit is the heaviest when no other hit weighs as much (context hits weigh 0):
    # found on the weights in C, whatever the order, instead of ``best_hit``'s loop.
    top = max(weights)
    best = hits[weights.index(top)] if top > 0.0 and weights.count(top) == 1 else None
    if context:
        hits += article.hits(context, None)
    if not ordered or context:
        hits.sort(key=_hit_order)
    match = _object_new(WatchMatch)
    _set_fields(match, "__dict__", {"watch_id": watch.id, "score": total,
                                    "snippet": article.snippet(hits, best), "hits": tuple(hits),
                                    "claim": claim})
    return match


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
