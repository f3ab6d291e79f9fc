"""FastAPI and Flask apps (tests/functions/web, through lambdakit.runtime.web) behind a REST
API and an HTTP API each, served by a real ``lambdakit serve`` (tests/functions/apis/web.yaml).
Each API has its own stage, so the stage in the path chooses the API; the FastAPI HTTP API
answers on its ``$default`` route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Server
from tests.emulator.test_api_server import api_base
from tests.helpers import FUNCTIONS

httpx = pytest.importorskip("httpx", reason="httpx is not installed")


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    server = Server(FUNCTIONS / "apis" / "web.yaml")
    with httpx.Client(base_url=api_base(server), timeout=120) as session:
        yield session
    server.stop()


@pytest.mark.parametrize("stage", ["fastrest", "fasthttp"])
def test_fastapi_behind_both_api_types(client: object, stage: str) -> None:
    response = client.get(f"/{stage}/hello")  # type: ignore[attr-defined]
    assert (response.status_code, response.json()) == (200, {"message": "hello"})
    response = client.post(  # type: ignore[attr-defined]
        f"/{stage}/items/5?tag=a&tag=b", json={"n": 1}, headers={"Cookie": "session=abc"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["item_id"] == 5 and answer["tags"] == ["a", "b"]
    assert answer["payload"] == {"n": 1} and answer["session"] == "abc"
    assert answer["url"].endswith(f"/{stage}/items/5")  # url_for keeps the stage
    response = client.get(f"/{stage}/login")  # type: ignore[attr-defined]
    assert len(response.headers.get_list("set-cookie")) == 2
    assert client.get(f"/{stage}/boom").status_code == 500  # type: ignore[attr-defined]


@pytest.mark.parametrize("stage", ["flaskrest", "flaskhttp"])
def test_flask_behind_both_api_types(client: object, stage: str) -> None:
    response = client.get(f"/{stage}/hello")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.json()["url"].endswith(f"/{stage}/hello")
    form = b"name=ann&colour=red&colour=blue"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(f"/{stage}/form", content=form, headers=headers)  # type: ignore[attr-defined]
    assert response.json() == {"name": "ann", "colours": ["red", "blue"]}
    response = client.get(f"/{stage}/whoami", headers={"Cookie": "session=s; theme=t"})  # type: ignore[attr-defined]
    assert response.json() == {"session": "s", "theme": "t"}
    assert client.get(f"/{stage}/missing").status_code == 404  # type: ignore[attr-defined]
