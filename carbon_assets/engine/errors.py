"""Errors that point at the offending cell: file, row, column and value."""

from __future__ import annotations


class InputError(ValueError):
    """Unusable input; the message names file, row, column and value where they are known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: object = None):
        self.file, self.row, self.column, self.value, self.reason = file, row, column, value, message
        where = ", ".join(
            part for part in (
                f"file {file}" if file else None,
                f"row {row}" if row is not None else None,
                f"column {column!r}" if column else None,
                f"value {value!r}" if value is not None else None,
            ) if part
        )
        super().__init__(f"{message} ({where})" if where else message)
