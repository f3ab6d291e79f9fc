"""`lambdakit invoke` and `lambdakit serve` as users run them, and the AWS CLI as a client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.emulator.conftest import PLAIN, PROJECT, Server

ROOT = Path(__file__).parent.parent.parent
HELLO = ROOT / "examples" / "hello"


def lambdakit(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], input=stdin, capture_output=True, timeout=60
    )


def test_quick_start_invokes_the_bundled_example() -> None:
    done = lambdakit("invoke", str(HELLO), "--event", '{"name": "world"}')
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {"message": "Hello, world!"}
    log = done.stderr.decode()
    assert "START RequestId: " in log and "REPORT RequestId: " in log
    assert "greeting world" in log  # the function's own log line


def test_the_example_bootstrap_is_the_shipped_one() -> None:
    shipped = ROOT / "src" / "lambdakit" / "runtime" / "bootstrap"
    assert (HELLO / "bootstrap").read_bytes() == shipped.read_bytes()
    assert os.access(HELLO / "bootstrap", os.X_OK)


def test_invoke_reads_the_event_from_stdin_and_a_file(tmp_path: Path) -> None:
    done = lambdakit("invoke", str(HELLO), "--event-file", "-", stdin=b'{"name": "stdin"}')
    assert json.loads(done.stdout) == {"message": "Hello, stdin!"}
    event = tmp_path / "event.json"
    event.write_text('{"name": "file"}')
    done = lambdakit("invoke", str(HELLO), "--event-file", str(event))
    assert json.loads(done.stdout) == {"message": "Hello, file!"}


def test_invoke_exit_status_1_on_a_function_error() -> None:
    done = lambdakit("invoke", str(PROJECT), "--function", "fails")
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "ValueError"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--event", "{nope"], "the event is not valid JSON"),
        (["--function", "missing"], "no function 'missing'"),
        ([], "has several functions"),
        (["--event", "{}", "--event-file", "-"], "not both"),
    ],
)
def test_invoke_usage_errors_exit_2(args: list[str], message: str) -> None:
    done = lambdakit("invoke", str(PROJECT), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    done = lambdakit("invoke", str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert b"Traceback" not in done.stderr and b"nowhere" in done.stderr


def test_invoke_a_python_directory_with_a_handler_flag(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def go(event, context):\n    return {'went': event}\n")
    done = lambdakit("invoke", str(tmp_path), "--handler", "main.go", "--event", "[1]")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {"went": [1]}


def test_invoke_against_a_running_server(server: Server) -> None:
    done = lambdakit(
        "invoke", "--endpoint", server.url, "--function", "echo", "--event", '{"e": 1}'
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {"e": 1}
    assert "REPORT RequestId:" in done.stderr.decode()


def test_aws_cli_invoke(server: Server, tmp_path: Path) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")
    out = tmp_path / "out.json"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = subprocess.run(
        [aws, "lambda", "invoke", "--endpoint-url", server.url, "--region", "us-east-1",
         "--function-name", "echo", "--payload", '{"cli": true}', str(out)],
        capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"cli": True}


def test_event_retries_then_dead_letter(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    srv = Server(project, "--event-retry-delays", "0.1,0.1", "--function", "flaky", env=PLAIN)
    try:
        import boto3

        client = boto3.client(
            "lambda", endpoint_url=srv.url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        ok, bad = tmp_path / "ok", tmp_path / "bad"
        client.invoke(FunctionName="flaky", InvocationType="Event",
                      Payload=json.dumps({"marker": str(ok), "succeed_on": 3}))  # fmt: skip
        client.invoke(FunctionName="flaky", InvocationType="Event",
                      Payload=json.dumps({"marker": str(bad), "succeed_on": 99}))  # fmt: skip
        dead = project / ".lambdakit" / "dead-letters.jsonl"

        def settled() -> bool:  # the two events run side by side, in either order
            return dead.exists() and ok.exists() and ok.read_text() == "xxx"

        deadline = time.monotonic() + 30
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ok.read_text() == "xxx"  # failed twice, then succeeded on the last retry
        assert bad.read_text() == "xxx"  # three attempts, then the dead-letter file
        (record,) = [json.loads(line) for line in dead.read_text().splitlines()]
        assert record["function"] == "flaky" and record["attempts"] == 3
        assert json.loads(record["payload"])["marker"] == str(bad)
        assert "attempt 3 fails" in record["errors"][-1]
    finally:
        srv.stop()


def test_unfinished_events_survive_a_restart(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    marker = tmp_path / "marker"
    srv = Server(project, "--function", "pid", "--concurrency", "1")
    import boto3

    def client(url: str):  # type: ignore[no-untyped-def]
        return boto3.client(
            "lambda", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip

    try:
        c = client(srv.url)
        c.invoke(FunctionName="pid", InvocationType="Event", Payload=b'{"seconds": 3}')
        for index in range(2):
            c.invoke(FunctionName="pid", InvocationType="Event", Payload=json.dumps({"i": index}))
        time.sleep(0.5)
    finally:
        assert srv.stop() == 0
    pending = project / ".lambdakit" / "pending-events.jsonl"
    assert len(pending.read_text().splitlines()) == 3
    assert "saved to" in "".join(srv.errors)
    srv = Server(project, "--function", "pid")
    try:
        srv.wait_for_output("REPORT", timeout=20)
        assert "resumed 3 pending event(s)" in "".join(srv.errors)
        assert not pending.exists()
    finally:
        srv.stop()
    del marker
