"""``on_shutdown`` hooks get a shutdown phase on AWS: the runtime registers an internal extension.

Lambda sends SIGTERM to the runtime only when an extension is registered (runtimes-extensions-
api.html, Shutdown phase). With hooks, the runtime registers one with no events before its
first ``GET /next`` and calls ``event/next`` once; without hooks it does nothing of the kind.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.helpers import RuntimeProcess
from tests.stub import EXTENSIONS, NEXT, RecordedRequest, StubRuntimeAPI

REGISTER = EXTENSIONS + "register"
EVENT_NEXT = EXTENSIONS + "event/next"

PROBE = """
import os
import sys
import _thread

import lambdakit

if os.environ.get("PROBE_HOOK"):

    @lambdakit.on_shutdown
    def goodbye():
        print("shutdown hook ran in", os.getpid(), flush=True)


def handler(event, context):
    return {
        "module": "lambdakit.runtime.shutdown_phase" in sys.modules,
        "threads": _thread._count(),
    }
"""


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def extension_requests(api: StubRuntimeAPI) -> list[RecordedRequest]:
    return [r for r in api.requests if r.path.startswith(EXTENSIONS)]


def wait_for(api: StubRuntimeAPI, path: str) -> None:
    with api._lock:
        if not api._lock.wait_for(lambda: any(r.path == path for r in api.requests), 15):
            raise AssertionError(f"no request to {path}: {api.requests!r}")


def test_with_hooks_the_runtime_registers_before_its_first_next(probe: Path) -> None:
    env = {"PROBE_HOOK": "1"}
    with StubRuntimeAPI() as api, RuntimeProcess("probe.handler", api.address, cwd=probe, env=env):
        wait_for(api, EVENT_NEXT)  # as Lambda does, the init phase waits for the extension
        api.push({})
        (answer,) = api.wait_for_answers(1)
        paths = [r.path for r in api.requests]
        register, event_next = extension_requests(api)
    assert answer.json() == {"module": True, "threads": 1}
    assert paths.index(REGISTER) < paths.index(NEXT)
    assert register.method == "POST"
    assert register.header("Lambda-Extension-Name") == "lambdakit"
    assert json.loads(register.body) == {"events": []}
    assert event_next.method == "GET"
    assert event_next.header("Lambda-Extension-Identifier") == api.extension_identifier


def test_with_the_extension_waiting_sigterm_still_runs_the_hooks_at_once(probe: Path) -> None:
    env = {"PROBE_HOOK": "1"}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("probe.handler", api.address, cwd=probe, env=env) as runtime,
    ):
        api.push({})
        api.wait_for_answers(1)
        api.wait_for_next(2)
        wait_for(api, EVENT_NEXT)
        runtime.process.send_signal(signal.SIGTERM)
        assert runtime.wait() == 0
    assert f"shutdown hook ran in {runtime.pid}" in runtime.stdout


def test_without_hooks_there_is_no_request_no_thread_no_module(probe: Path) -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("probe.handler", api.address, cwd=probe):
        api.push({})
        (answer,) = api.wait_for_answers(1)
        api.wait_for_next(2)
        assert extension_requests(api) == []
    assert answer.json() == {"module": False, "threads": 0}


def test_a_refused_registration_is_logged_once_and_the_function_runs_on(probe: Path) -> None:
    env = {"PROBE_HOOK": "1"}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("probe.handler", api.address, cwd=probe, env=env) as runtime,
    ):
        api.answers["/extension/register"] = (404, {"errorType": "NotFound"})
        api.push({})
        (answer,) = api.wait_for_answers(1)
        api.wait_for_next(2)
        assert [r.path for r in extension_requests(api)] == [REGISTER]
        runtime.process.send_signal(signal.SIGTERM)  # what the emulator does today
        assert runtime.wait() == 0
    assert answer.json() == {"module": True, "threads": 0}
    lines = [line for line in runtime.stderr.splitlines() if "shutdown phase" in line]
    assert len(lines) == 1, runtime.stderr
    assert "registering the internal extension failed (404" in lines[0]
    assert "shutdown hook ran" in runtime.stdout


def test_workers_register_once_per_environment_before_any_next(probe: Path) -> None:
    env = {"PROBE_HOOK": "1", "AWS_LAMBDA_MAX_CONCURRENCY": "3"}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("probe.handler", api.address, cwd=probe, env=env) as runtime,
    ):
        api.wait_for_next(3)
        wait_for(api, EVENT_NEXT)
        paths = [r.path for r in api.requests]
        runtime.process.send_signal(signal.SIGTERM)
        assert runtime.wait() == 0
    assert paths.count(REGISTER) == 1
    assert paths.count(EVENT_NEXT) == 1
    assert paths.index(REGISTER) < paths.index(NEXT)
    assert runtime.stdout.count("shutdown hook ran") == 3
