"""API CORS as a browser sees it: Chromium, driven by Playwright, loads a page from one local
origin and ``fetch``es the local API on another (the pattern, fixtures and skip reasons of
test_url_cors_browser). An HTTP API's ``CorsConfiguration``: API Gateway answers the preflight
and adds the headers. A REST API's SAM ``Cors``: a mock OPTIONS method answers the preflight;
the function's own response carries ``Access-Control-Allow-Origin``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator import test_url_cors_browser as shared
from tests.emulator.conftest import Server
from tests.emulator.test_api_server import api_base
from tests.helpers import FUNCTIONS

browser, pages = shared.browser, shared.pages  # its fixtures (and its skip reasons)

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {{CodeUri: {code}, Runtime: python3.12, Handler: app.cors}}
Resources:
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: web
      CorsConfiguration:
        AllowOrigins: [{origin}]
        AllowMethods: [GET, POST]
        AllowHeaders: [X-Custom, Content-Type]
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: rest
      Cors: {{AllowOrigin: "'*'", AllowHeaders: "'X-Custom,Content-Type'"}}
  Cors:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Http:
          Type: HttpApi
          Properties: {{ApiId: !Ref Http, Path: /hello, Method: post}}
        Rest:
          Type: Api
          Properties: {{RestApiId: !Ref Rest, Path: /hello, Method: post}}
"""
FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return {ok: true, status: response.status, body: await response.text()};
    } catch (error) {
        return {ok: false, error: String(error)};
    }
}"""
PREFLIGHTED = {"method": "POST", "headers": {"X-Custom": "1", "Content-Type": "application/json"},
               "body": "{}"}  # fmt: skip


@pytest.fixture(scope="module")
def base(pages: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project: Path = tmp_path_factory.mktemp("api-cors")
    text = TEMPLATE.format(code=FUNCTIONS / "apis", origin=pages[0])
    (project / "template.yaml").write_text(text)
    server = Server(project)
    yield api_base(server)
    server.stop()


def fetch_from(browser: Any, origin: str, url: str) -> Any:
    page = browser.new_page()
    try:
        page.goto(origin + "/")
        return page.evaluate(FETCH, [url, PREFLIGHTED])
    finally:
        page.close()


@pytest.mark.parametrize("stage", ["web", "rest"])
def test_an_allowed_origin_reads_the_answer(
    browser: Any, pages: Any, base: str, stage: str
) -> None:
    answer = fetch_from(browser, pages[0], f"{base}/{stage}/hello")
    assert answer["ok"], answer
    assert answer["status"] == 200 and answer["body"].startswith("hello from")


def test_another_origin_is_blocked_by_the_browser(browser: Any, pages: Any, base: str) -> None:
    answer = fetch_from(browser, pages[1], f"{base}/web/hello")
    assert not answer["ok"] and "TypeError" in answer["error"], answer
