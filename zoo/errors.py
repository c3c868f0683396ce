"""Errors a user can act on. Each message names the fix."""


class ZooError(Exception):
    """Base class: the CLI prints these without a traceback."""


class UnknownNameError(ZooError, LookupError):
    """A model, family, data set, optimizer, loss or schedule name that is not registered."""


class InputShapeError(ZooError, ValueError):
    """An input whose shape or dtype the module cannot take."""


class SettingError(ZooError, ValueError):
    """A setting that cannot work as given (a batch size that does not divide, a value out of range)."""


class UnknownFieldError(ZooError, TypeError):
    """A model field or training setting that does not exist."""


class DataError(ZooError, ValueError):
    """Data that cannot be used as it is: a corrupt or truncated file, records that contradict themselves."""
