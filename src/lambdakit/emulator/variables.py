"""The variables an execution environment's process gets: Lambda's, for its runtime, then the
function's own; of the host's, only the AWS credentials (so that a function can call real AWS
locally, as with SAM CLI) and coverage's.

Lambda's set and values: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
#configuration-envvars-runtime. Where a value is a path on Lambda (/var/task, /opt, /var/lang),
the documented value is kept and the local stand-ins are added, so that the interpreter,
the layers and the system tools still resolve: PATH gets the layers' ``bin`` (for /opt/bin)
first, because this machine's /usr/bin has programs that Lambda's provided.al2023 has not (a
``python3`` above all, which a layer's must win over as it does on Lambda), and the
interpreter's directory (for /var/lang/bin) last; LD_LIBRARY_PATH the interpreter's ``lib``,
the runtime directory, the code and the layers' ``lib`` in the documented order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdakit.emulator.interpreters import bare_home
from lambdakit.emulator.layout import Layout, host_layout
from lambdakit.emulator.platform_log import log_variables
from lambdakit.emulator.python_paths import CACHE

if TYPE_CHECKING:
    from lambdakit.emulator.interpreters import Interpreter
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import FunctionSpec

__all__ = ["LAMBDA_LD_LIBRARY_PATH", "LAMBDA_PATH", "Identity", "lambda_environment"]

LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
# Lambda's X-Ray daemon listens on 169.254.79.129:2000; locally the daemon's own default
# address, where a developer would run one.
XRAY_HOST, XRAY_PORT = "127.0.0.1", "2000"


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes one environment's variables its own."""

    api_address: str
    log_stream: str
    version: str = "$LATEST"
    provisioned: bool = False


def lambda_environment(
    spec: FunctionSpec,
    settings: Settings,
    identity: Identity,
    interpreter: Interpreter | None,
    lambdakit_bootstrap: bool = False,
    layout: Layout | None = None,
) -> dict[str, str]:
    """Every variable of SPEC's process. INTERPRETER runs its Python (None: not a Python
    function); LAMBDAKIT_BOOTSTRAP: a ``provided.*`` function whose bootstrap is lambdakit's;
    LAYOUT: the paths the process sees (the host's by default)."""
    layout = layout or host_layout(spec)
    environ = passed_through(settings)
    environ.update(_documented(spec, settings, identity, layout))
    environ.update(_paths(layout, interpreter, layers=bool(spec.layers)))
    environ.update(log_variables(spec.name, spec.logging))
    if spec.is_python:  # "not defined for OS-only runtimes (the provided runtime family)"
        environ["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
        # Set by the shell script that starts Lambda's Python runtimes (and by bwrap's
        # --chdir in the sandbox, for every runtime).
        environ["PWD"] = str(layout.task_root)
    if lambdakit_bootstrap and interpreter is not None:
        environ.update(_bootstrap_variables(spec, interpreter, layout))
    environ.update(spec.environment)
    return environ


def passed_through(settings: Settings) -> dict[str, str]:
    """The host's variables a function gets: ``Settings.passthrough`` and ``COVERAGE_*``."""
    environ = {k: os.environ[k] for k in settings.passthrough if k in os.environ}
    environ.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    return environ


def _documented(
    spec: FunctionSpec, settings: Settings, identity: Identity, layout: Layout
) -> dict[str, str]:
    initialization = "provisioned-concurrency" if identity.provisioned else "on-demand"
    return {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": spec.handler or "",
        "LAMBDA_TASK_ROOT": str(layout.task_root),
        "LAMBDA_RUNTIME_DIR": str(layout.runtime),
        "AWS_LAMBDA_RUNTIME_API": identity.api_address,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": identity.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_LOG_STREAM_NAME": identity.log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": f"{XRAY_HOST}:{XRAY_PORT}",
        "_AWS_XRAY_DAEMON_ADDRESS": XRAY_HOST,
        "_AWS_XRAY_DAEMON_PORT": XRAY_PORT,
    }


def _paths(layout: Layout, interpreter: Interpreter | None, *, layers: bool) -> dict[str, str]:
    """PATH and LD_LIBRARY_PATH: Lambda's, then the local stand-ins (module docstring); with
    LAYERS, what stands for /opt/bin first (in the sandbox, /opt/bin itself)."""
    lang = [] if interpreter is None else [interpreter.path.parent]
    task, runtime = layout.task_root, layout.runtime
    libraries = [*(p.parent / "lib" for p in lang), runtime, runtime / "lib", task, task / "lib"]
    documented = LAMBDA_LD_LIBRARY_PATH.split(os.pathsep)
    bins = layout.bins() if layers else []
    libraries = [p for p in [*libraries, *reversed(layout.libraries())] if str(p) not in documented]
    return {
        "PATH": os.pathsep.join([*map(str, bins), LAMBDA_PATH, *map(str, lang)]),
        "LD_LIBRARY_PATH": os.pathsep.join([*documented, *map(str, libraries)]),
    }


def _bootstrap_variables(
    spec: FunctionSpec, interpreter: Interpreter, layout: Layout
) -> dict[str, str]:
    """For lambdakit's bootstrap: the interpreter to run (unless a layer brings its own
    python3, first on PATH) with a PYTHONHOME that has no site-packages
    (``interpreters.bare_home``), no bytecode written (-B), and, outside the sandbox,
    PYTHONPATH pointing at the function's prepared packages and layers, which on Lambda sit in
    /var/task and /opt (the runtime puts those on sys.path itself)."""
    environ = {}
    if not any((layer / "bin" / "python3").exists() for layer in spec.layers):
        environ["LAMBDAKIT_PYTHON"] = str(interpreter.path)
        home = bare_home(interpreter, CACHE)
        if home is not None:
            environ["PYTHONHOME"] = str(home)
        environ["LAMBDAKIT_PYTHON_FLAGS"] = "-S -B"  # as python3.x functions (process_env)
    if not layout.sandboxed:
        paths = [*layout.task[1:], *layout.python_paths(interpreter.version)]
        if paths:
            environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return environ
