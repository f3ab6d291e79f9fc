"""The browser console of ``lambdakit serve`` (issue 15) as a developer uses it: Chromium, driven
by Playwright, opens the console of a real emulator running real ``bootstrap`` processes, invokes
from the Test tab, watches invocations and logs arrive, reads a streamed response as it arrives,
and saves a test event to the project.

With ``LAMBDAKIT_UPDATE_SCREENSHOTS=1`` the tests write the screenshots of docs/console.md into
docs/images/; otherwise into their tmp_path (so the drawing code still runs)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit import _eventstream
from tests.emulator.conftest import Server, chromium
from tests.helpers import FUNCTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
if CHROMIUM is None:
    pytest.skip(
        "no chromium executable on PATH (Debian: apt-get install chromium)", allow_module_level=True
    )
expect = sync_api.expect

DOCS_IMAGES = Path(__file__).parent.parent.parent / "docs" / "images"
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: {code}
    Runtime: python3.12
    Timeout: 10
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Handler: app.hello
      MemorySize: 256
      Environment:
        Variables:
          GREETING: hi
          API_TOKEN: not-for-your-eyes
  Streamer:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: streamer
      Handler: app.stream
      MemorySize: 512
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: RESPONSE_STREAM
  Failing:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: failing
      Handler: app.fails
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: arn:aws:sqs:us-east-1:123456789012:failures
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root: Path = tmp_path_factory.mktemp("console")
    (root / "template.yaml").write_text(TEMPLATE.format(code=FUNCTIONS / "console_browser"))
    (root / "events").mkdir()
    (root / "events" / "ping.json").write_text('{"name": "from-the-project"}')
    return root


@pytest.fixture(scope="module")
def console(project: Path) -> Iterator[tuple[Server, str]]:
    server = Server(project)
    output = server.wait_for_output("Console: ")
    url = re.search(r"Console: (http://\S+)", output).group(1)  # type: ignore[union-attr]
    yield server, url
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(CHROMIUM) as launched:
        yield launched


@pytest.fixture
def page(browser: Any, console: tuple[Server, str]) -> Iterator[Any]:
    """A fresh page with the console open; fails the test on any script error or any request
    that leaves the emulator."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    origin = console[1].split("/_lambdakit")[0]
    page.on("pageerror", lambda error: errors.append(f"script error: {error}"))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((origin, "data:"))
            else errors.append(f"external request: {request.url}")
        ),
    )
    page.goto(console[1])
    yield page
    context.close()
    assert not errors, errors


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    folder = DOCS_IMAGES if os.environ.get("LAMBDAKIT_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(200)  # let the last frame settle (fonts, the follow-scroll)
    page.screenshot(path=str(folder / f"console-{name}.png"))


def invoke(server: Server, function: str, event: object) -> str:
    """A buffered Invoke from outside the page; returns the request id."""
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return str(response.headers["x-amzn-RequestId"])


def open_tab(page: Any, function: str, tab: str) -> None:
    page.get_by_role("navigation", name="Functions").get_by_role("link", name=function).click()
    page.get_by_role("tab", name=tab).click()
    expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")


def test_the_functions_and_their_configuration(page: Any) -> None:
    nav = page.get_by_role("navigation", name="Functions")
    expect(nav.get_by_role("link", name="hello")).to_be_visible()
    expect(nav.get_by_role("link", name="streamer")).to_be_visible()
    overview = page.get_by_role("table", name="Functions overview")
    expect(overview.get_by_role("row", name=re.compile("hello"))).to_contain_text("python3.12")
    open_tab(page, "hello", "Configuration")
    panel = page.get_by_role("tabpanel")
    expect(panel).to_contain_text("app.hello")
    variables = page.get_by_role("table", name="Environment variables")
    expect(variables).to_contain_text("GREETING")
    expect(variables).to_contain_text("••••••")
    expect(variables).not_to_contain_text("not-for-your-eyes")
    open_tab(page, "streamer", "Configuration")
    expect(page.get_by_role("tabpanel")).to_contain_text("RESPONSE_STREAM")


def test_invoke_from_the_test_tab_then_see_the_invocation_and_its_logs(
    page: Any, tmp_path: Path
) -> None:
    open_tab(page, "hello", "Test")
    editor = page.get_by_role("textbox", name="Event JSON")
    editor.fill('{"name": "console"}')
    page.get_by_role("radio", name="Buffered").check()
    editor.press("Control+Enter")
    response = page.get_by_label("Response", exact=True)
    expect(response).to_contain_text('"message": "Hello, console!"')
    expect(page.get_by_label("Log output")).to_contain_text("greeting console")
    request_id = page.get_by_label("Request ID").inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id), request_id
    screenshot(page, "test", tmp_path)

    page.get_by_role("tab", name="Invocations").click()
    table = page.get_by_role("table", name="Invocations")
    row = table.get_by_role("row", name=re.compile(request_id))
    expect(row).to_contain_text("success")
    row.get_by_role("button", name=f"Open {request_id}").click()
    details = page.get_by_role("region", name="Invocation details")
    expect(details.get_by_role("region", name="Event")).to_contain_text('"name": "console"')
    expect(details.get_by_role("region", name="Response")).to_contain_text("Hello, console!")
    lines = details.get_by_role("log", name="Invocation log lines")
    expect(lines).to_contain_text("greeting console")
    expect(lines).to_contain_text(f"REPORT RequestId: {request_id}")
    screenshot(page, "invocations", tmp_path)

    page.get_by_role("tab", name="Configuration").click()
    environments = page.get_by_role("table", name="Environments")
    expect(environments).to_contain_text(re.compile("idle|frozen"))
    screenshot(page, "functions", tmp_path)


