"""The browser console's parts without a server: log parsing (a table), who may use it, the
shareable test events file, the stream's bounded client queues, and the hub's bounds."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator.invocations import PendingInvocation
from lambdakit.emulator.reports import LogLine
from lambdakit.emulator.webconsole import ConsoleError, Hub, is_loopback
from lambdakit.emulator.webconsole import hub as hub_module
from lambdakit.emulator.webconsole.logparse import at_least, parse
from lambdakit.emulator.webconsole.overview import MASK, masked
from lambdakit.emulator.webconsole.routes import refuse_foreign
from lambdakit.emulator.webconsole.saved_events import SavedEvents, check_name, parse_event
from lambdakit.emulator.webconsole.stream import CLIENT_LIMIT, PING, Client, event
from tests.helpers import FUNCTIONS

CONSOLE = FUNCTIONS / "console"

RID = "8f1b3c1e-1d2a-4c6e-9f00-0123456789ab"


@pytest.mark.parametrize(
    ("text", "platform", "expected"),
    [
        (f"[INFO]\t2026-01-01T00:00:00.000Z\t{RID}\thello", False, ("INFO", RID)),
        (f"[WARNING]\t2026-01-01T00:00:00.000Z\t{RID}\tx", False, ("WARN", RID)),
        ("[ERROR]\t2026-01-01T00:00:00.000Z\tno id here", False, ("ERROR", None)),
        (f"[CRITICAL]\t2026-01-01T00:00:00.000Z\t{RID}\tx", False, ("FATAL", RID)),
        (f"2026-01-01T00:00:00.000Z\t{RID}\tDEBUG\tnode style", False, ("DEBUG", RID)),
        (json.dumps({"level": "info", "requestId": RID}), False, ("INFO", RID)),
        (json.dumps({"level": "ERROR", "AWSrequestId": RID}), False, ("ERROR", RID)),
        (json.dumps({"level": "LOUD", "function_request_id": RID}), False, (None, RID)),
        ('{"broken": ', False, (None, None)),
        ("[1, 2]", False, (None, None)),
        ("plain print", False, (None, None)),
        (f"START RequestId: {RID} Version: $LATEST", True, (None, RID)),
        (f"END RequestId: {RID}", True, (None, RID)),
        (f"REPORT RequestId: {RID}\tDuration: 1.00 ms\t", True, (None, RID)),
        (f"2026-01-01T00:00:00.000Z {RID} Task timed out after 1.00 seconds", True, (None, RID)),
        (f"RequestId: {RID} Error: Runtime exited with error: exit status 1", True, (None, RID)),
        ("INIT_START Runtime Version: python:3.12", True, (None, None)),
        (json.dumps({"type": "platform.start", "record": {"requestId": RID}}), True, (None, RID)),
    ],
)
def test_parse(text: str, platform: bool, expected: tuple[str | None, str | None]) -> None:
    assert parse(text, platform=platform) == expected


def test_levels_at_least() -> None:
    assert at_least("ERROR", "WARN") and at_least("WARN", "WARN")
    assert not at_least("INFO", "WARN") and not at_least(None, "TRACE")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.1", False), ("192.168.1.2", False), ("::ffff:10.0.0.1", False), ("", False),
     (None, False), ("localhost", False)],
)  # fmt: skip
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


class FakeRequest:
    def __init__(self, peer: str, host: str = "127.0.0.1:9000", method: str = "GET",
                 origin: str | None = None) -> None:  # fmt: skip
        self.peer = (peer, 50000)
        self.method = method
        self._headers = {"host": host, "origin": origin}

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name) or default


@pytest.mark.parametrize(
    ("request_", "refused"),
    [
        (FakeRequest("127.0.0.1"), None),
        (FakeRequest("::1", host="[::1]:9000"), None),
        (FakeRequest("127.0.0.1", host="localhost:9000"), None),
        (FakeRequest("10.1.2.3"), "loopback peers"),
        (FakeRequest("192.168.0.7", host="localhost:9000"), "loopback peers"),
        (FakeRequest("127.0.0.1", host="attacker.example:9000"), "local names"),
        (FakeRequest("127.0.0.1", host="localhost.attacker.example"), "local names"),
        (FakeRequest("127.0.0.1", method="PUT", origin="http://127.0.0.1:9000"), None),
        (FakeRequest("127.0.0.1", method="POST", origin="https://evil.example"), "may not"),
        (FakeRequest("127.0.0.1", method="GET", origin="https://evil.example"), None),
    ],
)
def test_who_may_use_the_console(request_: FakeRequest, refused: str | None) -> None:
    if refused is None:
        refuse_foreign(request_)  # type: ignore[arg-type]
        return
    with pytest.raises(ConsoleError) as raised:
        refuse_foreign(request_)  # type: ignore[arg-type]
    assert raised.value.status == 403 and refused in raised.value.message


def test_masked_variables() -> None:
    variables = {
        "DB_PASSWORD": "x", "github_token": "y", "AWS_SECRET_ACCESS_KEY": "z", "MyApiKey": "k",
        "PLAIN": "hello", "LOOKS": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "LONGER": "a" * 41,
    }  # fmt: skip
    shown = masked(variables)
    assert [name for name, value in shown.items() if value == MASK] == [
        "DB_PASSWORD", "github_token", "AWS_SECRET_ACCESS_KEY", "MyApiKey", "LOOKS",
    ]  # fmt: skip


def test_saved_events_file(tmp_path: Path) -> None:
    saved = SavedEvents(tmp_path)
    assert saved.names("Fn") == []
    saved.put("Fn", "first", {"a": 1.5, "b": [{"c": "d"}], "e": None})
    saved.put("Fn", "second", [1])
    saved.put("Fn", "first", {"a": 2})  # replaced, in place
    document = json.loads((tmp_path / "events" / "shareable" / "Fn.json").read_text())
    assert list(document) == ["openapi", "info", "paths", "components"]
    schema = document["components"]["schemas"]["Event"]  # discovered from the first event
    assert schema["required"] == ["a", "b", "e"]
    assert schema["properties"]["b"] == {
        "type": "array",
        "items": {"type": "object", "required": ["c"], "properties": {"c": {"type": "string"}}},
    }
    assert saved.names("Fn") == ["first", "second"]
    assert saved.get("Fn", "first") == {"a": 2}
    with pytest.raises(ConsoleError) as raised:
        saved.get("Fn", "third")
    assert raised.value.status == 404
    saved.delete("Fn", "first")
    saved.delete("Fn", "second")
    assert not (tmp_path / "events" / "shareable" / "Fn.json").exists()
    assert not list((tmp_path / "events" / "shareable").iterdir())  # no temporary file left


def test_saved_events_reads_what_sam_cli_wrote(tmp_path: Path) -> None:
    # The Content of a schema as SAM CLI's unit tests have it (test_lambda_shared_test_event).
    content = (
        '{"openapi":"3.0.0","info":{"version":"1.0.0","title":"Event"},"paths":{},'
        '"components":{"schemas":{"Event":{"type":"object","required":["key"],"properties":'
        '{"key":{"type":"string"}}}},"examples":{"test1":{"value":{"key":"number1"}},'
        '"test2":{"value":{"key":"number2"}}}}}'
    )
    path = tmp_path / "events" / "shareable" / "MyFunction.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    saved = SavedEvents(tmp_path)
    assert saved.names("MyFunction") == ["test1", "test2"]
    assert saved.get("MyFunction", "test2") == {"key": "number2"}


@pytest.mark.parametrize("name", ["", "a b", "x" * 101, "../up", "é"])
def test_event_names_refused(name: str) -> None:
    with pytest.raises(ConsoleError):
        check_name(name)


def test_event_body_must_be_json() -> None:
    assert parse_event(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(ConsoleError) as raised:
        parse_event(b'{\n  "a": }')
    assert raised.value.status == 400 and "line 2 column 8" in raised.value.message


def test_a_slow_client_drops_lines_and_is_told() -> None:
    async def scenario() -> tuple[int, bytes, bytes]:
        client = Client(logs=True)
        batch = event("logs", [{"text": "x" * 1000}] * 100)  # ~100 KB
        for _ in range(30):  # ~3 MB: more than CLIENT_LIMIT
            client.push(batch, lines=100)
        dropped = client.dropped
        chunk = await client.next(timeout=0.01)
        return dropped, chunk, await client.next(timeout=0.01)

    dropped, chunk, then = asyncio.run(scenario())
    assert dropped == 2000  # 10 batches fitted, 20 did not
    assert len(chunk) <= CLIENT_LIMIT + 100
    assert chunk.endswith(b'event: dropped\ndata: {"logs":2000}\n\n')
    assert then == PING  # nothing more waited: a ping after the timeout


def line(text: str, stream: Any = "stdout", env: str = "0001") -> LogLine:
    return LogLine("fn", env, stream, text, 1.0)


def test_hub_lines_belong_to_the_invocation_between_start_and_end() -> None:
    hub = Hub()
    hub.log(line("before any invocation"))
    hub.log(line(f"START RequestId: {RID} Version: $LATEST", "platform"))
    hub.log(line("one\ntwo"))  # one read of the pipe, two lines
    hub.log(line("other environment", env="0002"))
    hub.log(line(f"END RequestId: {RID}\nREPORT RequestId: {RID}\tDuration: 1 ms", "platform"))
    hub.log(line("after"))
    logs = hub.logs()
    assert [(entry["text"][:5], entry["request_id"]) for entry in logs] == [
        ("befor", None), ("START", RID), ("one", RID), ("two", RID), ("other", None),
        ("END R", RID), ("REPOR", RID), ("after", None),
    ]  # fmt: skip
    assert [entry["seq"] for entry in logs] == list(range(8))
    assert [e["text"] for e in hub.logs(request_id=RID, limit=2)] == [
        f"END RequestId: {RID}", f"REPORT RequestId: {RID}\tDuration: 1 ms",
    ]  # fmt: skip
    assert hub.lines_since(6)[0]["text"] == f"REPORT RequestId: {RID}\tDuration: 1 ms"


def test_hub_keeps_bounded_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "INVOCATIONS", 3)

    async def scenario() -> Hub:
        hub = Hub()
        for n in range(5):
            hub.invocation_started("fn", 128, PendingInvocation(payload=b"{}", request_id=f"r{n}"))
        for n in range(hub_module.LOG_LINES + 10):
            hub.log(line(f"line {n}"))
        return hub

    hub = asyncio.run(scenario())
    assert [record.request_id for record in hub.invocations()] == ["r4", "r3", "r2"]
    assert hub.invocation("r0") is None and hub.invocation("r2") is not None
    logs = hub.logs(limit=hub_module.LOG_LINES + 10)
    assert len(logs) == hub_module.LOG_LINES
    assert logs[-1]["text"] == f"line {hub_module.LOG_LINES + 9}"
    assert hub.invocations()[0].to_json()["status"] == "running"


class Changes:
    """A watcher that keeps the invocations it was told of (what the stream sends)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, str | None]] = []

    def invocation_changed(self, record: Any) -> None:
        document = record.to_json()
        self.told.append((record.request_id, document["status"], document["error_type"]))

    def environment_changed(self, snapshot: Any) -> None:
        pass


