"""Environments over time: reaping, code reloads, layers, and a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig, sandbox
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.reports import LogPrinter
from lambdakit.template import FunctionSpec, function_from_directory
from tests.emulator.conftest import Server

APP = (
    "import os\n\n"
    "def handler(event, context):\n"
    "    return {'version': VERSION, 'pid': os.getpid()}\n"
)


def python_function(directory: Path, version: int = 1) -> FunctionSpec:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(f"VERSION = {version}\n" + APP)
    return function_from_directory(directory)


def quiet_emulator(spec: FunctionSpec, **config: object) -> Emulator:
    null = open(os.devnull, "w")  # noqa: SIM115 - closed with the emulator below
    emulator = Emulator([spec], EmulatorConfig(port=0, **config), printer=LogPrinter(null))  # type: ignore[arg-type]
    emulator._null = null  # type: ignore[attr-defined]
    return emulator


async def close(emulator: Emulator) -> None:
    await emulator.close()
    emulator._null.close()  # type: ignore[attr-defined]


def test_idle_environments_are_reaped(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, Outcome]:
        spec = python_function(tmp_path / "fn")
        emulator = quiet_emulator(spec, idle_timeout=0.2, state_dir=tmp_path / "state")
        try:
            result, _ = await emulator.invoke(spec.name, b"{}")
            pool = emulator.pools[spec.name]
            before = len(pool.environments)
            deadline = time.monotonic() + 5
            while pool.environments and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return before, len(pool.environments), result.outcome
        finally:
            await close(emulator)

    assert asyncio.run(scenario()) == (1, 0, Outcome.SUCCESS)


def test_warm_environments_are_reused(tmp_path: Path) -> None:
    async def scenario() -> set[int]:
        spec = python_function(tmp_path / "fn")
        emulator = quiet_emulator(spec, state_dir=tmp_path / "state")
        try:
            pids = set()
            for _ in range(3):
                result, _ = await emulator.invoke(spec.name, b"{}")
                pids.add(json.loads(result.body)["pid"])
            return pids
        finally:
            await close(emulator)

    assert len(asyncio.run(scenario())) == 1


def test_watch_restarts_environments_when_code_changes(tmp_path: Path) -> None:
    import boto3

    python_function(tmp_path / "fn")
    server = Server(tmp_path / "fn", "--watch")
    try:
        client = boto3.client(
            "lambda", endpoint_url=server.url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip

        def version() -> int:
            payload = client.invoke(FunctionName="fn", Payload=b"{}")["Payload"].read()
            return int(json.loads(payload)["version"])

        assert version() == 1
        time.sleep(0.3)  # let the watcher settle before the edit
        # A different size: .pyc files are checked by source size and mtime in whole seconds.
        (tmp_path / "fn" / "app.py").write_text("VERSION = 20\n" + APP)
        deadline = time.monotonic() + 10
        while "code changed" not in "".join(server.errors) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert version() == 20
    finally:
        assert server.stop() == 0


def test_layers_are_on_the_path(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "shared_helper.py").write_text("WORD = 'from a layer'\n")
    (layer / "bin").mkdir()
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, shared_helper\n\n"
        "def handler(event, context):\n"
        "    return {'word': shared_helper.WORD, 'path': os.environ['PATH']}\n"
    )
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: code\n      Handler: app.handler\n      Runtime: python3.12\n"
        "      Layers: [layer]\n"
    )
    from lambdakit.template import load_functions

    (spec,) = load_functions(tmp_path).functions

    async def scenario() -> dict[str, str]:
        emulator = quiet_emulator(spec, state_dir=tmp_path / "state")
        try:
            result, _ = await emulator.invoke(spec.name, b"{}")
            return dict(json.loads(result.body))
        finally:
            await close(emulator)

    body = asyncio.run(scenario())
    assert body["word"] == "from a layer"
    # Lambda's PATH ends in /opt/bin; it comes first too (without the sandbox the layer's bin
    # stands in for it), because this machine's /usr/bin has what provided.al2023's has not
    # (python3).
    opt_bin = "/opt/bin" if sandbox.choose().active else str(layer / "bin")
    assert body["path"].startswith(f"{opt_bin}:/usr/local/bin:/usr/bin/:/bin:/opt/bin:")


@pytest.mark.usefixtures("plain_processes")  # it follows the runtime by its pid on this machine
def test_shutdown_stops_every_process(tmp_path: Path) -> None:
    import boto3

    project = tmp_path / "fn"
    python_function(project)
    server = Server(project)
    client = boto3.client(
        "lambda", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    pid = json.loads(client.invoke(FunctionName="fn", Payload=b"{}")["Payload"].read())["pid"]
    assert server.stop() == 0
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


def test_a_bad_template_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources: [unclosed\n")
    server_error = None
    try:
        Server(tmp_path)
    except AssertionError as error:
        server_error = str(error)
    assert server_error is not None and "template.yaml" in server_error
    assert "Traceback" not in server_error


@pytest.mark.parametrize("missing", ["bootstrap", "code"])
def test_missing_code_or_bootstrap(tmp_path: Path, missing: str) -> None:
    if missing == "code":
        spec_dir = tmp_path / "gone"
        (tmp_path / "template.yaml").write_text(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
            "      CodeUri: gone\n      Handler: app.handler\n      Runtime: python3.12\n"
        )
    else:
        spec_dir = tmp_path / "fn"
        spec_dir.mkdir()
        (tmp_path / "template.yaml").write_text(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
            "      CodeUri: fn\n      Handler: x\n      Runtime: provided.al2023\n"
        )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(tmp_path)],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr
    assert (b"bootstrap" if missing == "bootstrap" else b"gone") in done.stderr
    del spec_dir
    shutil.rmtree(tmp_path, ignore_errors=True)
