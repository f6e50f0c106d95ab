"""The one error type of the calibration package."""
from __future__ import annotations


class CalibrationError(ValueError):
    """Invalid or unreadable calibration; the message names the file and the field."""

    def __init__(self, reason: str, source: str | None = None, field: str | None = None):
        self.reason, self.source, self.field = reason, source, field
        where = ", ".join(part for part in (source and f"file {source}", field and f"field '{field}'") if part)
        super().__init__(f"{where}: {reason}" if where else reason)

    def in_file(self, source: str) -> "CalibrationError":
        """The same error, naming the file it came from."""
        return CalibrationError(self.reason, source=source, field=self.field)