def test_invocations_refused_at_shutdown_end_as_the_invoke_api_answered() -> None:
    """One queued for an environment when the pool closes, one that comes after: both end as
    errors with the type the Invoke API answered (500 ServiceException), not ``running``."""
    from lambdakit.emulator.concurrency import Account
    from lambdakit.emulator.errors import EmulatorError
    from lambdakit.emulator.limits import NoLimiter
    from lambdakit.emulator.reports import LogPrinter
    from lambdakit.emulator.scheduler import FunctionPool
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import load_template

    (spec,) = [f for f in load_template(CONSOLE / "template.yaml").functions if f.name == "talk"]

    async def scenario() -> tuple[Hub, Changes, list[PendingInvocation]]:
        hub, changes = Hub(), Changes()
        hub.watcher = changes
        account = Account(max_starting=1, say=lambda _: None)
        await account.start_slot()  # another environment is starting: the next one waits
        pool = FunctionPool(
            spec, settings=Settings(), limiter=NoLimiter(), printer=LogPrinter(io.StringIO()),
            account=account, observer=hub,
        )  # fmt: skip
        queued = PendingInvocation(payload=b'{"n": 1}')
        task = asyncio.create_task(pool.invoke(queued))
        while hub.invocation(queued.request_id) is None:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)  # it waits for a start slot
        assert hub.invocations()[0].to_json()["status"] == "running"
        await pool.close()
        account.started()
        with pytest.raises(EmulatorError, match="shutting down"):
            await task
        late = PendingInvocation(payload=b'{"n": 2}')
        with pytest.raises(EmulatorError, match="shutting down"):
            await pool.invoke(late)
        return hub, changes, [queued, late]

    hub, changes, invocations = asyncio.run(scenario())
    for n, invocation in enumerate(invocations, 1):
        record = hub.invocation(invocation.request_id)
        assert record is not None
        detail = record.detail()
        assert (detail["status"], detail["error_type"]) == ("error", "ServiceException")
        assert "shutting down" in detail["error"]["errorMessage"]  # type: ignore[index]
        assert json.loads(str(detail["event"])) == {"n": n}
        told = [change for change in changes.told if change[0] == invocation.request_id]
        assert told == [
            (invocation.request_id, "running", None),
            (invocation.request_id, "error", "ServiceException"),
        ]  # started, then ended: once each


