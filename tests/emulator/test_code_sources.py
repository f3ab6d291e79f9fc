"""Functions whose code is a zip, a single file or inline in the template, run as users run
them: `lambdakit invoke` and `lambdakit serve` with boto3, in real processes.

The zip holds lambdakit's own ``bootstrap`` (executable, as the zip's modes say) and a handler;
the inline function is a CloudFormation custom resource that answers with ``cfnresponse``.
"""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.emulator.conftest import Server, client_for

ROOT = Path(__file__).parent.parent.parent
BOOTSTRAP = ROOT / "src" / "lambdakit" / "runtime" / "bootstrap"
PYTHON = "python%d.%d" % sys.version_info[:2]

TEMPLATE = f"""\
Resources:
  Zipped:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: dist/zipped.zip
      Runtime: provided.al2023
      Handler: handler.main
  Single:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: single.py
      Runtime: {PYTHON}
      Handler: single.handler
  Custom:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: {PYTHON}
      Handler: index.handler
      Code:
        ZipFile: !Sub |
          import os
          import cfnresponse

          def handler(event, context):
              if "ResponseURL" in event:
                  data = {{"Region": "${{AWS::Region}}"}}
                  cfnresponse.send(event, context, cfnresponse.SUCCESS, data)
              return {{"inline": event, "files": sorted(os.listdir("."))}}
"""

HANDLER = """\
import os


def main(event, context):
    return {"zipped": event, "files": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"]))}
"""

SINGLE = """\
import os


def handler(event, context):
    return {"single": event, "files": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"]))}
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A template with the three functions; the code cache in TMP_PATH (the child processes
    inherit XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    with zipfile.ZipFile(project / "dist" / "zipped.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, mode in [
            ("bootstrap", BOOTSTRAP.read_bytes(), 0o755),
            ("handler.py", HANDLER.encode(), 0o644),
        ]:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, content)
    (project / "single.py").write_text(SINGLE)
    (project / "unrelated.txt").write_text("not part of the single-file function")
    (project / "template.yaml").write_text(TEMPLATE)
    return project


def lambdakit(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], capture_output=True, timeout=60
    )


EXPECTED = {
    "Zipped": {"zipped": {"n": 1}, "files": ["bootstrap", "handler.py"]},
    "Single": {"single": {"n": 1}, "files": ["single.py"]},
    "Custom": {"inline": {"n": 1}, "files": ["cfnresponse.py", "index.py"]},
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_lambdakit_invoke_runs_each_code_source(project: Path, name: str) -> None:
    done = lambdakit("invoke", str(project), "--function", name, "--event", '{"n": 1}')
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout)
    answer["files"] = [f for f in answer["files"] if f != "__pycache__"]
    assert answer == EXPECTED[name]
    assert f"[{name}] REPORT RequestId: " in done.stderr.decode()


class _CloudFormation(http.server.BaseHTTPRequestHandler):
    """Stands in for the pre-signed S3 URL a custom resource answers."""

    bodies: ClassVar[list[bytes]] = []

    def do_PUT(self) -> None:  # http.server's name
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def response_url() -> Iterator[str]:
    _CloudFormation.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CloudFormation)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stack-response?X-Amz-Signature=x"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_serve_runs_each_code_source_for_boto3(project: Path, response_url: str) -> None:
    server = Server(project / "template.yaml", env={"XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]})
    try:
        client = client_for(server.url)
        for name, expected in EXPECTED.items():
            response = client.invoke(FunctionName=name, Payload=b'{"n": 1}')
            assert "FunctionError" not in response, response["Payload"].read()
            answer = json.loads(response["Payload"].read())
            answer["files"] = [f for f in answer["files"] if f != "__pycache__"]
            assert answer == expected
        event = {
            "RequestType": "Create",
            "ResponseURL": response_url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            "RequestId": "req-1",
            "LogicalResourceId": "MyCustom",
        }
        response = client.invoke(FunctionName="Custom", Payload=json.dumps(event).encode())
        assert "FunctionError" not in response, response["Payload"].read()
        (body,) = _CloudFormation.bodies
        sent = json.loads(body)
        assert (sent["Status"], sent["Data"], sent["RequestId"]) == (
            "SUCCESS",
            {"Region": "us-east-1"},
            "req-1",
        )
        assert sent["PhysicalResourceId"].startswith("20")  # the log stream's name: its date
    finally:
        server.stop()
