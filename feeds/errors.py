"""Errors of the store and feed side; each message says what is wrong and where."""


class FeedmillError(Exception):
    """Base class of every error feedmill raises on purpose."""


class ConfigError(FeedmillError):
    """feedmill.toml (or an override) is missing, malformed or names a wrong value."""


class StoreError(FeedmillError):
    """The article store cannot be opened or written."""


class UnknownSource(FeedmillError, KeyError):
    """A request names a source that feedmill.toml does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown source"


class SourceBusy(FeedmillError):
    """A run of the source is already under way; a second one is refused, not queued."""
