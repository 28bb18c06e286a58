"""feedmill's Scrapy project: sources -> spiders -> items -> pipelines -> store."""
