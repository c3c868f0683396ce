"""Errors a user can act on. Each message names the fix."""


class ZooError(Exception):
    """Base class: the CLI prints these without a traceback."""


class UnknownNameError(ZooError, LookupError):
    """A model, family, data set, optimizer, loss or schedule name that is not registered."""


class InputShapeError(ZooError, ValueError):
    """An input whose shape or dtype the module cannot take."""
