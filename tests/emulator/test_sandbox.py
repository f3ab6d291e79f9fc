"""The sandbox (bubblewrap): code at /var/task, layers merged at /opt, a private /tmp and
process namespace per environment; and a bootstrap Lambda could not start answers
Runtime.InvalidEntrypoint with or without it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator import sandbox
from lambdakit.emulator.layout import Layout, OptPart
from tests.emulator.conftest import Server, client_for

BOX = sandbox.choose()
needs_sandbox = pytest.mark.skipif(not BOX.active, reason=f"no sandbox here: {BOX.detail}")

PROBE = """import os, subprocess, sys, time

def handler(event, context):
    if event.get("secret"):
        with open("/tmp/secret", "w") as file:
            file.write(event["secret"])
        subprocess.Popen(["sleep", "60"], env={"SECRET": event["secret"]})
    if event.get("daemon"):  # double-forked, in a session of its own, deaf to SIGTERM
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
        subprocess.Popen(
            ["setsid", sys.executable, "-c", code], env={"MARKER": event["daemon"]},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(event["sleep"])
    if event.get("kill"):
        os.kill(os.getpid(), 9)
    if event.get("raise"):
        raise ValueError("from the handler")
    environs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environs.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError:
            pass
    try:
        open("/var/task/written", "w")
        task = "writable"
    except OSError as error:
        task = error.strerror
    tmp = os.statvfs("/tmp")
    return {
        "cwd": os.getcwd(), "file": __file__, "tmp": sorted(os.listdir("/tmp")),
        "opt": open("/opt/python/shared.py").read() if os.path.exists("/opt/python") else None,
        "secrets": [e for e in environs if "SECRET=" in e], "task": task,
        "tmp_mb": tmp.f_blocks * tmp.f_frsize // 2**20, "pids": len(environs),
    }
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sandbox")
    for name in ("one", "two"):
        (root / name).mkdir()
        (root / name / "app.py").write_text(PROBE)
    for layer, text in (("first", "first"), ("second", "second")):
        (root / layer / "python").mkdir(parents=True)
        (root / layer / "python" / "shared.py").write_text(text)
    (root / "first" / "python" / "only_first.py").write_text("")
    (root / "nothing").mkdir()  # provided.al2023, no bootstrap anywhere
    (root / "readonly").mkdir()
    (root / "readonly" / "bootstrap").write_text("#!/bin/sh\nexit 0\n")  # not executable
    layers = "      Layers: [!Ref First, !Ref Second]\n"
    resources = [
        function("One", "one", "python3.12", layers + "      EphemeralStorage: {Size: 1024}\n"),
        function("Two", "two", "python3.12", layers),
        function("Short", "two", "python3.12").replace("Timeout: 10", "Timeout: 1"),
        function("Nothing", "nothing", "provided.al2023"),
        function("ReadOnly", "readonly", "provided.al2023"),
    ]
    for layer in ("First", "Second"):
        resources.append(
            f"  {layer}:\n    Type: AWS::Serverless::LayerVersion\n"
            f"    Properties:\n      ContentUri: {layer.lower()}\n"
        )
    header = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
    (root / "template.yaml").write_text(header + "".join(resources))
    return root


def function(name: str, code: str, runtime: str, extra: str = "") -> str:
    return (
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: {code}\n      Handler: app.handler\n      Runtime: {runtime}\n"
        "      Timeout: 10\n" + extra
    )


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    srv = Server(project)
    yield srv
    srv.stop()


def invoke(server: Server, name: str, event: Any = None) -> tuple[Any, dict[str, Any]]:
    payload = json.dumps(event or {})
    answer = client_for(server.url).invoke(FunctionName=name, Payload=payload)
    return json.loads(answer["Payload"].read()), answer


@needs_sandbox
def test_code_is_read_only_at_var_task_and_tmp_is_sized(server: Server) -> None:
    body, _ = invoke(server, "One")
    assert body["cwd"] == "/var/task" and body["file"] == "/var/task/app.py"
    assert body["task"] == "Read-only file system"
    assert body["tmp_mb"] == 1024  # EphemeralStorage
    assert invoke(server, "Two")[0]["tmp_mb"] == 512  # Lambda's default
    assert "filesystem: bubblewrap" in "".join(server.errors)


@needs_sandbox
def test_layers_are_merged_at_opt_the_later_one_winning(server: Server) -> None:
    body, _ = invoke(server, "One")
    assert body["opt"] == "second"


@needs_sandbox
def test_a_stack_trace_reads_var_task(server: Server) -> None:
    body, answer = invoke(server, "One", {"raise": True})
    assert answer["FunctionError"] == "Unhandled"
    assert any('File "/var/task/app.py"' in line for line in body["stackTrace"])


@needs_sandbox
def test_two_functions_see_neither_each_others_tmp_nor_processes(server: Server) -> None:
    mine, _ = invoke(server, "One", {"secret": "one-secret"})
    assert "secret" in mine["tmp"] and mine["secrets"]  # its own file and its own child
    theirs, _ = invoke(server, "Two")
    # Nothing of the other's /tmp (the paths the test server keeps visible, its interpreter's
    # virtual environment when the checkout is under /tmp, are the host's, not One's).
    assert "secret" not in theirs["tmp"] and theirs["secrets"] == []
    assert theirs["pids"] <= 3  # bwrap's PID 1, the runtime (and what /proc listed of them)
    again, _ = invoke(server, "One")  # the same (warm) environment keeps its /tmp
    assert "secret" in again["tmp"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Nothing", "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"),
        ("ReadOnly", "fork/exec /var/task/bootstrap: permission denied"),
    ],
)
def test_no_bootstrap_to_start_is_runtime_invalid_entrypoint(
    server: Server, name: str, reason: str
) -> None:
    body, answer = invoke(server, name)
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Runtime.InvalidEntrypoint",
        "errorMessage": f"RequestId: {request_id} Error: {reason}",
    }
    output = server.wait_for_output(f"REPORT RequestId: {request_id}")
    assert "Status: error\tError Type: Runtime.InvalidEntrypoint" in output
    assert "lambdakit: function" in output  # and the developer is told what to do


