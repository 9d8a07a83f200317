"""Which language an article is in, as far as watch gating needs: ar, fa, ur or en.

Persian and Urdu fold into Arabic letters when normalised (ی→ي, ک→ك), so the decision is made on
the original text from letters each language has and the others avoid: Urdu ے ں ٹ ڈ ڑ,
Persian ی ک گ پ چ ژ (also used in Urdu), Arabic ي ك ة ى. Text with more Latin than Arabic-script
letters is ``en`` (the gate's name for Latin-script text). Counting is done with ``str.count``
over a sample of the text; no model is loaded.
"""

from __future__ import annotations

import re

SAMPLE_CHARS = 4000
_URDU = "ےںٹڈڑ"
_PERSIAN = "یکگپچژ"
_ARABIC = "يكةى"
_ARABIC_SCRIPT_RE = re.compile("[\u0600-\u06ff]")
_LATIN_RE = re.compile("[A-Za-z]")
MIN_URDU = 2  # this many Urdu-only letters make a text Urdu (Persian and Arabic have none)


def script_language(text: str) -> str:
    """ar, fa or ur for the Arabic-script part of ``text`` (ar when there is none)."""
    sample = text[:SAMPLE_CHARS]
    if sample.isascii() or ("ی" not in sample and "ک" not in sample and "ے" not in sample):
        return "ar"  # Persian and Urdu write ی and ک (and Urdu ے) all the time; Arabic never
    urdu = sum(sample.count(ch) for ch in _URDU)
    persian = sum(sample.count(ch) for ch in _PERSIAN)
    arabic = sum(sample.count(ch) for ch in _ARABIC)
    if urdu >= MIN_URDU:
        return "ur"
    if persian > arabic:
        return "fa"
    return "ar"


def article_language(text: str) -> str:
    """The article's language for watch gating: ``script_language`` when Arabic-script letters
    outnumber Latin ones in the sample, else ``en``."""
    sample = text[:SAMPLE_CHARS]
    if sample.isascii():
        return "en"
    if len(_ARABIC_SCRIPT_RE.findall(sample)) >= len(_LATIN_RE.findall(sample)):
        return script_language(sample)
    return "en"
