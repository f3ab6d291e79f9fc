"""Differential tests: awslambdaric (AWS's runtime, from PyPI) and lambdakit run the same scenarios.

Each scenario runs once per runtime, as a real child process against its own recording stub
Runtime API, with several events per process where the scenario allows. The tests compare a
normalised view of every recorded answer: method, path, the headers that matter, the X-Ray error
cause (parsed) and the body (parsed when it is JSON, raw bytes otherwise).

- Where the runtimes differ on purpose, the difference is one row of ``DIFFERENCES``, with its
  reason, and a test marked ``@pins(key)`` shows that the difference is real and exactly as
  described (so the table cannot go stale).
- Where lambdakit is wrong, the case is marked ``xfail(strict=True)`` with the bug as reason.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.stub import NEXT, RecordedRequest, StubRuntimeAPI

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions" / "differential"
APP = FUNCTIONS / "app.py"
RUNTIMES = ("lambdakit", "awslambdaric")
MODULES = {"lambdakit": "lambdakit.runtime", "awslambdaric": "awslambdaric"}
TIMEOUT = 20.0  # seconds; only a guard against a hung child, never a measurement

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "diff-function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/diff-function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef",
    "PYTHONDONTWRITEBYTECODE": "1",
}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stub"  # what the stub sends

INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
INVOCATION_ID = "Lambda-Runtime-Invocation-Id"
XRAY_CAUSE = "Lambda-Runtime-Function-XRay-Error-Cause"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

TEXT_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"  # also lambdakit's JSON timestamps
SECONDS_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # awslambdaric's JSON timestamps
# awslambdaric's C client prints this to stdout when the Runtime API goes away.
C_CLIENT_NOISE = re.compile(r"\[ERROR\] \[\d+\] LAMBDA_RUNTIME ")
UNHANDLED_WARNING = re.compile(
    rf"\[WARNING\]\t{TEXT_TIMESTAMP}\t\t"
    r"LAMBDA_WARNING: Unhandled exception\. The most likely cause is an issue in the function "
    r"code\. .* see https://docs\.aws\.amazon\.com/lambda/latest/dg/runtimes-update\.html\r"
)


# --- the documented differences -------------------------------------------------------------

DIFFERENCES: dict[str, str] = {
    "user-agent": "each runtime names itself in User-Agent; awslambdaric's http.client requests "
    "(/init/error) carry none",
    "error-type-header": "lambdakit also sends Lambda-Runtime-Function-Error-Type on "
    "/invocation/{id}/error (the platform need not parse the body); awslambdaric only on "
    "/init/error",
    "init-error-content-type": "lambdakit posts /init/error on its own connection with "
    "Content-Type: application/json; awslambdaric's http.client sends no Content-Type",
    "response-json-encoding": "lambdakit writes compact responses and keeps non-ASCII (also in "
    "error bodies); awslambdaric writes ', '/': ' separators and \\uXXXX escapes outside "
    "AWS_EXECUTION_ENV python3.12+ (same values once parsed)",
    "import-frames": "for an exception raised while the handler module is imported, lambdakit "
    "hides importlib's <frozen> frames and awslambdaric keeps them; the user's frames agree",
    "json-log-timestamp": "JSON log records: lambdakit's timestamp has milliseconds "
    "(awslambdaric issue #156), awslambdaric's has whole seconds",
    "json-content-type-parameters": "lambdakit parses an event sent as 'application/json; "
    "charset=utf-8'; awslambdaric passes anything but exactly 'application/json' as bytes",
    "bytearray-result": "lambdakit sends a bytearray result as it sends bytes "
    "(application/unknown); awslambdaric fails with Runtime.MarshalError",
    "non-object-context-header": "a client-context or cognito-identity header that is valid "
    "JSON but not an object: lambdakit reports Runtime.LambdaContextUnmarshalError; "
    "awslambdaric fails with an AttributeError raised in its own lambda_context.py",
    "missing-content-type": "awslambdaric 4.2.2 dies of SIGSEGV (in its C client) when /next "
    "has no Content-Type; lambdakit passes the body as bytes, as awslambdaric's marshaller would",
    "refused-answer": "when the Runtime API refuses an answer with a 4xx (413: too large), "
    "lambdakit logs it on stderr and takes the next event; awslambdaric raises and exits 1",
    "log-level-case": "lambdakit reads AWS_LAMBDA_LOG_LEVEL case-insensitively, so 'trace' means "
    "DEBUG; awslambdaric maps only 'TRACE' and ignores 'trace' (Lambda always sends upper case)",
    "namedtuple-result": "a namedtuple in a result is a JSON array in lambdakit (the standard "
    "json module's rule, kept because its C encoder cannot be told otherwise without slowing "
    "every response); awslambdaric's simplejson writes an object",
    "unmarshal-wording": "Runtime.UnmarshalError messages use the standard json module's wording; "
    "awslambdaric's come from simplejson, which words some errors differently (same error type, "
    "same position)",
    "api-gone-output": "when the Runtime API goes away both exit 1; awslambdaric's C client "
    "prints '[ERROR] [<ms>] LAMBDA_RUNTIME Failed to get next invocation...' on stdout, "
    "lambdakit one line on stderr",
}

_PINNED: set[str] = set()


def pins(key: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a test as the one that shows ``DIFFERENCES[key]`` is real."""
    assert key in DIFFERENCES, key

    def register(test: Callable[..., None]) -> Callable[..., None]:
        _PINNED.add(key)
        return test

    return register