def test_without_the_sandbox_the_process_runs_where_its_code_is(project: Path) -> None:
    srv = Server(project, env={"LAMBDAKIT_SANDBOX": "0"})
    try:
        body, _ = invoke(srv, "Two")
        assert body["cwd"] == str(project / "two")
        assert "filesystem: plain processes (LAMBDAKIT_SANDBOX=0)" in "".join(srv.errors)
        body, _ = invoke(srv, "Nothing")
        assert body["errorType"] == "Runtime.InvalidEntrypoint"
    finally:
        srv.stop()


# --- the merge, run by bwrap itself -----------------------------------------------------------


def run_in(host: Layout, script: str, keep: tuple[Path, ...] = ()) -> str:
    argv = sandbox.arguments(BOX, host, ["/bin/sh", "-c", script], tmp_mb=16, keep=keep)
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@needs_sandbox
def test_the_merge_puts_each_file_where_lambda_extracts_it(tmp_path: Path) -> None:
    code = tree(tmp_path / "code", {"app.py": "code", "lib/own.so": "own"})
    deps = tree(tmp_path / "deps", {"six.py": "six", "app.py": "not the code's"})
    early = tree(tmp_path / "early", {"python/a.py": "early", "bin/tool": "early", "x": "e"})
    late = tree(tmp_path / "late", {"python/a.py": "late", "python/b.py": "late"})
    built_files = tree(tmp_path / "built", {"dep.py": "dep"})
    built_source = tree(tmp_path / "source", {"own.py": "own", "a.py": "source"})
    (late / "link").symlink_to("python/b.py")
    host = Layout(
        (code, deps),
        (  # the winner first, as host_layout orders them
            OptPart(built_files, "python"), OptPart(built_source, "python"),
            OptPart(late), OptPart(early),
        ),
        tmp_path / "runtime",
    )  # fmt: skip
    (tmp_path / "runtime").mkdir()
    out = run_in(host, "cd /var/task && cat app.py six.py lib/own.so; echo; cd /opt && "
                 "cat python/a.py python/b.py python/dep.py python/own.py bin/tool x link; "
                 "echo; touch /opt/new 2>&1 || echo ro")  # fmt: skip
    lines = out.splitlines()
    assert lines[:2] == ["codesixown", "sourcelatedepownearlyelate"]
    assert "Read-only file system" in lines[2] and lines[3] == "ro"


@needs_sandbox
def test_host_paths_under_tmp_are_kept_where_they_are(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "runtime").mkdir()
    kept = tree(tmp_path / "interpreter", {"bin/python": "kept"})
    host = Layout((tmp_path / "code",), (), tmp_path / "runtime")
    out = run_in(host, f"cat {kept}/bin/python; echo; ls /tmp | wc -l", keep=(kept, Path("/tmp")))
    assert out.split() == ["kept", "1"]  # the kept path, and /tmp itself still the sandbox's


@needs_sandbox
def test_a_runtime_killed_in_the_sandbox_is_told_by_its_signal(server: Server) -> None:
    body, answer = invoke(server, "Two", {"kill": True})
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")


@needs_sandbox
def test_what_an_environment_leaves_dies_with_its_namespace(project: Path) -> None:
    # No cgroup to hold the processes, and a daemon that /proc searches cannot tell for the
    # environment's (not its variables, not its pipes): only the PID namespace ends it.
    marker = f"sandbox-{os.getpid()}"
    srv = Server(project, env={"LAMBDAKIT_MEMORY_LIMITS": "rlimit"})
    try:
        body, _ = invoke(srv, "Short", {"daemon": marker, "sleep": 5})
        assert body["errorType"] == "Sandbox.Timedout"
        assert wait_until(lambda: not processes_with(f"MARKER={marker}"))
    finally:
        srv.stop()


def processes_with(variable: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if variable.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            pass
    return found


def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
