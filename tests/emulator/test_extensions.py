"""The Extensions API and the phases it brings: an external extension written in Python in a
layer's ``extensions/`` sees each invocation and the SHUTDOWN of the emulator's close; the
invocation ends (END) only once it called ``next`` again; one that exits during init fails the
init with Extension.Crash; an internal extension gives the runtime its SIGTERM, and without
any extension the runtime gets none (SIGKILL at once, as on Lambda)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.reports import LogPrinter
from lambdakit.template import FunctionSpec, function_from_directory
from tests.emulator.conftest import Server, client_for

# An external extension as AWS's Python samples write one (urllib, no SDK).
EXTENSION = """#!{python}
import json, os, sys, time, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
name = os.path.basename(__file__)
request = urllib.request.Request(
    API + "/register", data=json.dumps({{"events": {events}}}).encode(), method="POST",
    headers={{"Lambda-Extension-Name": name}},
)
with urllib.request.urlopen(request) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
print("EXT registered", "_HANDLER" in os.environ, flush=True)
if {exit_at_once}:
    sys.exit(1)
while True:
    request = urllib.request.Request(
        API + "/event/next", headers={{"Lambda-Extension-Identifier": identifier}}
    )
    with urllib.request.urlopen(request) as response:
        event = json.loads(response.read())
    if event["eventType"] == "SHUTDOWN":
        print("EXT SHUTDOWN", event["shutdownReason"], flush=True)
        sys.exit(0)
    print("EXT INVOKE", event["requestId"], flush=True)
    time.sleep(0.3)
    print("EXT DONE", event["requestId"], flush=True)
"""

APP = """
import os, signal, sys

def on_sigterm(signum, frame):
    print("RUNTIME SIGTERM", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_sigterm)

def handler(event, context):
    return {"id": context.aws_request_id}
"""

# An internal extension: the runtime's own thread registers with no events and waits in next,
# which is what gives the runtime a Shutdown phase (SIGTERM) on Lambda.
INTERNAL = """
import json, threading, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
_request = urllib.request.Request(
    API + "/register", data=json.dumps({"events": []}).encode(), method="POST",
    headers={"Lambda-Extension-Name": "shutdown-hooks"},
)
with urllib.request.urlopen(_request) as _response:
    _identifier = _response.headers["Lambda-Extension-Identifier"]

def _wait():
    urllib.request.urlopen(urllib.request.Request(
        API + "/event/next", headers={"Lambda-Extension-Identifier": _identifier}
    ))

threading.Thread(target=_wait, daemon=True).start()
"""


def function(
    tmp_path: Path, *, internal: bool = False, extension: str | None = None
) -> FunctionSpec:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(APP + (INTERNAL if internal else ""))
    spec = function_from_directory(code, timeout=10)
    if extension is None:
        return spec
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    path = layer / "extensions" / "recorder"
    path.write_text(extension)
    path.chmod(0o755)
    return dataclasses.replace(spec, layers=(layer,))


def extension(*, events: list[str], exit_at_once: bool = False) -> str:
    # The base interpreter (the script needs only the standard library): a virtual
    # environment's may lie under /tmp, which the sandbox replaces.
    return EXTENSION.format(
        python=os.path.realpath(sys.executable), events=json.dumps(events),
        exit_at_once=exit_at_once,
    )  # fmt: skip


def run(
    spec: FunctionSpec, tmp_path: Path, invocations: int
) -> tuple[list[dict[str, object]], str]:
    """INVOCATIONS invocations, then the emulator's close (serve's stop); the results and
    the log."""
    log = io.StringIO()
    config = EmulatorConfig(port=0, state_dir=tmp_path / "state")
    emulator = Emulator([spec], config, printer=LogPrinter(log, color=False))

    async def scenario() -> list[dict[str, object]]:
        results = []
        try:
            for _ in range(invocations):
                result, _ = await asyncio.wait_for(emulator.invoke(spec.name, b"{}"), 30)
                results.append({"outcome": result.outcome, "type": result.error_type,
                                "body": json.loads(result.body)})  # fmt: skip
        finally:
            await asyncio.wait_for(emulator.close(), 30)
        return results

    results = asyncio.run(scenario())
    return results, log.getvalue()


def test_an_external_extension_sees_each_invoke_and_the_shutdown(tmp_path: Path) -> None:
    spec = function(tmp_path, extension=extension(events=["INVOKE", "SHUTDOWN"]))
    results, log = run(spec, tmp_path, 2)
    assert [result["outcome"] for result in results] == [Outcome.SUCCESS] * 2, (results, log)
    ids = [str(result["body"]["id"]) for result in results]  # type: ignore[index]
    assert "EXT registered False" in log  # _HANDLER is not an extension's variable
    for request_id in ids:
        assert f"EXT INVOKE {request_id}" in log
        done = log.index(f"EXT DONE {request_id}")
        assert log.index(f"END RequestId: {request_id}") > done, log
    assert "EXT SHUTDOWN spindown" in log, log
    assert "RUNTIME SIGTERM" in log  # with extensions the runtime has its Shutdown phase


def test_an_extension_that_exits_in_init_fails_it(tmp_path: Path) -> None:
    spec = function(tmp_path, extension=extension(events=["INVOKE"], exit_at_once=True))
    results, log = run(spec, tmp_path, 1)
    (result,) = results
    assert result["type"] == "Extension.Crash", log
    assert "Error Type: Extension.Crash" in log, log


def test_an_internal_extension_gets_the_runtime_its_sigterm(tmp_path: Path) -> None:
    results, log = run(function(tmp_path, internal=True), tmp_path, 1)
    assert results[0]["outcome"] is Outcome.SUCCESS, log
    assert "RUNTIME SIGTERM" in log, log


def test_without_extensions_the_runtime_gets_no_sigterm(tmp_path: Path) -> None:
    """Lambda gives the runtime no Shutdown phase when no extension registered: SIGKILL."""
    results, log = run(function(tmp_path), tmp_path, 1)
    assert results[0]["outcome"] is Outcome.SUCCESS, log
    assert "RUNTIME SIGTERM" not in log, log
    assert f"END RequestId: {results[0]['body']['id']}" in log  # type: ignore[index]


# --- `lambdakit serve` and the lambdakit runtime's on_shutdown hooks --------------------------

HOOKED = """
import lambdakit

