"""Errors a user can act on. The entry points print their message alone, no traceback."""


class ArtgenreError(Exception):
    """A failure whose message tells the user what to do."""

    # False: every rank meets the same failure (config, checkpoint, weights, the manifest rank 0
    # prepared for all), so rank 0 alone says it. True: it may hit one rank only (its shard's files).
    rank_local = False


class ConfigError(ArtgenreError, ValueError):
    """The composed configuration is invalid."""


class DataError(ArtgenreError):
    """The data set is missing, empty or unreadable."""


class ReadError(DataError):
    """An image or cache file of this rank's shard cannot be read: only this rank may see it."""

    rank_local = True


class CheckpointError(ArtgenreError):
    """A checkpoint cannot be used for this run."""


class WeightsError(ArtgenreError):
    """Pretrained weights cannot be found, read or fitted to the model (model.pretrained)."""


class ExportError(ArtgenreError):
    """A model cannot be exported (artgenre-export) or an exported file cannot be used."""
