"""Errors of the store and feed side; each message says what is wrong and where."""


class FeedmillError(Exception):
    """Base class of every error feedmill raises on purpose."""


class ConfigError(FeedmillError):
    """feedmill.toml (or an override) is missing, malformed or names a wrong value."""


class StoreError(FeedmillError):
    """The article store cannot be opened or written."""