# --- lambdakit bugs found by these tests (xfail until fixed) --------------------------------


# --- scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event to push; ``differs`` names a DIFFERENCES row (the answers are not compared)."""

    request_id: str
    body: object = b"{}"
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    differs: str | None = None
    bug: pytest.MarkDecorator | None = None


@dataclass(frozen=True)
class Scenario:
    """A handler and its events; without events, the runtime is expected to fail its init."""

    handler: str
    events: tuple[Event, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # a handler tree written to a temp dir
    stub_answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    compare: bool = True


def results(*cases: str) -> tuple[Event, ...]:
    return tuple(Event(f"result-{case}", {"case": case}) for case in cases)


CLIENT_CONTEXT = {
    "custom": {"k": "v"},
    "env": {"locale": "en"},
    "client": {"app_title": "t", "installation_id": "i-1"},
    "w3c": {"traceparent": "00-abc-def-01", "tracestate": 5, "junk": "dropped"},
}
COGNITO = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}

INIT_ERRORS = {
    "init-malformed-name": (
        "nodots",
        "Runtime.MalformedHandlerName",
        "Bad handler 'nodots': not enough values to unpack (expected 2, got 1)",
    ),
    "init-builtin-conflict": (
        "sys.handler",
        "Runtime.BuiltInModuleConflict",
        "Cannot use built-in module sys as a handler module",
    ),
    "init-missing-module": (
        "nosuchmod.handler",
        "Runtime.ImportModuleError",
        "Unable to import module 'nosuchmod': No module named 'nosuchmod'",
    ),
    "init-missing-dependency": (
        "missing_dep.handler",
        "Runtime.ImportModuleError",
        "Unable to import module 'missing_dep': "
        "No module named 'lambdakit_differential_missing_dependency'",
    ),
    "init-syntax-error": (
        "bad_syntax.handler",
        "Runtime.UserCodeSyntaxError",
        "Syntax error in module 'bad_syntax': expected ':' (bad_syntax.py, line 1)",
    ),
    "init-handler-missing": (
        "app.nope",
        "Runtime.HandlerNotFound",
        "Handler 'nope' missing on module 'app'",
    ),
    "init-raises": ("import_raises.handler", "RuntimeError", "database unreachable at import"),
}
# Written at test time: a file that does not parse would break the linters.
BAD_SYNTAX = {"bad_syntax.py": "def handler(event, context)\n    return 1\n"}

