"""A moto server (CloudFormation, S3, Lambda, IAM, DynamoDB, SQS, ECR) for the stack tests.

One server per test session, on a free port of 127.0.0.1; tests keep apart by using their
own stack names. ``session`` is a boto3 Session whose every client talks to that server,
both through the wrapper (``endpoint_url`` on each client) and through ``AWS_ENDPOINT_URL``
for child processes (the AWS CLI, ``sam``) started by a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start ``moto.server.ThreadedMotoServer`` on a free port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class EndpointSession(boto3.Session):
    """A boto3 Session whose clients and resources default to one endpoint (the moto server)."""

    def __init__(self, endpoint_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint_url = endpoint_url

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return super().client(*args, **kwargs)

    def resource(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return super().resource(*args, **kwargs)


@pytest.fixture
def session(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """A boto3 Session with dummy credentials in us-east-1, every client on the moto server."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return EndpointSession(moto_server, region_name=REGION, **CREDENTIALS)
