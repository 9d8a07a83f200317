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
_ID_RE = re.compile(r"^[a-z0-9_]+$")


class TermSpec(BaseModel):
    """One term with options. ``t`` uses the term syntax: ``=word`` freezes a word, ``~N`` at the
    end allows N extra words inside a phrase."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: str = Field(min_length=1)
    inflect: Inflection = "auto"
    case: Literal["fold", "exact"] = "fold"
    weight: float | None = Field(default=None, gt=0, le=5)


Term = str | TermSpec


class EntitySpec(BaseModel):
    """A named thing: a person, country, organisation or place, with names in any script.

    ``names`` weigh 1.0; ``adjectives`` (nisba/demonym forms, inflected) 1.0; ``metonyms``
    (capital, seat of government) 0.5. Person names get generated spelling variants (weight 0.8)
    unless ``variants`` is false; ``not_variants`` lists generated spellings to reject.
    ``masks`` cancel a hit of this entity inside the given phrases (``US Open``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["person", "country", "org", "place", "other"] = "other"
    names: list[Term] = Field(min_length=1)
    adjectives: list[Term] = []
    metonyms: list[Term] = []
    masks: list[Term] = []
    variants: bool | None = None
    not_variants: list[str] = []


class ConceptSpec(BaseModel):
    """A topic vocabulary: strong ``terms`` (1.0), ambiguous ``weak`` terms (0.5) and ``masks``:
    phrases inside which a hit of this concept does not count (``مسيرة احتجاجية``, ``nuclear deal``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: list[Term] = []
    weak: list[Term] = []
    masks: list[Term] = []

    @model_validator(mode="after")
    def _has_terms(self) -> ConceptSpec:
        if not self.terms and not self.weak:
            raise ValueError("a concept needs at least one term or weak term")
        return self


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
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    rule: str
    channels: list[str] = []
    min_score: float | None = Field(default=None, ge=0)
    mode: Literal["about", "mention"] = "about"
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
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _id_errors(entities: dict[str, EntitySpec], concepts: dict[str, ConceptSpec]) -> list[str]:
    errors = [f"entity {key!r}: id must match [a-z0-9_]+" for key in entities if not _ID_RE.match(key)]
    errors += [f"concept {key!r}: id must match [a-z0-9_]+" for key in concepts if not _ID_RE.match(key)]
    errors += [f"{key!r} is both an entity and a concept id" for key in sorted(set(entities) & set(concepts))]
    return errors
