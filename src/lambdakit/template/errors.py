"""The template model's exception: one class, raised for what the user can get wrong.

    TemplateError   a template, a function directory, a flag or an env file cannot be used

Each message says what was wrong, where (file:line:column, resource and property) and what to
do about it, so that a command prints it as it is, without a traceback. Third-party errors
(PyYAML's, json's) are translated into it where they enter. The emulator's
``FunctionConfigError``, for what is found wrong only when a function is run, subclasses it.
"""

from __future__ import annotations

__all__ = ["TemplateError"]


class TemplateError(Exception):
    """A function's configuration cannot be used: bad template, missing code, invalid value."""
