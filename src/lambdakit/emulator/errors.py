"""The emulator's exceptions: one tree, raised for what the user can get wrong.

    EmulatorError
    └── FunctionConfigError   a template, a function directory, a flag or an env file is wrong

Each message says what was wrong, where (file, resource, property) and what to do about it,
so the CLI prints it as it is, without a traceback. Errors are translated into this tree once,
where they enter (a YAML error becomes a ``FunctionConfigError`` with its line and column);
code further in never sees the third-party exception.
"""

from __future__ import annotations

__all__ = ["EmulatorError", "FunctionConfigError"]


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class FunctionConfigError(EmulatorError):
    """A function's configuration cannot be used: bad template, missing code, invalid value."""
