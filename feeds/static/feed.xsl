<?xml version="1.0" encoding="UTF-8"?>
<!--
  feedmill: shows an RSS 2.0 or Atom 1.0 feed as a readable page when it is opened in a
  browser (the feed points here with <?xml-stylesheet type="text/xsl" href="/static/feed.xsl"?>).
  Feed readers ignore it. Only text is copied from the feed (no disable-output-escaping),
  and only http(s) links become links.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="atom dc">

  <xsl:output method="html" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>

  <xsl:template match="/">
    <xsl:variable name="title"
        select="normalize-space(/rss/channel/title | /atom:feed/atom:title)"/>
    <xsl:variable name="language"
        select="/rss/channel/language | /atom:feed/@xml:lang"/>
    <html>
      <xsl:if test="string($language)">
        <xsl:attribute name="lang"><xsl:value-of select="$language"/></xsl:attribute>
      </xsl:if>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="referrer" content="no-referrer"/>
        <title><xsl:value-of select="$title"/> · feed</title>
        <style>
          body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
            "PingFang SC","Microsoft YaHei",sans-serif;margin:0 auto;padding:1rem 1.25rem;
            max-width:48rem;color:#1d1f21;background:#fff}
          a{color:#0b57d0}
          .hint{background:#fff8e1;border:1px solid #f2d675;border-radius:.4rem;
            padding:.7rem .9rem;font-size:.92rem}
          .hint code{word-break:break-all;background:#fff;padding:0 .2rem}
          h1{font-size:1.6rem;line-height:1.25;margin:1rem 0 .3rem}
          .description,.meta{color:#5f6368}
          ol.entries{list-style:none;padding:0}
          ol.entries li{border-bottom:1px solid #e3e5e8;padding:.8rem 0}
          ol.entries h2{font-size:1.1rem;margin:0 0 .2rem}
          .meta{font-size:.85rem}
          .summary{margin:.3rem 0 0}
        </style>
      </head>
      <body>
        <xsl:apply-templates select="/rss/channel | /atom:feed"/>
      </body>
    </html>
  </xsl:template>

  <!-- a link only when the URL is http(s) -->
  <xsl:template name="link">
    <xsl:param name="url"/>
    <xsl:param name="text"/>
    <xsl:variable name="scheme"
        select="translate(substring(normalize-space($url), 1, 8), $upper, $lower)"/>
    <xsl:choose>
      <xsl:when test="starts-with($scheme, 'http://') or starts-with($scheme, 'https://')">
        <a href="{normalize-space($url)}" rel="noopener noreferrer">
          <xsl:value-of select="$text"/>
        </a>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- RSS descriptions are HTML: feedmill writes its summaries escaped (&lt; &gt; &amp;),
       so undo exactly that and show the result as text (never as markup). -->
  <xsl:template name="replace">
    <xsl:param name="text"/>
    <xsl:param name="from"/>
    <xsl:param name="to"/>
    <xsl:choose>
      <xsl:when test="contains($text, $from)">
        <xsl:value-of select="substring-before($text, $from)"/>
        <xsl:value-of select="$to"/>
        <xsl:call-template name="replace">
          <xsl:with-param name="text" select="substring-after($text, $from)"/>
          <xsl:with-param name="from" select="$from"/>
          <xsl:with-param name="to" select="$to"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="unescape">
    <xsl:param name="text"/>
    <xsl:variable name="lt">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="$text"/>
        <xsl:with-param name="from" select="'&amp;lt;'"/>
        <xsl:with-param name="to" select="'&lt;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="gt">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="$lt"/>
        <xsl:with-param name="from" select="'&amp;gt;'"/>
        <xsl:with-param name="to" select="'&gt;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:call-template name="replace">
      <xsl:with-param name="text" select="$gt"/>
      <xsl:with-param name="from" select="'&amp;amp;'"/>
      <xsl:with-param name="to" select="'&amp;'"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="hint">
    <xsl:param name="self"/>
    <p class="hint">
      <strong>This is a web feed</strong>, made for a feed reader.
      To subscribe, copy its URL
      <xsl:if test="string($self)"><code><xsl:value-of select="$self"/></code></xsl:if>
      into your feed reader. Below is a preview of what it holds.
    </p>
  </xsl:template>

  <!-- RSS 2.0 -->
  <xsl:template match="channel">
    <xsl:call-template name="hint">
      <xsl:with-param name="self" select="atom:link[@rel='self']/@href"/>
    </xsl:call-template>
    <h1>
      <xsl:call-template name="link">
        <xsl:with-param name="url" select="link"/>
        <xsl:with-param name="text" select="normalize-space(title)"/>
      </xsl:call-template>
    </h1>
    <xsl:if test="normalize-space(description)">
      <p class="description"><xsl:value-of select="description"/></p>
    </xsl:if>
    <p class="meta"><xsl:value-of select="count(item)"/> entries</p>
    <ol class="entries">
      <xsl:for-each select="item">
        <li>
          <h2>
            <xsl:call-template name="link">
              <xsl:with-param name="url" select="link"/>
              <xsl:with-param name="text" select="normalize-space(title)"/>
            </xsl:call-template>
          </h2>
          <div class="meta">
            <xsl:value-of select="pubDate"/>
            <xsl:if test="normalize-space(dc:creator)">
              · <xsl:value-of select="dc:creator"/>
            </xsl:if>
          </div>
          <xsl:if test="normalize-space(description)">
            <p class="summary">
              <xsl:call-template name="unescape">
                <xsl:with-param name="text" select="description"/>
              </xsl:call-template>
            </p>
          </xsl:if>
        </li>
      </xsl:for-each>
    </ol>
  </xsl:template>

  <!-- Atom 1.0 -->
  <xsl:template match="atom:feed">
    <xsl:call-template name="hint">
      <xsl:with-param name="self" select="atom:link[@rel='self']/@href"/>
    </xsl:call-template>
    <h1>
      <xsl:call-template name="link">
        <xsl:with-param name="url"
            select="atom:link[@rel='alternate' or not(@rel)][1]/@href"/>
        <xsl:with-param name="text" select="normalize-space(atom:title)"/>
      </xsl:call-template>
    </h1>
    <xsl:if test="normalize-space(atom:subtitle)">
      <p class="description"><xsl:value-of select="atom:subtitle"/></p>
    </xsl:if>
    <p class="meta"><xsl:value-of select="count(atom:entry)"/> entries</p>
    <ol class="entries">
      <xsl:for-each select="atom:entry">
        <xsl:variable name="date" select="(atom:published | atom:updated)[1]"/>
        <li>
          <h2>
            <xsl:call-template name="link">
              <xsl:with-param name="url"
                  select="atom:link[@rel='alternate' or not(@rel)][1]/@href"/>
              <xsl:with-param name="text" select="normalize-space(atom:title)"/>
            </xsl:call-template>
          </h2>
          <div class="meta">
            <time datetime="{$date}">
              <xsl:value-of
                  select="concat(substring($date, 1, 10), ' ', substring($date, 12, 5))"/>
              <xsl:if test="string-length($date) &gt; 19">
                <xsl:value-of select="concat(' ', substring($date, 20))"/>
              </xsl:if>
            </time>
            <xsl:for-each select="atom:author/atom:name">
              · <xsl:value-of select="."/>
            </xsl:for-each>
          </div>
          <xsl:if test="normalize-space(atom:summary)">
            <p class="summary"><xsl:value-of select="atom:summary"/></p>
          </xsl:if>
        </li>
      </xsl:for-each>
    </ol>
  </xsl:template>
</xsl:stylesheet>