def test_a_streamed_response_is_shown_as_it_arrives(page: Any, tmp_path: Path) -> None:
    open_tab(page, "streamer", "Test")
    expect(page.get_by_role("radio", name="Streamed")).to_be_checked()  # RESPONSE_STREAM URL
    page.get_by_role("textbox", name="Event JSON").fill('{"chunks": 3, "pause": 1.5}')
    page.get_by_role("button", name="Invoke").click()
    response = page.get_by_label("Response", exact=True)
    expect(response).to_contain_text("chunk 0 sent at", timeout=20_000)
    first_seen = time.time()
    assert "chunk 2" not in response.inner_text()
    expect(page.get_by_label("Stream progress")).to_contain_text("1 chunk")
    expect(response).to_contain_text("chunk 2 sent at", timeout=20_000)
    last_sent = float(re.search(r"chunk 2 sent at (\S+)", response.inner_text()).group(1))  # type: ignore[union-attr]
    assert first_seen < last_sent  # the page showed the first chunk before the last was sent
    expect(page.get_by_label("Stream progress")).to_contain_text("3 chunks")
    expect(page.locator(".result .badge")).to_have_text("succeeded")
    screenshot(page, "stream", tmp_path)


def test_save_pick_and_delete_test_events(page: Any, project: Path) -> None:
    open_tab(page, "hello", "Test")
    picker = page.get_by_role("combobox", name="Test event")
    expect(picker.locator("option", has_text="ping")).to_have_count(1)  # events/ping.json
    picker.select_option(label="ping")
    editor = page.get_by_role("textbox", name="Event JSON")
    expect(editor).to_have_value(re.compile("from-the-project"))

    editor.fill('{"name": "saved", "nested": {"n": 1}}')
    page.get_by_role("textbox", name="Event name").fill("my-event")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved “my-event”.")).to_be_visible()
    saved = project / "events" / "shareable" / "Hello.json"
    document = json.loads(saved.read_text())
    assert document["components"]["examples"]["my-event"]["value"] == {
        "name": "saved",
        "nested": {"n": 1},
    }
    expect(picker).to_have_value("saved:my-event")

    editor.fill("{}")
    picker.select_option(value="saved:my-event")
    expect(editor).to_have_value(re.compile('"n": 1'))
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted “my-event”.")).to_be_visible()
    expect(picker.locator("option", has_text="my-event")).to_have_count(0)
    if saved.exists():
        assert "my-event" not in json.loads(saved.read_text())["components"].get("examples", {})


