"""Find the handler named by ``_HANDLER`` ("pkg/module.function") and load it.

Every way loading can fail maps to the error type and message awslambdaric reports
(bootstrap.py ``_get_handler``), because users search for those strings.
"""

from __future__ import annotations

import sys

from lambdakit.runtime import errors
from lambdakit.runtime.errors import FaultError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[object, object], object]


def split_handler(spec: str) -> tuple[str, str]:
    """``"a/b.c.fn"`` -> ``("a/b.c", "fn")``; a name without a dot is malformed."""
    module, dot, function = spec.rpartition(".")
    if not dot:
        # awslambdaric reports the ValueError of `spec.rsplit(".", 1)` unpacking.
        raise FaultError(
            errors.MALFORMED_HANDLER_NAME,
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    return module, function


def load_handler(spec: str) -> Handler:
    """Import the module and return the handler callable, or raise ``FaultError``.

    Exceptions other than import and syntax errors raised while the module runs are not
    wrapped: they are init errors reported under their own class name.
    """
    module_name, function_name = split_handler(spec)
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            errors.BUILT_IN_MODULE_CONFLICT,
            f"Cannot use built-in module {module_name} as a handler module",
        )
    module = _import(module_name)
    try:
        handler: Handler = getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            errors.HANDLER_NOT_FOUND,
            f"Handler '{function_name}' missing on module '{module_name}'",
        ) from None
    return handler


def _import(module_name: str) -> object:
    import importlib

    try:
        return importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        # Also when the module exists but imports something missing: the message names
        # what is missing, which is what the user needs to fix.
        raise FaultError(
            errors.IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        frame = f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}'
        raise FaultError(
            errors.USER_CODE_SYNTAX_ERROR,
            f"Syntax error in module '{module_name}': {exc}",
            [frame],
        ) from exc


def is_coroutine_function(handler: object) -> bool:
    """True for ``async def`` functions (and bound methods of them), without ``inspect``."""
    function = getattr(handler, "__func__", handler)
    code = getattr(function, "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE; importing inspect costs ~20 ms
