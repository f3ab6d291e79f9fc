"""The console's one exception: a request it answers with an error status and a message."""

from __future__ import annotations

__all__ = ["ConsoleError"]


class ConsoleError(Exception):
    """A request the console refuses or cannot serve: STATUS (4xx, 5xx) and a message for the
    page (``{"message": ...}``), made once, at the route that meets the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
