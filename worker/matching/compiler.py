"""Compile a WatchlistSpec into flat tables for the scanner: surface → form references.

Every owner (entity, concept or rule literal) contributes hit forms, mask forms and slop phrases;
all surfaces go into one Aho-Corasick automaton. Person-name variants are generated here and
rejected when they are common words or collide with another owner's forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from worker.matching.forms import Form, TermForms, is_arabic, term_forms
from worker.matching.normalize import normalize
from worker.matching.records import (
    HIT,
    MASK,
    STRONG,
    FormRef,
    Record,
    form_records,
    later_parts,
    merge_same_owner,
    multi_records,
    plain_records,
)
from worker.matching.rules import (
    Node,
    parse_rule,
    refs,
    required_keys,
    rule_ids,
    subject_keys,
    uses_sentences,
)
from worker.matching.schema import ConceptSpec, EntitySpec, NearSpec, Term, TermSpec, WatchlistSpec
from worker.matching.variants import Rejected, name_variants

VARIANT, WEAK = 0.8, 0.5


@dataclass(frozen=True)
class SlopPhrase:
    """A phrase whose words may be separated by up to ``slop`` extra words (a hit or a mask)."""

    owner: int
    term: int
    kind: int
    weight: float
    parts: int
    slop: int
    variant: bool = False


@dataclass(frozen=True)
class CompiledWatch:
    """A watch ready to evaluate."""

    id: str
    title: str
    node: Node
    subjects: tuple[str, ...]  # sorted: the score sums their hits in the same order in every process
    keys: frozenset[str]
    threshold: float
    mode: str
    sentences: bool = False  # the rule has SENT: its evaluation needs the sentence starts
    claims: str = "flag"
    languages: frozenset[str] | None = None
    required: tuple[str, ...] = ()  # keys with hits whenever the rule holds (``rules.required_keys``)


@dataclass(frozen=True)
class Promotion:
    """Weak hits of ``owner`` count in full within ``near`` words of a hit of a ``context`` owner;
    with ``mask`` set, no hit of ``owner`` (of ``terms``, when set) counts there instead."""

    owner: int
    near: int
    context: tuple[int, ...]
    mask: bool = False
    terms: frozenset[int] | None = None  # a mask limited to these term ids (None: every term)


@dataclass
class _Builder:
    owners: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    patterns: dict[str, list[FormRef]] = field(default_factory=dict)
    phrases: list[SlopPhrase] = field(default_factory=list)
    listing: dict[str, list[str]] = field(default_factory=dict)
    rejected: dict[str, list[Rejected]] = field(default_factory=dict)
    languages: list[frozenset[str] | None] = field(default_factory=list)
    arabic: list[bool] = field(default_factory=list)
    datelines: set[int] = field(default_factory=set)
    written: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (owner, t) → term ids

    def owner(self, key: str) -> int:
        self.owners.append(key)
        self.listing[key] = []
        return len(self.owners) - 1

    def add(self, owner: int, compiled: TermForms, kind: int, weight: float, *, exact: str | None = None,
            variant: bool = False, languages: list[str] | None = None) -> None:
        self.terms.append(compiled.label)
        self.languages.append(frozenset(languages) if languages else None)
        self.arabic.append(is_arabic(compiled.label))
        term = len(self.terms) - 1
        tag = {HIT: "", MASK: "mask "}[kind] + (f"w={weight} " if weight != STRONG else "")
        label = "variant " if variant else ""
        if compiled.parts:
            phrase = len(self.phrases)
            self.phrases.append(SlopPhrase(owner, term, kind, weight, len(compiled.parts), compiled.slop,
                                           variant))
            for i, forms in enumerate(compiled.parts):
                for form in forms:
                    ref = FormRef(owner, term, kind, form.prefixes, weight, variant, exact, phrase, i)
                    self._put(form, ref)
            self.listing[self.owners[owner]].append(
                f"{tag}{label}{compiled.label}: "
                + " ~ ".join("|".join(f.surface for f in p) for p in compiled.parts)
                + (f" (~{compiled.slop})" if compiled.slop else ""))
            return
        for form in compiled.forms:
            self._put(form, FormRef(owner, term, kind, form.prefixes, weight, variant, exact))
        self.listing[self.owners[owner]].append(
            f"{tag}{label}{compiled.label}: {' | '.join(f.surface for f in compiled.forms)}")

    def _put(self, form: Form, ref: FormRef) -> None:
        self.patterns.setdefault(form.surface, []).append(ref)


def _spec(term: Term) -> TermSpec:
    return term if isinstance(term, TermSpec) else TermSpec(t=term)


def _compile_term(term: Term, *, name: bool, contiguous: bool = False) -> tuple[TermForms, float | None,
                                                                               str | None]:
    spec = _spec(term)
    exact = spec.t.strip() if spec.case == "exact" else None
    if exact is not None and is_arabic(exact):
        raise ValueError(f"term {spec.t!r}: case: exact applies to Latin-script terms only")
    inflect = "none" if exact is not None else spec.inflect
    if inflect == "auto" and spec.languages and "ar" not in spec.languages and is_arabic(spec.t):
        inflect = "none"  # Arabic inflection classes are Arabic: a Persian/Urdu term is listed as written
    compiled = term_forms(spec.t, inflect, name=name and inflect == "auto", pronouns=spec.pronouns,
                          contiguous=contiguous or exact is not None)
    if not compiled.forms and not compiled.parts:
        raise ValueError(f"term {spec.t!r} is empty after normalisation")
    return compiled, spec.weight, exact


def _add_terms(b: _Builder, owner: int, terms: Iterable[Term], kind: int, default: float, *,
               name: bool, languages: list[str] | None = None, metonym: bool = False) -> None:
    for term in terms:
        # A mask without slop stays one contiguous surface (no punctuation transparency): masks
        # are many and mostly of common words, and a mask part of its own would slow every scan.
        compiled, weight, exact = _compile_term(term, name=name, contiguous=kind == MASK)
        own = _spec(term).languages
        b.add(owner, compiled, kind, weight if weight is not None else default, exact=exact,
              languages=list(own) if own else languages)
        b.written.setdefault((owner, _spec(term).t), []).append(len(b.terms) - 1)
        if metonym and not is_arabic(_spec(term).t):
            b.datelines.add(len(b.terms) - 1)


def _add_entity(b: _Builder, key: str, spec: EntitySpec) -> None:
    owner = b.owner(key)
    _add_terms(b, owner, spec.names, HIT, STRONG, name=True)
    _add_terms(b, owner, spec.adjectives, HIT, STRONG, name=False)
    _add_terms(b, owner, spec.metonyms, HIT, spec.metonym_weight, name=True, metonym=True)
    _add_terms(b, owner, spec.masks, MASK, STRONG, name=False)
    if spec.variants if spec.variants is not None else spec.kind == "person":
        _add_variants(b, owner, key, spec)


def _add_variants(b: _Builder, owner: int, key: str, spec: EntitySpec) -> None:
    refused = frozenset(normalize(v) for v in spec.not_variants)
    written = {normalize(_spec(t).t) for t in spec.names if is_arabic(_spec(t).t) and "~" not in _spec(t).t}
    for name in sorted(written):
        kept, rejected = name_variants(name, refused)
        b.rejected.setdefault(key, []).extend(rejected)
        for variant in kept:
            if variant in written:
                continue
            b.add(owner, term_forms(variant, "none", name=True), HIT, VARIANT, variant=True)


def _add_concept(b: _Builder, key: str, spec: ConceptSpec) -> None:
    owner = b.owner(key)
    languages: list[str] | None = list(spec.languages) if spec.languages else None
    _add_terms(b, owner, spec.terms, HIT, STRONG, name=False, languages=languages)
    _add_terms(b, owner, spec.weak, HIT, WEAK, name=False, languages=languages)
    _add_terms(b, owner, spec.masks, MASK, STRONG, name=False)


def drop_colliding_variants(b: _Builder, unused: _Builder | None = None) -> None:
    """A generated variant that equals another owner's real form would steal its hits: drop it
    (the other owner may be one that is not scanned, in ``unused``)."""
    for surface, form_refs in b.patterns.items():
        real = {b.owners[r.owner] for r in form_refs if not r.variant and r.kind == HIT and r.phrase < 0}
        if unused is not None:
            real |= {unused.owners[r.owner] for r in unused.patterns.get(surface, ())
                     if not r.variant and r.kind == HIT and r.phrase < 0}
        keep = [r for r in form_refs if not r.variant or r.phrase >= 0 or not (real - {b.owners[r.owner]})]
        for r in form_refs:
            if r not in keep:
                b.rejected.setdefault(b.owners[r.owner], []).append(
                    Rejected(surface, f"collides with {', '.join(sorted(real - {b.owners[r.owner]}))}"))
        form_refs[:] = keep


def compile_watches(spec: WatchlistSpec) -> tuple[CompiledWatch, ...]:
    """Parse every rule and fix thresholds (about: 2.0, mention: 1.0, unless min_score is set)."""
    out = []
    for watch in spec.watches:
        node = parse_rule(watch.rule)
        default = 2.0 if watch.mode == "about" else 1.0
        threshold = watch.min_score if watch.min_score is not None else default
        keys = frozenset(ref.key for ref in refs(node))
        subjects = tuple(sorted(subject_keys(node)))
        out.append(CompiledWatch(watch.id, watch.title, node, subjects, keys, threshold, watch.mode,
                                 uses_sentences(node), watch.claims,
                                 frozenset(watch.languages) if watch.languages else None,
                                 tuple(sorted(required_keys(node)))))
    return tuple(out)

@dataclass(frozen=True)
class CompiledTables:
    """Everything the scanner and evaluator need, as immutable tables."""

    owners: tuple[str, ...]
    terms: tuple[str, ...]
    surfaces: tuple[str, ...]
    refs: tuple[tuple[FormRef, ...], ...]
    phrases: tuple[SlopPhrase, ...]
    watches: tuple[CompiledWatch, ...]
    listing: dict[str, tuple[str, ...]]
    rejected: dict[str, tuple[Rejected, ...]]
    records: tuple[tuple[Record, ...], ...] = ()
    plain: tuple[Record | None, ...] = ()
    term_languages: tuple[frozenset[str] | None, ...] = ()  # per term: where its hits count (None: anywhere)
    term_arabic: tuple[bool, ...] = ()  # per term: written in Arabic script
    promotions: tuple[Promotion, ...] = ()
    later: tuple[tuple[int, ...] | None, ...] = ()
    dateline_terms: frozenset[int] = frozenset()  # Latin metonyms: a capitalised dateline is no hit
    multi: tuple[tuple[Record, ...] | None, ...] = ()


def owner_max_weights(tables: CompiledTables) -> list[float]:
    """The largest base weight of each owner's hit terms (0.0 for an owner without any), plus a
    trailing 0.0 so that index -1 reads as "no owner"."""
    out = [0.0] * (len(tables.owners) + 1)
    for form_refs in tables.refs:
        for ref in form_refs:
            if ref.kind == HIT and ref.phrase < 0:
                out[ref.owner] = max(out[ref.owner], ref.weight)
    for phrase in tables.phrases:
        if phrase.kind == HIT:
            out[phrase.owner] = max(out[phrase.owner], phrase.weight)
    return out


def needed_ids(spec: WatchlistSpec) -> set[str]:
    """The entity/concept ids some watch needs: those its rule names, and the context concepts
    (``promote``, ``mask_near``) of needed concepts, transitively."""
    needed: set[str] = set()
    todo = [key for watch in spec.watches for key in rule_ids(parse_rule(watch.rule))]
    while todo:
        key = todo.pop()
        if key in needed:
            continue
        needed.add(key)
        concept = spec.concepts.get(key)
        for near in [concept.promote, *concept.near_masks()] if concept else ():
            todo += near.concepts if near else []
    return needed


def compile_tables(spec: WatchlistSpec) -> CompiledTables:
    """Compile the watchlist; raise ValueError naming the id of the first bad entity/concept/term."""
    b = _Builder()
    unused = _Builder()  # validated and listed, but not scanned: no watch needs them
    needed = needed_ids(spec)
    for key, entity in spec.entities.items():
        _guard(f"entity {key!r}", _add_entity, b if key in needed else unused, key, entity)
    for key, concept in spec.concepts.items():
        _guard(f"concept {key!r}", _add_concept, b if key in needed else unused, key, concept)
    for key, lines in unused.listing.items():
        b.listing[key] = ["(not scanned: no watch refers to it)", *lines]
    b.rejected.update(unused.rejected)
    watches = compile_watches(spec)
    for watch in watches:
        for ref in refs(watch.node):
            if ref.literal and ref.key not in b.owners:
                literal = ref.key[1:-1]
                _guard(f"watch {watch.id!r} literal {ref.key}", _add_literal, b, ref.key, literal)
    drop_colliding_variants(b, unused)
    items = [(s, merge_same_owner(r, b.languages)) for s, r in b.patterns.items() if r]
    form_refs = tuple(r for _, r in items)
    records = form_records(form_refs)
    return CompiledTables(
        owners=tuple(b.owners), terms=tuple(b.terms), surfaces=tuple(s for s, _ in items),
        refs=form_refs, phrases=tuple(b.phrases), watches=watches,
        listing={k: tuple(v) for k, v in b.listing.items()},
        rejected={k: tuple(v) for k, v in b.rejected.items()}, records=records,
        plain=plain_records(records), term_languages=tuple(b.languages), term_arabic=tuple(b.arabic),
        promotions=_promotions(spec, b), later=later_parts(records), multi=multi_records(records),
        dateline_terms=frozenset(b.datelines))


def _promotions(spec: WatchlistSpec, b: _Builder) -> tuple[Promotion, ...]:
    index = {key: i for i, key in enumerate(b.owners)}
    scanned = {key: concept for key, concept in spec.concepts.items() if key in index}

    def limited(owner: int, near: NearSpec) -> frozenset[int] | None:
        if not near.terms:
            return None
        return frozenset(term for t in near.terms for term in b.written.get((owner, t), ()))

    masks = [Promotion(index[key], near.near, tuple(index[c] for c in near.concepts), mask=True,
                       terms=limited(index[key], near))
             for key, concept in scanned.items() for near in concept.near_masks()]
    lifts = [Promotion(index[key], near.near, tuple(index[c] for c in near.concepts))
             for key, concept in scanned.items() if (near := concept.promote) is not None]
    return tuple(masks + lifts)  # context masks first: a masked weak hit is not promoted


def _add_literal(b: _Builder, key: str, literal: str) -> None:
    owner = b.owner(key)
    _add_terms(b, owner, [literal], HIT, STRONG, name=False)


def _guard(where: str, func: Callable[..., None], *args: object) -> None:
    try:
        func(*args)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
