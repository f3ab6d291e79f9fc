"""What the terminal shows: help for every option, whole command summaries, `-V`, Ctrl-C,
and a requirements.txt naming a package the index does not have (issue 14, point 5)."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

from lambdakit import __version__
from lambdakit.cli import SUBCOMMANDS, cli, main

# Every subcommand, imported (the group imports each on first use).
COMMANDS = {name: cli.get_command(click.Context(cli), name) for name in SUBCOMMANDS}

SLOW = """\
import time

def handler(event, context):
    print("handler started", flush=True)
    time.sleep(600)
"""


def lambdakit(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """The command in a session of its own, so that a SIGINT to its process group is what
    Ctrl-C on a terminal sends: to the command and everything in its foreground group."""
    return subprocess.Popen(
        [sys.executable, "-m", "lambdakit", *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "COLUMNS": "80"}, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def commands() -> Iterator[tuple[str, click.Command]]:
    yield "lambdakit", cli
    yield from ((f"lambdakit {name}", command) for name, command in COMMANDS.items())


@pytest.mark.parametrize(("name", "command"), list(commands()), ids=lambda v: str(v))
def test_every_option_has_help(name: str, command: click.Command) -> None:
    context = click.Context(command, info_name=name)
    options = [p for p in command.get_params(context) if isinstance(p, click.Option)]
    assert options
    missing = [option.opts for option in options if not (option.help or "").strip()]
    assert missing == [], f"{name}: options without help: {missing}"


def test_command_summaries_are_not_cut_off() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "--help"], capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "80"}, check=True,
    )  # fmt: skip
    listed = done.stdout.split("Commands:\n", 1)[1].splitlines()
    assert len(listed) == len(COMMANDS)
    for line in listed:
        name, summary = line.split(maxsplit=1)
        assert not summary.endswith("..."), line
        assert summary == COMMANDS[name].short_help


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([flag]) == 0
    assert capsys.readouterr().out == f"lambdakit, version {__version__}\n"


def _interrupted(
    process: subprocess.Popen[bytes],
    ready: bytes,
    stream: str,
    before: Callable[[bytes], object] = lambda line: None,
) -> bytes:
    """Wait for READY on STREAM, call BEFORE with that line, send Ctrl-C's SIGINT; the rest
    of stderr."""
    source = process.stdout if stream == "stdout" else process.stderr
    assert source is not None
    seen = b""
    for line in source:
        seen += line
        if ready in line:
            break
    else:
        pytest.fail(f"the command ended before {ready!r}: {seen.decode()}")
    before(line)
    os.killpg(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    return (seen if stream == "stderr" else b"") + err


def test_ctrl_c_during_invoke_exits_130_quietly(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SLOW)
    process = lambdakit("invoke", str(tmp_path), "--handler", "app.handler", "--timeout", "900")
    err = _interrupted(process, b"handler started", "stderr")
    assert process.returncode == 130, err.decode()
    assert b"Aborted" not in err and b"Traceback" not in err, err.decode()


TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())  # syscall numbers


@pytest.mark.skipif(TGKILL is None or not sys.platform.startswith("linux"), reason="tgkill")
def test_ctrl_c_taken_by_another_thread_still_stops_invoke(tmp_path: Path) -> None:
    """The kernel gives a process's SIGINT to any of its threads. When it was not the main
    thread, waiting in ``select`` with no timer due, `invoke` went on (seen under load: 10 s,
    or over a minute): here the signal goes to another thread on purpose (tgkill)."""
    import ctypes

    (tmp_path / "app.py").write_text(SLOW)
    process = lambdakit("invoke", str(tmp_path), "--handler", "app.handler", "--timeout", "900")
    assert process.stderr is not None
    for line in process.stderr:
        if b"handler started" in line:
            break
    others = [int(t) for t in os.listdir(f"/proc/{process.pid}/task") if int(t) != process.pid]
    assert others, "no thread but the main one"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(TGKILL, process.pid, others[0], signal.SIGINT) == 0
    try:
        _out, err = process.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("invoke did not stop within 8 s of Ctrl-C")
    assert process.returncode == 130, err.decode()
    assert b"Traceback" not in err, err.decode()


def test_ctrl_c_stops_serve_with_130_quietly(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SLOW)
    process = lambdakit("serve", str(tmp_path), "--handler", "app.handler", "--port", "0")
    err = _interrupted(process, b"Invoke API at", "stdout", before=_answered)
    assert b"Aborted" not in err and b"Traceback" not in err, err.decode()
    assert process.returncode == 130, err.decode()


def _answered(line: bytes) -> None:
    """One request answered: the server is serving, its own SIGINT handling in place (a
    SIGINT before that is the event loop's, which interrupts at once)."""
    url = line.split(b"Invoke API at ", 1)[1].split()[0].decode()
    request = urllib.request.Request(
        f"{url}/2015-03-31/functions/nothing-here/invocations", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    caught.value.close()
    assert caught.value.code == 404


def test_ctrl_c_while_click_parses_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt anywhere in a command: click turns it into Abort; main() into 130."""

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(COMMANDS["events"], "callback", interrupt)
    assert main(["events", "sqs"]) == 130


@pytest.mark.slow
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_package_the_index_does_not_have_is_named(tmp_path: Path, installer: str) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (tmp_path / "requirements.txt").write_text("nonexistent-pkg-xyz\n")
    environ = {**os.environ, "LAMBDAKIT_INSTALLER": installer}
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(tmp_path), "--handler", "app.handler"],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no package `nonexistent-pkg-xyz` on the package index (PyPI)" in done.stderr
    assert "no wheel of" not in done.stderr and "pip wheel" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "purpose", "hint"),
    [
        (["--port", "{port}"], "the Invoke API", "choose another port with --port"),
        (
            ["--port", "0", "--url", "--url-port", "{port}"],
            "hello's Function URL",
            "choose other ports with --url-port",
        ),
    ],
)
def test_a_port_in_use_is_named_with_the_option_that_moves_it(
    flags: list[str], purpose: str, hint: str
) -> None:
    import socket

    hello = Path(__file__).parents[1] / "examples" / "hello"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "lambdakit", "serve", str(hello),
             *(flag.format(port=port) for flag in flags)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port} for {purpose}" in done.stderr
    assert hint in done.stderr
    assert "Traceback" not in done.stderr