def test_json_errors_are_located_and_block_the_invocation(page: Any) -> None:
    open_tab(page, "hello", "Test")
    editor = page.get_by_role("textbox", name="Event JSON")
    editor.fill('{\n  "a": 1,\n}')
    validity = page.get_by_role("status", name="Event validity")
    expect(validity).to_have_text("Line 3, column 1: trailing comma before '}'")
    expect(editor).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Invoke").click()
    expect(page.get_by_role("region", name="Result")).to_contain_text("Invoke the function to see")
    expect(editor).to_be_focused()  # back to the error, nothing sent
    editor.fill('{"b":[1,2],"a":"x"}')
    page.get_by_role("button", name="Format").click()
    expect(editor).to_have_value('{\n  "b": [\n    1,\n    2\n  ],\n  "a": "x"\n}')
    expect(validity).to_have_text("Valid JSON")


def test_the_logs_follow_live_and_filter(
    page: Any, console: tuple[Server, str], tmp_path: Path
) -> None:
    server = console[0]
    first = invoke(server, "hello", {"name": "first"})
    open_tab(page, "hello", "Logs")
    lines = page.get_by_role("log", name="Log lines")
    expect(lines).to_contain_text("greeting first")
    second = invoke(server, "hello", {"name": "second"})  # arrives through the live stream
    expect(lines).to_contain_text("greeting second")
    expect(lines).to_contain_text(f"REPORT RequestId: {second}")

    page.get_by_role("combobox", name="Level").select_option("WARN")
    expect(lines).to_contain_text("is being greeted")
    expect(lines).not_to_contain_text("REPORT RequestId")  # platform lines have no level
    levels = lines.locator(".lvl").all_inner_texts()
    assert levels and set(levels) <= {"WARN", "ERROR", "FATAL"}, levels
    page.get_by_role("combobox", name="Level").select_option("")
    page.get_by_role("searchbox", name="Request ID").fill(first)
    expect(lines).to_contain_text("greeting first")
    expect(lines).not_to_contain_text("greeting second")

    page.get_by_role("searchbox", name="Request ID").fill("")
    page.get_by_role("button", name="Pause").click()
    invoke(server, "hello", {"name": "while-paused"})
    status = page.get_by_role("status", name="Log status")
    expect(status).to_contain_text("new while paused")
    expect(lines).not_to_contain_text("while-paused")
    page.get_by_role("button", name="Resume").click()
    expect(lines).to_contain_text("greeting while-paused")
    screenshot(page, "logs", tmp_path)


def test_a_flood_of_log_lines_keeps_the_page_bounded(
    page: Any, console: tuple[Server, str]
) -> None:
    open_tab(page, "hello", "Logs")
    lines = page.get_by_role("log", name="Log lines")
    invoke(console[0], "hello", {"name": "flood", "lines": 3000})
    expect(lines).to_contain_text("flood 2999", timeout=20_000)
    expect(page.get_by_role("status", name="Log status")).to_contain_text("2000 lines (the newest)")
    assert lines.locator(".logline").count() == 2000
    assert lines.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 8  # follows


def test_the_graphs_draw_every_invocation(
    page: Any, console: tuple[Server, str], tmp_path: Path
) -> None:
    for n in range(8):  # durations that differ, for the screenshot
        invoke(console[0], "hello", {"name": f"graph-{n}", "sleep": (n % 4) * 0.03})
    open_tab(page, "hello", "Monitor")
    durations = page.get_by_role("img", name="Durations over time")
    expect(durations).to_be_visible()
    expected = page.evaluate(
        "() => window.lambdakitConsole.invocationsOf('hello')"
        ".filter(i => i.duration_ms !== null).length"
    )
    assert expected >= 3
    assert durations.locator("circle").count() == expected
    memory = page.get_by_role("img", name="Max memory used against the limit")
    expect(memory).to_contain_text("limit 256 MB")
    expect(page.get_by_role("list", name="Summary")).to_contain_text("Cold starts")
    screenshot(page, "graphs", tmp_path)


