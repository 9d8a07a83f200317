"""The `stories:` section of the configuration: every threshold of the clustering stage.

Defaults are tuned for precision (a wrong merge hides a new event; a wrong split costs one extra
message). Validation errors name the key (`stories.join_score: ...`) through the settings loader.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StoriesSpec(BaseModel):
    """Thresholds and windows of story assignment (see README "Stories")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_h: float = Field(default=72.0, gt=0, le=24 * 30)  # a story takes articles this long
    df_window_days: int = Field(default=14, ge=1, le=365)  # rarity (IDF) is counted over this many days
    idf_prior_docs: float = Field(default=30.0, ge=1)  # pseudo-documents that make a fresh store cautious
    search_keys: int = Field(default=16, ge=1, le=200)  # rarest known terms an article is searched by
    index_keys: int = Field(default=64, ge=1, le=200)  # most prominent rare terms it is indexed under
    postings_per_key: int = Field(default=20, ge=1, le=10_000)  # newest articles read per search key
    lead_words: int = Field(default=80, ge=10, le=1000)  # words after the title that count as the lead
    near_duplicate: float = Field(default=0.5, gt=0, le=1)  # estimated shingle Jaccard: a syndicated copy
    join_score: float = Field(default=0.30, gt=0, le=1)  # cosine over all terms, same language
    join_score_cross: float = Field(default=0.40, gt=0, le=1)  # cosine over entities/numbers/dates (AR↔EN)
    min_shared: int = Field(default=2, ge=1)  # rare items (entities, numbers, words) both must share
    min_shared_facts: int = Field(default=1, ge=0)  # of which rare entities, numbers or dates
    min_shared_passage: int = Field(default=4, ge=1)  # shingle anchors two outlets' texts share
    country_prior_share: float = Field(default=0.1, ge=0, le=1)  # countries start this common
    min_shared_cross: int = Field(default=3, ge=1)  # rare entities/numbers shared across languages
    date_conflict_factor: float = Field(default=1.5, ge=1, le=10)  # both name dates, none shared
    rare_idf: float = Field(default=1.5, ge=0)  # an item counts as rare (evidence) above this IDF
    max_candidates: int = Field(default=20, ge=1, le=1000)  # member articles scored per assignment

    @model_validator(mode="after")
    def _cross_not_looser(self) -> StoriesSpec:
        if self.min_shared_cross < 1 or self.join_score_cross < self.join_score / 2:
            raise ValueError("join_score_cross must be at least half of join_score")
        return self
