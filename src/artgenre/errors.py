"""Errors a user can act on. The entry points print their message alone, no traceback."""


class ArtgenreError(Exception):
    """A failure whose message tells the user what to do."""


class ConfigError(ArtgenreError, ValueError):
    """The composed configuration is invalid."""


class DataError(ArtgenreError):
    """The data set is missing, empty or unreadable."""


class CheckpointError(ArtgenreError):
    """A checkpoint cannot be used for this run."""


class WeightsError(ArtgenreError):
    """Pretrained weights cannot be found, read or fitted to the model (model.pretrained)."""


class ExportError(ArtgenreError):
    """A model cannot be exported (artgenre-export) or an exported file cannot be used."""