@lambdakit.on_shutdown
def goodbye():
    print("ON_SHUTDOWN HOOK RAN", flush=True)

def handler(event, context):
    return {"id": context.aws_request_id}
"""

# No hook: the handler module's own SIGTERM handler, which only a Shutdown phase would run.
UNHOOKED = """
import signal, sys

def on_sigterm(signum, frame):
    print("SIGTERM HANDLER RAN", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_sigterm)

def handler(event, context):
    return {"id": context.aws_request_id}
"""


def serve_once(tmp_path: Path, app: str) -> str:
    """A python3.12 function (lambdakit's runtime) served by `lambdakit serve`, invoked once
    with boto3, then the server stopped with SIGTERM (its close shuts the environment down);
    the server's output."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(app)
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn\n"
        "      Handler: app.handler\n      Runtime: python3.12\n      Timeout: 10\n"
    )
    server = Server(tmp_path)
    try:
        answer = client_for(server.url).invoke(FunctionName="Fn")
        body = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, body
        server.wait_for_output(f"REPORT RequestId: {body['id']}")
    finally:
        server.stop()
    return server.output() + "".join(server.errors)


def test_serve_runs_on_shutdown_hooks_on_stop(tmp_path: Path) -> None:
    """The runtime registers its internal extension when hooks exist, so the environment has
    a Shutdown phase: SIGTERM, and the hook runs (runtimes-extensions-api.html)."""
    output = serve_once(tmp_path, HOOKED)
    assert "ON_SHUTDOWN HOOK RAN" in output, output


def test_serve_without_extensions_sends_no_sigterm(tmp_path: Path) -> None:
    """No hook, so no extension: SIGKILL at once, as on AWS; the SIGTERM handler never runs."""
    output = serve_once(tmp_path, UNHOOKED)
    assert "REPORT RequestId" in output, output  # it ran, and its output is in this log
    assert "SIGTERM HANDLER RAN" not in output, output


def test_every_waiter_of_a_phase_wakes_even_when_one_gave_up() -> None:
    """An invocation's END, the runtime's next poll and a shutdown wait for the extensions at
    once; one of them timing out must not leave the others waiting for ever."""
    from lambdakit.emulator.extensions import Extensions

    async def scenario() -> list[str]:
        extensions = Extensions((), dict)
        ready = False
        woken: list[str] = []

        async def wait(name: str) -> None:
            await extensions.until(lambda: ready)
            woken.append(name)

        first, second = asyncio.create_task(wait("end")), asyncio.create_task(wait("poll"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(extensions.until(lambda: ready), 0.01)  # a bounded wait
        ready = True
        extensions._notify()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        return woken

    assert sorted(asyncio.run(scenario())) == ["end", "poll"]


def test_a_process_killed_at_the_deadline_is_reaped_before_close_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extension that outlives the Shutdown phase is SIGKILLed with its launcher at the
    deadline; the emulator's close returns only once the loop has seen that process end and
    closed its transport. Otherwise a loop that closes at once (the end of ``invoke``, of a
    test) drops the transport unclosed: a ResourceWarning, which this suite makes an error."""
    from lambdakit.emulator import runtime_process

    spawned: list[asyncio.subprocess.Process] = []
    spawn = runtime_process.spawn

    async def recording(*args: object, **kwargs: object) -> object:
        process, pipes = await spawn(*args, **kwargs)  # type: ignore[arg-type]
        spawned.append(process)
        return process, pipes

    monkeypatch.setattr(runtime_process, "spawn", recording)
    # A watcher slow to report the end (a loaded machine): the race, made to happen each time.
    loop_class = asyncio.unix_events._UnixSelectorEventLoop  # type: ignore[attr-defined]

    def reported_late(loop: asyncio.AbstractEventLoop, pid: int, code: int, transp: Any) -> None:
        loop.call_soon_threadsafe(loop.call_later, 0.3, transp._process_exited, code)

    monkeypatch.setattr(loop_class, "_child_watcher_callback", reported_late)
    stubborn = extension(events=["SHUTDOWN"]).replace(
        'print("EXT SHUTDOWN"', 'time.sleep(60); print("EXT SHUTDOWN"'
    )
    spec = function(tmp_path, extension=stubborn)
    log = io.StringIO()
    config = EmulatorConfig(port=0, state_dir=tmp_path / "state")
    emulator = Emulator([spec], config, printer=LogPrinter(log, color=False))

    async def scenario() -> list[bool]:
        try:
            result, _ = await asyncio.wait_for(emulator.invoke(spec.name, b"{}"), 30)
            assert result.outcome is Outcome.SUCCESS, log.getvalue()
        finally:
            await asyncio.wait_for(emulator.close(), 30)
        return [process.returncode is not None for process in spawned]

    assert asyncio.run(scenario()) == [True], log.getvalue()
    (process,) = spawned
    assert process._transport.is_closing(), process  # type: ignore[attr-defined]
