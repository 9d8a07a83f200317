"""Pure parts of the clustering stage: text evidence, fingerprints, rarity and pair scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stories.conftest import article
from tests.stories.texts import A_AR, A_EN1, A_WIRE, ENTITIES
from worker.config import ConfigError, load_settings
from worker.matching.normalize import normalize
from worker.stories.entities import EntityFinder
from worker.stories.features import FeatureExtractor
from worker.stories.scoring import Member, Reason, Vector, idf, score_pair, weigh
from worker.stories.settings import StoriesSpec
from worker.stories.text import date_keys, number_key, resemblance, signature, strip_prefix, tokens

SPEC = StoriesSpec()


def test_numbers_are_normalised_and_years_dropped() -> None:
    assert [number_key(t) for t in tokens(normalize("1,700 and ١٬٧٠٠ killed; 7.8 or ٧٫٨; 2023; 5; 007"))
            if number_key(t)] == ["1700", "1700", "7.8", "7.8", "7"]


def test_dates_bridge_scripts_and_calendars() -> None:
    for text in ("on April 13, 2023", "13 April", "في 13 أبريل", "يوم ١٣ نيسان", "13 إبريل"):
        assert date_keys(tokens(normalize(text))) == ["4-13"], text
    assert date_keys(tokens(normalize("13 تشرين الأول"))) == ["10-13"]
    assert date_keys(tokens(normalize("we may 5 times"))) == ["5-5"]  # a known, rare ambiguity
    assert date_keys(tokens(normalize("April showers, 40 of them"))) == []


def test_arabic_prefix_stripping_keeps_names() -> None:
    assert strip_prefix(normalize("والمسيرات")) == "مسيرات"
    assert strip_prefix(normalize("بوتين")) == "بوتين" and strip_prefix(normalize("وزير")) == "وزير"


def test_fingerprint_finds_copies_not_rewrites() -> None:
    def sig(text: str) -> tuple[int, ...]:
        return signature(tokens(normalize(text)))

    original = sig(A_EN1[1])
    assert resemblance(original, sig(A_WIRE[1])) >= 0.6
    assert resemblance(original, sig(A_EN1[1].replace("Shoigu", "Shoygu", 1))) >= 0.8
    assert resemblance(original, sig(A_AR[1])) == 0.0


def test_spelling_variants_give_the_same_evidence() -> None:
    extractor = FeatureExtractor(SPEC, EntityFinder(ENTITIES))
    plain = extractor.features(article("p", A_AR, source="s", lang="ar", at=0.0))
    varied = (A_AR[0].replace("إلى", "الى"), A_AR[1].replace("الأركان", "الاركان").replace("24", "٢٤"))
    other = extractor.features(article("v", varied, source="s", lang="ar", at=0.0))
    assert plain.terms == other.terms
    assert {"e:shoigu", "e:iran", "e:russia", "n:24", "n:35", "n:1.5", "d:3-12"} <= set(plain.terms)


def test_common_terms_weigh_nothing_and_are_not_evidence() -> None:
    assert idf(0, 1000, 30) > idf(10, 1000, 30) > SPEC.rare_idf > idf(900, 1000, 30)
    idfs = {"e:iran": idf(900, 1000, 30), "e:russia": idf(950, 1000, 30), "n:24": idf(2, 1000, 30)}
    terms = {"e:iran": 1.0, "e:russia": 1.0, "n:24": 1.0}
    new = Vector.build("ar", weigh(terms, idfs), frozenset(), ())
    other = Member(1, "m", Vector.build("en", weigh(terms, idfs), frozenset(), ()))
    scored = score_pair(new, other, idfs, SPEC)
    assert scored.score > 0.9  # the vectors agree ...
    assert [t for t, _ in scored.shared] == ["n:24"]  # ... but only the rare number is evidence
    assert not scored.joins and scored.reason is Reason.BELOW_THRESHOLD


def test_template_with_other_figures_is_not_a_copy() -> None:
    extractor = FeatureExtractor(SPEC, EntityFinder(ENTITIES))
    text = ("The defence ministry said in its daily statement that air defence units shot down {n} drones "
            "overnight over the border region and that electronic warfare crews jammed {m} more, adding "
            "that there were no casualties and no damage to civilian infrastructure, according to the "
            "statement published on the ministry channel in the morning as it is every day.")
    one = extractor.features(article("1", ("", text.format(n=31, m=12)), source="a", lang="en", at=0.0))
    two = extractor.features(article("2", ("", text.format(n=44, m=9)), source="b", lang="en", at=0.0))
    idfs = {t: 3.0 for t in {**one.terms, **two.terms}}
    member = Member(1, "1", Vector.build("en", weigh(one.terms, idfs), one.title, one.signature))
    new = Vector.build("en", weigh(two.terms, idfs), two.title, two.signature)
    scored = score_pair(new, member, idfs, SPEC)
    assert scored.resemblance is not None and scored.resemblance >= SPEC.near_duplicate
    assert scored.reason is not Reason.NEAR_DUPLICATE and not scored.joins


def test_stories_settings_are_validated_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("stories:\n  join_score: 2\n", "utf-8")
    with pytest.raises(ConfigError, match=r"stories\.join_score"):
        load_settings(config)
    config.write_text("stories:\n  windw_h: 10\n", "utf-8")
    with pytest.raises(ConfigError, match=r"stories\.windw_h: unknown key"):
        load_settings(config)
    config.write_text("stories:\n  window_h: 24\n", "utf-8")
    assert load_settings(config).stories.window_h == 24
