"""Errors the pipeline reports to users: each names the file (or field) and the problem."""
from __future__ import annotations

from calib.errors import CalibrationError


class DataError(ValueError):
    """Unreadable or invalid input data; the message names the file and what is wrong with it."""

    def __init__(self, reason: str, path=None):
        self.reason, self.path = reason, None if path is None else str(path)
        super().__init__(f"{self.path}: {reason}" if path is not None else reason)


class MissingExtra(ImportError):
    """A config asks for an optional package that is not installed; the message says how to install it."""


USER_ERRORS = (DataError, CalibrationError, MissingExtra)
"""Errors the command line prints as one line instead of a traceback."""
