"""Spiders, one class per source kind; sources are mapped to them by crawler.loader."""
