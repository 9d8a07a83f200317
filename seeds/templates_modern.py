"""Fixture page templates in current CMS styles: WordPress-like, Next.js-like (__NEXT_DATA__), Drupal-like."""

from __future__ import annotations

from site_chrome import SITE_NAME, Chrome
from site_parts import (
    ANALYTICS_JS,
    SHARE_SVG,
    Article,
    a,
    body_with_inserts,
    comment_texts,
    head_meta,
    items,
    json_ld,
    script_json,
    t,
)


def _wp_comments(chrome: Chrome) -> str:
    rows = "".join(
        f'<li id="comment-{900 + n}" class="comment even thread-even depth-1"><article class="comment-body">'
        f'<footer class="comment-meta"><div class="comment-author vcard"><b class="fn">{t(c.author)}</b>'
        f' <span class="says">قال:</span></div><div class="comment-metadata"><time>{t(c.when)}</time></div>'
        f'</footer><div class="comment-content"><p>{t(c.text)}</p></div>'
        f'<div class="reply"><a class="comment-reply-link" href="#respond">رد</a></div></article></li>'
        for n, c in enumerate(chrome.comments)
    )
    form = chrome.comment_form
    return (
        f'<div id="comments" class="comments-area">'
        f'<h2 class="comments-title">{t(chrome.comments_heading)}</h2>'
        f'<ol class="comment-list">{rows}</ol>'
        f'<div id="respond" class="comment-respond">'
        f'<h3 id="reply-title" class="comment-reply-title">{t(form[0])}'
        f'</h3><form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form">'
        f'<p class="comment-form-author"><label for="author">{t(form[1])}</label>'
        f'<input id="author" name="author" type="text" size="30"></p>'
        f'<p class="comment-form-email"><label for="email">{t(form[2])}</label>'
        f'<input id="email" name="email" type="email" size="30"></p>'
        f'<p class="form-submit"><input name="submit" type="submit" id="submit" value="{a(form[3])}"></p>'
        f'</form><p class="comment-notes">{t(form[4])}</p></div></div>'
    )


def wordpress(article: Article, chrome: Chrome) -> str:
    """A WordPress theme page: cookie notice, menu, ticker, sharedaddy, jp-relatedposts, comments, widgets."""
    read_also = (f'<div class="wp-block-group read-also"><p><strong><a href="/?p=48100">{t(chrome.read_also)}'
                 f"</a></strong></p></div>")
    ad = (f'<div class="code-block code-block-2"><span class="ad-label">{t(chrome.ad_label)}</span>'
          '<ins class="adsbygoogle" data-ad-slot="1234567"></ins>'
          "<script>(adsbygoogle = window.adsbygoogle || []).push({});</script></div>")
    share = "".join(f'<li class="share-item"><a class="share-link" href="#">{SHARE_SVG}'
                    f"<span>{t(s)}</span></a></li>" for s in chrome.share)
    crumbs = " » ".join(f'<span><a href="/">{t(c)}</a></span>' for c in chrome.breadcrumbs)
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
{head_meta(article)}
<title>{t(article.title)} – {t(SITE_NAME)}</title>
<link rel="stylesheet" id="wp-block-library-css"
 href="/wp-includes/css/dist/block-library/style.min.css?ver=6.4.2">
