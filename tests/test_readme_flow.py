"""The README's quick start and its "project of your own" flow, run as the README writes them,
top to bottom, in a fresh virtual environment; ``deploy`` goes to moto's Lambda.

The commands are read out of README.md, so that the test follows the README. They run in a
copy of this checkout (the quick start creates ``.venv`` in the current directory, and this
checkout's own ``.venv`` must stay as it is), one ``bash`` per line, each line in the directory
the one before left and with the virtual environment active, as in one shell. Then what was
deployed is checked as AWS would start it: a managed ``python3.x`` runtime whose
``AWS_LAMBDA_EXEC_WRAPPER`` names a script that one of its layers holds, next to the runtime,
and a handler the code defines. The function's code and layers (the zips whose CodeSha256
moto reports) are then started as Lambda starts them, against a stub Runtime API.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from lambdakit.emulator.interpreters import find_interpreter, runtime_version
from tests.helpers import LAMBDA_TRUST
from tests.stub import StubRuntimeAPI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REGION = "us-east-1"
SERVE_PORTS = (9000, 9001)  # `lambdakit serve .`: the Invoke API, then the Function URL


# --- the README ----------------------------------------------------------------------------------


def code_block_after(text: str, marker: str) -> list[str]:
    """The lines of the first indented code block after the line that starts with MARKER."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("    "):
            block.append(line[4:])
        elif block:
            break
    assert block, f"README.md has no code block after {marker!r}"
    return block


def readme_commands() -> tuple[str, list[str]]:
    """(the quick start's command, the project flow's lines), as README.md writes them."""
    text = README.read_text(encoding="utf-8")
    quick = code_block_after(text, "## Quick start")
    assert len(quick) == 1, quick
    return quick[0], code_block_after(text, "A project of your own")


def test_the_readme_commands_are_found() -> None:
    quick, flow = readme_commands()
    assert "lambdakit invoke examples/hello" in quick and "venv" in quick
    assert flow[-1].startswith("lambdakit deploy")


# --- a shell: one bash per line, the directory and the venv carried over -----------------------


