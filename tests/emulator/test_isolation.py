"""A Python function imports exactly its own packages (and, on a managed python3.x runtime, the
boto3 AWS ships), and sees exactly Lambda's variables and its own: nothing of lambdakit's
environment or of the shell that started it."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit._vendoring import runtime_files
from lambdakit.emulator import sandbox
from lambdakit.emulator.python_paths import SDK_VERSIONS, runtime_directory
from lambdakit.emulator.variables import LAMBDA_LD_LIBRARY_PATH, LAMBDA_PATH
from tests.emulator.conftest import Server, client_for

BOOTSTRAP = Path(__file__).parents[2] / "src" / "lambdakit" / "runtime" / "bootstrap"
UNDECLARED = ("requests", "yaml", "click")
REPORT = """import os, sys

def handler(event, context):
    try:
        import boto3, botocore
        sdk = [boto3.__version__, botocore.__version__]
    except ImportError:
        sdk = None
    return {"environ": dict(os.environ), "sdk": sdk, "path": sys.path}
"""
# Lambda's variables for a python3.x function (configuration-envvars.html), with the logging
# ones (LoggingConfig) and the invocation's trace header.
DOCUMENTED = {
    "LANG", "TZ", "PATH", "LD_LIBRARY_PATH", "_HANDLER", "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_RUNTIME_API", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_LOG_FORMAT", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT", "PWD",
}  # fmt: skip
# Of the host's: the credentials (the test server gives fake ones), coverage's, and the
# variable every function of the test server gets (--env TEST_PYTHON=...).
PASSED = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TEST_PYTHON"}


def function(name: str, code: str, runtime: str, handler: str = "app.handler") -> str:
    return (
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: {code}\n      Handler: {handler}\n      Runtime: {runtime}\n"
        "      Environment: {Variables: {MINE: mine}}\n"
    )


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("isolation")
    for name in ("bare", "declared", "provided", "ric"):
        (root / name).mkdir()
        (root / name / "app.py").write_text(REPORT)
    for module in UNDECLARED:
        (root / "bare" / f"uses_{module}.py").write_text(f"import {module}\n")
    (root / "declared" / "requirements.txt").write_text("six==1.16.0\n")
    (root / "declared" / "uses_six.py").write_text(
        "import six\n\ndef handler(event, context):\n    return six.__version__\n"
    )
    shutil.copy(BOOTSTRAP, root / "provided" / "bootstrap")
    executable(
        root / "ric" / "bootstrap", '#!/bin/sh\nexec "$TEST_PYTHON" -m awslambdaric "$_HANDLER"\n'
    )
    functions = [function("Bare", "bare", "python3.12")]
    functions += [
        function(f"Uses{m}", "bare", "python3.12", f"uses_{m}.handler") for m in UNDECLARED
    ]
    functions += [function("Declared", "declared", "python3.12", "uses_six.handler")]
    functions += [function("Provided", "provided", "provided.al2023")]
    functions += [function("Ric", "ric", "provided.al2023")]
    header = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
    (root / "template.yaml").write_text(header + "".join(functions))
    srv = Server(root)
    yield srv
    srv.stop()


def invoke(server: Server, name: str) -> tuple[Any, dict[str, Any]]:
    answer = client_for(server.url).invoke(FunctionName=name)
    return json.loads(answer["Payload"].read()), answer


@pytest.mark.parametrize("module", UNDECLARED)
def test_an_undeclared_import_fails_as_on_aws(server: Server, module: str) -> None:
    # lambdakit's own environment has all three; the function declares none.
    body, answer = invoke(server, f"Uses{module}")
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == (
        f"Unable to import module 'uses_{module}': No module named '{module}'"
    )


def test_a_declared_package_is_installed_and_imported(server: Server) -> None:
    body, answer = invoke(server, "Declared")
    assert "FunctionError" not in answer
    assert body == "1.16.0"


def test_a_managed_runtime_has_the_boto3_aws_ships(server: Server) -> None:
    body, _ = invoke(server, "Bare")
    assert body["sdk"] == list(SDK_VERSIONS[(3, 12)])
    assert not [p for p in body["path"] if "site-packages" in p and ".venv" in p]


def test_provided_has_no_boto3_and_the_bootstraps_interpreter(server: Server) -> None:
    body, answer = invoke(server, "Provided")
    assert "FunctionError" not in answer
    assert body["sdk"] is None
    environ = body["environ"]
    assert environ["LAMBDA_RUNTIME_DIR"] in body["path"]  # the bootstrap's -S path was taken
    assert "AWS_EXECUTION_ENV" not in environ  # "not defined for OS-only runtimes"


def test_the_environment_is_lambdas_and_the_functions_own(server: Server) -> None:
    body, _ = invoke(server, "Bare")
    environ = body["environ"]
    # Python sets LC_CTYPE itself (PEP 538) where the host has no en_US.UTF-8 locale.
    own = {key for key in environ if key.startswith("COVERAGE_") or key == "LC_CTYPE"}
    assert set(environ) - own == DOCUMENTED | PASSED | {"MINE"}
    assert environ["MINE"] == "mine"
    assert environ["LANG"] == "en_US.UTF-8" and environ["TZ"] == ":UTC"
    assert environ["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert environ["PATH"].startswith(LAMBDA_PATH + ":")  # no layers: Lambda's comes first
    assert environ["LD_LIBRARY_PATH"].startswith(LAMBDA_LD_LIBRARY_PATH + ":")
    # The runtime directory (what it holds: the next test), at Lambda's path in the sandbox.
    runtime = Path("/var/runtime") if sandbox.choose().active else runtime_directory()
    assert environ["LAMBDA_RUNTIME_DIR"] == str(runtime)


def test_an_awslambdaric_bootstrap_still_works(server: Server) -> None:
    body, answer = invoke(server, "Ric")
    assert "FunctionError" not in answer
    assert "LAMBDAKIT_PYTHON" not in body["environ"]  # nothing special for other bootstraps
    assert body["environ"]["MINE"] == "mine"


def test_the_runtime_directory_holds_the_runtime_and_nothing_else() -> None:
    shipped = runtime_directory() / "lambdakit"
    found = sorted(p.relative_to(shipped) for p in shipped.rglob("*.py"))
    assert found == sorted(p for p in runtime_files() if p.suffix == ".py")
    assert not (shipped / "emulator").exists() and not (shipped / "cli").exists()