SCENARIOS: dict[str, Scenario] = {
    "results": Scenario(
        "app.results",
        results("object", "unicode", "decimal", "bytes", "none", "str", "empty-bytes", "float"),
    ),
    "echo": Scenario(
        "app.echo",
        (
            Event("echo-object", {"a": [1, 2.5, None], "b": {"c": "d"}}),
            Event("echo-unicode", {"text": "héllo ✓ 日本"}),
            Event("echo-invocation-id", {"n": 1}, headers={INVOCATION_ID: "inv-echo-1"}),
            Event("echo-lone-surrogate", b'{"half": "\\ud83d"}'),
        ),
    ),
    "raises": Scenario(
        "app.raises",
        (Event("raises-1", headers={INVOCATION_ID: "inv-raises-1"}), Event("raises-2")),
    ),
    "raises-custom": Scenario("app.raises_custom", (Event("custom-1"),)),
    "raises-unicode": Scenario("app.raises_unicode", (Event("raises-unicode-1"),)),
    "raises-nested": Scenario("app.raises_nested", (Event("nested-1", {"amount": "ten"}),)),
    "unserializable": Scenario(
        "app.unserializable", (Event("unserializable-1", headers={INVOCATION_ID: "inv-u-1"}),)
    ),
    "namedtuple": Scenario(
        "app.returns_namedtuple", (Event("namedtuple-1", differs="namedtuple-result"),)
    ),
    "nested-bytes": Scenario("app.returns_nested_bytes", (Event("nested-bytes-1"),)),
    "bytearray": Scenario(
        "app.returns_bytearray", (Event("bytearray-1", differs="bytearray-result"),)
    ),
    "events": Scenario(
        "app.event_type",
        (
            Event("event-json", {"a": 1}),
            Event("event-text-plain", b'{"a":1}', content_type="text/plain"),
            Event("event-octet-stream", b"\x00\x01\xff", content_type="application/octet-stream"),
            Event(
                "event-json-charset",
                b'{"a":1}',
                content_type="application/json; charset=utf-8",
                differs="json-content-type-parameters",
            ),
            Event("event-truncated", b'{"a":'),
            Event("event-empty", b""),
            Event("event-object-key", b"{bad", differs="unmarshal-wording"),
            Event("event-extra-data", b"{} x", differs="unmarshal-wording"),
            Event("event-trailing-comma", b"[1,]", differs="unmarshal-wording"),
            Event("event-invalid-utf8", b"\x00\x01binary\xff"),
        ),
    ),
    "refused-answer": Scenario(
        "app.echo",
        (Event("refused-1", {"n": 1}), Event("refused-2", {"n": 2})),
        stub_answers={"/response": (413, {"errorType": "RequestEntityTooLarge"})},
        compare=False,
    ),
    # In a directory of its own: a core dump of awslambdaric must not land in the source tree.
    "missing-content-type": Scenario(
        "app.event_type",
        (Event("event-no-content-type", b'{"a":1}', content_type=None),),
        files={"app.py": APP.read_text()},
        compare=False,
    ),
    "context": Scenario(
        "app.context_dump",
        (
            Event("context-plain"),
            Event(
                "context-full",
                headers={
                    "Lambda-Runtime-Client-Context": json.dumps(CLIENT_CONTEXT),
                    "Lambda-Runtime-Cognito-Identity": json.dumps(COGNITO),
                    "Lambda-Runtime-Aws-Tenant-Id": "tenant-7",
                },
            ),
            Event("context-bad-client", headers={"Lambda-Runtime-Client-Context": "{bad"}),
            Event("context-bad-cognito", headers={"Lambda-Runtime-Cognito-Identity": "nope"}),
            Event(
                "context-list-cognito",
                headers={"Lambda-Runtime-Cognito-Identity": "[1]"},
                differs="non-object-context-header",
            ),
        ),
    ),
    "context-repr": Scenario(
        "app.context_repr",
        (
            Event("repr-plain"),
            Event(
                "repr-full",
                headers={
                    "Lambda-Runtime-Client-Context": json.dumps(CLIENT_CONTEXT),
                    "Lambda-Runtime-Cognito-Identity": json.dumps(COGNITO),
                    "Lambda-Runtime-Aws-Tenant-Id": "tenant-7",
                },
            ),
        ),
    ),
    "trace": Scenario(
        "app.trace_env",
        (
            Event("trace-none-at-start"),
            Event("trace-set", headers={"Lambda-Runtime-Trace-Id": TRACE_ID}),
            Event("trace-deleted"),
        ),
        env={"_X_AMZN_TRACE_ID": "stale-from-the-environment"},
    ),
    "text-logs": Scenario("app.logs_root_warning", (Event("text-log-1"), Event("text-log-2"))),
    "log-level-info": Scenario(
        "app.logs_levels", (Event("level-info"),), env={"AWS_LAMBDA_LOG_LEVEL": "INFO"}
    ),
    "log-level-trace": Scenario(
        "app.logs_levels", (Event("level-trace"),), env={"AWS_LAMBDA_LOG_LEVEL": "TRACE"}
    ),
    "log-level-lowercase-trace": Scenario(
        "app.logs_levels",
        (Event("level-lowercase-trace", differs="log-level-case"),),
        env={"AWS_LAMBDA_LOG_LEVEL": "trace"},
    ),
    "json-logs": Scenario(
        "app.logs_json",
        (
            Event("json-log-1", headers={"Lambda-Runtime-Aws-Tenant-Id": "tenant-7"}),
            Event("json-log-fail", {"fail": True}),
        ),
        env={"AWS_LAMBDA_LOG_FORMAT": "JSON"},
    ),
    "json-init-error": Scenario("nosuchmod.handler", env={"AWS_LAMBDA_LOG_FORMAT": "json"}),
    "unicode-py312-env": Scenario(
        "app.results", results("unicode"), env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}
    ),
    **{
        name: Scenario(spec, files=BAD_SYNTAX if spec.startswith("bad_syntax") else {})
        for name, (spec, _, _) in INIT_ERRORS.items()
    },
}


# --- the harness -----------------------------------------------------------------------------


@dataclass
class Run:
    """What one runtime did in one scenario."""

    runtime: str
    requests: list[RecordedRequest]
    stdout: str
    stderr: str
    returncode: int

    @property
    def answers(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path != NEXT]

    def answer(self, request_id: str | None) -> RecordedRequest:
        """The answer to ``request_id``, or the /init/error report for None."""
        for request in self.answers:
            if request_id is None and request.path == INIT_ERROR_PATH:
                return request
            if request_id is not None and f"/invocation/{request_id}/" in request.path:
                return request
        raise AssertionError(f"{self.runtime}: no answer for {request_id}: {self.describe()}")

    def body(self, request_id: str | None) -> Any:
        """The answer's body, parsed as JSON."""
        return json.loads(self.answer(request_id).body)

    def log_lines(self) -> list[str]:
        """stdout split into records (a TEXT error record is one line: its lines end in \\r)."""
        lines = self.stdout.split("\n")
        return [line for line in lines if line and not C_CLIENT_NOISE.match(line)]

    def json_records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]

    def describe(self) -> str:
        answers = "\n".join(f"  {r.method} {r.path} {r.headers} {r.body!r}" for r in self.answers)
        return (
            f"exit {self.returncode}\nanswers:\n{answers}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr[-2000:]}"
        )


