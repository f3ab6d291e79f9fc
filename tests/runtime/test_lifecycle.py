"""Start-up, init errors, hooks, signals, losing the Runtime API, and Managed Instances workers."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import FUNCTIONS, RuntimeProcess
from tests.stub import NEXT, StubRuntimeAPI

LIFECYCLE = FUNCTIONS / "lifecycle"
INIT_ERROR = "/2018-06-01/runtime/init/error"


@pytest.mark.parametrize(
    ("handler", "cwd", "error_type", "message"),
    [
        (
            "nodots",
            LIFECYCLE,
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodots': not enough values to unpack (expected 2, got 1)",
        ),
        (
            "sys.handler",
            LIFECYCLE,
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module sys as a handler module",
        ),
        (
            "no_such_module.handler",
            LIFECYCLE,
            "Runtime.ImportModuleError",
            "Unable to import module 'no_such_module': No module named 'no_such_module'",
        ),
        (
            "missing_dep.handler",
            LIFECYCLE,
            "Runtime.ImportModuleError",
            "Unable to import module 'missing_dep': "
            "No module named 'lambdakit_test_no_such_dependency'",
        ),
        (
            "hooks.nope",
            LIFECYCLE,
            "Runtime.HandlerNotFound",
            "Handler 'nope' missing on module 'hooks'",
        ),
        ("raises_at_import.handler", LIFECYCLE, "RuntimeError", "boom at import"),
        ("hook_fails.handler", LIFECYCLE, "ConnectionError", "database unreachable"),
    ],
)
def test_init_errors_are_reported_once_then_the_runtime_exits_1(
    handler: str, cwd: Path, error_type: str, message: str
) -> None:
    with StubRuntimeAPI() as api, RuntimeProcess(handler, api.address, cwd=cwd) as runtime:
        (report,) = api.wait_for_answers(1)
        assert runtime.wait() == 1
    assert report.path == INIT_ERROR
    assert report.header("Lambda-Runtime-Function-Error-Type") == error_type
    body = report.json()
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == (error_type, message, "")
    assert not any(r.path == NEXT for r in api.requests)
    assert "LAMBDA_WARNING: Unhandled exception." in runtime.stdout
    assert f"[ERROR] {error_type}: {message}" in runtime.stdout
    assert "Traceback" not in runtime.stderr  # nothing escaped as a bare traceback


def test_syntax_error_reports_file_and_line() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("bad_syntax.handler", api.address, cwd=LIFECYCLE):
        (report,) = api.wait_for_answers(1)
    body = report.json()
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("Syntax error in module 'bad_syntax': ")
    assert "(bad_syntax.py, line 1)" in body["errorMessage"]
    (frame,) = body["stackTrace"]
    assert frame.startswith('  File "') and 'bad_syntax.py" Line 1\n    def handler' in frame


def test_exception_at_import_keeps_the_user_frame() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("raises_at_import.h", api.address, cwd=LIFECYCLE):
        (report,) = api.wait_for_answers(1)
    trace = report.json()["stackTrace"]
    assert trace and "raises_at_import.py" in trace[-1]
    assert not any("lambdakit/runtime" in frame for frame in trace)


def test_init_hooks_run_before_the_first_next() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("hooks.handler", api.address, cwd=LIFECYCLE):
        api.push({})
        (answer,) = api.wait_for_answers(1)
    assert answer.json() == {"init": 1, "async_init": True}


def test_sigterm_while_waiting_for_next_runs_shutdown_hooks_and_exits_0(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {"LAMBDAKIT_TEST_MARKER": str(marker)}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("hooks.handler", api.address, cwd=LIFECYCLE, env=env) as runtime,
    ):
        api.push({})
        api.wait_for_answers(1)
        api.wait_for_next(2)  # blocked in the second GET /next
        runtime.process.send_signal(signal.SIGTERM)
        assert runtime.wait() == 0
    assert marker.read_text() == "shutdown-hook-ran\n"
    assert "this hook fails" in runtime.stderr


def test_losing_the_runtime_api_ends_the_process_with_a_clear_message() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.echo", api.address) as runtime:
        api.push({})
        api.wait_for_answers(1)
        api.wait_for_next(2)
        api.close()
        assert runtime.wait() == 1
    assert "the Runtime API at 127.0.0.1:" in runtime.stderr
    assert "is unreachable" in runtime.stderr
    assert "Traceback" not in runtime.stderr


def test_no_runtime_api_at_all() -> None:
    with StubRuntimeAPI() as api:
        address = api.address
    with RuntimeProcess("app.echo", address) as runtime:
        assert runtime.wait() == 1
    assert "unreachable" in runtime.stderr and "Traceback" not in runtime.stderr


def test_missing_runtime_api_variable_is_a_usage_error() -> None:
    with RuntimeProcess("app.echo", "") as runtime:
        assert runtime.wait() == 2
    assert "AWS_LAMBDA_RUNTIME_API is not set" in runtime.stderr


def test_a_dropped_keep_alive_connection_is_reopened() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.echo", api.address):
        api.drop_after_answer = True
        for index in range(3):
            api.push({"i": index})
        answers = api.wait_for_answers(3)
    assert [a.json() for a in answers] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert api.connections >= 3


def test_a_refused_response_is_logged_and_the_loop_goes_on() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.echo", api.address) as runtime:
        api.answers["/response"] = (
            413,
            {
                "errorMessage": "Exceeded maximum allowed payload size",
                "errorType": "RequestEntityTooLarge",
            },
        )
        api.push({"first": 1})
        api.wait_for_answers(1)
        api.answers.clear()
        api.push({"second": 2})
        answers = api.wait_for_answers(2)
        assert answers[1].json() == {"second": 2}
        api.close()
        runtime.wait()
    assert "refused the answer" in runtime.stderr and "413" in runtime.stderr


def test_a_500_from_the_runtime_api_ends_the_process() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.echo", api.address) as runtime:
        api.answers["/response"] = (500, {"errorMessage": "Internal Server Error"})
        api.push({})
        api.wait_for_answers(1)
        assert runtime.wait() == 1
    assert "failed (500)" in runtime.stderr


def test_handler_calling_sys_exit_ends_the_process() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.exits", api.address) as runtime:
        api.push({})
        assert runtime.wait() == 3


def test_async_handlers_share_one_event_loop() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("async_app.handler", api.address, cwd=LIFECYCLE):
        for _ in range(3):
            api.push({})
        answers = api.wait_for_answers(3)
    assert answers[-1].json() == {"loops": 1, "calls": 3}


def test_async_handler_exception_is_an_invocation_error() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("async_app.raises", api.address, cwd=LIFECYCLE):
        api.push({})
        (answer,) = api.wait_for_answers(1)
    body = answer.json()
    assert (body["errorType"], body["errorMessage"]) == ("LookupError", "async failure")
    assert "in raises" in body["stackTrace"][-1]


def test_sync_handlers_do_not_load_heavy_modules() -> None:
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("sync_app.handler", api.address, cwd=LIFECYCLE, measured=False),
    ):
        api.push({})
        (answer,) = api.wait_for_answers(1)
    assert not any(answer.json().values()), answer.json()


# --- Lambda Managed Instances -----------------------------------------------------------


def test_workers_answer_concurrently_in_separate_processes() -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "3"}
    with StubRuntimeAPI() as api, RuntimeProcess("app.pid", api.address, env=env) as runtime:
        api.wait_for_next(3)  # three workers poll at once
        for index in range(6):
            api.push({}, request_id=f"lmi-{index}")
        answers = api.wait_for_answers(6)
        api.close()
        runtime.wait()
    results = [a.json() for a in answers]
    assert sorted(r["request_id"] for r in results) == [f"lmi-{i}" for i in range(6)]
    pids = {r["pid"] for r in results}
    assert len(pids) >= 2 and runtime.pid not in pids
    assert api.connections >= 3


def test_workers_keep_the_trace_id_out_of_the_environment() -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2"}
    with StubRuntimeAPI() as api, RuntimeProcess("app.trace_ids", api.address, env=env):
        api.push({}, request_id="w-1", headers={"Lambda-Runtime-Trace-Id": "Root=1-abc"})
        (answer,) = api.wait_for_answers(1)
    assert answer.json() == {"env": None, "var": "Root=1-abc", "request": "w-1"}


def test_workers_report_an_init_error_once() -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "3"}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("missing_dep.handler", api.address, cwd=LIFECYCLE, env=env) as runtime,
    ):
        assert runtime.wait() == 1
        time.sleep(0.2)  # let any (wrong) late report arrive before counting
    reports = [r for r in api.requests if r.path == INIT_ERROR]
    assert len(reports) == 1
    assert reports[0].json()["errorType"] == "Runtime.ImportModuleError"


def test_workers_run_shutdown_hooks_on_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2", "LAMBDAKIT_TEST_MARKER": str(marker)}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("hooks.handler", api.address, cwd=LIFECYCLE, env=env) as runtime,
    ):
        api.wait_for_next(2)
        runtime.process.send_signal(signal.SIGTERM)
        assert runtime.wait() == 0
    assert marker.read_text() == "shutdown-hook-ran\n" * 2


def test_a_crashed_worker_takes_the_environment_down() -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2"}
    with StubRuntimeAPI() as api, RuntimeProcess("app.exits", api.address, env=env) as runtime:
        api.wait_for_next(2)
        api.push({})
        assert runtime.wait() == 3
    assert os.path.exists("/proc/self")  # the parent reaped every worker (wait() returned)