def test_a_throttled_invocation_keeps_its_event() -> None:
    from lambdakit.emulator.concurrency import Account, Throttled
    from lambdakit.emulator.limits import NoLimiter
    from lambdakit.emulator.reports import LogPrinter
    from lambdakit.emulator.scheduler import FunctionPool
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import load_template

    (spec, *_) = load_template(CONSOLE / "template.yaml").functions

    async def scenario() -> dict[str, object]:
        hub = Hub()
        pool = FunctionPool(
            spec, settings=Settings(), limiter=NoLimiter(), printer=LogPrinter(io.StringIO()),
            account=Account(limit=0, say=lambda _: None), observer=hub,
        )  # fmt: skip
        invocation = PendingInvocation(payload=b'{"n": 3}')
        with pytest.raises(Throttled):
            await pool.invoke(invocation)
        record = hub.invocation(invocation.request_id)
        assert record is not None
        return record.detail()

    detail = asyncio.run(scenario())
    assert (detail["status"], detail["error_type"]) == ("throttled", "TooManyRequestsException")
    assert json.loads(str(detail["event"])) == {"n": 3}


@pytest.mark.parametrize(
    ("host", "served"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", True),
     ("::", True), ("192.0.2.2", False), ("2001:db8::2", False)],
)  # fmt: skip
def test_the_console_is_served_where_a_loopback_peer_can_reach_it(host: str, served: bool) -> None:
    """It answers loopback peers only: on one address of a network interface nobody could."""
    from lambdakit.emulator import Emulator, EmulatorConfig

    assert Emulator([], EmulatorConfig(host=host)).console_reachable is served
