"""Boilerplate ("chrome") of the fixture news site: the strings an Arabic news page wraps around an article.

The templates (``templates_modern``, ``templates_classic``) render these pieces in their own markup;
``build_site`` records them as ``must_not_contain`` for the extraction tests, so all of it must stay out of
extracted text. Reader comments deliberately use watch-list words (روسيا, مسيرة, عقوبات, إيران): leaking them
would cause false matches downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

SITE_NAME = "نيوز إكزامبل"
SITE_URL = "https://news.example/"


@dataclass(frozen=True)
class Comment:
    """One reader comment as shown under an article."""

    author: str
    when: str
    text: str


@dataclass(frozen=True)
class Chrome:
    """All boilerplate strings of one page, grouped by the widget that shows them."""

    nav: tuple[str, ...]
    ticker: tuple[str, ...]
    breadcrumbs: tuple[str, ...]
    share: tuple[str, ...]
    read_also: str
    ad_label: str
    tags: tuple[str, ...]
    related_heading: str
    related: tuple[str, ...]
    most_read_heading: str
    most_read: tuple[str, ...]
    comments_heading: str
    comments: tuple[Comment, ...]
    comment_form: tuple[str, ...]
    cookie_text: str
    cookie_buttons: tuple[str, ...]
    newsletter_text: str
    newsletter_button: str
    footer_links: tuple[str, ...]
    copyright: str

    def marker_strings(self) -> tuple[str, ...]:
        """Every visible boilerplate string that is specific enough to test for (two words or more)."""
        pieces: list[str] = [
            *self.nav,
            *self.ticker,
            *self.share,
            self.read_also,
            self.related_heading,
            *self.related,
            self.most_read_heading,
            *self.most_read,
            self.comments_heading,
            *(c.text for c in self.comments),
            *self.comment_form,
            self.cookie_text,
            self.newsletter_text,
            self.newsletter_button,
            *self.footer_links,
            self.copyright,
        ]
        return tuple(p for p in pieces if len(p.split()) >= 2)


NAV = ("الصفحة الرئيسية", "أخبار العالم", "الشرق الأوسط", "اقتصاد وأعمال", "ثقافة وفنون", "علوم وتكنولوجيا",
       "رياضة محلية", "مقالات الرأي", "فيديو وصور")

TICKER = (
    "عاجل: انقطاع واسع للكهرباء في العاصمة بسبب موجة الحر",
    "عاجل: البنك المركزي يرفع سعر الفائدة نصف نقطة مئوية",
    "عاجل: إغلاق مطار دولي مؤقتا بسبب الضباب الكثيف",
)

SHARE = ("شارك عبر فيسبوك", "شارك عبر واتساب", "غرّد عبر إكس", "انسخ رابط المقال", "أرسل بالبريد")

READ_ALSO = (
    "اقرأ أيضا: عقوبات أوروبية جديدة تطال شركات الشحن البحري",
    "اقرأ أيضا: أسعار النفط تقفز وسط مخاوف من اضطراب الإمدادات",
    "اقرأ أيضا: قمة طارئة لوزراء الخارجية العرب الأسبوع المقبل",
    "اقرأ أيضا: صفقة تبادل أسرى جديدة بوساطة إقليمية",
    "اقرأ أيضا: تراجع العملة المحلية إلى أدنى مستوى منذ عقد",
)

RELATED = (
    "مجلس الأمن يعقد جلسة مغلقة لبحث التصعيد في البحر الأحمر",
    "خبراء: سوق الطائرات بدون طيار التجارية يتضاعف خلال خمس سنوات",
    "الاتحاد الأوروبي يدرس حزمة مساعدات جديدة للاجئين",
    "محادثات فيينا تتعثر مجددا وسط خلافات حول الضمانات",
    "انتخابات بلدية مبكرة في عدة محافظات الشهر المقبل",
)

MOST_READ = (
    "بالصور: أمطار غزيرة تغرق شوارع المدينة القديمة",
    "نجم كرة القدم يعلن اعتزاله بعد مسيرة حافلة بالألقاب",
    "دراسة: القهوة الصباحية تحسن التركيز لدى الطلاب",
    "وصفة سهلة لكعك العيد في عشرين دقيقة",
    "ارتفاع أسعار الذهب في السوق المحلية اليوم",
)

COMMENTS = (
    Comment("أبو خالد", "منذ ساعتين", "روسيا لن تتراجع أبدا وكل هذه العقوبات مجرد حبر على ورق يا جماعة"),
    Comment("سارة م.", "منذ 3 ساعات", "شاهدت بعيني مسيرة تحلق فوق حينا الليلة الماضية والناس في رعب"),
    Comment("مواطن غيور", "منذ 5 ساعات", "متى يفهم الغرب أن العقوبات على إيران لا تضر إلا الشعوب الفقيرة؟"),
    Comment("Omar_1990", "أمس", "مقال ممتاز، لكن أين رأي الصين من تحالف روسيا وإيران؟ ننتظر تحليلا أعمق"),
    Comment("ناصر", "أمس", "كل مسيرة تطلق على المدن جريمة حرب مهما كان مصدرها"),
    Comment("ليلى", "منذ يومين", "أتمنى أن تتوقف الحروب ويعم السلام، كفانا دمارا وعقوبات وتهجيرا"),
)

COMMENT_FORM = ("أضف تعليقك", "الاسم الكامل", "البريد الإلكتروني (لن يتم نشره)", "إرسال التعليق",
                "التعليقات المنشورة لا تعبر عن رأي الموقع")

FOOTER = ("من نحن", "اتصل بنا", "سياسة الخصوصية", "شروط الاستخدام", "أعلن معنا", "خريطة الموقع",
          "الأرشيف اليومي")

TAGS = ("#الحرب_في_أوكرانيا", "#الشرق_الأوسط", "#تعاون_عسكري", "#دبلوماسية")


def chrome_for(index: int, section: str) -> Chrome:
    """The boilerplate for the ``index``-th page (0-based) of ``section``; varies lists so pages differ."""

    def rotate(items: tuple[str, ...], count: int) -> tuple[str, ...]:
        return tuple(items[(index + i) % len(items)] for i in range(count))

    return Chrome(
        nav=NAV,
        ticker=TICKER,
        breadcrumbs=("الرئيسية", "أخبار", section),
        share=SHARE,
        read_also=READ_ALSO[index % len(READ_ALSO)],
        ad_label="مساحة إعلانية",
        tags=TAGS,
        related_heading="أخبار ذات صلة",
        related=rotate(RELATED, 4),
        most_read_heading="الأكثر قراءة",
        most_read=rotate(MOST_READ, 5),
        comments_heading=f"تعليقات القراء ({3 + index % 4})",
        comments=tuple(COMMENTS[(index + i) % len(COMMENTS)] for i in range(3 + index % 4)),
        comment_form=COMMENT_FORM,
        cookie_text=("نستخدم ملفات تعريف الارتباط (الكوكيز) لتحسين تجربتك على موقعنا. "
                     "بمتابعة التصفح فإنك توافق على سياسة الكوكيز الخاصة بنا."),
        cookie_buttons=("موافق", "إعدادات الكوكيز"),
        newsletter_text="اشترك في النشرة البريدية ليصلك ملخص أهم الأخبار كل صباح",
        newsletter_button="اشترك الآن",
        footer_links=FOOTER,
        copyright=f"جميع الحقوق محفوظة © 2024 {SITE_NAME}",
    )
