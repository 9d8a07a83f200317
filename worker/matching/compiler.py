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
from worker.matching.rules import Node, parse_rule, refs, subject_keys, uses_sentences
from worker.matching.schema import ConceptSpec, EntitySpec, Term, TermSpec, WatchlistSpec
from worker.matching.variants import Rejected, name_variants

STRONG, VARIANT, WEAK = 1.0, 0.8, 0.5
HIT, MASK = 0, 1


@dataclass(frozen=True)
class FormRef:
    """What a surface means for one owner: a hit form, a mask form, or one word of a slop phrase."""

    owner: int
    term: int
    kind: int
    prefixes: frozenset[str]
    weight: float = STRONG
    variant: bool = False
    exact: str | None = None
    phrase: int = -1
    part: int = -1


@dataclass(frozen=True)
class SlopPhrase:
    """A phrase whose words may be separated by up to ``slop`` extra words (a hit or a mask)."""

    owner: int
    term: int
    kind: int
    weight: float
    parts: int
    slop: int


@dataclass(frozen=True)
class CompiledWatch:
    """A watch ready to evaluate."""

    id: str
    title: str
    node: Node
    subjects: frozenset[str]
    keys: frozenset[str]
    threshold: float
    mode: str
    sentences: bool = False  # the rule has SENT: its evaluation needs the sentence starts


@dataclass
class _Builder:
    owners: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    patterns: dict[str, list[FormRef]] = field(default_factory=dict)
    phrases: list[SlopPhrase] = field(default_factory=list)
    listing: dict[str, list[str]] = field(default_factory=dict)
    rejected: dict[str, list[Rejected]] = field(default_factory=dict)

    def owner(self, key: str) -> int:
        self.owners.append(key)
        self.listing[key] = []
        return len(self.owners) - 1

    def add(self, owner: int, compiled: TermForms, kind: int, weight: float, *, exact: str | None = None,
            variant: bool = False) -> None:
        self.terms.append(compiled.label)
        term = len(self.terms) - 1
        tag = {HIT: "", MASK: "mask "}[kind] + (f"w={weight} " if weight != STRONG else "")
        if compiled.parts:
            phrase = len(self.phrases)
            self.phrases.append(SlopPhrase(owner, term, kind, weight, len(compiled.parts), compiled.slop))
            for i, forms in enumerate(compiled.parts):
                for form in forms:
                    ref = FormRef(owner, term, kind, form.prefixes, weight, variant, exact, phrase, i)
                    self._put(form, ref)
            self.listing[self.owners[owner]].append(
                tag + " ~ ".join("|".join(f.surface for f in p) for p in compiled.parts)
                + f" (~{compiled.slop})")
            return
        for form in compiled.forms:
            self._put(form, FormRef(owner, term, kind, form.prefixes, weight, variant, exact))
        label = "variant " if variant else ""
        self.listing[self.owners[owner]].append(
            f"{tag}{label}{compiled.label}: {' | '.join(f.surface for f in compiled.forms)}")

    def _put(self, form: Form, ref: FormRef) -> None:
        self.patterns.setdefault(form.surface, []).append(ref)


def _spec(term: Term) -> TermSpec:
    return term if isinstance(term, TermSpec) else TermSpec(t=term)


def _compile_term(term: Term, *, name: bool) -> tuple[TermForms, float | None, str | None]:
    spec = _spec(term)
    exact = spec.t.strip() if spec.case == "exact" else None
    if exact is not None and is_arabic(exact):
        raise ValueError(f"term {spec.t!r}: case: exact applies to Latin-script terms only")
    inflect = "none" if exact is not None else spec.inflect
    compiled = term_forms(spec.t, inflect, name=name and inflect == "auto")
    if not compiled.forms and not compiled.parts:
        raise ValueError(f"term {spec.t!r} is empty after normalisation")
    return compiled, spec.weight, exact


def _add_terms(b: _Builder, owner: int, terms: Iterable[Term], kind: int, default: float, *,
               name: bool) -> None:
    for term in terms:
        compiled, weight, exact = _compile_term(term, name=name)
        b.add(owner, compiled, kind, weight if weight is not None else default, exact=exact)


