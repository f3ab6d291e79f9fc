"""What a Python function can import: its own code and packages, its layers, the runtime, and
(managed ``python3.x`` runtimes only) the AWS SDK that Lambda ships; nothing of lambdakit's
own environment.

A ``python3.x`` function's process is ``<interpreter> -S -c SNIPPET FIRST LAST HANDLER``: no
``site`` module (so no site-packages of any environment), and ``sys.path`` laid out as Lambda's
Python runtimes lay it out (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html,
"Dependency search path"; layer paths: https://docs.aws.amazon.com/lambda/latest/dg/
packaging-layers.html#packaging-layers-paths)::

    code dir (/var/task), its prepared dependencies (what `pip install -t` puts in the zip)
    each layer's python/lib/pythonX.Y/site-packages, then python/ (last layer first: on
    Lambda a later layer's files overwrite an earlier one's in /opt)
    the runtime directory (/var/runtime): lambdakit's runtime package and nothing else
    the interpreter's standard library
    the SDK (managed runtimes: boto3 in /var/lang/lib/pythonX.Y/site-packages)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import lambdakit
from lambdakit._atomic import make_directory
from lambdakit._vendoring import runtime_files

__all__ = [
    "SDK_VERSIONS",
    "compile_tree",
    "python_argv",
    "runtime_directory",
    "sdk_requirements",
]

PACKAGE = Path(lambdakit.__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambdakit"

# The boto3 and botocore that AWS's managed runtime for each Python version ships. AWS no longer
# publishes a table ("depends on the runtime version and your AWS Region", lambda-python.html,
# "Runtime-included SDK versions"); these are the last published or reported:
# - 3.12, 3.13: 1.38.36 for both, reported for both runtimes in August 2025
#   (github.com/terricain/aioboto3/issues/381);
# - 3.11: boto3-1.27.1 botocore-1.30.1, lambda-runtimes.html as quoted by a botocore maintainer
#   in November 2023 (github.com/boto/botocore/issues/3082);
# - 3.9, 3.10: boto3-1.26.90 botocore-1.29.90, lambda-runtimes.html's table of 2023.
# A version not listed (3.14) takes the newest one's.
SDK_VERSIONS: dict[tuple[int, int], tuple[str, str]] = {
    (3, 9): ("1.26.90", "1.29.90"),
    (3, 10): ("1.26.90", "1.29.90"),
    (3, 11): ("1.27.1", "1.30.1"),
    (3, 12): ("1.38.36", "1.38.36"),
    (3, 13): ("1.38.36", "1.38.36"),
}

# Run by the interpreter with -S: lay out sys.path (FIRST before the standard library, LAST
# after it), then start the runtime as the shipped bootstrap does. The runtime's own
# extend_path() is replaced: it would add /opt paths and the interpreter's site-packages, and
# the path is already the function's.
SNIPPET = """import sys
from os import pathsep
first, last = sys.argv.pop(1), sys.argv.pop(1)
sys.path[:] = [*first.split(pathsep), *sys.path[1:], *filter(None, last.split(pathsep))]
import lambdakit.runtime.__main__ as entry
entry.extend_path = lambda environ: None
sys.exit(entry.main())"""


def python_argv(interpreter: Path, first: list[str], last: list[str], handler: str) -> list[str]:
    """The argv that runs HANDLER on INTERPRETER with the search path FIRST + stdlib + LAST."""
    joined = os.pathsep.join(first), os.pathsep.join(last)
    return [str(interpreter), "-S", "-c", SNIPPET, *joined, handler]


_runtime_dir: Path | None = None


def runtime_directory(cache: Path | None = None) -> Path:
    """A directory holding only lambdakit's runtime package (``lambdakit/...``): what Lambda's
    /var/runtime is to its Python runtimes. Made once per content of the runtime, under
    ``$XDG_CACHE_HOME/lambdakit/runtime/<hash>`` (default ``~/.cache``)."""
    global _runtime_dir
    if _runtime_dir is not None and cache is None:
        return _runtime_dir
    files = runtime_files()
    digest = hashlib.sha256(lambdakit.__version__.encode())
    for relative in files:
        digest.update(str(relative).encode() + b"\0" + (PACKAGE / relative).read_bytes())
    target = (cache or CACHE) / "runtime" / digest.hexdigest()[:16]
    if not target.is_dir():
        _copy(files, target)
    if cache is None:
        _runtime_dir = target
    return target


def _copy(files: list[Path], target: Path) -> None:
    """Copy FILES into TARGET/lambdakit, whole or not at all."""

    def fill(staging: Path) -> None:
        for relative in files:
            destination = staging / "lambdakit" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PACKAGE / relative, destination)

    make_directory(target, fill)


def sdk_requirements(version: tuple[int, int], cache: Path | None = None) -> Path:
    """A requirements file pinning the SDK of VERSION's managed runtime (``SDK_VERSIONS``)."""
    boto3, botocore = SDK_VERSIONS.get(version) or SDK_VERSIONS[max(SDK_VERSIONS)]
    path = (cache or CACHE) / "sdk" / ("python%d.%d" % version) / "requirements.txt"
    text = f"boto3=={boto3}\nbotocore=={botocore}\n"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def compile_tree(interpreter: Path, directory: Path, stamp: Path) -> None:
    """Compile DIRECTORY's modules for INTERPRETER once (STAMP records it), as Lambda's runtime
    and SDK come compiled: functions run with -B (their /var/task is read-only on Lambda, so
    nothing is written next to the code), and would otherwise compile these at every cold
    start. A failure only costs that time, so it is not an error."""
    if stamp.exists():
        return
    argv = [str(interpreter), "-S", "-m", "compileall", "-q", "-j", "0", str(directory)]
    done = subprocess.run(argv, capture_output=True, check=False, timeout=600)
    if done.returncode == 0:
        stamp.touch()
