"""The emulator's exceptions: one tree, raised for what the user can get wrong.

    EmulatorError
    ├── FunctionConfigError    a function cannot be run as configured (no executable
    │                          bootstrap, a runtime lambdakit cannot run, an image no engine
    │                          can run); also a ``lambdakit.template.TemplateError``
    └── ContainerEngineError   no container engine, or the engine cannot do what is asked

Each message says what was wrong, where (file, resource, property) and what to do about it,
so the CLI prints it as it is, without a traceback. Errors are translated into this tree once,
where they enter; code further in never sees the third-party exception. What is wrong in a
template, a function directory or an env file is found by ``lambdakit.template`` and raised
as its ``TemplateError``, before the emulator starts.
"""

from __future__ import annotations

from lambdakit.template.errors import TemplateError

__all__ = ["ContainerEngineError", "EmulatorError", "FunctionConfigError"]


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class FunctionConfigError(EmulatorError, TemplateError):
    """A function's configuration cannot be used: missing or non-executable code, a runtime
    or handler lambdakit cannot run."""


class ContainerEngineError(EmulatorError):
    """No container engine can do what is asked, or the engine failed."""