def _add_entity(b: _Builder, key: str, spec: EntitySpec) -> None:
    owner = b.owner(key)
    _add_terms(b, owner, spec.names, HIT, STRONG, name=True)
    _add_terms(b, owner, spec.adjectives, HIT, STRONG, name=False)
    _add_terms(b, owner, spec.metonyms, HIT, WEAK, name=True)
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
    _add_terms(b, owner, spec.terms, HIT, STRONG, name=False)
    _add_terms(b, owner, spec.weak, HIT, WEAK, name=False)
    _add_terms(b, owner, spec.masks, MASK, STRONG, name=False)


def drop_colliding_variants(b: _Builder) -> None:
    """A generated variant that equals another owner's real form would steal its hits: drop it."""
    for surface, form_refs in b.patterns.items():
        real = {r.owner for r in form_refs if not r.variant and r.kind == HIT}
        keep = [r for r in form_refs if not r.variant or not (real - {r.owner})]
        for r in form_refs:
            if r not in keep:
                b.rejected.setdefault(b.owners[r.owner], []).append(
                    Rejected(surface, f"collides with {', '.join(b.owners[o] for o in sorted(real))}"))
        form_refs[:] = keep


def compile_watches(spec: WatchlistSpec) -> tuple[CompiledWatch, ...]:
    """Parse every rule and fix thresholds (about: 2.0, mention: 1.0, unless min_score is set)."""
    out = []
    for watch in spec.watches:
        node = parse_rule(watch.rule)
        default = 2.0 if watch.mode == "about" else 1.0
        threshold = watch.min_score if watch.min_score is not None else default
        keys = frozenset(ref.key for ref in refs(node))
        out.append(CompiledWatch(watch.id, watch.title, node, frozenset(subject_keys(node)), keys, threshold,
                                 watch.mode, uses_sentences(node)))
    return tuple(out)

# ``refs`` flattened into plain tuples for the scanner's hot loop (tuple unpacking instead of
# attribute access): (prefixes, exact, owner, term, weight, variant, kind, phrase, part).
Record = tuple[frozenset[str], str | None, int, int, float, bool, int, int, int]


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


def form_records(refs: tuple[tuple[FormRef, ...], ...]) -> tuple[tuple[Record, ...], ...]:
    return tuple(tuple((r.prefixes, r.exact, r.owner, r.term, r.weight, r.variant, r.kind, r.phrase, r.part)
                       for r in form_refs) for form_refs in refs)


def plain_records(records: tuple[tuple[Record, ...], ...]) -> tuple[Record | None, ...]:
    """Per surface, its record when it is the only one and a plain hit form (no mask, no phrase
    word, no exact-case check), else None: the scanner's fast path."""
    return tuple(r[0] if len(r) == 1 and r[0][1] is None and r[0][6] == HIT and r[0][7] < 0 else None
                 for r in records)


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


def compile_tables(spec: WatchlistSpec) -> CompiledTables:
    """Compile the watchlist; raise ValueError naming the id of the first bad entity/concept/term."""
    b = _Builder()
    for key, entity in spec.entities.items():
        _guard(f"entity {key!r}", _add_entity, b, key, entity)
    for key, concept in spec.concepts.items():
        _guard(f"concept {key!r}", _add_concept, b, key, concept)
    watches = compile_watches(spec)
    for watch in watches:
        for ref in refs(watch.node):
            if ref.literal and ref.key not in b.owners:
                literal = ref.key[1:-1]
                _guard(f"watch {watch.id!r} literal {ref.key}", _add_literal, b, ref.key, literal)
    drop_colliding_variants(b)
    items = [(s, tuple(r)) for s, r in b.patterns.items() if r]
    form_refs = tuple(r for _, r in items)
    records = form_records(form_refs)
    return CompiledTables(
        owners=tuple(b.owners), terms=tuple(b.terms), surfaces=tuple(s for s, _ in items),
        refs=form_refs, phrases=tuple(b.phrases), watches=watches,
        listing={k: tuple(v) for k, v in b.listing.items()},
        rejected={k: tuple(v) for k, v in b.rejected.items()}, records=records,
        plain=plain_records(records))


def _add_literal(b: _Builder, key: str, literal: str) -> None:
    owner = b.owner(key)
    _add_terms(b, owner, [literal], HIT, STRONG, name=False)


def _guard(where: str, func: Callable[..., None], *args: object) -> None:
    try:
        func(*args)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
