"""The lambdakit command, run in-process and as an installed console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lambdakit import __version__
from lambdakit.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"lambdakit, version {__version__}\n"


def test_help_names_the_runtime_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "python -m lambdakit.runtime" in capsys.readouterr().out


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err


def test_console_script_and_module_entry_points() -> None:
    script = shutil.which("lambdakit", path=str(Path(sys.executable).parent))
    assert script is not None
    for command in ([script, "--version"], [sys.executable, "-m", "lambdakit", "--version"]):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"lambdakit, version {__version__}"
