"""The watchlist as configured in YAML: entities, concepts and watches (pydantic v2, frozen).

Validation errors name the watch or entity id and what is wrong. ``WatchlistSpec`` is designed to be
subclassed (the application settings add feeds and channels), so its validators only look at the
fields declared here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.matching.rules import RuleSyntaxError, parse_rule, rule_ids

Inflection = Literal["auto", "none", "noun", "fem", "nisba", "plural"]
Language = Literal["ar", "fa", "ur", "en"]
ClaimPolicy = Literal["all", "flag", "asserted"]
_ID_RE = re.compile(r"^[a-z0-9_]+$")


class TermSpec(BaseModel):
    """One term with options. ``t`` uses the term syntax: ``=word`` freezes a word, ``~N`` at the
    end allows N extra words inside a phrase."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: str = Field(min_length=1)
    inflect: Inflection = "auto"
    pronouns: bool = True  # false: no attached-pronoun forms (مسيرة, but not مسيرته "his career")
    case: Literal["fold", "exact"] = "fold"
    weight: float | None = Field(default=None, gt=0, le=5)
    languages: list[Language] | None = Field(default=None, min_length=1)


Term = str | TermSpec


class EntitySpec(BaseModel):
    """A named thing: a person, country, organisation or place, with names in any script.

    ``names`` weigh 1.0; ``adjectives`` (nisba/demonym forms, inflected) 1.0; ``metonyms``
    (capital, seat of government) ``metonym_weight`` (default 0.5: never alerts alone; 1.0 lets a
    single ``Washington`` reach a ``mode: mention`` watch). Person names get generated spelling
    variants (weight 0.8) unless ``variants`` is false; ``not_variants`` lists generated spellings to reject.
    ``masks`` cancel a hit of this entity inside the given phrases (``US Open``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["person", "country", "org", "place", "other"] = "other"
    names: list[Term] = Field(min_length=1)
    adjectives: list[Term] = []
    metonyms: list[Term] = []
    metonym_weight: float = Field(default=0.5, gt=0, le=1)
    masks: list[Term] = []
    variants: bool | None = None
    not_variants: list[str] = []


class NearSpec(BaseModel):
    """Context concepts within ``near`` words of a hit. As ``promote``: weak terms of the concept
    count in full next to them (``مسيرة`` next to ``أسقطت`` or ``هجوم`` is a drone, not a march).
    As ``mask_near``: no hit of the concept counts next to them (``sanctions`` next to ``FIFA``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    near: int = Field(ge=1, le=50)
    concepts: list[str] = Field(min_length=1)
    # mask_near only: the mask drops hits of these of the concept's terms (as written, the ``t``
    # text); empty: of every term. ``مسيرات`` next to a protest word is a march, ``طائرات مسيرة``
    # there is still a drone.
    terms: list[str] = []


class ConceptSpec(BaseModel):
    """A topic vocabulary: strong ``terms`` (1.0), ambiguous ``weak`` terms (0.5) and ``masks``:
    phrases inside which a hit of this concept does not count (``مسيرة احتجاجية``, ``nuclear deal``).

    ``promote`` lifts weak hits to 1.0 next to a context concept; ``mask_near`` (one or a list)
    drops hits next to one (a context mask: sport, courts, space launches), optionally only those
    of some terms (``NearSpec.terms``). ``languages`` limits the concept's
    hits to text in those languages (Arabic-script hits take the article's Arabic-script language,
    ar/fa/ur; Latin-script hits count as en); a term's own ``languages`` overrides it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: list[Term] = []
    weak: list[Term] = []
    masks: list[Term] = []
    promote: NearSpec | None = None
    mask_near: NearSpec | list[NearSpec] | None = None
    languages: list[Language] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _has_terms(self) -> ConceptSpec:
        if not self.terms and not self.weak:
            raise ValueError("a concept needs at least one term or weak term")
        if self.promote is not None and self.promote.terms:
            raise ValueError("promote: terms applies to mask_near only")
        written = {term if isinstance(term, str) else term.t for term in [*self.terms, *self.weak]}
        for near in self.near_masks():
            unknown = [t for t in near.terms if t not in written]
            if unknown:
                raise ValueError(f"mask_near.terms: not a term of the concept: {', '.join(unknown)}")
        return self

    def near_masks(self) -> list[NearSpec]:
        """``mask_near`` as a list (empty when unset)."""
        if self.mask_near is None:
            return []
        return list(self.mask_near) if isinstance(self.mask_near, list) else [self.mask_near]


class ExamplesSpec(BaseModel):
    """Sentences checked by ``newswatch check``: the watch must fire on each ``should_match`` text
    and stay silent on each ``should_not_match`` text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    should_match: list[str] = []
    should_not_match: list[str] = []


class WatchSpec(BaseModel):
    """One alerting watch: a rule over entity/concept ids and ``"quoted literals"``.

    The first operand of each AND/NEAR is the watch's subject and carries the score; the other
    operands only qualify the match. ``mode: about`` (default threshold 2.0) alerts when the
    article is about the subject; ``mode: mention`` (default threshold 1.0) on any qualified mention.
    ``claims``: ``flag`` (default) fires on denied and speculative reports too, with their status on
    the match; ``asserted`` fires only on asserted ones; ``all`` fires on every one and skips the
    classification. ``languages``: fire only on articles in these languages.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    rule: str
    channels: list[str] = []
    min_score: float | None = Field(default=None, ge=0)
    mode: Literal["about", "mention"] = "about"
    claims: ClaimPolicy = "flag"
    languages: list[Language] | None = Field(default=None, min_length=1)
    examples: ExamplesSpec = ExamplesSpec()

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(f"watch id {value!r} must match [a-z0-9_]+")
        return value

    @model_validator(mode="after")
    def _rule_parses(self) -> WatchSpec:
        try:
            parse_rule(self.rule)
        except RuleSyntaxError as exc:
            raise ValueError(f"watch {self.id!r}: rule {self.rule!r}: {exc}") from None
        return self


class WatchlistSpec(BaseModel):
    """Entities, concepts and the watches over them. Ids are unique across entities and concepts;
    every id a rule names must exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entities: dict[str, EntitySpec] = {}
    concepts: dict[str, ConceptSpec] = {}
    watches: list[WatchSpec] = []

    @model_validator(mode="after")
    def _check_references(self) -> WatchlistSpec:
        errors = _id_errors(self.entities, self.concepts)
        seen: set[str] = set()
        for watch in self.watches:
            if watch.id in seen:
                errors.append(f"watch {watch.id!r}: duplicate watch id")
            seen.add(watch.id)
            missing = sorted(rule_ids(parse_rule(watch.rule)) - set(self.entities) - set(self.concepts))
            if missing:
                errors.append(f"watch {watch.id!r}: rule refers to unknown id(s) {', '.join(missing)}")
        for key, concept in self.concepts.items():
            nears = [("promote", concept.promote)] + [("mask_near", n) for n in concept.near_masks()]
            for field, near in nears:
                for other in near.concepts if near else ():
                    if other not in self.concepts:
                        errors.append(f"concept {key!r}: {field}.concepts: unknown concept {other!r}")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _id_errors(entities: dict[str, EntitySpec], concepts: dict[str, ConceptSpec]) -> list[str]:
    errors = [f"entity {key!r}: id must match [a-z0-9_]+" for key in entities if not _ID_RE.match(key)]
    errors += [f"concept {key!r}: id must match [a-z0-9_]+" for key in concepts if not _ID_RE.match(key)]
    errors += [f"{key!r} is both an entity and a concept id" for key in sorted(set(entities) & set(concepts))]
    return errors
