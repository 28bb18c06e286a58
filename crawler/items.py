"""The item every spider yields.

It is the store's own record, :class:`feeds.article.Article` (a dataclass, read through
ItemAdapter like any Scrapy item), so a field added once flows from the spiders through
the pipelines and the store to the feeds without a second definition to keep in step.
"""

from feeds.article import Article, RelatedLink

ArticleItem = Article

__all__ = ["ArticleItem", "RelatedLink"]