class Shell:
    def __init__(self, cwd: Path, env: dict[str, str], scratch: Path) -> None:
        self.cwd, self.env, self.scratch = cwd, env, scratch
        self.venv: Path | None = None

    def script(self, line: str) -> str:
        activate = f". {shlex.quote(str(self.venv))}/bin/activate\n" if self.venv else ""
        where = shlex.quote(str(self.scratch / "pwd"))
        return f"{activate}{line}\nstatus=$?\npwd > {where}\nexit $status\n"

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", self.script(line)], cwd=self.cwd, env=self.env, text=True,
            capture_output=True, timeout=1200,
        )  # fmt: skip
        assert done.returncode == 0, f"$ {line}\n{done.stdout}\n{done.stderr}"
        self.cwd = Path((self.scratch / "pwd").read_text().strip())
        if self.venv is None and (self.cwd / ".venv" / "bin" / "activate").is_file():
            self.venv = self.cwd / ".venv"  # the quick start made and activated it
        return done

    def start(self, line: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", "-c", self.script(line)], cwd=self.cwd, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip


def fresh_environment(endpoint: str) -> dict[str, str]:
    """A shell's environment without this checkout's venv, with dummy AWS credentials."""
    venv = os.environ.get("VIRTUAL_ENV")
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not venv or not p.startswith(venv)]
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AWS_PROFILE", "COVERAGE_PROCESS_START")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST")}
    return env | {
        "PATH": os.pathsep.join(path),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def copy_checkout(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore) at DEST."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and "__pycache__" not in source.parts:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


# --- AWS: moto on a free port --------------------------------------------------------------------


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- the flow ------------------------------------------------------------------------------------


def test_the_readme_flow_runs_and_deploys_a_function_that_starts(
    tmp_path: Path, moto_endpoint: str
) -> None:
    busy = [port for port in SERVE_PORTS if port_in_use(port)]
    if busy:
        pytest.skip(f"`lambdakit serve .` listens on {SERVE_PORTS}; {busy} in use here")
    quick, flow = readme_commands()
    role = re.search(r"--role (arn:aws:iam::\d{12}:role/([\w+=,.@-]+))", flow[-1])
    assert role is not None, flow[-1]
    client("iam", moto_endpoint).create_role(
        RoleName=role[2], AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )
    checkout = copy_checkout(tmp_path / "lambdakit")
    (tmp_path / "scratch").mkdir()
    shell = Shell(checkout, fresh_environment(moto_endpoint), tmp_path / "scratch")

    answer = shell.run(quick)
    # pip's progress first, then the function's response: the last line
    assert json.loads(answer.stdout.splitlines()[-1]) == {"message": "Hello, world!"}
    assert shell.venv == checkout / ".venv"

    for line in flow:
        if line.startswith("lambdakit serve"):
            serve_and_stop(shell, line)
        else:
            done = shell.run(line)
    assert "my-fn: function: created" in done.stdout, done.stdout

    uploaded = {code_sha256(z.read_bytes()): z.read_bytes() for z in shell.cwd.rglob("*.zip")}
    check_deployed(client("lambda", moto_endpoint), "my-fn", uploaded, tmp_path / "deployed")


def serve_and_stop(shell: Shell, line: str) -> None:
    """Start LINE (``lambdakit serve .``), invoke the function with boto3, stop it (Ctrl-C)."""
    process = shell.start(line)
    try:
        deadline = time.monotonic() + 120  # readiness, not a measurement
        while not port_in_use(SERVE_PORTS[0]):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "serve did not start listening"
            time.sleep(0.2)
        local = client("lambda", f"http://127.0.0.1:{SERVE_PORTS[0]}")
        answer = local.invoke(FunctionName="my-fn", Payload=json.dumps({"name": "serve"}))
        assert json.loads(answer["Payload"].read())["message"] == "Hello, serve!"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130), err


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def check_deployed(lambda_: Any, name: str, uploaded: dict[str, bytes], work: Path) -> None:
    """NAME on (moto's) Lambda is configured as AWS would start it, and starts. Moto's code
    locations are s3:// names, so the zips are found by their CodeSha256 among UPLOADED, the
    zips of the project (what deploy uploaded)."""
    function = lambda_.get_function(FunctionName=name)
    configuration = function["Configuration"]
    runtime = configuration["Runtime"]
    assert re.fullmatch(r"python3\.\d+", runtime), runtime  # the interpreter is the runtime's
    wrapper = configuration["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
    assert wrapper.startswith("/opt/")
    opt = work / "opt"
    for layer in configuration["Layers"]:  # extracted in order, as Lambda does
        # arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION (moto has no GetLayerVersionByArn)
        layer_name, number = layer["Arn"].rsplit(":", 2)[1:]
        version = lambda_.get_layer_version(LayerName=layer_name, VersionNumber=int(number))
        assert runtime in version["CompatibleRuntimes"]
        unzip(uploaded[version["Content"]["CodeSha256"]], opt)
    held = opt / wrapper.removeprefix("/opt/")
    assert held.is_file() and os.access(held, os.X_OK), f"no {wrapper} in the layers"
    assert (opt / "python" / "lambdakit" / "runtime" / "__main__.py").is_file()
    task = unzip(uploaded[configuration["CodeSha256"]], work / "task")
    module, function_name = configuration["Handler"].rsplit(".", 1)
    assert f"def {function_name}(" in (task / f"{module}.py").read_text()
    answer = start_as_lambda(held, opt, task, runtime, configuration["Handler"])
    assert answer["message"] == "Hello, AWS!"


def start_as_lambda(wrapper: Path, opt: Path, task: Path, runtime: str, handler: str) -> Any:
    """What the managed runtime's bootstrap runs with AWS_LAMBDA_EXEC_WRAPPER set (runtimes-
    modify.html#runtime-wrapper), against a stub Runtime API; the handler's answer."""
    interpreter = find_interpreter(runtime_version(runtime))
    if not interpreter.exact:
        pytest.skip(f"no CPython for {runtime} on this machine to start the function with")
    env = {
        "PATH": os.environ["PATH"], "LAMBDAKIT_OPT": str(opt), "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_FUNCTION_NAME": "my-fn",
    }  # fmt: skip
    with StubRuntimeAPI() as api:
        api.push({"name": "AWS"})
        argv = [str(wrapper), str(interpreter.path), "/var/runtime/bootstrap.py"]
        env["AWS_LAMBDA_RUNTIME_API"] = api.address
        process = subprocess.Popen(argv, cwd=task, env=env, stderr=subprocess.PIPE, text=True)
        try:
            (response,) = api.wait_for_answers(1, timeout=60)
        finally:
            process.kill()
            _, err = process.communicate()
    assert response.path.endswith("/response"), (response.path, response.body, err)
    return response.json()


def unzip(data: bytes, dest: Path) -> Path:
    """Extract DATA into DEST keeping the modes (zipfile drops them), as Lambda does."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            target = Path(archive.extract(info, dest))
            mode = info.external_attr >> 16 & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)
    return dest