<style id="global-styles-inline-css">
body{{--wp--preset--color--black:#000;--wp--preset--font-size--large:36px}}
.cookie-notice-container{{position:fixed;bottom:0;width:100%}}</style>
{json_ld(article)}
{ANALYTICS_JS}
</head>
<body class="post-template-default single single-post postid-48213 single-format-standard rtl">
<div id="cookie-notice" role="dialog" class="cookie-notice-container">
<span id="cn-notice-text">{t(chrome.cookie_text)}
</span><a href="#" class="cn-set-cookie cn-button">{t(chrome.cookie_buttons[0])}</a>
<a href="/privacy/" class="cn-more-info">{t(chrome.cookie_buttons[1])}</a></div>
<div id="page" class="site">
<header id="masthead" class="site-header"><div class="site-branding"><p class="site-title"><a href="/">
{t(SITE_NAME)}</a></p></div>
<nav id="site-navigation" class="main-navigation"><ul id="primary-menu" class="menu">{items(chrome.nav,
cls="menu-item")}</ul></nav>
<div class="breaking-news-ticker"><span class="ticker-label">عاجل</span><ul>{items(chrome.ticker)}</ul></div>
</header>
<div id="content" class="site-content"><div id="primary" class="content-area">
<main id="main" class="site-main">
<nav class="breadcrumbs" aria-label="breadcrumbs">{crumbs}</nav>
<article id="post-48213" class="post-48213 post type-post status-publish format-standard hentry">
<header class="entry-header"><h1 class="entry-title">{t(article.title)}</h1>
<div class="entry-meta"><span class="posted-on"><time class="entry-date published"
 datetime="{article.published.isoformat()}">{t(article.date_ar)}</time></span>
<span class="byline"> بقلم <span class="author vcard">
<a class="url fn n" href="/author/desk/">{t(article.author)}
</a></span></span></div></header>
<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block sd-social">
<h3 class="sd-title">
شارك:</h3><ul>{share}</ul></div></div>
<div class="entry-content">
{body_with_inserts(article.paragraphs, read_also, ad)}
</div>
<footer class="entry-footer"><span class="tags-links">الوسوم: {" ".join(
    f'<a href="/tag/{n}/" rel="tag">{t(tag)}</a>' for n, tag in enumerate(chrome.tags))}</span></footer>
</article>
<div id="jp-relatedposts" class="jp-relatedposts"><h3 class="jp-relatedposts-headline"><em>
{t(chrome.related_heading)}</em></h3><ul>{items(chrome.related, cls="jp-relatedposts-post")}</ul></div>
{_wp_comments(chrome)}
</main></div>
<aside id="secondary" class="widget-area"><section class="widget widget_most_read"><h2 class="widget-title">
{t(chrome.most_read_heading)}</h2><ol>{items(chrome.most_read)}</ol></section>
<section class="widget widget_newsletter"><p>{t(chrome.newsletter_text)}</p><form><input type="email">
<button type="submit">{t(chrome.newsletter_button)}</button></form></section></aside>
</div>
<footer id="colophon" class="site-footer"><nav class="footer-navigation"><ul>{items(chrome.footer_links)}</ul>
</nav><div class="site-info">{t(chrome.copyright)}</div></footer>
</div>
<script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
</body>
</html>
"""


def nextjs(article: Article, chrome: Chrome) -> str:
    """A React/Next.js page: hashed CSS-module classes, client state in a large __NEXT_DATA__ JSON blob."""
    read_also = f'<aside class="ReadAlso_box__3fT1q"><a href="/news/4711">{t(chrome.read_also)}</a></aside>'
    ad = (f'<div class="AdSlot_slot__1aB2c" data-ad-unit="/2194/article_mid">'
          f"<span>{t(chrome.ad_label)}</span></div>")
    p_open = '<p class="ArticleBody_paragraph__Xy7Q1">'
    state = {
        "props": {"pageProps": {
            "article": {"id": article.stem, "title": article.title, "summary": article.summary,
                        "section": article.section, "publishedAt": article.published.isoformat(),
                        "body": [{"type": "paragraph", "text": p} for p in article.paragraphs]},
            "comments": comment_texts(chrome),
            "mostRead": list(chrome.most_read), "related": list(chrome.related),
            "menu": list(chrome.nav), "ticker": list(chrome.ticker),
        }, "__N_SSP": True},
        "page": "/articles/[slug]", "query": {"slug": article.stem}, "buildId": "k3J9xQ2aPq7",
        "isFallback": False, "gssp": True, "scriptLoader": [],
    }
    share = "".join(f'<button type="button" class="ShareBar_button__kq1" aria-label="{a(s)}">{SHARE_SVG}'
                    f"<span>{t(s)}</span></button>" for s in chrome.share)
    comments = "".join(f'<li class="Comment_item__1sQ"><div class="Comment_head__2mW">'
                       f"<strong>{t(c.author)}</strong>"
                       f'<span>{t(c.when)}</span></div><p class="Comment_text__3Zx">{t(c.text)}</p></li>'
                       for c in chrome.comments)
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head>
{head_meta(article)}
<title>{t(article.title)} | {t(SITE_NAME)}</title>
<link rel="preload" href="/_next/static/css/8a1bc2d3e4f5.css" as="style">
<style data-emotion="css">.css-1q2w3e{{display:flex;gap:8px}}
.css-9z8y7x{{font:700 28px/1.4 "Noto Naskh Arabic"}}</style>
<script src="/_next/static/chunks/polyfills-c67a75d1b6f99dc8.js" nomodule="" defer=""></script>
<script src="/_next/static/chunks/webpack-59c5c889f52620d6.js" defer=""></script>
{json_ld(article)}
</head>
<body><div id="__next"><div class="Layout_wrapper__x9Yk2">
<div class="CookieConsent_root__a1Pz" role="dialog"><p>{t(chrome.cookie_text)}</p>
<button>{t(chrome.cookie_buttons[0])}</button><button>{t(chrome.cookie_buttons[1])}</button></div>
<header class="Header_header__3kXq"><a class="Header_logo__1n" href="/">{t(SITE_NAME)}</a>
<nav class="Header_nav__7Lm"><ul class="css-1q2w3e">{items(chrome.nav)}</ul></nav></header>
<div class="BreakingBar_bar__Q2w" role="marquee"><b>عاجل</b><ul>{items(chrome.ticker)}</ul></div>
<main class="ArticlePage_main__8hV">
<nav aria-label="breadcrumb" class="Breadcrumbs_root__2aa"><ol>{items(chrome.breadcrumbs)}</ol></nav>
<article class="ArticlePage_article__1zK">
<h1 class="ArticleHeader_title__9Zq css-9z8y7x">{t(article.title)}</h1>
<div class="ArticleHeader_meta__4Rt"><span>{t(article.author)}</span>
<time dateTime="{article.published.isoformat()}">{t(article.date_ar)}</time></div>
<div class="ShareBar_root__xQ" role="group">{share}</div>
<div class="ArticleBody_body__2Rk">
{body_with_inserts(article.paragraphs, read_also, ad, p_open=p_open)}
</div>
<ul class="Tags_list__9Wc">{items(chrome.tags)}</ul>
</article>
<section class="RelatedArticles_root__5Tg"><h2>{t(chrome.related_heading)}</h2>
<ul>{items(chrome.related)}</ul>
</section>
<section class="Comments_root__6Yh" id="comments"><h2>{t(chrome.comments_heading)}</h2><ul>{comments}</ul>
<form class="CommentForm_form__7Ui"><label>{t(chrome.comment_form[1])}<input name="name"></label>
<textarea placeholder="{a(chrome.comment_form[0])}"></textarea>
<button>{t(chrome.comment_form[3])}</button></form>
</section>
<aside class="MostRead_root__4Kp"><h2>{t(chrome.most_read_heading)}</h2>
<ol>{items(chrome.most_read)}</ol></aside>
<div class="Newsletter_box__8Vb"><p>{t(chrome.newsletter_text)}</p>
<button>{t(chrome.newsletter_button)}</button>
</div>
</main>
<footer class="Footer_footer__0Ab"><ul>{items(chrome.footer_links)}</ul><p>{t(chrome.copyright)}</p></footer>
</div></div>
<script id="__NEXT_DATA__" type="application/json">{script_json(state)}</script>
</body></html>
"""


def drupal(article: Article, chrome: Chrome) -> str:
    """A Drupal 10 node page: EU cookie compliance popup, blocks/regions, threaded comment field."""
    read_also = (f'<div class="paragraph paragraph--type--related-inline">'
                 f'<span class="label">اقرأ المزيد</span>'
                 f'<a href="/node/8812">{t(chrome.read_also)}</a></div>')
    ad = (f'<div class="block block-ad"><div class="ad-label">{t(chrome.ad_label)}</div>'
          '<div id="div-gpt-ad-2"></div></div>')
    comments = "".join(
        f'<article class="comment js-comment by-anonymous"><footer class="comment__meta">'
        f'<p class="comment__author">{t(c.author)}</p><p class="comment__time">{t(c.when)}</p></footer>'
        f'<div class="comment__content"><div class="field field--name-comment-body"><p>{t(c.text)}</p></div>'
        f'<ul class="links inline"><li class="comment-reply"><a href="#">رد</a></li></ul></div></article>'
        for c in chrome.comments
    )
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl" prefix="og: https://ogp.me/ns#">
<head>
{head_meta(article)}
<title>{t(article.title)} | {t(SITE_NAME)}</title>
<link rel="stylesheet" media="all" href="/sites/default/files/css/css_Yx3dQ.css?delta=0&amp;language=ar">
{json_ld(article)}
{ANALYTICS_JS}
</head>
<body class="path-node page-node-type-article">
<a href="#main-content" class="visually-hidden focusable skip-link">انتقل إلى المحتوى الرئيسي</a>
<div class="dialog-off-canvas-main-canvas">
<div id="sliding-popup" class="sliding-popup-bottom eu-cookie-compliance-banner">
<div class="popup-content info">
<div id="popup-text"><p>{t(chrome.cookie_text)}</p></div><div id="popup-buttons">
<button type="button" class="agree-button">{t(chrome.cookie_buttons[0])}</button>
<button type="button" class="find-more-button">{t(chrome.cookie_buttons[1])}</button></div></div></div>
<header role="banner"><div class="region region-header"><a href="/" rel="home">{t(SITE_NAME)}</a></div>
<nav role="navigation" class="block block-menu menu--main">
<ul class="menu">{items(chrome.nav, cls="menu-item")}
</ul></nav>
<div class="block block-views block-breaking"><div class="view-content"><ul>{items(chrome.ticker)}</ul>
</div></div>
</header>
<div class="region region-breadcrumb"><nav class="breadcrumb" role="navigation">
<ol>{items(chrome.breadcrumbs)}</ol>
</nav></div>
<main role="main"><a id="main-content" tabindex="-1"></a>
<div class="layout-content">
<article role="article" class="node node--type-article node--promoted node--view-mode-full">
<h1 class="page-title"><span class="field field--name-title">{t(article.title)}</span></h1>
<div class="node__meta"><span class="field--name-uid">{t(article.author)}</span>
<span class="field--name-created">{t(article.date_ar)}</span></div>
<div class="block block-addtoany"><span class="a2a_kit">{" ".join(
    f'<a class="a2a_button" href="#">{t(s)}</a>' for s in chrome.share)}</span></div>
<div class="node__content">
<div class="clearfix text-formatted field field--name-body field--type-text-with-summary field__item">
{body_with_inserts(article.paragraphs, read_also, ad)}
</div>
<div class="field field--name-field-tags field__items">{" ".join(
    f'<div class="field__item"><a href="/taxonomy/term/{n}">{t(tag)}</a></div>'
    for n, tag in enumerate(chrome.tags))}
</div>
<section class="field field--name-comment comment-wrapper"><h2 class="title comment-section-title">
{t(chrome.comments_heading)}</h2>{comments}
<h2 class="title comment-form__title">{t(chrome.comment_form[0])}</h2>
<form class="comment-comment-form comment-form"><label>{t(chrome.comment_form[1])}</label><input name="name">
<label>{t(chrome.comment_form[2])}</label><input name="mail">
<input type="submit" value="{a(chrome.comment_form[3])}">
</form></section>
</div>
</article>
</div>
<aside class="layout-sidebar-first" role="complementary">
<div class="block block-views block-related"><h2>{t(chrome.related_heading)}</h2>
<ul>{items(chrome.related)}</ul></div>
<div class="block block-views block-most-read"><h2>{t(chrome.most_read_heading)}</h2>
<ol>{items(chrome.most_read)}
</ol></div>
<div class="block block-simplenews"><p>{t(chrome.newsletter_text)}</p>
<button>{t(chrome.newsletter_button)}</button>
</div></aside>
</main>
<footer role="contentinfo"><nav class="menu--footer"><ul>{items(chrome.footer_links)}</ul></nav>
<div class="copyright">{t(chrome.copyright)}</div></footer>
</div>
</body>
</html>
"""
