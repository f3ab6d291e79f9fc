"""The container engine's part of deploying an image function: build, name by content, log in,
tag and push, as ``sam build`` and ``sam package`` do it with docker.

    build    ``<engine> build`` of the function's Metadata (Dockerfile, DockerContext,
             DockerBuildArgs, DockerBuildTarget), tagged ``<logical id>:<DockerTag or latest>``
             as ``sam build`` tags it, for the function's architecture (``--platform``)
    id       ``<engine> image inspect --format {{.Id}}``: the image's content hash
    tag      ``<name>-<first 12 hex digits of the id>-<DockerTag or latest>``, SAM CLI's
             ``tag_translation``: the same content has the same tag, so an unchanged image is
             found in the repository and not pushed, and CloudFormation sees an unchanged
             ImageUri
    login    ``<engine> login --username AWS --password-stdin REGISTRY``, the password from
             ecr:GetAuthorizationToken, as the ECR guide does it
             (https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html)
    push     ``<engine> tag`` then ``<engine> push REPOSITORY:TAG``

The engine is docker (when its daemon answers) or podman, found by the emulator's engine layer
with this machine's adjustments; buildah, which cannot log in and push as the others do, is
not used here.
"""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdakit.project.errors import BuildError, DeployError, ImageError
from lambdakit.project.image import vendor_runtime
from lambdakit.template import FunctionSpec

if TYPE_CHECKING:
    from lambdakit.emulator.containers import Engine

__all__ = ["build", "content_tag", "find_engine", "image_id", "login", "push"]

ID_DIGITS = 12
"""SAM CLI's SHA_CHECKSUM_TRUNCATION_LENGTH."""
MAX_TAG = 128
"""The longest tag docker and podman accept."""
_TAIL_LINES = 25


def find_engine(names: list[str]) -> Engine:
    """Docker or podman, as the emulator's engine layer finds them; an ImageError naming what
    to install, and the way out, when neither is there."""
    from lambdakit.emulator.containers import detect_engine
    from lambdakit.emulator.errors import ContainerEngineError

    try:
        return detect_engine(purpose="run")  # docker or podman: both log in, tag and push
    except ContainerEngineError as error:
        functions = ", ".join(names)
        raise ImageError(
            f"{functions}: image function(s) built from a Dockerfile (Metadata: Dockerfile, "
            f"DockerContext), and {error}. Install podman (apt-get install podman, dnf install "
            "podman, brew install podman) or Docker; or build and push the image elsewhere and "
            "set the function's ImageUri to it, and lambdakit deploys it as it is"
        ) from error


def build(engine: Engine, spec: FunctionSpec, say: Callable[[str], None]) -> str:
    """Build SPEC's image as ``sam build`` does; returns its local name (``spec.image``)."""
    plan = spec.image_build
    assert plan is not None and spec.image is not None
    dockerfile = plan.context / plan.dockerfile
    if ".lambdakit/runtime" in dockerfile.read_text(encoding="utf-8", errors="replace"):
        vendor_runtime(plan.context)  # a Dockerfile `lambdakit init` wrote copies the runtime
    argv = engine.build_argv(
        plan.context, dockerfile=dockerfile, tag=spec.image, build_args=plan.build_args
    )
    # Lambda runs the image on the function's architecture, whatever the machine's.
    extra = ["--platform", f"linux/{'arm64' if 'arm64' in spec.architectures else 'amd64'}"]
    if plan.target:
        extra += ["--target", plan.target]
    argv[-1:-1] = extra  # the context stays the last argument
    say(f"building {spec.image} with {engine.name} from {dockerfile}")
    output = _stream(engine, argv, say)
    if output.returncode != 0:
        raise BuildError(
            f"{spec.logical_id or spec.name}: {engine.name} could not build its image from "
            f"{dockerfile} (exit status {output.returncode}); fix the Dockerfile or the "
            "function's Metadata. The end of its output:\n" + output.tail
        )
    return spec.image


def image_id(engine: Engine, image: str) -> str:
    """IMAGE's id, the hex digest of its configuration (``sha256:`` dropped: podman omits it)."""
    done = _run(engine, ["image", "inspect", "--format", "{{.Id}}", image])
    if done.returncode != 0 or not done.stdout.strip():
        raise ImageError(
            f"{engine.name} built {image} but cannot inspect it: {done.stderr.strip()}"
        )
    return done.stdout.strip().splitlines()[0].removeprefix("sha256:")


def content_tag(image: str, digest: str) -> str:
    """SAM CLI's ``tag_translation``: ``fn:v1`` with id ``abc...`` -> ``fn-abc...(12)-v1``."""
    name, _, tag = image.partition(":")
    suffix = f"-{digest[:ID_DIGITS]}-{tag or 'latest'}"
    return name[: MAX_TAG - len(suffix)] + suffix


def login(engine: Engine, registry: str, password: str) -> None:
    """Log ENGINE in to REGISTRY as ECR's user ``AWS``; the password goes through stdin."""
    argv = ["login", "--username", "AWS", "--password-stdin", registry]
    done = _run(engine, argv, stdin=password)
    if done.returncode != 0:
        raise DeployError(
            f"{engine.name} could not log in to {registry}: {done.stderr.strip()}; check that "
            "these credentials may call ecr:GetAuthorizationToken and that the registry is "
            "reachable"
        )


def push(engine: Engine, image: str, target: str, say: Callable[[str], None]) -> None:
    """Tag IMAGE as TARGET (``repository:tag``) and push it."""
    done = _run(engine, ["tag", image, target])
    if done.returncode != 0:
        raise ImageError(f"{engine.name} could not tag {image} as {target}: {done.stderr.strip()}")
    say(f"pushing {target}")
    output = _stream(engine, engine.argv("push", target), say)
    if output.returncode != 0:
        raise DeployError(
            f"{engine.name} could not push {target} (exit status {output.returncode}); check "
            "that these credentials may push to the repository (ecr:InitiateLayerUpload, "
            "ecr:PutImage...). The end of its output:\n" + output.tail
        )


@dataclass(frozen=True, slots=True)
class _Output:
    returncode: int
    tail: str
    """The last lines of the output, for an error message."""


def _stream(engine: Engine, argv: list[str], say: Callable[[str], None]) -> _Output:
    """Run ARGV, each line of its output to SAY as it comes; keep the last lines for errors."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        with subprocess.Popen(
            argv, env=engine.environ(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace",
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                say(f"  {tail[-1]}")
    except OSError as error:
        raise ImageError(f"cannot run {engine.executable}: {error.strerror}") from error
    return _Output(process.returncode, "\n".join(tail))


def _run(
    engine: Engine, args: list[str], *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            engine.argv(*args), env=engine.environ(), input=stdin, capture_output=True,
            text=True, errors="replace", check=False,
        )  # fmt: skip
    except OSError as error:
        raise ImageError(f"cannot run {engine.executable}: {error.strerror}") from error
