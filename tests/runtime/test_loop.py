"""The invoke loop in-process, with an injected list of invocations and a recording client."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from lambdakit._wire import Invocation, ResponseHead
from lambdakit.runtime import context as context_module
from lambdakit.runtime.client import Response
from lambdakit.runtime.errors import RuntimeAPIError
from lambdakit.runtime.logs import Logs, LogSettings, StdoutSink
from lambdakit.runtime.loop import Runtime


class RecordingClient:
    """Stands in for RuntimeClient: records what the loop posts, answers with ``status``."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.posts: list[tuple[str, Any]] = []

    def _answer(self) -> Response:
        return Response(ResponseHead(self.status, "", {}), b'{"status":"OK"}')

    def post_response(self, invocation: Invocation, body: bytes, content_type: str) -> Response:
        self.posts.append(("response", (invocation.request_id, body, content_type)))
        return self._answer()

    def post_error(
        self, invocation: Invocation, body: bytes, error_type: str, xray: str | None
    ) -> Response:
        self.posts.append(("error", (invocation.request_id, error_type)))
        return self._answer()


def make_runtime(handler: Any, client: RecordingClient) -> Runtime:
    logs = Logs(StdoutSink(), LogSettings({}))
    return Runtime(handler, client, logs=logs, config=context_module.FunctionConfig({}))  # type: ignore[arg-type]


def test_request_id_is_cleared_between_invocations() -> None:
    seen: list[str] = []

    def handler(event: object, context: object) -> str:
        seen.append(context_module.REQUEST_ID.get())
        return "ok"

    client = RecordingClient()
    make_runtime(handler, client).run(
        [Invocation(request_id="a", body=b"{}"), Invocation(request_id="b", body=b"{}")]
    )
    assert seen == ["a", "b"]
    assert context_module.REQUEST_ID.get() == ""
    assert [kind for kind, _ in client.posts] == ["response", "response"]


def test_refused_answers_are_reported_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    client = RecordingClient(status=410)
    make_runtime(lambda e, c: None, client).answer(Invocation(request_id="late", body=b"{}"))
    assert "refused the answer to request late: 410" in stderr.getvalue()


def test_server_errors_stop_the_loop() -> None:
    client = RecordingClient(status=500)
    with pytest.raises(RuntimeAPIError, match="failed \\(500\\)"):
        make_runtime(lambda e, c: None, client).answer(Invocation(request_id="x", body=b"{}"))


def test_handler_errors_are_posted_as_errors(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: object, context: object) -> None:
        raise ZeroDivisionError("nope")

    client = RecordingClient()
    make_runtime(handler, client).answer(Invocation(request_id="e", body=b"{}"))
    assert client.posts == [("error", ("e", "ZeroDivisionError"))]
    assert "[ERROR] ZeroDivisionError: nope" in capsys.readouterr().out
