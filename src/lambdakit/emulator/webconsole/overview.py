"""``B/api/overview``: the emulator and each function as it runs them, with live environments.

Variables whose name looks secret, and values that look like AWS secret access keys, are shown
masked: the console is a page a developer may share on screen.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

from lambdakit._version import __version__

if TYPE_CHECKING:
    from lambdakit.emulator.server import Emulator
    from lambdakit.emulator.webconsole.hub import Hub
    from lambdakit.emulator.webconsole.records import EnvironmentJson
    from lambdakit.template import FunctionSpec

__all__ = ["MASK", "function_json", "masked", "overview"]

MASK = "••••••"
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
# An AWS secret access key: 40 characters of base64 (the documented example is
# wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY); a pattern that secret scanners use too.
_SECRET_VALUE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")


class FunctionJson(TypedDict):
    name: str
    logical_id: str | None
    runtime: str
    handler: str | None
    architecture: str
    package_type: str
    code: str
    memory_mb: int
    timeout_s: float
    ephemeral_storage_mb: int
    reserved_concurrency: int | None
    layers: list[str]
    environment: dict[str, str]
    url: dict[str, str] | None
    routes: list[dict[str, str]]
    environments: list[EnvironmentJson]


def masked(variables: dict[str, str]) -> dict[str, str]:
    """VARIABLES with secret-looking values replaced by MASK (module docstring)."""
    return {
        name: MASK if _SECRET_NAME.search(name) or _SECRET_VALUE.search(value) else value
        for name, value in variables.items()
    }


def overview(emulator: Emulator, hub: Hub) -> dict[str, object]:
    from lambdakit.emulator.limits import describe

    config = emulator.config
    server = emulator.api_server
    info = {
        "invoke_port": _port(emulator.url),
        "api_port": _port(server.url) if server is not None else None,
        "started": int(hub.started * 1000),
        "memory_limits": describe(emulator.limiter),
        "sandbox": _sandbox(),
        "version": __version__,
        "region": config.settings.region,
        "account_id": config.settings.account_id,
    }
    urls = emulator.function_urls()
    routes = _routes(emulator)
    functions = []
    for spec in emulator.functions.values():
        document = dict(function_json(spec, url=urls.get(spec.name)))
        document["routes"] = routes.get(spec.name, [])
        document["async"] = _async(spec)
        document["environments"] = _environments(emulator, hub, spec.name)
        functions.append(document)
    return {"emulator": info, "functions": functions}


def function_json(spec: FunctionSpec, *, url: str | None = None) -> FunctionJson:
    return {
        "name": spec.name,
        "logical_id": spec.logical_id,
        "runtime": spec.runtime,
        "handler": spec.handler,
        "architecture": spec.architectures[0] if spec.architectures else "x86_64",
        "package_type": "Image" if spec.image is not None else "Zip",
        "code": spec.image if spec.image is not None else str(spec.code_dir),
        "memory_mb": spec.memory_size,
        "timeout_s": spec.timeout,
        "ephemeral_storage_mb": spec.ephemeral_storage,
        "reserved_concurrency": spec.reserved_concurrency,
        "layers": [str(layer) for layer in spec.layers],
        "environment": masked(dict(spec.environment)),
        "url": None
        if spec.url is None or url is None
        else {"url": url, "auth_type": spec.url.auth_type, "invoke_mode": spec.url.invoke_mode},
        "routes": [],
        "environments": [],
    }


def _async(spec: FunctionSpec) -> dict[str, object]:
    config = spec.async_config
    return {
        "maximum_retry_attempts": config.maximum_retry_attempts,
        "maximum_event_age_s": config.maximum_event_age,
        "on_success": config.on_success,
        "on_failure": config.on_failure,
        "dead_letter": config.dead_letter,
    }


def _environments(emulator: Emulator, hub: Hub, name: str) -> list[EnvironmentJson]:
    """The function's live environments, in the order they were started."""
    pool = emulator.pools[name]
    found = []
    for environment in sorted(pool.environments, key=lambda e: e.id):
        record = hub.environments.get(environment)
        if record is not None:
            found.append(record.to_json())
            continue
        process = environment.runtime.process
        state = {"starting": "initializing"}.get(environment.state.value, environment.state.value)
        found.append({
            "function": name, "id": environment.id, "state": state,
            "since": int(hub.started * 1000), "invocations": 0,
            "pid": process.pid if process is not None else None,
        })  # fmt: skip
    return found


def _routes(emulator: Emulator) -> dict[str, list[dict[str, str]]]:
    server = emulator.api_server
    if server is None:
        return {}
    base = server.url
    routes: dict[str, list[dict[str, str]]] = {}
    for api in emulator.apis:
        prefix = "" if api.stage_name == "$default" else f"/{api.stage_name}"
        for route in api.routes:
            path = route.path if not route.is_default else "/"
            routes.setdefault(route.function, []).append({
                "api": api.logical_id, "method": route.method, "path": route.path,
                "url": base + prefix + path,
            })  # fmt: skip
    return routes


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _sandbox() -> str:
    from lambdakit.emulator import sandbox

    return sandbox.describe(sandbox.choose())
