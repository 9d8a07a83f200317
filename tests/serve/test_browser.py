"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium):
Arabic blocks lay out right-to-left, hostile feed text runs no script. Screenshots are kept in the
test's tmp dir."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.serve.support import Serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # scripts/ensure-servers.sh


def _first_strong_direction(text: str) -> str:
    for char in text:
        if "\u0600" <= char <= "\u06ff" or "\u0750" <= char <= "\u077f":
            return "rtl"
        if char.isalpha():
            return "ltr"
    return "ltr"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), "run scripts/ensure-servers.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_arabic_reads_right_to_left_and_hostile_text_is_inert(
    seeded: Path, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    with sqlite3.connect(seeded.parent / "data" / "newswatch.db") as conn:
        (hostile_id,) = conn.execute("SELECT id FROM articles WHERE title LIKE '<script>%'").fetchone()
    with Serve(seeded) as serve:
        for name, path in (("alerts", "/"), ("article", f"/articles/{hostile_id}"), ("stories", "/stories")):
            browser.get(serve.url + path)
            assert browser.execute_script("return window.pwned === undefined"), name  # no script ran
            browser.save_screenshot(str(tmp_path / f"dashboard-{name}.png"))
            blocks = browser.find_elements(By.CSS_SELECTOR, '[lang="ar"][dir="auto"]')
            assert blocks, name
            seen = set()
            for block in blocks:
                # dir="auto": the first strong character decides (an Arabic snippet is right-to-left,
                # a title that starts with a Latin file name is not)
                expected = _first_strong_direction(block.text)
                direction = browser.execute_script("return getComputedStyle(arguments[0]).direction", block)
                assert direction == expected, (name, str(block.get_attribute("outerHTML"))[:200])
                seen.add(direction)
            assert "rtl" in seen, name
            # the page around them stays left-to-right
            assert browser.execute_script("return getComputedStyle(document.body).direction") == "ltr"
        browser.get(serve.url + f"/articles/{hostile_id}")
        snippets = browser.find_elements(By.CSS_SELECTOR, "p.snippet")
        arabic = [p for p in snippets if _first_strong_direction(p.text) == "rtl"]
        assert arabic, [p.text[:40] for p in snippets]
        for snippet in arabic:
            assert browser.execute_script("return getComputedStyle(arguments[0]).direction", snippet) == "rtl"
            assert snippet.find_elements(By.TAG_NAME, "mark"), "hits are marked"
        title = browser.find_element(By.TAG_NAME, "h1")
        assert title.text.startswith("<script>window.pwned=1</script>")  # shown as text, not run
        assert browser.execute_script("return document.fonts.check('16px \"Noto Naskh Arabic\"', 'إيران')")
    assert (tmp_path / "dashboard-article.png").stat().st_size > 10_000
