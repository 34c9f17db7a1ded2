"""Errors a user can act on. The entry points print their message alone, no traceback."""


class ArtgenreError(Exception):
    """A failure whose message tells the user what to do."""


class ConfigError(ArtgenreError):
    """The composed configuration is invalid."""


class DataError(ArtgenreError):
    """The data set is missing, empty or unreadable."""


class CheckpointError(ArtgenreError):
    """A checkpoint cannot be used for this run."""
