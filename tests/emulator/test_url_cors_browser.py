"""Function URL ``Cors`` as a browser sees it: Chromium, driven by Playwright, loads a page from
one local origin and ``fetch``es a local Function URL on another. The browser, not our code,
decides whether the preflight and the response allow the page to read the answer."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Server, chromium
from tests.helpers import FUNCTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
if CHROMIUM is None:
    pytest.skip(
        "no chromium executable on PATH (Debian: apt-get install chromium)", allow_module_level=True
    )

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Cors:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cors
      CodeUri: {code}
      Handler: app.echo
      Runtime: python3.12
      FunctionUrlConfig:
        AuthType: NONE
        Cors:
          AllowOrigins: [{origin}]
          AllowMethods: [GET, POST]
          AllowHeaders: [X-Custom, Content-Type]
          ExposeHeaders: [X-Result]
          AllowCredentials: true
"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>page</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[str, str]]:
    """Two origins serving an empty page: the one the URL allows, and another."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def url(
    pages: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    project: Path = tmp_path_factory.mktemp("cors")
    text = TEMPLATE.format(code=FUNCTIONS / "urls", origin=pages[0])
    (project / "template.yaml").write_text(text)
    server = Server(project)
    prefix = "lambdakit: cors Function URL"
    output = server.wait_for_output(prefix)
    address = next(x.rsplit(" ", 1)[1] for x in output.splitlines() if x.startswith(prefix))
    yield server, address
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(CHROMIUM) as launched:
        yield launched


FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return {ok: true, status: response.status, result: response.headers.get("x-result"),
                body: await response.json()};
    } catch (error) {
        return {ok: false, error: String(error)};
    }
}"""
PREFLIGHTED = {  # a custom header and a JSON body: not a "simple" request, so a preflight first
    "method": "POST",
    "headers": {"X-Custom": "1", "Content-Type": "application/json"},
    "body": "{}",
}


def fetch_from(browser: Any, page_origin: str, url: str, init: dict[str, object]) -> Any:
    page = browser.new_page()
    try:
        page.goto(page_origin + "/")
        return page.evaluate(FETCH, [url, init])
    finally:
        page.close()


def test_an_allowed_origin_passes_the_preflight(browser: Any, pages: Any, url: Any) -> None:
    server, address = url
    answer = fetch_from(browser, pages[0], address, PREFLIGHTED)
    assert answer["ok"], answer
    assert answer["status"] == 200 and answer["body"]["method"] == "POST"
    assert answer["result"] == "ok"  # readable only because ExposeHeaders names it
    server.wait_for_output("invoked POST cors")
    assert "invoked OPTIONS" not in server.output()  # the URL answered the preflight


def test_an_allowed_origin_with_credentials(browser: Any, pages: Any, url: Any) -> None:
    answer = fetch_from(browser, pages[0], url[1], {"credentials": "include"})
    assert answer["ok"], answer
    assert answer["body"]["method"] == "GET"


def test_another_origin_is_blocked_by_the_browser(browser: Any, pages: Any, url: Any) -> None:
    server, address = url
    answer = fetch_from(browser, pages[1], address, PREFLIGHTED)
    assert not answer["ok"] and "TypeError" in answer["error"], answer
    # A simple request is sent without a preflight: the function runs, the page reads nothing.
    answer = fetch_from(browser, pages[1], address + "?simple=1", {})
    assert not answer["ok"], answer
    assert "invoked OPTIONS" not in server.output()
