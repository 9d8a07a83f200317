"""Short Arabic and English news texts written for these tests (no copied article text).

Event A: Shoigu's visit to Tehran about Su-35 jets, told by two English outlets and one Arabic one.
Event B: an Iran-Russia naval drill in the Caspian two days later: the same countries, another
event (a hard negative for A). A_WIRE is a syndicated copy of A_EN1 under another outlet's frame.
"""

from __future__ import annotations

from worker.matching.schema import EntitySpec

ENTITIES = {
    "iran": EntitySpec(kind="country", names=["إيران", "iran"], adjectives=["إيراني", "iranian"],
                       metonyms=["طهران", "tehran"]),
    "russia": EntitySpec(kind="country", names=["روسيا", "russia"], adjectives=["روسي", "russian"],
                         metonyms=["موسكو", "moscow"]),
    "shoigu": EntitySpec(kind="person", names=["شويغو", "سيرغي شويغو", "shoigu", "sergei shoigu"]),
    "bagheri": EntitySpec(kind="person", names=["باقري", "محمد باقري", "bagheri", "mohammad bagheri"]),
}

A_EN1 = (
    "Shoigu lands in Tehran for talks on Su-35 fighter jets",
    "Russian Defence Minister Sergei Shoigu arrived in Tehran on 12 March for two days of talks with "
    "Iranian officials on the delivery of 24 Su-35 fighter jets, Iranian state media reported. The visit "
    "comes as Moscow and Tehran deepen military ties. Shoigu was received at Mehrabad airport by the "
    "chief of staff Mohammad Bagheri, and the two sides are expected to sign a memorandum on air defence "
    "cooperation worth 1.5 billion dollars.",
)
A_EN2 = (
    "Russia's Shoigu in Iran to discuss fighter jet deliveries",
    "Sergei Shoigu, Russia's defence minister, began a visit to Iran on 12 March. The talks in Tehran "
    "focus on 24 Su-35 jets ordered by the Iranian air force and on an air defence memorandum valued "
    "at 1.5 billion dollars, officials said. Chief of staff Mohammad Bagheri welcomed the Russian "
    "delegation at Mehrabad airport.",
)
A_AR = (
    "شويغو يصل إلى طهران لبحث صفقة مقاتلات سوخوي 35",
    "وصل وزير الدفاع الروسي سيرغي شويغو إلى طهران يوم 12 مارس في زيارة تستمر يومين، لبحث تسليم "
    "24 مقاتلة من طراز سوخوي 35 إلى القوات الجوية الإيرانية. واستقبله رئيس الأركان محمد باقري في "
    "مطار مهرآباد، ومن المنتظر توقيع مذكرة للتعاون في مجال الدفاع الجوي بقيمة 1.5 مليار دولار.",
)
A_WIRE = (
    "Russian minister visits Iran",
    "TEHRAN (Wire) - " + A_EN1[1] + " Read more world news on our site. Subscribe to our newsletter.",
)
B_EN = (
    "Iran and Russia begin joint naval drill in the Caspian Sea",
    "Iranian and Russian warships began a joint naval exercise in the Caspian Sea on 14 March, the "
    "Iranian navy said. Eleven vessels and 3 helicopters take part in the drill, which will last four "
    "days off the port of Anzali. Moscow and Tehran hold such manoeuvres every year.",
)
B_AR = (
    "إيران وروسيا تبدآن مناورات بحرية مشتركة في بحر قزوين",
    "بدأت سفن حربية إيرانية وروسية يوم 14 مارس مناورات بحرية مشتركة في بحر قزوين، بحسب البحرية "
    "الإيرانية. ويشارك في التمرين 11 سفينة و3 مروحيات، ويستمر أربعة أيام قبالة ميناء أنزلي.",
)

# Two outlets' roundups quoting the same statement after their own, different leads.
QUOTE = ("our cooperation with our partners in the region will continue whatever the pressure from outside "
         "and no sanction will stop the exchange of expertise between our armed forces and theirs in the "
         "coming years as agreed by both general staffs")
C_ONE = ("Budget debate: coastal radar, academies and conscript housing",
         "Analysts in the capital noted that the budget law passed last winter raised spending on coastal "
         "radar, training academies and housing for conscripts, while parliament still debates pensions "
         "for veterans of the eighties. Opposition newspapers asked whether the money would reach the "
         "provinces, where unemployment among young graduates remains high and rents keep climbing. "
         "Economists expect the deficit to widen before the elections. Later, chief of staff Mohammad "
         f"Bagheri told reporters: \"{QUOTE}\". He did not take questions about procurement.")
C_TWO = ("Vienna envoys cautious, Brent edges lower",
         "Western diplomats in Vienna reacted cautiously on Sunday; one European envoy said talks on the "
         "nuclear file would resume next month if inspectors regain access to sites near the southern "
         "coast. Oil traders shrugged, with Brent crude edging lower on forecasts of a mild season and "
         "weaker factory data from Asia, according to market reports. Shipping rates in the Gulf were "
         f"flat. In a televised briefing, General Mohammad Bagheri said: \"{QUOTE},\" in remarks carried "
         "by state television.")


# Background: everyday Iran/Russia news, to make the two countries common in the store.
BACKGROUND_TOPICS = [
    "wheat exports", "gas prices", "rail corridor", "banking links", "tourism visas", "oil swaps",
    "football friendly", "film festival", "shipping insurance", "university exchange",
]


def background(n: int) -> tuple[str, str]:
    """A distinct everyday article mentioning Iran and Russia (no shared specific facts)."""
    topic = BACKGROUND_TOPICS[n % len(BACKGROUND_TOPICS)]
    return (f"Iran and Russia review {topic} ({n})",
            f"Officials from Iran and Russia met in Moscow to review {topic}, item {n * 7919 % 100003}. "
            f"Tehran said talks with Russia would continue. Code {n}x{n * 31}.")
