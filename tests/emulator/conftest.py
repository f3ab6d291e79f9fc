"""A real `lambdakit serve` process on a free port, shared by the emulator's tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).parent.parent / "functions" / "emulator"


class Server:
    """``python -m lambdakit serve PATH --port 0 ...`` with its output collected."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
        environ.update(env or {})
        command = [sys.executable, "-m", "lambdakit", "serve", str(path), "--port", "0"]
        command += ["--env", f"TEST_PYTHON={sys.executable}", *args]
        self.process = subprocess.Popen(
            command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._banner = threading.Event()
        self.url = ""
        self._readers = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in (
                (self.process.stdout, self.lines),
                (self.process.stderr, self.errors),
            )
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + 30
        while not self._banner.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"no banner from lambdakit serve: {''.join(self.errors)}")

    def _read(self, stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)
            match = re.search(r"Invoke API at (http://\S+)", line)
            if match:
                self.url = match.group(1)
                self._banner.set()

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return self.output()
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in output:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return self.process.returncode


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    # A small account limit, as a developer's machine would want (tests run in parallel).
    srv = Server(PROJECT, "--concurrency", "8", env={"LAMBDAKIT_INIT_TIMEOUT": "2"})
    yield srv
    srv.stop()


def client_for(url: str, read_timeout: float = 60) -> Any:
    """A boto3 Lambda client for the emulator at ``url``, without retries (a test sees each
    answer as it came), and a connection pool of its own."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 0}, read_timeout=read_timeout, connect_timeout=5)
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


@pytest.fixture
def lambda_client(server: Server) -> Any:
    return client_for(server.url)


@pytest.fixture
def plain_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environments as plain processes (``LAMBDAKIT_SANDBOX=0``), for this process's emulators
    and the servers it starts: for tests whose functions report to the test through files of
    this machine (in the sandbox a function's /tmp is its own), and that follow processes by
    their pids."""
    from lambdakit.emulator import sandbox

    monkeypatch.setenv("LAMBDAKIT_SANDBOX", "0")
    monkeypatch.setattr(sandbox, "_chosen", None)


PLAIN = {"LAMBDAKIT_SANDBOX": "0"}
"""``Server(..., env=PLAIN)``: a server whose functions count their attempts in files of this
machine, which they cannot write in the sandbox (their /tmp is their own)."""


@contextlib.contextmanager
def chromium(executable: str) -> Iterator[Any]:
    """Debian's chromium driven by Playwright (which cannot download its own browsers here);
    as root, Chromium refuses to start without ``--no-sandbox``."""
    from playwright import sync_api

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()
