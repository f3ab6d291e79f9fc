"""``lambdakit image``: build a function's OCI image from its project's Dockerfile.

The build context gets the lambdakit runtime first: the runtime-only part of this
installation's package (no CLI, emulator or project code) is copied to
``.lambdakit/runtime/lambdakit``, where the Dockerfile copies it from::

    COPY .lambdakit/runtime/lambdakit ${LAMBDA_RUNTIME_DIR}/lambdakit

Then the first container engine found (``containers.detect_engine``) builds the image, with
this machine's adjustments applied by the engine layer, not by the user. Mistakes the user
can make (no Dockerfile, no engine, a failed build) raise ``ImageError`` saying what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdakit._vendoring import runtime_files
from lambdakit.emulator.containers import Engine, detect_engine
from lambdakit.emulator.errors import ContainerEngineError
from lambdakit.project.errors import ImageError

__all__ = [
    "RUNTIME_DIR",
    "ImageResult",
    "build_image",
    "default_tag",
    "find_dockerfile",
    "parse_build_args",
    "runtime_files",
    "vendor_runtime",
]

RUNTIME_DIR = Path(".lambdakit") / "runtime"
"""Where the runtime goes in the build context: ``RUNTIME_DIR / "lambdakit"``."""
DOCKERFILES = ("Dockerfile", "Containerfile")
# An image reference as docker's grammar has it: [host[:port]/]component(/component)*[:tag].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = re.compile(
    rf"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::\w[\w.-]{0,127})?"
)
_OLD_COPY = re.compile(r"^\s*(COPY|ADD)\s+(--\S+\s+)*\.?/?lambdakit/?\s", re.IGNORECASE | re.M)
_TAIL_LINES = 25


@dataclass(frozen=True, slots=True)
class ImageResult:
    """A built image: its tag and the engine that built it (whose storage holds it)."""

    tag: str
    engine: str


def build_image(
    path: Path,
    *,
    tag: str | None = None,
    engine: str | None = None,
    build_args: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageResult:
    """Build the image of the project at PATH, tagged TAG (default: ``default_tag``).

    ENGINE forces docker, podman or buildah; BUILD_ARGS become ``--build-arg``s; PROGRESS gets
    each line of the engine's output as it comes.
    """
    project = path.resolve()
    dockerfile = find_dockerfile(project)
    _check_dockerfile(project, dockerfile)
    tag = tag or default_tag(project)
    if not _TAG.fullmatch(tag):
        raise ImageError(f"{tag!r} is not an image tag; use name[:tag] in lower case")
    with _engine_errors():
        chosen = detect_engine(engine)
    vendor_runtime(project)
    argv = chosen.build_argv(
        project, dockerfile=dockerfile, tag=tag, build_args=dict(build_args or {})
    )
    _run_build(chosen, argv, project, tag, progress or (lambda line: None))
    return ImageResult(tag, chosen.name)


def find_dockerfile(project: Path) -> Path:
    if not project.is_dir():
        raise ImageError(f"{project} is not a directory; give the project's directory")
    for name in DOCKERFILES:
        if (project / name).is_file():
            return project / name
    raise ImageError(
        f"{project} has no Dockerfile; `lambdakit init` writes one, or see docs/project.md"
    )


def default_tag(project: Path) -> str:
    """The directory's name, made a valid repository name, with ``:latest``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", project.resolve().name.lower()).strip("._-")
    return f"{name or 'function'}:latest"


def parse_build_args(
    pairs: Sequence[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``KEY=VALUE`` pairs; a bare ``KEY`` takes its value from ENVIRON (as docker does)."""
    environ = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not key or any(c.isspace() for c in key):
            raise ImageError(f"build argument {pair!r} is not KEY=VALUE")
        if not equals:
            if key not in environ:
                raise ImageError(f"build argument {key} has no value and is not set here")
            value = environ[key]
        result[key] = value
    return result


def _check_dockerfile(project: Path, dockerfile: Path) -> None:
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    if _OLD_COPY.search(text) and not (project / "lambdakit").exists():
        raise ImageError(
            f"{dockerfile} copies `lambdakit` from the build context, but `lambdakit image` puts "
            f"the runtime in {RUNTIME_DIR / 'lambdakit'}; change that line to "
            "`COPY .lambdakit/runtime/lambdakit ${LAMBDA_RUNTIME_DIR}/lambdakit`"
        )
    ignore = project / ".dockerignore"
    if ignore.is_file():
        lines = {line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()}
        if lines & {".lambdakit", ".lambdakit/", ".lambdakit/**", ".*"} and not any(
            line.startswith("!.lambdakit") for line in lines
        ):
            raise ImageError(
                f"{ignore} leaves .lambdakit out of the build context, where the runtime is; "
                "add the line `!.lambdakit/runtime`"
            )


# --- the runtime in the build context ---------------------------------------------------------


def vendor_runtime(project: Path, *, package: Path | None = None) -> Path:
    """Copy the runtime to ``PROJECT/.lambdakit/runtime/lambdakit``, replacing an older copy.
    Returns that directory."""
    package = package or Path(__file__).resolve().parent.parent
    target = project / RUNTIME_DIR / "lambdakit"
    staging = project / RUNTIME_DIR / f".lambdakit-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        for relative in runtime_files(package):
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(package / relative, staging / relative)  # keeps bootstrap executable
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImageError(f"cannot copy the lambdakit runtime to {target}: {error}") from error
    return target


# --- the engine -------------------------------------------------------------------------------


def _run_build(
    engine: Engine, argv: list[str], project: Path, tag: str, progress: Callable[[str], None]
) -> None:
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    with _engine_errors():
        environ = engine.environ()
    try:
        with subprocess.Popen(
            argv, cwd=project, env=environ, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                progress(tail[-1])
    except OSError as error:
        raise ImageError(f"cannot run {engine.executable}: {error.strerror}") from error
    if process.returncode != 0:
        output = "\n".join(tail)
        raise ImageError(
            f"{engine.name} could not build {tag} (exit status {process.returncode}); "
            f"the end of its output:\n{output}"
        )


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    """The engine layer's errors become this command's, with the same message."""
    try:
        yield
    except ContainerEngineError as error:
        raise ImageError(str(error)) from error
