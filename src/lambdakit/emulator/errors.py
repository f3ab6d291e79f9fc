"""The emulator's exceptions: one tree, raised for what the user can get wrong.

    EmulatorError
    ├── FunctionConfigError    a function cannot be run as configured (a runtime lambdakit
    │   │                      cannot run, an image no engine can run); also a
    │   │                      ``lambdakit.template.TemplateError``
    │   └── EntrypointError    no bootstrap Lambda could start: the invocation gets
    │                          Runtime.InvalidEntrypoint, as on Lambda
    └── ContainerEngineError   no container engine, or the engine cannot do what is asked

Each message says what was wrong, where (file, resource, property) and what to do about it,
so the CLI prints it as it is, without a traceback. Errors are translated into this tree once,
where they enter; code further in never sees the third-party exception. What is wrong in a
template, a function directory or an env file is found by ``lambdakit.template`` and raised
as its ``TemplateError``, before the emulator starts.
"""

from __future__ import annotations

from lambdakit.template.errors import TemplateError

__all__ = [
    "ContainerEngineError",
    "EmulatorError",
    "EntrypointError",
    "FunctionConfigError",
    "cannot_listen",
]


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class FunctionConfigError(EmulatorError, TemplateError):
    """A function's configuration cannot be used: missing or non-executable code, a runtime
    or handler lambdakit cannot run."""


class EntrypointError(FunctionConfigError):
    """A ``provided.*`` function has no bootstrap Lambda could start. The message is for the
    developer; ``lambda_message`` is Lambda's own (after ``Error: `` in the errorMessage of
    Runtime.InvalidEntrypoint), with the paths the process would see."""

    def __init__(self, message: str, lambda_message: str) -> None:
        super().__init__(message)
        self.lambda_message = lambda_message


class ContainerEngineError(EmulatorError):
    """No container engine can do what is asked, or the engine failed."""


def cannot_listen(host: str, port: int, purpose: str, hint: str, error: OSError) -> EmulatorError:
    """A listener that could not start (a port in use, an address not of this machine): said
    where it is opened, since each listener has a flag of its own to choose another port."""
    return EmulatorError(
        f"cannot listen on {host}:{port} for {purpose}: {error.strerror or error}; {hint}"
    )
