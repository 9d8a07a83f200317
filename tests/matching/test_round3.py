"""Issue 10, quality pass: page chrome and link lines, term-limited context masks, and the shipped
watchlist's sanctions authorities, sport/space/show/protest contexts (sentences written for these
tests)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from worker.matching import Matcher
from worker.matching.chrome import blank_link_lines, blank_prefix, chrome_prefix, is_chrome_line
from worker.matching.claims import cue_positions, with_cues
from worker.matching.matcher import _Article
from worker.matching.normalize import _SPACE_RUN_RE, _space_runs, normalize_pair
from worker.matching.report import forms_listing, match_files
from worker.matching.results import Claim
from worker.matching.schema import WatchlistSpec

from .test_round2 import fired, matcher, surfaces

# ---- opening page chrome: a label, date or URL line above the headline ----


@pytest.mark.parametrize("line", ["News", "وكالات", "2025-12-29", "date 2025-12-29 https://example.org/iran-drones-7",
                                  "https://example.org/a/b-c", "12:05 2024/03/01"])
def test_chrome_lines(line: str) -> None:
    assert is_chrome_line(line)


@pytest.mark.parametrize("line", ["Iran today", "Drone strike on Kyiv", "روسيا تطلق صاروخا",
                                  "Iran fires missiles https://example.org/x"])
def test_headline_lines(line: str) -> None:
    assert not is_chrome_line(line)


def test_chrome_prefix_offsets() -> None:
    text = "News\n\nIran sends drones to Russia\nBody."
    assert chrome_prefix(text) == text.index("Iran")
    assert chrome_prefix("Iran sends drones to Russia\nBody.") == 0
    assert chrome_prefix("News\nSport\nWeather\nMarkets\nIran sends drones") == 0  # labels only, too far
    assert chrome_prefix("News") == 0  # nothing after the label: keep the text as it is
    blanked = blank_prefix(text, chrome_prefix(text))
    assert len(blanked) == len(text) and blanked.startswith("    \n\nIran")


def test_label_line_is_no_title_and_no_mention() -> None:
    m = matcher({"drones": {"terms": ["drone"]}}, {"iran": {"kind": "country", "names": ["iran"]}},
                watches=[{"id": "drones", "title": "d", "rule": "drones"},
                         {"id": "iran", "title": "i", "rule": "iran", "mode": "mention"}])
    body = "\n" + " ".join(["Officials met on Monday to talk about trade and roads."] * 4)
    body += " A drone flew by."
    # the headline after a label is the title (×2): title and body hit fire an about watch
    text = "World\n\nDrone hits a depot in Kyiv" + body
    got = fired(m, text)
    assert "drones" in got and got["drones"].hits[0].start == text.index("Drone")
    assert got["drones"].hits[0].weight == 2.0
    # a category tag is page chrome, not a mention of the country
    assert "iran" not in fired(m, "Iran\n\nDrone hits a depot in Kyiv" + body)
    assert "iran" in fired(m, "Iran today\n\nDrone hits a depot in Kyiv" + body)


def test_url_line_above_the_headline_is_skipped() -> None:
    m = matcher({"missiles": {"terms": ["صاروخ"]}}, watches=[{"id": "m", "title": "m", "rule": "missiles"}])
    text = ("2025-01-02 https://example.org/news/صاروخ-جديد\nكوريا الشمالية تطلق صاروخا باليستيا\n"
            "أطلقت كوريا الشمالية صاروخا جديدا فجر اليوم.")
    got = fired(m, text)["m"]
    assert [h.text for h in got.hits] == ["صاروخا", "صاروخا"]  # none from the URL
    assert got.hits[0].weight == 2.0  # the headline is the title
    assert text[got.hits[0].start:got.hits[0].end] == "صاروخا"


# ---- link lines to other stories ----

def test_link_lines_are_blanked() -> None:
    norm = "body one\nread more: iran fires missiles\nbody two"
    out = blank_link_lines(norm)
    assert len(out) == len(norm) and "missiles" not in out and out.endswith("\nbody two")
    assert blank_link_lines("nothing to see") == "nothing to see"


@pytest.mark.parametrize("text", [
    "طريقة عمل الكيك\nاخلطي الدقيق مع السكر.\nاقرأ أيضا.. كوريا الشمالية تختبر صاروخا باليستيا\n"
    "ثم اخبزي الخليط.",
    "How to grow tomatoes\nWater them daily.\nRead more: North Korea tests a ballistic missile\nThen wait.",
])
def test_link_line_headline_is_not_the_article(text: str) -> None:
    m = matcher({"missiles": {"terms": ["صاروخ", "باليستي", "missile", "ballistic"]}})
    assert "missiles" not in fired(m, text)
    assert "missiles" in fired(m, text.replace("اقرأ أيضا.. ", "").replace("Read more: ", ""))


# ---- mask_near limited to some terms ----

DRONE_WORDS: dict[str, Any] = {
    "drones": {"terms": ["طائرة مسيرة~1", "=مسيرات"], "weak": ["مسيرة"],
               "mask_near": [{"near": 6, "concepts": ["protest"], "terms": ["=مسيرات", "مسيرة"]}]},
    "protest": {"terms": ["=المتظاهرين", "احتجاج"]},
}


def test_term_limited_context_mask() -> None:
    m = matcher(DRONE_WORDS, watches=[{"id": "d", "title": "d", "rule": "drones", "mode": "mention"}])
    assert "d" not in fired(m, "شارك آلاف المتظاهرين في المسيرات وسط العاصمة.")
    assert "d" in fired(m, "خرجت المسيرات في المدن.")  # no protest word: a drone word still
    # the unambiguous phrase is not limited: next to a protest word it is still a drone
    got = fired(m, "قدمت الوزارة احتجاجا على هجوم بطائرات مسيرة استهدف المتظاهرين.")
    assert "d" in got and {h.norm for h in got["d"].hits} == {"طايرات مسيره"}


def test_term_limited_mask_is_validated() -> None:
    bad = {**DRONE_WORDS, "drones": {**DRONE_WORDS["drones"],
                                     "mask_near": {"near": 6, "concepts": ["protest"], "terms": ["درون"]}}}
    with pytest.raises(ValidationError, match="not a term of the concept: درون"):
        WatchlistSpec.model_validate({"concepts": bad})
    lifted = {**DRONE_WORDS, "drones": {**DRONE_WORDS["drones"],
                                        "promote": {"near": 6, "concepts": ["protest"], "terms": ["مسيرة"]}}}
    with pytest.raises(ValidationError, match="applies to mask_near only"):
        WatchlistSpec.model_validate({"concepts": lifted})
    unknown = {**DRONE_WORDS,
               "drones": {**DRONE_WORDS["drones"], "mask_near": [{"near": 6, "concepts": ["nope"]}]}}
    with pytest.raises(ValidationError, match="mask_near.concepts: unknown concept 'nope'"):
        WatchlistSpec.model_validate({"concepts": unknown})


# ---- generated forms: only what the language has ----

def test_no_plural_for_demonyms_in_ese_and_ish() -> None:
    assert surfaces("chinese") == {"chinese"} and surfaces("kurdish") == {"kurdish"}
    assert surfaces("iranian") == {"iranian", "iranians"}


def test_persian_and_urdu_terms_get_no_arabic_inflection() -> None:
    m = matcher({"sanctions": {"terms": [{"t": "تحریم", "languages": ["fa"]}, {"t": "عقوبات"}]}})
    listing = dict(m.forms)["sanctions"]
    assert listing[0] == "تحریم: تحريم"  # not تحريما, تحريمان, تحريمين …
    assert "عقوباتها" in listing[1]  # an Arabic term keeps its forms


# ---- the shipped watchlist ----

FILLER_EN = " ".join(["Officials met on Monday to talk about roads, schools and the budget."] * 3)
FILLER_AR = " ".join(["واجتمع المسؤولون يوم الاثنين لبحث ملفات الطرق والمدارس والميزانية."] * 3)


def about(shipped: Matcher, text: str) -> set[str]:
    return {m.watch_id for m in shipped.match(text)}


def test_sanctions_authority_lifts_and_supports(shipped: Matcher) -> None:
    text = ("Treasury acts against a shipping network\nOFAC sanctioned twelve firms on Tuesday. "
            + FILLER_EN + " The firms were sanctioned for moving oil, the Treasury said.")
    assert "sanctions" in about(shipped, text)
    # the same weak word with no authority near it is not a sanction
    league = ("The league acts against a team\nThe league sanctioned twelve players on Tuesday. "
              + FILLER_EN + " The players were sanctioned for doping, the league said.")
    assert "sanctions" not in about(shipped, league)
    # authorities alone (Treasury bonds) are no sanctions story
    bonds = ("Treasury yields climb\nThe Treasury Department sold new debt on Tuesday. " + FILLER_EN
             + " The Treasury said demand was strong; the State Department was not involved.")
    assert "sanctions" not in about(shipped, bonds)


def test_weak_sanction_word_next_to_an_authority_weighs_in_full(mention: Matcher) -> None:
    got = {m.watch_id: m for m in mention.match("Firms hit\nOFAC sanctioned three firms on Tuesday.")}
    weights = {h.norm: h.weight for h in got["sanctions"].hits}
    assert weights["sanctioned"] == 1.5  # promoted to 1.0, in the lead (×1.5)
    assert weights["ofac"] == 0.75  # the authority itself adds half a term
    alone = {m.watch_id: m for m in mention.match("Races\nThe league sanctioned three races on Tuesday.")}
    assert "sanctions" not in alone


def test_sanctions_authority_in_arabic(shipped: Matcher) -> None:
    body = ("\nأعلنت وزارة الخزانة الأمريكية عقوبات على شبكة لنقل النفط. " + FILLER_AR
            + " وقالت وزارة الخزانة في بيان إن الشبكة مولت أنشطة مسلحة. " + FILLER_AR
            + " وأضاف وزير الخزانة أن الإجراءات ستستمر.")
    assert "sanctions" in about(shipped, body)
    assert "sanctions" not in about(shipped, body.replace("عقوبات", "إجراءات"))


@pytest.mark.parametrize(("text", "watch"), [
    ("نجوم الكرة الإماراتية\nيمتلك اللاعبين مهارة التسديد الصاروخي بعيد المدى، ولديه أهداف صاروخية.",
     "missiles"),
    ("إطلاق ناجح\nنجحت الشركة في إطلاق صاروخ النقل الجديد من القاعدة.", "missiles"),
    ("إطلاق ناجح\nعاد الصاروخ الحامل إلى القاعدة بعد الإطلاق الناجح.", "missiles"),
    ("Record drone display\nA drone display lit the sky as 500 drones flew in formation.", "drones"),
    ("عروض في السماء\nعروض مبهجة وألوان زاهية لألف طائرة بدون طيار فوق النهر بمناسبة العيد.", "drones"),
    ("مسيرات في المدن\nشارك آلاف المتظاهرين في المسيرات، ورفع المشاركون لافتات وهتافات.", "drones"),
])
def test_shipped_contexts_keep_false_alerts_out(mention: Matcher, text: str, watch: str) -> None:
    assert watch not in about(mention, text)  # not even as a mention


def test_led_by_is_no_light_show(mention: Matcher) -> None:
    assert "drones" in about(mention, "Strike on a depot\nThe attack, led by army units, used drones.")
    assert "drones" not in about(mention, "Festival\nLED lights and drones lit up the festival sky.")


def test_shipped_drone_strike_next_to_a_protest_word_still_alerts(shipped: Matcher) -> None:
    text = ("احتجاج على هجوم بطائرات مسيرة\nقدمت الخارجية احتجاجا رسميا على هجوم بطائرات مسيرة استهدف مدينة "
            "حدودية. " + FILLER_AR + " وقالت إن الطائرات المسيرة أطلقت من الجانب الآخر.")
    assert "drones" in about(shipped, text)


def test_shipped_arms_contract(shipped: Matcher) -> None:
    text = ("عقد بقيمة 5 مليارات دولار لتسليم مقاتلات\nحصلت الشركة على عقد بقيمة 5 مليارات دولار لتسليم "
            "20 مقاتلة حديثة لسلاح الجو.")
    assert "defence_agreement" in about(shipped, text)
    meeting = "لقاء في العاصمة\nتوجه الوزير إلى العاصمة لعقد لقاء مع نظيره."
    assert "defence_agreement" not in about(shipped, meeting)


def test_shipped_persian_spaced_nuclear(shipped: Matcher) -> None:
    text = ("رهبر ایران درباره سلاح هسته ای سخن گفت\nاو گفت تولید سلاح هسته ای ممنوع است و برنامه اتمی "
            "کشور صلح آمیز است. " + " ".join(["او درباره اقتصاد و جامعه هم صحبت کرد."] * 4)
            + " او بار دیگر گفت سلاح هسته ای ممنوع است.")
    assert "nuclear" in about(shipped, text)


# ---- what `newswatch match` and `newswatch check` show ----

def test_match_report_shows_the_claim(shipped: Matcher, tmp_path: Path) -> None:
    text = ("نفت طهران تزويد موسكو بطائرات مسيرة\nنفت إيران اليوم تزويد روسيا بطائرات مسيرة، وقالت إن "
            "التقارير عن طائرات مسيرة إيرانية كاذبة.\n")
    (tmp_path / "a.txt").write_text(text, "utf-8")
    out = io.StringIO()
    assert match_files(shipped, [tmp_path / "a.txt"], as_json=False, out=out) == 0
    lines = {line.split()[0]: line for line in out.getvalue().splitlines() if "score" in line}
    assert "claim denied" in lines["drones"]
    assert "claim" not in lines["iran"]  # claims: all: a name is not classified


def test_check_listing_shows_contexts_and_claim_policy(shipped_spec: WatchlistSpec, shipped: Matcher) -> None:
    listing = forms_listing(shipped_spec, shipped)
    drones = listing.split("[concept drones]\n", 1)[1].split("\n\n", 1)[0]
    assert "(promote weak terms within 8 words of military)" in drones
    assert "(mask hits within 10 words of protest (only =مسيرات, مسيرة))" in drones
    assert "[watch drones]\n  drones · about ≥ 2 · claims flag" in listing
    assert "[watch iran]\n  iran · about ≥ 2 · claims all" in listing
    missiles = listing.split("[concept missiles]\n", 1)[1].split("\n\n", 1)[0]
    assert "  صاروخ: صاروخ | صاروخا |" in missiles  # the accusative is listed


# ---- the claim cues ride on the watch automaton ----

def test_cues_share_the_scan_and_classify_as_a_scan_of_their_own(shipped: Matcher) -> None:
    texts = ["Iran denies sending drones\nIran denied it sent drones to Russia.",
             "قد ترسل إيران صواريخ إلى روسيا؟\nقد ترسل إيران صواريخ باليستية إلى روسيا، بحسب تقارير.",
             "Drones hit Kyiv\nRussian drones hit Kyiv overnight, officials said."]
    for text in texts:
        translated, norm = normalize_pair(text)
        article = _Article(text, translated, norm, shipped.tables.owners)
        shipped._found(article)
        assert article.cue_hits is not None
        for limit in (None, 20, len(norm)):
            assert cue_positions(norm, limit, article.cue_hits) == cue_positions(norm, limit)
    assert {m.watch_id: m.claim for m in shipped.match(texts[0])}["drones"] is Claim.DENIED


def test_a_cue_that_is_also_a_watch_term() -> None:
    m = matcher({"denial": {"terms": ["denies"]}, "drones": {"terms": ["drones"]}})
    got = fired(m, "Iran denies drones\nIran denies it sent drones.")
    assert got["drones"].claim is Claim.DENIED and "denial" in got
    surfaces, cue_at = with_cues(["drones", "denies"], ("denies", "may"))
    assert surfaces == ["drones", "denies", "may"] and cue_at == (None, 0, 1)


def test_space_runs_are_the_regex_runs() -> None:
    rng = random.Random(7)
    texts = ["a  b - c", " - ", "a -  - b", "x   ", "a - - b  c", "-  -", "no runs here"]
    texts += ["".join(rng.choice(" -ab") for _ in range(40)) for _ in range(500)]
    for text in texts:
        assert _space_runs(text) == [m.span() for m in _SPACE_RUN_RE.finditer(text)], text
