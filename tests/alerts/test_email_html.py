"""An HTML story e-mail through real Apprise to a real aiosmtpd receiver: a valid multipart/alternative
message (text/plain + text/html) whose HTML, opened in a real headless Chromium (Debian's chromium +
chromedriver, driven by Selenium), lays Arabic paragraphs out right to left and runs no feed script.
The screenshot is kept in the test's tmp dir."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from alerts.deliver import body_format_for, send
from alerts.formats import render_for
from alerts.render import BodyFormat
from tests.alerts.test_formats import LINK, message
from tests.support.receivers import SmtpReceiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # scripts/ensure-servers.sh


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), "run scripts/ensure-servers.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,1400", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def received_parts(smtp: SmtpReceiver) -> tuple[EmailMessage, str, str]:
    """The one message received, with its text/plain and text/html parts decoded."""
    assert smtp.wait_for(1, 10)
    (mail,) = smtp.messages
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    plain, html = (p.get_content() for p in parts)
    return mail, plain, html


@pytest.mark.delivers
def test_story_email_is_multipart_and_arabic_reads_right_to_left(
    smtp: SmtpReceiver, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    url = smtp.apprise_url(to="analyst@example.org")
    assert body_format_for(url) is BodyFormat.HTML
    rendered = render_for(body_format_for(url), message())
    outcome = send(url, rendered, idempotency_key="story-7-1:mail")
    assert outcome.ok, outcome.error
    mail, plain, html = received_parts(smtp)
    assert mail["Subject"] == rendered.title
    assert html.replace("\r\n", "\n").strip() == rendered.body.strip()
    # the alternative a text-only reader sees: no markup, the link and the Arabic snippet intact
    assert "<p" not in plain and "<bdi" not in plain and "<mark" not in plain
    assert LINK in plain and "شويغو" in plain
    assert "<script>window.pwned=1</script>" in plain  # feed text shown literally

    page = tmp_path / "story-mail.html"
    page.write_text(html, encoding="utf-8")
    browser.get(page.as_uri())
    browser.save_screenshot(str(tmp_path / "story-mail.png"))
    assert browser.execute_script("return window.pwned === undefined")  # no feed script ran
    assert browser.find_elements(By.TAG_NAME, "script") == []
    direction = "return getComputedStyle(arguments[0]).direction"
    arabic = browser.find_elements(By.CSS_SELECTOR, 'p[lang="ar"][dir="auto"]')
    assert arabic
    arabic_first = [p for p in arabic if p.text.startswith("قال")]
    assert arabic_first and all(browser.execute_script(direction, p) == "rtl" for p in arabic_first)
    english = browser.find_elements(By.CSS_SELECTOR, 'p[lang="en"][dir="auto"]')
    assert english and all(browser.execute_script(direction, p) == "ltr" for p in english)
    headline = browser.find_element(By.CSS_SELECTOR, 'bdi[lang="ar"]')
    assert headline.text == "شويغو يصل إلى طهران"
    assert browser.execute_script(direction, headline) == "rtl"  # Arabic inside an English line
    links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    assert links == [LINK]
