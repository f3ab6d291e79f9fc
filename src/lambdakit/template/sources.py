"""The functions at a PATH: a template file, a directory holding one, or a function directory.

Two sources, one value: ``load_template`` reads a SAM/CloudFormation template
(``lambdakit.template.resources``); ``function_from_directory`` makes one function of a
directory with a ``bootstrap`` (a custom runtime) or Python code (run by lambdakit's runtime).
``load_functions`` chooses by what PATH is and applies the flags' overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lambdakit.template.errors import TemplateError
from lambdakit.template.resources import load_template
from lambdakit.template.specs import FunctionSpec, TemplateResult, local_python_runtime

__all__ = ["TEMPLATE_NAMES", "find_template", "function_from_directory", "load_functions"]

TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")


def function_from_directory(
    path: Path,
    *,
    name: str | None = None,
    handler: str | None = None,
    runtime: str | None = None,
    timeout: float = 3.0,
    memory_size: int = 128,
    environment: Mapping[str, str] | None = None,
) -> FunctionSpec:
    """One function from a code directory.

    With a file named ``bootstrap`` the runtime is ``provided.al2023`` (the emulator insists
    that it is executable when it runs it); otherwise the code is Python, run by lambdakit's
    runtime on this interpreter (runtime ``python3.X``), handler ``app.handler`` unless given.
    The name defaults to the directory's.
    """
    directory = path.resolve()
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise TemplateError(f"{path} {what}; give the directory with the function's code")
    if runtime is None:
        bootstrap = (directory / "bootstrap").is_file()
        runtime = "provided.al2023" if bootstrap else local_python_runtime()
    if handler is None and runtime.startswith("python"):
        handler = "app.handler"
        if not (directory / "app.py").is_file():
            raise TemplateError(
                f"{path} has neither a `bootstrap` (a custom runtime's entry point) nor app.py "
                "(Python's default handler app.handler); add one, give a handler "
                "(module.function), or point at a template.yaml"
            )
    return FunctionSpec(
        name=name or directory.name,
        code_dir=directory,
        runtime=runtime,
        handler=handler,
        timeout=timeout,
        memory_size=memory_size,
        environment=environment or {},
    )


def load_functions(
    path: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    name: str | None = None,
    handler: str | None = None,
    runtime: str | None = None,
    timeout: float | None = None,
    memory_size: int | None = None,
    environment: Mapping[str, str] | None = None,
) -> TemplateResult:
    """The functions at PATH: a template file, a directory holding ``template.yaml`` (or
    ``.yml``/``.json``), or a function directory.

    TIMEOUT, MEMORY_SIZE and ENVIRONMENT (merged) apply to every function; NAME, HANDLER and
    RUNTIME only to a function directory (a template sets them per function); PARAMETERS only
    to a template.
    """
    if not path.exists():
        raise TemplateError(
            f"{path} does not exist; give a template file, a directory with a template.yaml, or "
            "a directory with a function's code"
        )
    template = path if path.is_file() else find_template(path)
    if template is None:
        if parameters:
            raise TemplateError(f"{path} has no template.yaml, so parameters do not apply")
        spec = function_from_directory(
            path,
            name=name,
            handler=handler,
            runtime=runtime,
            timeout=3.0 if timeout is None else timeout,
            memory_size=128 if memory_size is None else memory_size,
            environment=environment,
        )
        return TemplateResult([spec])
    for flag, value in (("name", name), ("handler", handler), ("runtime", runtime)):
        if value is not None:
            raise TemplateError(
                f"a {flag} applies to a function directory; {template} sets it for each "
                "function (edit the template instead)"
            )
    result = load_template(template, parameters=parameters)
    functions = [
        spec.with_overrides(timeout=timeout, memory_size=memory_size, environment=environment)
        for spec in result.functions
    ]
    return TemplateResult(functions, result.warnings, result.differences)


def find_template(directory: Path) -> Path | None:
    return next((directory / n for n in TEMPLATE_NAMES if (directory / n).is_file()), None)
