"""``lambdakit image`` and running an image as an execution environment.

Fast tests cover engine detection, this machine's adjustments, build arguments, the runtime
copied into the build context and the argv of a container environment. The slow ones build
examples/hello with buildah on a local Debian base image (``scripts/base-image``, cached) and
run it with podman against the stub Runtime API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from lambdakit.cli.image import image
from lambdakit.emulator import containers
from lambdakit.emulator.containers import Adjustments, Engine, HostFacts, detect_engine, supervisor
from lambdakit.emulator.errors import ContainerEngineError
from lambdakit.project import image as project_image
from lambdakit.project.errors import ImageError
from lambdakit.project.image import build_image, parse_build_args, runtime_files, vendor_runtime
from tests.stub import StubRuntimeAPI

ROOT = Path(__file__).parent.parent.parent
HELLO = ROOT / "examples" / "hello"
BASE_IMAGE = "localhost/debian-python:bookworm"
# One tag per test run: two runs on one machine (share podman's storage) must not remove each
# other's image at their ends.
TAG = f"localhost/lambdakit-test-hello-{os.getpid()}:latest"
PACKAGE = ROOT / "src" / "lambdakit"


# --- engine detection -------------------------------------------------------------------------


def installed(*names: str) -> Callable[[str], str | None]:
    return lambda name: f"/usr/bin/{name}" if name in names else None


def detect(
    *names: str, daemon: bool = True, prefer: str | None = None, purpose: str = "build"
) -> Engine:
    return detect_engine(
        prefer, purpose="run" if purpose == "run" else "build", which=installed(*names),
        docker_answers=lambda _: daemon, facts=HostFacts(), environ={},
    )  # fmt: skip


def test_no_engine_is_an_error_that_says_what_to_install() -> None:
    with pytest.raises(ContainerEngineError, match="install docker or podman") as caught:
        detect()
    assert "docker is not installed; podman is not installed" in str(caught.value)


def test_engines_are_tried_docker_podman_buildah() -> None:
    assert detect("docker", "podman", "buildah").name == "docker"
    assert detect("podman", "buildah").name == "podman"
    assert detect("buildah").name == "buildah"
    assert detect("buildah").executable == "/usr/bin/buildah"


def test_a_docker_client_without_a_daemon_is_skipped() -> None:
    assert detect("docker", "podman", daemon=False).name == "podman"
    with pytest.raises(
        ContainerEngineError, match="its daemon does not answer; start it or choose"
    ):
        detect("docker", daemon=False, prefer="docker")
    with pytest.raises(ContainerEngineError, match="no container engine to build images"):
        detect("docker", daemon=False)


def test_prefer_forces_an_engine() -> None:
    assert detect("docker", "podman", "buildah", prefer="buildah").name == "buildah"
    with pytest.raises(
        ContainerEngineError, match="cannot use podman: podman is not installed; install"
    ):
        detect("docker", "buildah", prefer="podman")
    with pytest.raises(ContainerEngineError, match="unknown container engine 'rkt'"):
        detect("docker", prefer="rkt")


def test_buildah_cannot_run_images() -> None:
    with pytest.raises(ContainerEngineError, match="no container engine to run images"):
        detect("buildah", purpose="run")
    with pytest.raises(ContainerEngineError, match="buildah builds images but cannot run them"):
        detect("buildah", prefer="buildah", purpose="run")
    builder = detect("buildah")
    with pytest.raises(ContainerEngineError, match="buildah cannot run images"):
        containers.run_command("x", {}, engine=builder, name="n")


def test_an_engine_error_is_an_image_error_with_the_same_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")

    def no_engine(prefer: str | None) -> Engine:
        raise ContainerEngineError("no container engine to build images (...): install docker")

    monkeypatch.setattr(project_image, "detect_engine", no_engine)
    with pytest.raises(ImageError, match=r"^no container engine to build images \(\.\.\.\)"):
        build_image(tmp_path)
    result = CliRunner().invoke(image, [str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: no container engine to build images (...): install docker" in result.stderr


def test_host_facts_are_read_without_failing() -> None:
    facts = HostFacts.probe()
    assert facts.root == (os.geteuid() == 0)


# --- this machine's adjustments ---------------------------------------------------------------

LAPTOP = HostFacts(root=False, systemd=True)
SANDBOX = HostFacts(
    root=True, sys_resource=False, hybrid_cgroups=True, cgroup_v1=True, systemd=False,
    overlay_storage=True, crun=True, runc=True,
)  # fmt: skip


def test_a_plain_machine_needs_nothing() -> None:
    for engine in containers.ENGINES:
        assert containers.adjustments(engine, LAPTOP, {}) == Adjustments()


def test_a_sandboxed_root_gets_every_fallback() -> None:
    podman = containers.adjustments("podman", SANDBOX, {})
    assert podman.global_flags == (
        "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
    )  # fmt: skip
    assert podman.build_flags == ("--isolation", "chroot")
    assert podman.containers_conf == "[containers]\ndefault_ulimits = []\n"
    buildah = containers.adjustments("buildah", SANDBOX, {})
    assert buildah.global_flags == ("--storage-driver", "vfs")
    assert containers.adjustments("docker", SANDBOX, {}) == Adjustments()


def test_a_store_in_use_keeps_its_storage_driver() -> None:
    used = replace(SANDBOX, store_driver="overlay")
    podman = containers.adjustments("podman", used, {})
    assert "--storage-driver" not in podman.global_flags  # podman keeps its database's driver
    assert podman.layer_cache
    buildah = containers.adjustments("buildah", used, {})
    assert buildah.global_flags == ("--storage-driver", "overlay")
    pinned_vfs = containers.adjustments("podman", replace(SANDBOX, store_driver="vfs"), {})
    assert not pinned_vfs.layer_cache


def test_the_user_settings_win() -> None:
    environ = {"LAMBDAKIT_CONTAINER_FLAGS": "--root '/srv/my storage'", "CONTAINERS_CONF": "x"}
    podman = containers.adjustments("podman", SANDBOX, environ)
    assert podman.global_flags == ("--root", "/srv/my storage")
    assert podman.build_flags == ("--isolation", "chroot")
    assert podman.containers_conf is None
    unflagged = containers.adjustments("podman", SANDBOX, {"LAMBDAKIT_CONTAINER_FLAGS": ""})
    assert unflagged.global_flags == ()
    assert unflagged.containers_conf == containers.NO_ULIMITS_CONF
    assert "LAMBDAKIT_CONTAINER_FLAGS=" in unflagged.reasons


def test_the_containers_conf_is_written_for_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    engine = Engine(name="podman", executable="podman", adjust=Adjustments(containers_conf="c\n"))
    conf = Path(engine.environ({})["CONTAINERS_CONF"])
    assert conf == tmp_path / "lambdakit" / "containers.conf"
    assert conf.read_text() == "c\n"
    assert Engine(name="podman", executable="podman").environ({"A": "1"}) == {"A": "1"}


# --- commands ---------------------------------------------------------------------------------

PODMAN = Engine(
    name="podman",
    executable="/usr/bin/podman",
    adjust=Adjustments(global_flags=("--storage-driver", "vfs"), build_flags=("--isolation", "x")),
)


def test_build_commands() -> None:
    arguments = {"BASE_IMAGE": "base", "PYTHON": "python3"}
    context, dockerfile = Path("/p"), Path("/p/Dockerfile")
    assert PODMAN.build_argv(context, dockerfile=dockerfile, tag="t", build_args=arguments) == [
        "/usr/bin/podman", "--storage-driver", "vfs", "build", "--isolation", "x", "-t", "t",
        "-f", "/p/Dockerfile", "--build-arg", "BASE_IMAGE=base", "--build-arg", "PYTHON=python3",
        "/p",
    ]  # fmt: skip
    buildah = Engine(name="buildah", executable="buildah")
    assert buildah.build_argv(context, dockerfile=dockerfile, tag="t", build_args={}) == [
        "buildah", "bud", "--layers", "-t", "t", "-f", "/p/Dockerfile", "/p",
    ]  # fmt: skip


def test_builds_on_vfs_storage_have_no_layer_cache() -> None:
    # vfs copies the whole image for every cached step: a build of examples/hello took 75 s
    # with --layers and 7 to 19 s without.
    vfs = containers.adjustments("buildah", SANDBOX, {})
    assert not vfs.layer_cache
    flagged = containers.adjustments(
        "podman", LAPTOP, {"LAMBDAKIT_CONTAINER_FLAGS": "--storage-driver=vfs"}
    )
    assert not flagged.layer_cache
    argv = Engine(name="buildah", executable="b", adjust=vfs).build_argv(
        Path("/p"), dockerfile=Path("/p/Dockerfile"), tag="t", build_args={}
    )
    assert "--layers" not in argv
    argv = Engine(name="podman", executable="p", adjust=vfs).build_argv(
        Path("/p"), dockerfile=Path("/p/Dockerfile"), tag="t", build_args={}
    )
    assert argv[argv.index("build") + 1] == "--layers=false"
    assert containers.adjustments("podman", LAPTOP, {}).layer_cache


ENVIRON = {
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "_HANDLER": "",
    "LAMBDA_TASK_ROOT": "/home/me/fn",
    "LAMBDA_RUNTIME_DIR": "/home/me/site-packages",
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "LAMBDAKIT_PYTHON": "/home/me/.venv/bin/python",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "COVERAGE_PROCESS_START": "/x",
    "GREETING": "hi",
}


def test_the_run_command_supervises_the_engine() -> None:
    argv = containers.run_command("fn:1", ENVIRON, engine=PODMAN, name="lambdakit-fn-1")
    assert argv[:4] == [sys.executable, "-I", "-S", supervisor.__file__]
    remove = argv.index("--rm")
    run = argv.index("--")
    assert argv[remove + 1 : run] == [
        "/usr/bin/podman", "--storage-driver", "vfs", "rm", "-f", "-t", "0", "lambdakit-fn-1",
    ]  # fmt: skip
    assert argv[run + 1 :] == [
        "/usr/bin/podman", "--storage-driver", "vfs", "run", "--rm", "--network", "host",
        "--name", "lambdakit-fn-1", "--init", "-m", "256m", "--memory-swap", "256m",
        "-e", "AWS_LAMBDA_RUNTIME_API", "-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "-e", "AWS_SECRET_ACCESS_KEY", "-e", "GREETING", "fn:1",
    ]  # fmt: skip
    assert "secret" not in " ".join(argv)  # values come from the process's environment


def test_the_run_command_without_memory_limits_or_init() -> None:
    engine = Engine(name="docker", executable="docker", init=False)
    argv = containers.run_command("fn", {"_HANDLER": "app.handler"}, engine=engine, name="n")
    assert argv[argv.index("--") + 1 :] == [
        "docker", "run", "--rm", "--network", "host", "--name", "n", "-e", "_HANDLER", "fn",
    ]  # fmt: skip
    assert argv[argv.index("--rm") + 1 : argv.index("--")] == ["docker", "rm", "-f", "n"]
    limited = Engine(name="podman", executable="podman", memory_limits=False)
    argv = containers.run_command("fn", {}, engine=limited, name="n", memory_mb=512)
    assert "-m" not in argv
    direct = Engine(name="podman", executable="podman", passthrough_logs=True)
    argv = containers.run_command("fn", {}, engine=direct, name="n")
    assert argv[argv.index("--init") + 1 :] == ["--log-driver", "passthrough", "fn"]


def test_the_run_command_asks_for_the_container_id_file() -> None:
    engine = Engine(name="docker", executable="docker", init=False)
    id_file = containers.new_id_file()
    try:
        assert id_file.parent.is_dir() and not id_file.exists()  # an engine refuses one that is
        argv = containers.run_command("fn", {}, engine=engine, name="n", id_file=id_file)
        assert argv[argv.index("--") + 1 :] == [
            "docker", "run", "--rm", "--network", "host", "--name", "n",
            "--cidfile", str(id_file), "fn",
        ]  # fmt: skip
    finally:
        containers.remove_id_file(id_file)
    assert not id_file.parent.exists()


class _Process:
    returncode: int | None = None


def test_created_waits_for_the_id_file_or_the_engine_s_end(tmp_path: Path) -> None:
    """``created``: True once the engine has written the id file, or has ended (its error says
    why); False when the limit comes first."""
    id_file = tmp_path / "id"
    process = _Process()

    async def written_after(delay: float) -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        loop.call_later(delay, id_file.write_text, "f" * 64)
        began = loop.time()
        done = await containers.created(id_file, process, limit=5.0)  # type: ignore[arg-type]
        return done, loop.time() - began

    done, waited = asyncio.run(written_after(0.2))
    assert done and 0.15 < waited < 2.0
    id_file.unlink()
    process.returncode = 125  # the engine could not create it
    assert asyncio.run(containers.created(id_file, process, limit=5.0))  # type: ignore[arg-type]
    process.returncode = None
    assert not asyncio.run(containers.created(id_file, process, limit=0.1))  # type: ignore[arg-type]


def test_container_names_are_valid_and_unique_per_emulator() -> None:
    assert containers.container_name("my fn/ü", "0003") == f"lambdakit-my-fn---{os.getpid()}-0003"


def test_the_supervisor_returns_the_engine_status_and_restores_signals() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert supervisor.supervise(["--set", "X=1", "--rm", "false", "--", "sh", "-c", "exit $X"]) == 1
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(SystemExit, match="usage"):
        supervisor.supervise(["sh"])


@pytest.mark.parametrize(("status", "signum"), [(137, -9), (143, -15), (3, 3), (200, 200)])
def test_the_supervisor_dies_of_the_signal_that_killed_the_container(
    status: int, signum: int
) -> None:
    script = [sys.executable, "-I", "-S", supervisor.__file__, "--rm", "true", "--"]
    done = subprocess.run([*script, "sh", "-c", f"exit {status}"], check=False)
    assert done.returncode == signum


# --- build arguments, the build context -------------------------------------------------------


def test_build_args() -> None:
    environ = {"FROM_SHELL": "x"}
    assert parse_build_args(["A=1", "B=", "C=x=y", "FROM_SHELL"], environ) == {
        "A": "1", "B": "", "C": "x=y", "FROM_SHELL": "x",
    }  # fmt: skip
    for bad, message in (("=1", "not KEY=VALUE"), ("A B=1", "not KEY=VALUE"), ("NOPE", "no value")):
        with pytest.raises(ImageError, match=message):
            parse_build_args([bad], environ)


def test_a_bad_build_arg_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(image, [str(tmp_path), "--build-arg", "=x"])
    assert result.exit_code == 2
    assert "not KEY=VALUE" in result.stderr


def expected_runtime_files() -> set[str]:
    top = {"__init__.py", "_hooks.py", "_version.py", "_wire.py", "_eventstream.py"}
    runtime = {
        str(p.relative_to(PACKAGE))
        for p in (PACKAGE / "runtime").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    return top | runtime


def test_the_runtime_files() -> None:
    files = {str(p) for p in runtime_files()}
    assert files == expected_runtime_files()
    assert "runtime/bootstrap" in files and "runtime/__main__.py" in files
    assert not any(f.startswith(("cli/", "emulator/", "project/")) for f in files)


def test_the_runtime_is_copied_into_the_build_context(tmp_path: Path) -> None:
    stale = tmp_path / ".lambdakit" / "runtime" / "lambdakit" / "emulator" / "old.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    target = vendor_runtime(tmp_path)
    assert target == tmp_path / ".lambdakit" / "runtime" / "lambdakit"
    copied = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert copied == expected_runtime_files()
    assert os.access(target / "runtime" / "bootstrap", os.X_OK)
    assert sorted(p.name for p in target.parent.iterdir()) == ["lambdakit"]  # no staging left
    # The copy is importable on its own: the runtime needs nothing else of the package.
    code = "import lambdakit.runtime.__main__, lambdakit; print(lambdakit.__file__)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target.parent)!r}); "
         + code], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == str(target / "__init__.py")


def test_project_mistakes(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="has no Dockerfile"):
        build_image(tmp_path)
    with pytest.raises(ImageError, match="is not a directory"):
        build_image(tmp_path / "nope")
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY lambdakit ${LAMBDA_RUNTIME_DIR}/lambdakit\n")
    with pytest.raises(ImageError, match=re.escape("to `COPY .lambdakit/runtime/lambdakit")):
        build_image(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY .lambdakit/runtime/lambdakit /r/\n")
    (tmp_path / ".dockerignore").write_text(".lambdakit\n")
    with pytest.raises(ImageError, match=re.escape("add the line `!.lambdakit/runtime`")):
        build_image(tmp_path)
    (tmp_path / ".dockerignore").write_text(".lambdakit\n!.lambdakit/runtime\n")
    with pytest.raises(ImageError, match="'Fn' is not an image tag"):
        build_image(tmp_path, tag="Fn")


def test_the_default_tag_is_the_directory_name(tmp_path: Path) -> None:
    assert project_image.default_tag(tmp_path / "My Function") == "my-function:latest"
    assert project_image.default_tag(tmp_path / "__") == "function:latest"


def test_a_failed_build_shows_the_end_of_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho step one\necho 'Error: no base image' >&2\nexit 125\n")
    fake.chmod(0o755)
    project = tmp_path / "fn"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM x\n")
    engine = Engine(name="podman", executable=str(fake))
    monkeypatch.setattr(project_image, "detect_engine", lambda prefer: engine)
    lines: list[str] = []
    with pytest.raises(ImageError, match="exit status 125") as caught:
        build_image(project, progress=lines.append)
    assert lines == ["step one", "Error: no base image"]
    assert str(caught.value).endswith("step one\nError: no base image")
    result = CliRunner().invoke(image, [str(project)])
    assert result.exit_code == 1
    assert "podman could not build fn:latest" in result.stderr


# --- real engines (slow) ----------------------------------------------------------------------

NEEDED = ("podman", "buildah", "debootstrap")


@pytest.fixture(scope="session")
def base_image() -> str:
    """The local Debian base image, built once and cached (see scripts/base-image)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [name for name in NEEDED if shutil.which(name, path=path) is None]
    if missing or os.geteuid() != 0:
        pytest.skip(
            f"needs root and {', '.join(NEEDED)} (missing: {', '.join(missing) or 'root'}): "
            "apt-get install -y podman buildah runc debootstrap"
        )
    script = ROOT / "scripts" / "base-image"
    done = subprocess.run(
        [sys.executable, str(script), BASE_IMAGE], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return BASE_IMAGE


@pytest.fixture(scope="session")
def hello_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """examples/hello built by `lambdakit image --engine buildah` on the base image."""
    project = tmp_path_factory.mktemp("image") / "hello-copy"
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("__pycache__", ".lambdakit"))
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(  # the change examples/hello/Dockerfile needs (a no-op once made)
        dockerfile.read_text().replace("COPY lambdakit ", "COPY .lambdakit/runtime/lambdakit ")
    )
    with (project / "app.py").open("a") as app:  # let the test see the environment
        app.write(ECHO_ENVIRONMENT)
    result = CliRunner().invoke(image, [
        str(project), "--tag", TAG, "--engine", "buildah",
        "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", "PYTHON=python3",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{TAG}\n"
    assert f"lambdakit: built {TAG} with buildah" in result.stderr
    yield TAG
    podman = detect_engine("podman")
    subprocess.run(podman.argv("rmi", "-f", TAG), env=podman.environ(), capture_output=True)


ECHO_ENVIRONMENT = """
import os

_hello = handler


def handler(event, context):
    answer = _hello(event, context)
    names = event.get("environment", [])
    answer["environment"] = {name: os.environ.get(name) for name in names}
    answer["memory"] = context.memory_limit_in_mb
    return answer
"""


HOST_ONLY_DIRECTORY = "/lambdakit-test-host-path"


class Container:
    """run_command's process with an emulator-like environment, against a stub Runtime API."""

    def __init__(self, image_tag: str, api: StubRuntimeAPI, name: str) -> None:
        self.name = name
        self.engine = detect_engine("podman", purpose="run")
        self.environ = {
            "PATH": os.environ["PATH"] + os.pathsep + HOST_ONLY_DIRECTORY,
            "HOME": os.environ.get("HOME", "/root"),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "_HANDLER": "",
            "LAMBDA_TASK_ROOT": str(HELLO),
            "AWS_LAMBDA_FUNCTION_NAME": "hello",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "TZ": ":UTC",
        }
        argv = containers.run_command(image_tag, self.environ, engine=self.engine, name=name)
        self.process = subprocess.Popen(
            argv, env=self.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # as the emulator starts environments
        )  # fmt: skip

    def exists(self) -> bool:
        argv = self.engine.argv("container", "exists", self.name)
        return subprocess.run(argv, env=self.engine.environ()).returncode == 0

    def inspect(self, template: str) -> str:
        argv = self.engine.argv("inspect", "--format", template, self.name)
        return subprocess.run(
            argv, env=self.engine.environ(), capture_output=True, text=True, check=True
        ).stdout.strip()

    def stop(self, signum: int) -> tuple[int, float]:
        started = time.monotonic()
        os.killpg(self.process.pid, signum)
        returncode = self.process.wait(timeout=15)
        return returncode, time.monotonic() - started

    def wait_until_removed(self, timeout: float = 15) -> float:
        started = time.monotonic()
        while self.exists():
            assert time.monotonic() - started < timeout, f"{self.name} is still there"
            time.sleep(0.05)
        return time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        subprocess.run(
            self.engine.remove_argv(self.name), env=self.engine.environ(), capture_output=True
        )


@pytest.fixture()
def api() -> Iterator[StubRuntimeAPI]:
    with StubRuntimeAPI() as stub:
        yield stub


@pytest.mark.slow
@pytest.mark.timeout(600)  # the first test may build the base image (about a minute)
def test_the_image_answers_an_invocation(hello_image: str, api: StubRuntimeAPI) -> None:
    names = ["AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH"]
    request_id = api.push({"name": "container", "environment": names})
    container = Container(hello_image, api, f"lambdakit-test-{os.getpid()}-answer")
    try:
        answer = api.wait_for_answers(1, timeout=60)[0]
        assert answer.path == f"/2018-06-01/runtime/invocation/{request_id}/response"
        assert answer.json() == {
            "message": "Hello, container!",
            "environment": {
                "AWS_LAMBDA_FUNCTION_NAME": "hello",  # passed in
                "LAMBDA_TASK_ROOT": "/var/task",  # the image's own, not this machine's
                "LAMBDA_RUNTIME_DIR": "/var/runtime",
                "PATH": answer.json()["environment"]["PATH"],  # checked below
            },
            "memory": "128",  # a string, as awslambdaric has it
        }
        assert HOST_ONLY_DIRECTORY not in answer.json()["environment"]["PATH"]
        assert container.inspect("{{.HostConfig.Memory}}") == str(128 * 1024 * 1024)
        returncode, _ = container.stop(signal.SIGTERM)  # the runtime's shutdown: exit 0
        assert returncode == 0
        container.wait_until_removed()
        assert b"greeting container" in container.process.stdout.read()  # type: ignore[union-attr]
    finally:
        container.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_environment_takes_its_container_with_it(
    hello_image: str, api: StubRuntimeAPI
) -> None:
    container = Container(hello_image, api, f"lambdakit-test-{os.getpid()}-kill")
    try:
        api.wait_for_next(1, timeout=60)
        assert container.exists()
        returncode, seconds = container.stop(signal.SIGKILL)  # what a timeout does
        assert returncode == -signal.SIGKILL
        assert seconds < 1
        assert container.wait_until_removed(timeout=10) < 10
    finally:
        container.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_emulator_runs_the_image(hello_image: str, tmp_path: Path) -> None:
    """Active once FunctionSpec has the ``image`` field (docs/project.md)."""
    from lambdakit.emulator import invoke_once
    from lambdakit.template import FunctionSpec, function_from_directory

    if "image" not in FunctionSpec.__dataclass_fields__:
        pytest.skip("FunctionSpec has no image field yet: see docs/project.md")
    project = tmp_path / "hello"
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("__pycache__", ".lambdakit"))
    spec = replace(function_from_directory(project), image=hello_image)
    result = asyncio.run(invoke_once(spec, b'{"name": "emulator"}'))
    assert not result.function_error, result.body
    assert json.loads(result.body)["message"] == "Hello, emulator!"
