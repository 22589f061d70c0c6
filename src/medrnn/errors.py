"""Exception hierarchy: every error a user can act on derives from MedrnnError."""


class MedrnnError(Exception):
    """Base class for all medrnn errors."""


class ConfigError(MedrnnError, ValueError):
    """A configuration value is invalid; the message lists the valid choices."""


class InvalidRecordError(MedrnnError, ValueError):
    """An input file is unreadable or inconsistent; the message names the file and the field."""


class ShapeError(MedrnnError, ValueError):
    """A tensor or array has the wrong shape for the operation."""


class NotFittedError(MedrnnError, RuntimeError):
    """A transform or pipeline was used before `fit`."""


class ArtifactError(MedrnnError, ValueError):
    """A model artifact is corrupt, tampered with or from an incompatible version."""


class DataNotFoundError(MedrnnError, FileNotFoundError):
    """A dataset is not under the data root; the message says how to fetch it."""


class OfflineError(MedrnnError, ConnectionError):
    """A download server cannot be reached; the message says how to get the data by hand."""