def child_environment(address: str, extra: dict[str, str]) -> dict[str, str]:
    """The test process's environment without Lambda's variables, plus the function's."""
    lambda_prefixes = ("AWS_", "_X_AMZN", "_LAMBDA", "_HANDLER", "LAMBDA_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(lambda_prefixes)}
    environ.update(FUNCTION_ENV, AWS_LAMBDA_RUNTIME_API=address)
    environ.update(extra)
    return environ


def wait_until(done: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Wait until ``done()`` or until the child exits (its outcome is then asserted on)."""
    deadline = time.monotonic() + TIMEOUT
    while not done() and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("the runtime neither answered nor exited")
        time.sleep(0.005)


def run_runtime(runtime: str, scenario: Scenario, cwd: Path) -> Run:
    """Run ``scenario`` under ``runtime`` against a fresh stub and collect what happened."""
    with StubRuntimeAPI() as api:
        api.answers.update(scenario.stub_answers)
        process = subprocess.Popen(
            [sys.executable, "-m", MODULES[runtime], scenario.handler],
            cwd=cwd,
            env=child_environment(api.address, scenario.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            for event in scenario.events:
                api.push(
                    event.body,
                    request_id=event.request_id,
                    content_type=event.content_type,
                    headers=event.headers,
                )
            nexts = len(scenario.events) + 1  # back in /next: the last answer was delivered
            wait_until(lambda: sum(r.path == NEXT for r in api.requests) >= nexts, process)
            if not scenario.events:
                process.wait(TIMEOUT)  # an init error: the runtime exits by itself
            api.close()
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        requests = list(api.requests)
    return Run(runtime, requests, stdout.decode(), stderr.decode(), process.returncode)


class Runs:
    """Each (scenario, runtime) pair runs at most once per module, when first asked for."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._runs: dict[tuple[str, str], Run] = {}
        self._dirs: dict[str, Path] = {}

    def __call__(self, name: str, runtime: str) -> Run:
        key = (name, runtime)
        if key not in self._runs:
            self._runs[key] = run_runtime(runtime, SCENARIOS[name], self.cwd(name))
        return self._runs[key]

    def both(self, name: str) -> tuple[Run, Run]:
        """(lambdakit's run, awslambdaric's run)."""
        return self(name, "lambdakit"), self(name, "awslambdaric")

    def cwd(self, name: str) -> Path:
        """The scenario's handler directory (the child's working directory)."""
        files = SCENARIOS[name].files
        if not files:
            return FUNCTIONS
        if name not in self._dirs:  # one directory for both runtimes: paths must agree
            directory = self._tmp.mktemp(name)
            for filename, text in files.items():
                (directory / filename).write_text(text)
            self._dirs[name] = directory
        return self._dirs[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory)


# --- the normalised view -----------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A JSON number (or NaN/Infinity) kept as written: 1.10 and 1.1 must not compare equal."""

    text: str


def parse_json(data: bytes | str) -> object:
    return json.loads(data, parse_float=Number, parse_constant=Number)


def is_error_path(path: str) -> bool:
    return path.endswith("/error")


def body_view(request: RecordedRequest) -> object:
    content_type = request.header("Content-Type") or ""
    if is_error_path(request.path) or content_type.startswith("application/json"):
        return parse_json(request.body)
    return request.body


def xray_view(request: RecordedRequest) -> object:
    cause = request.header(XRAY_CAUSE)
    if cause is None:
        return None
    document = parse_json(cause)
    assert isinstance(document, dict)
    document["paths"] = sorted(document["paths"])  # awslambdaric builds them from a set
    return document


def view(request: RecordedRequest) -> dict[str, object]:
    return {
        "method": request.method,
        "path": request.path,
        "content-type": request.header("Content-Type"),
        "error-type": request.header(ERROR_TYPE),
        "invocation-id": request.header(INVOCATION_ID),
        "xray-cause": xray_view(request),
        "body": body_view(request),
    }


def is_importlib_frame(frame: str) -> bool:
    return frame.startswith('  File "<frozen importlib') or "/importlib/__init__.py" in frame


def drop_importlib_frames(record: str) -> str:
    """A TEXT error record without the frames of importlib (see ``is_importlib_frame``)."""
    separator = "\r\xa0\xa0File "
    head, *frames = record.split(separator)
    kept = [f for f in frames if not is_importlib_frame("  File " + f.split("\r")[0])]
    return separator.join([head, *kept])


def comparable(request: RecordedRequest, runtime: str) -> dict[str, object]:
    """``view(request)`` with the documented differences taken out."""
    result = view(request)
    init_error = request.path == INIT_ERROR_PATH
    body = result["body"]
    if runtime == "lambdakit" and is_error_path(request.path) and not init_error:
        assert isinstance(body, dict) and result["error-type"] == body["errorType"]
        result["error-type"] = None  # DIFFERENCES["error-type-header"]
    if runtime == "lambdakit" and init_error:
        result["content-type"] = None  # DIFFERENCES["init-error-content-type"]
    if init_error and isinstance(body, dict):  # DIFFERENCES["import-frames"]
        body["stackTrace"] = [f for f in body["stackTrace"] if not is_importlib_frame(f)]
    return result


def agreement_cases() -> Iterator[object]:
    for name, scenario in SCENARIOS.items():
        if not scenario.compare:
            continue
        if not scenario.events:
            yield pytest.param(name, None, id=name)
        for event in scenario.events:
            if event.differs is None:
                marks = [event.bug] if event.bug else []
                yield pytest.param(name, event.request_id, marks=marks, id=event.request_id)


def line_of(text: str, path: Path = APP) -> int:
    """The number of the one line of ``path`` that is ``text`` (indentation aside)."""
    lines = path.read_text().splitlines()
    numbers = [n for n, line in enumerate(lines, 1) if line.strip() == text]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


# --- the runtimes agree ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "request_id"), list(agreement_cases()))
def test_answers_agree(runs: Runs, name: str, request_id: str | None) -> None:
    lambdakit, awslambdaric = runs.both(name)
    expected = comparable(awslambdaric.answer(request_id), "awslambdaric")
    assert comparable(lambdakit.answer(request_id), "lambdakit") == expected


@pytest.mark.parametrize(
    "name",
    [
        "raises",
        "raises-custom",
        "raises-unicode",
        "unserializable",
        "raises-nested",
        *INIT_ERRORS,
    ],
)
def test_text_error_records_agree(runs: Runs, name: str) -> None:
    """The ``[ERROR] Type: message\\rTraceback...`` records on stdout are the same bytes."""

    def records(run: Run) -> list[str]:
        lines = [line for line in run.log_lines() if line.startswith("[ERROR] ")]
        return [drop_importlib_frames(line) for line in lines]  # DIFFERENCES["import-frames"]

    lambdakit, awslambdaric = runs.both(name)
    assert records(awslambdaric), awslambdaric.describe()
    assert records(lambdakit) == records(awslambdaric)


@pytest.mark.parametrize("name", ["json-logs", "json-init-error"])
@pins("json-log-timestamp")
def test_json_log_records_agree_but_for_the_timestamp(runs: Runs, name: str) -> None:
    lambdakit, awslambdaric = runs.both(name)
    stamps = {"lambdakit": TEXT_TIMESTAMP, "awslambdaric": SECONDS_TIMESTAMP}
    items = {}
    for run in (lambdakit, awslambdaric):
        records = run.json_records()
        assert records, run.describe()
        for record in records:
            assert re.fullmatch(stamps[run.runtime], str(record.pop("timestamp")))
        items[run.runtime] = [list(record.items()) for record in records]  # key order counts
    assert items["lambdakit"] == items["awslambdaric"]


# --- what both runtimes do, checked against expectations -------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_results_round_trip(runs: Runs, runtime: str) -> None:
    run = runs("results", runtime)
    by_case = {r.path.split("/")[-2].removeprefix("result-"): r for r in run.answers}
    assert parse_json(by_case["unicode"].body) == {
        "text": "héllo ✓",
        "nested": ["ü", "日本"],
        "emoji": "\U0001f600",
    }
    assert parse_json(by_case["decimal"].body) == {
        "price": Number("1.10"),
        "big": Number("12345678901234567890.000001"),
        "small": Number("-0.000"),
        "exp": Number("1E+3"),
        "nan": Number("NaN"),
    }
    assert (by_case["bytes"].header("Content-Type"), by_case["bytes"].body) == (
        "application/unknown",
        b"\x00\x01binary\xff",
    )
    assert by_case["none"].body == b"null"
    assert parse_json(by_case["str"].body) == 'a "quoted" string'
    assert all(r.path.endswith("/response") for r in run.answers)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_handler_error_report(runs: Runs, runtime: str) -> None:
    answer = runs("raises", runtime).answer("raises-1")
    assert answer.path == "/2018-06-01/runtime/invocation/raises-1/error"
    assert answer.header("Content-Type") == "application/json"
    body = answer.json()
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    line = line_of('raise ValueError("bad thing")')
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad thing"
    assert body["requestId"] == "raises-1"
    assert body["stackTrace"] == [
        f'  File "{APP}", line {line}, in raises\n    raise ValueError("bad thing")\n'
    ]
    cause = answer.header(XRAY_CAUSE)
    assert cause is not None
    assert json.loads(cause) == {
        "working_directory": str(FUNCTIONS),
        "exceptions": [
            {
                "message": "bad thing",
                "type": "ValueError",
                "stack": [{"label": "raises", "path": str(APP), "line": line}],
            }
        ],
        "paths": [str(APP)],
    }


def test_handler_error_bodies_are_the_same_bytes(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("raises")
    for request_id in ("raises-1", "raises-2"):
        assert lambdakit.answer(request_id).body == awslambdaric.answer(request_id).body


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_custom_exception_is_reported_under_its_class_name(runs: Runs, runtime: str) -> None:
    body = runs("raises-custom", runtime).body("custom-1")
    assert (body["errorType"], body["errorMessage"]) == ("InsufficientFunds", "balance 3 < 5")
    assert body["stackTrace"][-1].endswith('raise InsufficientFunds("balance 3 < 5")\n')


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unserializable_result_is_a_marshal_error(runs: Runs, runtime: str) -> None:
    answer = runs("unserializable", runtime).answer("unserializable-1")
    message = "Unable to marshal response: Object of type set is not JSON serializable"
    assert answer.json() == {
        "errorMessage": message,
        "errorType": "Runtime.MarshalError",
        "requestId": "unserializable-1",
        "stackTrace": [],
    }
    cause = answer.header(XRAY_CAUSE)
    assert cause is not None
    assert json.loads(cause)["exceptions"] == [
        {"message": message, "type": "LambdaValidationError", "stack": []}
    ]
    assert answer.header(INVOCATION_ID) == "inv-u-1"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_events_by_content_type(runs: Runs, runtime: str) -> None:
    run = runs("events", runtime)
    assert run.body("event-json") == {"type": "dict", "value": {"a": 1}}
    assert run.body("event-text-plain") == {"type": "bytes", "value": '{"a":1}'}
    assert run.body("event-octet-stream") == {"type": "bytes", "value": "\x00\x01\xff"}
    assert run.body("event-truncated") == {
        "errorMessage": "Unable to unmarshal input: Expecting value: line 1 column 6 (char 5)",
        "errorType": "Runtime.UnmarshalError",
        "requestId": "event-truncated",
        "stackTrace": [],
    }


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_context_fields(runs: Runs, runtime: str) -> None:
    run = runs("context", runtime)
    common = {
        "function_name": "diff-function",
        "function_version": "$LATEST",
        "memory_limit_in_mb": "256",
        "memory_type": "str",
        "log_group_name": "/aws/lambda/diff-function",
        "log_stream_name": "2026/11/27/[$LATEST]0123456789abcdef",
        "invoked_function_arn": FUNCTION_ARN,
        "remaining_positive": True,
    }
    assert run.body("context-plain") == {
        **common,
        "aws_request_id": "context-plain",
        "tenant_id": None,
        "identity": [None, None],
        "identity_repr": "CognitoIdentity([cognito_identity_id=None,"
        "cognito_identity_pool_id=None])",
        "client_context_none": True,
        "custom": None,
        "env": None,
        "client_app_title": None,
        "client_installation_id": None,
        "w3c": {},
    }
    assert run.body("context-full") == {
        **common,
        "aws_request_id": "context-full",
        "tenant_id": "tenant-7",
        "identity": ["id-1", "pool-1"],
        "identity_repr": "CognitoIdentity([cognito_identity_id=id-1,"
        "cognito_identity_pool_id=pool-1])",
        "client_context_none": False,
        "custom": {"k": "v"},
        "env": {"locale": "en"},
        "client_app_title": "t",
        "client_installation_id": "i-1",
        "w3c": {"traceparent": "00-abc-def-01"},
    }


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_context_repr(runs: Runs, runtime: str) -> None:
    body = runs("context-repr", runtime).body("repr-full")
    client = (
        "ClientContext([custom={'k': 'v'},env={'locale': 'en'},client=Client([installation_id=i-1,"
        "app_title=t,app_version_name=None,app_version_code=None,app_package_name=None])])"
    )
    assert body["client_context"] == client
    assert body["context"] == (
        "LambdaContext([aws_request_id=repr-full,log_group_name=/aws/lambda/diff-function,"
        "log_stream_name=2026/11/27/[$LATEST]0123456789abcdef,function_name=diff-function,"
        f"memory_limit_in_mb=256,function_version=$LATEST,invoked_function_arn={FUNCTION_ARN},"
        f"client_context={client},identity=CognitoIdentity([cognito_identity_id=id-1,"
        "cognito_identity_pool_id=pool-1]),tenant_id=tenant-7])"
    )


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bad_context_json_is_a_context_unmarshal_error(runs: Runs, runtime: str) -> None:
    run = runs("context", runtime)
    expected = {
        "context-bad-client": "Unable to parse Client Context JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)",
        "context-bad-cognito": "Unable to parse Cognito Identity JSON: "
        "Expecting value: line 1 column 1 (char 0)",
    }
    for request_id, message in expected.items():
        assert run.body(request_id) == {
            "errorMessage": message,
            "errorType": "Runtime.LambdaContextUnmarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_invocation_id_is_echoed(runs: Runs, runtime: str) -> None:
    assert runs("echo", runtime).answer("echo-invocation-id").header(INVOCATION_ID) == "inv-echo-1"
    assert runs("raises", runtime).answer("raises-1").header(INVOCATION_ID) == "inv-raises-1"
    assert runs("echo", runtime).answer("echo-object").header(INVOCATION_ID) is None


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_trace_id_environment_variable(runs: Runs, runtime: str) -> None:
    run = runs("trace", runtime)
    assert run.body("trace-none-at-start") == {"trace": None}
    assert run.body("trace-set") == {"trace": TRACE_ID}
    assert run.body("trace-deleted") == {"trace": None}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", list(INIT_ERRORS))
def test_init_error(runs: Runs, name: str, runtime: str) -> None:
    _, error_type, message = INIT_ERRORS[name]
    run = runs(name, runtime)
    assert run.returncode == 1, run.describe()
    assert [(r.method, r.path) for r in run.answers] == [("POST", INIT_ERROR_PATH)]
    report = run.answer(None)
    assert report.header(ERROR_TYPE) == error_type
    body = report.json()
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == (
        error_type,
        message,
        "",
    )
    lines = run.log_lines()
    assert any(UNHANDLED_WARNING.fullmatch(line) for line in lines), run.describe()
    head = f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):"
    assert any(line.startswith(head) for line in lines), run.describe()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_init_error_stack_traces(runs: Runs, runtime: str) -> None:
    syntax = runs("init-syntax-error", runtime).body(None)
    source = runs.cwd("init-syntax-error") / "bad_syntax.py"
    assert syntax["stackTrace"] == [f'  File "{source}" Line 1\n    def handler(event, context)\n']
    raised = runs("init-raises", runtime).body(None)
    module = FUNCTIONS / "import_raises.py"
    call, raise_ = "_connect()", 'raise RuntimeError("database unreachable at import")'
    assert raised["stackTrace"][-2:] == [
        f'  File "{module}", line {line_of(call, module)}, in <module>\n    {call}\n',
        f'  File "{module}", line {line_of(raise_, module)}, in _connect\n    {raise_}\n',
    ]
    for name in ("init-malformed-name", "init-missing-module", "init-handler-missing"):
        assert runs(name, runtime).body(None)["stackTrace"] == []


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_text_log_lines(runs: Runs, runtime: str) -> None:
    lines = runs("text-logs", runtime).log_lines()
    for request_id in ("text-log-1", "text-log-2"):
        pattern = rf"\[WARNING\]\t{TEXT_TIMESTAMP}\t{request_id}\twarning from {request_id}"
        assert sum(bool(re.fullmatch(pattern, line)) for line in lines) == 1, lines
    assert lines.count("printed words") == 2  # print() and context.log() reach stdout as is
    assert lines.count("context log") == 2


@pytest.mark.parametrize("name", ["text-logs", "log-level-info", "log-level-trace"])
def test_text_logs_agree(runs: Runs, name: str) -> None:
    """stdout, line for line, once timestamps are masked: records, print() and context.log()."""

    def masked(run: Run) -> list[str]:
        return [re.sub(TEXT_TIMESTAMP, "<timestamp>", line) for line in run.log_lines()]

    lambdakit, awslambdaric = runs.both(name)
    assert masked(awslambdaric), awslambdaric.describe()
    assert masked(lambdakit) == masked(awslambdaric)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_text_error_record_format(runs: Runs, runtime: str) -> None:
    records = [line for line in runs("raises", runtime).log_lines() if line.startswith("[ERROR]")]
    nbsp, raise_ = "\u00a0", 'raise ValueError("bad thing")'
    expected = (
        "[ERROR] ValueError: bad thing\r"
        "Traceback (most recent call last):\r"
        f'{nbsp * 2}File "{APP}", line {line_of(raise_)}, in raises\r'
        f"{nbsp * 4}{raise_}"
    )
    assert records == [expected, expected]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_json_log_records(runs: Runs, runtime: str) -> None:
    records = runs("json-logs", runtime).json_records()
    for record in records:
        record.pop("timestamp")
    assert records[:2] == [
        {
            "level": "WARNING",
            "message": "warning from json-log-1",
            "logger": "app",
            "requestId": "json-log-1",
            "tenantId": "tenant-7",
            "order": 7,
        },
        {
            "level": "ERROR",
            "message": {"structured": True, "n": 1},
            "logger": "app",
            "requestId": "json-log-1",
            "tenantId": "tenant-7",
        },
    ]
    failure = records[-1]
    assert list(failure) == ["level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert (failure["errorType"], failure["requestId"]) == ("ValueError", "json-log-fail")
    assert len(records) == 5


# --- the documented differences are real ---------------------------------------------------


def test_every_documented_difference_is_pinned_by_a_test() -> None:
    assert set(DIFFERENCES) == _PINNED


@pins("user-agent")
def test_user_agents(runs: Runs) -> None:
    from lambdakit import __version__

    python = "%d.%d.%d" % sys.version_info[:3]
    agents = {
        "lambdakit": f"lambdakit/{__version__} python/{python}",
        "awslambdaric": f"aws-lambda-python/{python}-4.2.2",
    }
    for run in runs.both("raises"):
        assert {r.header("User-Agent") for r in run.requests} == {agents[run.runtime]}
    lambdakit, awslambdaric = runs.both("init-missing-module")
    assert lambdakit.answer(None).header("User-Agent") == agents["lambdakit"]
    assert awslambdaric.answer(None).header("User-Agent") is None


@pins("error-type-header")
def test_error_type_header(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("raises")
    assert lambdakit.answer("raises-1").header(ERROR_TYPE) == "ValueError"
    assert awslambdaric.answer("raises-1").header(ERROR_TYPE) is None
    lambdakit, awslambdaric = runs.both("unserializable")
    assert lambdakit.answer("unserializable-1").header(ERROR_TYPE) == "Runtime.MarshalError"
    assert awslambdaric.answer("unserializable-1").header(ERROR_TYPE) is None


@pins("init-error-content-type")
def test_init_error_content_type(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("init-missing-module")
    assert lambdakit.answer(None).header("Content-Type") == "application/json"
    assert awslambdaric.answer(None).header("Content-Type") is None


@pins("response-json-encoding")
def test_response_json_encoding(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("results")
    unicode = {
        "lambdakit": '{"text":"héllo ✓","nested":["ü","日本"],"emoji":"\U0001f600"}'.encode(),
        "awslambdaric": b'{"text": "h\\u00e9llo \\u2713", "nested": ["\\u00fc", "\\u65e5\\u672c"],'
        b' "emoji": "\\ud83d\\ude00"}',
    }
    decimal = {
        "lambdakit": b'{"price":1.10,"big":12345678901234567890.000001,"small":-0.000,'
        b'"exp":1E+3,"nan":NaN}',
        "awslambdaric": b'{"price": 1.10, "big": 12345678901234567890.000001, "small": -0.000,'
        b' "exp": 1E+3, "nan": NaN}',
    }
    for run in (lambdakit, awslambdaric):
        assert run.answer("result-unicode").body == unicode[run.runtime]
        assert run.answer("result-decimal").body == decimal[run.runtime]
    # In the python3.12+ execution environments awslambdaric keeps non-ASCII too.
    py312 = runs("unicode-py312-env", "awslambdaric").answer("result-unicode").body
    assert py312 == '{"text": "héllo ✓", "nested": ["ü", "日本"], "emoji": "\U0001f600"}'.encode()


@pins("import-frames")
def test_import_time_frames(runs: Runs) -> None:
    traces = {run.runtime: run.body(None)["stackTrace"] for run in runs.both("init-raises")}
    frozen = '  File "<frozen importlib'
    assert any(frame.startswith(frozen) for frame in traces["awslambdaric"])
    assert not any(frame.startswith(frozen) for frame in traces["lambdakit"])
    user = {k: [f for f in v if not is_importlib_frame(f)] for k, v in traces.items()}
    assert len(user["lambdakit"]) == 2
    assert user["lambdakit"] == user["awslambdaric"]


@pins("json-content-type-parameters")
def test_json_content_type_with_parameters(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("events")
    assert lambdakit.body("event-json-charset") == {"type": "dict", "value": {"a": 1}}
    assert awslambdaric.body("event-json-charset") == {
        "type": "bytes",
        "value": '{"a":1}',
    }


@pins("bytearray-result")
def test_bytearray_result(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("bytearray")
    answer = lambdakit.answer("bytearray-1")
    assert (answer.path.endswith("/response"), answer.header("Content-Type"), answer.body) == (
        True,
        "application/unknown",
        b"raw",
    )
    assert awslambdaric.body("bytearray-1") == {
        "errorMessage": "Unable to marshal response: Object of type bytearray is not JSON "
        "serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "bytearray-1",
        "stackTrace": [],
    }


@pins("non-object-context-header")
def test_non_object_context_header(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("context")
    assert lambdakit.body("context-list-cognito") == {
        "errorMessage": "Unable to parse Cognito Identity JSON: expected an object",
        "errorType": "Runtime.LambdaContextUnmarshalError",
        "requestId": "context-list-cognito",
        "stackTrace": [],
    }
    body = awslambdaric.body("context-list-cognito")
    assert (body["errorType"], body["errorMessage"]) == (
        "AttributeError",
        "'list' object has no attribute 'get'",
    )
    assert "awslambdaric/lambda_context.py" in body["stackTrace"][-1]


@pins("missing-content-type")
def test_missing_content_type(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("missing-content-type")
    assert lambdakit.body("event-no-content-type") == {
        "type": "bytes",
        "value": '{"a":1}',
    }
    assert awslambdaric.returncode == -signal.SIGSEGV, awslambdaric.describe()
    assert awslambdaric.answers == []


@pins("log-level-case")
def test_log_level_case(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("log-level-lowercase-trace")
    assert lambdakit.answer("level-lowercase-trace").body == b"10"  # DEBUG
    assert awslambdaric.answer("level-lowercase-trace").body == b"30"  # Python's default
    assert [line.split("\t")[0] for line in lambdakit.log_lines()] == [
        "[DEBUG]",
        "[INFO]",
        "[WARNING]",
    ]
    assert [line.split("\t")[0] for line in awslambdaric.log_lines()] == ["[WARNING]"]


@pins("refused-answer")
def test_refused_answer(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("refused-answer")
    assert [r.path.split("/")[-2] for r in lambdakit.answers] == ["refused-1", "refused-2"]
    assert "lambdakit: Lambda refused the answer to request refused-1: 413" in lambdakit.stderr
    assert [r.path.split("/")[-2] for r in awslambdaric.answers] == ["refused-1"]
    assert awslambdaric.returncode == 1
    assert "Failed to post handler success response. Http response code: 413." in (
        awslambdaric.stdout
    )
    assert awslambdaric.stderr.endswith("RuntimeError: Failed to post invocation response\n")


@pins("api-gone-output")
def test_runtime_api_going_away(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("trace")  # no logs of its own
    assert (lambdakit.returncode, awslambdaric.returncode) == (1, 1)
    assert lambdakit.stdout == ""
    assert "lambdakit runtime: the Runtime API at 127.0.0.1:" in lambdakit.stderr
    assert C_CLIENT_NOISE.match(awslambdaric.stdout)
    assert "LAMBDA_RUNTIME Failed to get next invocation" in awslambdaric.stdout


@pins("namedtuple-result")
def test_namedtuple_result(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("namedtuple")
    assert lambdakit.body("namedtuple-1") == {"point": [1, 2]}
    assert awslambdaric.body("namedtuple-1") == {"point": {"x": 1, "y": 2}}


@pins("unmarshal-wording")
def test_unmarshal_wording(runs: Runs) -> None:
    lambdakit, awslambdaric = runs.both("events")
    for request_id in ("event-object-key", "event-extra-data", "event-trailing-comma"):
        ours, theirs = lambdakit.body(request_id), awslambdaric.body(request_id)
        assert isinstance(ours, dict) and isinstance(theirs, dict)
        assert ours["errorType"] == theirs["errorType"] == "Runtime.UnmarshalError"
        assert ours["errorMessage"].startswith("Unable to unmarshal input: ")
        assert ours["errorMessage"] != theirs["errorMessage"]
