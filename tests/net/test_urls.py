"""check_url: static hygiene with the parser that connects."""

from __future__ import annotations

import pytest

from worker.net import FetchError, check_url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080\\@example.com/", "invalid URL: backslash in URL"),
        (" http://example.com/", "invalid URL: whitespace in URL"),
        ("\x01http://example.com/", "invalid URL: control character '\\x01' in URL"),
        ("http://exa\tmple.com/", "invalid URL: control character '\\t' in URL"),
        ("http://example.com/a\nb", "invalid URL: control character '\\n' in URL"),
        ("http://example.com/\x7f", "invalid URL: control character '\\x7f' in URL"),
        ("http://example.com@127.0.0.1/", "invalid URL: userinfo (user@host) is not allowed"),
        ("http://user:pw@example.com/", "invalid URL: userinfo (user@host) is not allowed"),
        ("http://example.com/" + "a" * 2040, "URL too long (2059 > 2048 characters)"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("gopher://example.com/", "unsupported scheme 'gopher'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript'"),
        ("/relative/path", "unsupported scheme '(none)'"),
        ("http:///nohost", "invalid URL: no host"),
    ],
)
def test_bad_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(FetchError) as caught:
        check_url(url)
    assert caught.value.reason == reason and not caught.value.transient


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTP://Example.COM/Feed?x=1", "http://example.com/Feed?x=1"),
        ("https://bücher.example/rss", "https://xn--bcher-kva.example/rss"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com/ü", "https://example.com/%C3%BC"),
    ],
)
def test_good_urls_are_normalised(url: str, normalised: str) -> None:
    assert check_url(url) == normalised
