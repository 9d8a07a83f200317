"""Fixture page templates in older styles: a table-layout portal and a schema.org microdata page."""

from __future__ import annotations

from site_chrome import SITE_NAME, Chrome
from site_parts import ANALYTICS_JS, Article, a, body_with_inserts, head_meta, items, json_ld, t


def _links(texts: tuple[str, ...], cls: str, sep: str = " | ") -> str:
    return sep.join(f'<a href="/list.php?id={n}" class="{cls}">{t(x)}</a>' for n, x in enumerate(texts))


def _rows(texts: tuple[str, ...], cls: str) -> str:
    return "".join(f'<tr><td class="{cls}">&bull; <a href="/news.php?id={9100 + n}">{t(x)}</a></td></tr>'
                   for n, x in enumerate(texts))


def table_layout(article: Article, chrome: Chrome) -> str:
    """An old portal built from nested tables, <font>, <marquee> and inline event handlers."""
    read_also = (f'<table class="readalso" width="90%" align="center" border="0"><tr><td bgcolor="#F2F2F2">'
                 f'<b><a href="/news.php?id=9001">{t(chrome.read_also)}</a></b></td></tr></table>')
    ad = (f'<center><font size="1" color="#999999">{t(chrome.ad_label)}</font><br>'
          '<img src="/ads/b468.gif"></center>')
    comments = "".join(
        f'<tr><td class="cname"><b>{t(c.author)}</b></td><td class="cdate">{t(c.when)}</td></tr>'
        f'<tr><td colspan="2" class="ctext">{t(c.text)}</td></tr>'
        for c in chrome.comments
    )
    form = chrome.comment_form
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html lang="ar" dir="rtl">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
{head_meta(article)}
<title>{t(SITE_NAME)} :: {t(article.title)}</title>
<style type="text/css">
body {{ font-family: Tahoma, Arial; font-size: 12px; margin: 0 }}
.maintext {{ font-size: 14px; line-height: 22px }} .menulink {{ color: #FFFFFF; font-weight: bold }}
</style>
<script language="javascript" type="text/javascript">
function MM_swapImage() {{ var i, j = 0, x, a = MM_swapImage.arguments; document.MM_sr = new Array; }}
function hideCookieBar() {{ document.getElementById('cookieBar').style.display = 'none'; }}
</script>
{json_ld(article)}
</head>
<body bgcolor="#FFFFFF" topmargin="0" leftmargin="0">
<div id="cookieBar" style="background:#333;color:#fff;padding:6px">{t(chrome.cookie_text)}
<a href="#" onclick="hideCookieBar();return false;">{t(chrome.cookie_buttons[0])}</a></div>
<table width="980" align="center" cellpadding="0" cellspacing="0" border="0">
<tr><td colspan="3" class="header">
<img src="/images/logo.gif" alt="{a(SITE_NAME)}" width="300" height="80"></td></tr>
<tr><td colspan="3" class="menu" bgcolor="#003366">{_links(chrome.nav, "menulink")}</td></tr>
<tr><td colspan="3" class="ticker"><font color="#CC0000"><b>عاجل:</b></font>
<marquee direction="right" scrollamount="3">
{_links(chrome.ticker, "tickerlink", " &nbsp;&diams;&nbsp; ")}</marquee>
</td></tr>
<tr>
<td width="180" valign="top" class="rightcol">
<table width="100%" border="0"><tr><td class="boxtitle">{t(chrome.most_read_heading)}</td></tr>
{_rows(chrome.most_read, "boxitem")}</table>
</td>
<td width="620" valign="top" class="maincol">
<table width="100%" border="0" cellpadding="4">
<tr><td class="path"><a href="/">{t(chrome.breadcrumbs[0])}</a> &gt; <a href="/list.php?id=2">
{t(chrome.breadcrumbs[1])}</a> &gt; {t(chrome.breadcrumbs[2])}</td></tr>
<tr><td class="title"><h1><font size="5" color="#003366">{t(article.title)}</font></h1></td></tr>
<tr><td class="date"><font size="1" color="#666666">{t(article.date_ar)} | {t(article.author)}</font>
</td></tr>
<tr><td class="share">{_links(chrome.share, "sharelink", " - ")}</td></tr>
<tr><td class="maintext">
{body_with_inserts(article.paragraphs, read_also, ad)}
</td></tr>
<tr><td class="tags">كلمات دالة: {_links(chrome.tags, "taglink", "، ")}</td></tr>
<tr><td><table width="100%" border="0"><tr><td class="boxtitle">{t(chrome.related_heading)}</td></tr>
{_rows(chrome.related, "relitem")}</table></td></tr>
<tr><td><table class="comments" width="100%" border="0" cellpadding="3">
<tr><td colspan="2" class="boxtitle">{t(chrome.comments_heading)}</td></tr>
{comments}</table>
<form method="post" action="/addcomment.php"><table border="0">
<tr><td colspan="2"><b>{t(form[0])}</b></td></tr>
<tr><td>{t(form[1])}</td><td><input type="text" name="name" size="30"></td></tr>
<tr><td>{t(form[2])}</td><td><input type="text" name="email" size="30"></td></tr>
<tr><td colspan="2"><textarea name="comment" cols="50" rows="5"></textarea></td></tr>
<tr><td colspan="2"><input type="submit" value="{a(form[3])}"></td></tr>
</table></form>
<font size="1" color="#999999">{t(form[4])}</font></td></tr>
</table>
</td>
<td width="180" valign="top" class="leftcol">
<table width="100%" border="0"><tr><td class="boxtitle">{t(chrome.newsletter_text)}</td></tr>
<tr><td><input type="text" name="nl_email" size="18">
<input type="button" value="{a(chrome.newsletter_button)}">
</td></tr></table>
<center><font size="1" color="#999999">{t(chrome.ad_label)}</font><br><img src="/ads/s160.gif"></center>
</td>
</tr>
<tr><td colspan="3" class="footer" bgcolor="#003366" align="center">{_links(chrome.footer_links, "footlink")}
<br><font color="#FFFFFF" size="1">{t(chrome.copyright)}</font></td></tr>
</table>
</body>
</html>
"""


def microdata(article: Article, chrome: Chrome) -> str:
    """A hand-rolled HTML5 theme with schema.org microdata (NewsArticle, Comment, BreadcrumbList)."""
    read_also = (f'<div class="inline-related" role="complementary"><h4>{t(chrome.read_also)}</h4></div>')
    ad = f'<div class="ad ad--inarticle" aria-hidden="true"><small>{t(chrome.ad_label)}</small></div>'
    crumbs = "".join(
        f'<li itemprop="itemListElement" itemscope itemtype="https://schema.org/ListItem">'
        f'<a itemprop="item" href="/c/{n}"><span itemprop="name">{t(c)}</span></a>'
        f'<meta itemprop="position" content="{n + 1}"></li>'
        for n, c in enumerate(chrome.breadcrumbs)
    )
    comments = "".join(
        f'<div class="comment" itemprop="comment" itemscope itemtype="https://schema.org/Comment">'
        f'<span class="comment-author" itemprop="author">{t(c.author)}</span> '
        f'<span class="comment-date">{t(c.when)}</span><p itemprop="text">{t(c.text)}</p></div>'
        for c in chrome.comments
    )
    return f"""<!doctype html>
<html lang="ar" dir="rtl">
<head>
{head_meta(article)}
<title>{t(article.title)} - {t(SITE_NAME)}</title>
<style>:root{{--brand:#a4001d}}.ticker{{overflow:hidden;white-space:nowrap}}.cookie{{position:fixed;bottom:0}}</style>
{ANALYTICS_JS}
</head>
<body>
<div class="cookie" id="consent"><p>{t(chrome.cookie_text)}</p><button>{t(chrome.cookie_buttons[0])}</button>
<button>{t(chrome.cookie_buttons[1])}</button></div>
<header class="masthead"><a class="logo" href="/">{t(SITE_NAME)}</a>
<nav class="menu" aria-label="القائمة الرئيسية"><ul>{items(chrome.nav)}</ul></nav>
<div class="ticker"><strong>عاجل</strong><ul>{items(chrome.ticker)}</ul></div></header>
<main>
<ol class="breadcrumbs" itemscope itemtype="https://schema.org/BreadcrumbList">{crumbs}</ol>
<article itemscope itemtype="https://schema.org/NewsArticle">
<h1 itemprop="headline">{t(article.title)}</h1>
<p class="byline"><span itemprop="author" itemscope itemtype="https://schema.org/Person">
<span itemprop="name">
{t(article.author)}</span></span> · <time itemprop="datePublished" datetime="{article.published.isoformat()}">
{t(article.date_ar)}</time></p>
<div class="share-buttons"><ul>{items(chrome.share, cls="share")}</ul></div>
<div itemprop="articleBody" class="article-body">
{body_with_inserts(article.paragraphs, read_also, ad)}
</div>
<ul class="tags" itemprop="keywords">{items(chrome.tags)}</ul>
<section class="comments" id="comments"><h3>{t(chrome.comments_heading)}</h3>{comments}
<form class="comment-form"><h4>{t(chrome.comment_form[0])}</h4>
<input placeholder="{a(chrome.comment_form[1])}">
<textarea></textarea><button>{t(chrome.comment_form[3])}</button>
<small>{t(chrome.comment_form[4])}</small></form>
</section>
</article>
<aside class="sidebar"><section class="related"><h3>{t(chrome.related_heading)}</h3>
<ul>{items(chrome.related)}</ul>
</section><section class="most-read"><h3>{t(chrome.most_read_heading)}</h3><ol>{items(chrome.most_read)}</ol>
</section><section class="newsletter"><p>{t(chrome.newsletter_text)}</p>
<button>{t(chrome.newsletter_button)}</button>
</section></aside>
</main>
<footer class="site-footer"><ul>{items(chrome.footer_links)}</ul><p>{t(chrome.copyright)}</p></footer>
</body>
</html>
"""
