"""``python -m lambdakit.runtime [module.handler]``: the runtime's entry point.

The handler comes from the argument or ``_HANDLER`` (what Lambda sets from the function's
Handler setting); the Runtime API address from ``AWS_LAMBDA_RUNTIME_API``. With
``AWS_LAMBDA_MAX_CONCURRENCY`` set (Lambda Managed Instances) that many worker processes
serve invocations side by side.
"""

from __future__ import annotations

import os
import sys

from lambdakit._version import __version__

USER_AGENT = "lambdakit/%s python/%d.%d.%d" % (__version__, *sys.version_info[:3])


def extend_path(environ: dict[str, str] | os._Environ[str]) -> None:
    """Put the function's code first on ``sys.path``, then the layer directories.

    Lambda's managed Python runtimes search ``LAMBDA_TASK_ROOT`` and then ``/opt/python`` and
    ``/opt/python/lib/pythonX.Y/site-packages`` (where layers put packages). Started with
    ``-S`` (as the bootstrap does), the interpreter's own site-packages come last.
    """
    task_root = environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    version = "python%d.%d" % sys.version_info[:2]
    layers = ["/opt/python", f"/opt/python/lib/{version}/site-packages"]
    for index, path in enumerate([task_root, *(p for p in layers if os.path.isdir(p))]):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(index, path)
    if sys.flags.no_site:
        prefixes = [sys.prefix, sys.exec_prefix]
        # A virtual environment's interpreter: `site` would have made its prefix sys.prefix
        # (Debian's Python leaves that to `site`), so -S must find it here.
        venv = os.path.dirname(os.path.dirname(sys.executable))
        if venv not in prefixes and os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            prefixes.insert(0, venv)
        for prefix in dict.fromkeys(prefixes):
            site_packages = f"{prefix}/lib/{version}/site-packages"
            if os.path.isdir(site_packages) and site_packages not in sys.path:
                sys.path.append(site_packages)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ
    address = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write(
            "lambdakit runtime: AWS_LAMBDA_RUNTIME_API is not set. This program is a Lambda "
            "runtime: it runs inside AWS Lambda or under `lambdakit serve`.\n"
        )
        return 2
    spec = argv[0] if argv else environ.get("_HANDLER", "")
    extend_path(environ)
    from lambdakit.runtime.client import RuntimeClient
    from lambdakit.runtime.errors import RuntimeAPIError

    try:
        client = RuntimeClient(address, user_agent=USER_AGENT)
        concurrency = environ.get("AWS_LAMBDA_MAX_CONCURRENCY")
        if concurrency:
            from lambdakit.runtime import workers

            return workers.run(spec, address, concurrency, user_agent=USER_AGENT)
        return serve(spec, client)
    except RuntimeAPIError as exc:
        sys.stderr.write(f"lambdakit runtime: {exc}; exiting.\n")
        return 1


def serve(spec: str, client: object) -> int:
    from lambdakit.runtime.loop import start

    runtime = start(spec, client)  # type: ignore[arg-type]
    if runtime is None:
        return 1
    runtime.run(runtime.client.invocations())
    return 0  # pragma: no cover - the loop only ends by an exception or a signal


if __name__ == "__main__":
    sys.exit(main())