def test_a_failed_event_is_recorded_and_replayed(page: Any, console: tuple[Server, str]) -> None:
    request = urllib.request.Request(
        f"{console[0].url}/2015-03-31/functions/failing/invocations",
        data=b'{"order": 42}',
        headers={"X-Amz-Invocation-Type": "Event"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
    open_tab(page, "failing", "Async")
    records = page.get_by_role("table", name="Destination records")
    expect(records).to_contain_text("RetriesExhausted", timeout=15_000)
    expect(records).to_contain_text("arn:aws:sqs:us-east-1:123456789012:failures")
    assert records.locator("tbody tr").count() == 1
    records.get_by_role("button", name=re.compile("^Replay ")).click()
    expect(page.get_by_role("status").filter(has_text="Replayed")).to_contain_text("as request")
    expect(records.locator("tbody tr")).to_have_count(2, timeout=15_000)  # it failed again


def test_a_narrow_window_keeps_every_view_usable(page: Any) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    open_tab(page, "hello", "Test")
    expect(page.get_by_role("button", name="Invoke")).to_be_in_viewport()
    editor = page.get_by_role("textbox", name="Event JSON")
    box = editor.bounding_box()
    assert box is not None and box["width"] <= 420
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 420  # nothing forces a horizontal scroll of the whole page


DECODE = """async ([module, b64]) => {
    const {EventStreamDecoder} = await import(module);
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const decoder = new EventStreamDecoder();
    const out = [];
    try {
        for (let i = 0; i < bytes.length; i += 7)  // in small pieces, as a network delivers
            for (const m of decoder.feed(bytes.subarray(i, i + 7)))
                out.push({headers: m.headers, payload: new TextDecoder().decode(m.payload)});
        return {messages: out, pending: decoder.pending};
    } catch (error) {
        return {error: error.message, messages: out};
    }
}"""


def _decode(page: Any, console: tuple[Server, str], data: bytes) -> Any:
    module = console[1] + "static/eventstream.js"
    return page.evaluate(DECODE, [module, base64.b64encode(data).decode()])


def test_the_page_decodes_what_the_emulator_encodes(page: Any, console: tuple[Server, str]) -> None:
    chunk = _eventstream.payload_chunk("héllo ".encode())
    done = _eventstream.invoke_complete(log_result="bG9n")
    answer = _decode(page, console, chunk + done)
    assert answer["pending"] is False
    assert [m["headers"][":event-type"] for m in answer["messages"]] == [
        "PayloadChunk",
        "InvokeComplete",
    ]
    assert answer["messages"][0]["payload"] == "héllo "
    assert json.loads(answer["messages"][1]["payload"]) == {"LogResult": "bG9n"}
    assert _decode(page, console, chunk[:-3])["pending"] is True  # cut short


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda b: b[:8] + b"\0\0\0\0" + b[12:], "prelude CRC mismatch"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "message CRC mismatch"),
    ],
)
def test_the_page_refuses_a_damaged_stream(
    page: Any, console: tuple[Server, str], damage: Any, error: str
) -> None:
    answer = _decode(page, console, damage(_eventstream.payload_chunk(b"data")))
    assert answer.get("error") == error


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1}', None),
        ("", "Line 1, column 1: unexpected end of input"),
        ('{"a": 1,}', "Line 1, column 9: trailing comma before '}'"),
        ("{'a': 1}", "Line 1, column 2: expected a property name in double quotes, found '''"),
        ("[1, 2\n  3]", "Line 2, column 3: expected ',' or ']', found '3'"),
        ('{"a": tru}', "Line 1, column 7: unexpected 't'"),
        ('{"a": "x\ty"}', "Line 1, column 9: control character in string (escape it)"),
        ('{"a": 1} x', "Line 1, column 10: unexpected 'x' after the JSON value"),
        ('"\\q"', "Line 1, column 3: bad escape \\q"),
        ("01", "Line 1, column 2: unexpected '1' after the JSON value"),
    ],
)
def test_the_editor_locates_json_errors(
    page: Any, console: tuple[Server, str], text: str, where: str | None
) -> None:
    check = page.evaluate(
        """async ([module, text]) => (await import(module)).checkJson(text)""",
        [console[1] + "static/jsoncheck.js", text],
    )
    found = None if check["ok"] else f"Line {check['line']}, column {check['column']}: "
    assert (found and found + check["message"]) == where
