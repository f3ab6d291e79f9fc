"""``FunctionSpec``: one function as lambdakit runs, builds and deploys it, whatever it came
from (a template, a directory, flags); ``UrlConfig``, its URL; ``TemplateResult``, the
functions of one source with the warnings about them."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lambdakit.template.errors import TemplateError
from lambdakit.template.variables import check_variables

__all__ = [
    "ARCHITECTURES",
    "MAX_MEMORY",
    "MAX_TIMEOUT",
    "MIN_MEMORY",
    "AsyncConfig",
    "Difference",
    "FunctionSpec",
    "ImageBuild",
    "LoggingConfig",
    "TemplateResult",
    "UrlConfig",
    "local_python_runtime",
]

# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_TIMEOUT = 900
MIN_MEMORY, MAX_MEMORY = 128, 10240
ARCHITECTURES = ("x86_64", "arm64")


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlConfig:
    """A function URL: SAM's ``FunctionUrlConfig`` or an ``AWS::Lambda::Url`` resource."""

    auth_type: Literal["NONE", "AWS_IAM"] = "NONE"
    invoke_mode: Literal["BUFFERED", "RESPONSE_STREAM"] = "BUFFERED"
    cors: Mapping[str, object] | None = field(default=None, hash=False)
    """CloudFormation's shape: AllowOrigins, AllowMethods, AllowHeaders, MaxAge..."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """A function's ``LoggingConfig``
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html)."""

    log_format: Literal["Text", "JSON"] = "Text"
    application_log_level: str | None = None
    """TRACE, DEBUG, INFO, WARN, ERROR or FATAL; JSON format only (None: Lambda's INFO)."""
    system_log_level: str | None = None
    """DEBUG, INFO or WARN; JSON format only (None: Lambda's INFO)."""
    log_group: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncConfig:
    """How Lambda handles a function's asynchronous (Event) invocations: ``EventInvokeConfig``
    and ``DeadLetterQueue``
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html)."""

    maximum_retry_attempts: int = 2
    """0..2 retries after the first attempt fails."""
    maximum_event_age: int = 21600
    """Seconds, 60..21600: an event older than this is discarded (or sent on failure)."""
    on_success: str | None = None
    """Destination ARN for a successful invocation's record."""
    on_failure: str | None = None
    """Destination ARN for an invocation that failed its last attempt, or expired."""
    dead_letter: str | None = None
    """DeadLetterQueue target ARN (an SQS queue or an SNS topic)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBuild:
    """How to build a ``PackageType: Image`` function's image: its template ``Metadata``."""

    dockerfile: str = "Dockerfile"
    """Relative to CONTEXT."""
    context: Path
    """Absolute."""
    tag: str | None = None
    """``DockerTag``; the image is named after the function otherwise."""
    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    target: str | None = None
    """``DockerBuildTarget``: the Dockerfile stage to build."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """One function, as the emulator runs it and the project commands build and deploy it.
    Hashable (the environment takes no part)."""

    name: str
    """The resolved FunctionName (``!Sub`` and parameters included), else the logical id."""
    code_dir: Path
    """Absolute; what Lambda extracts to /var/task."""
    runtime: str
    """``provided.al2023``, ``provided.al2``, ``python3.12``..."""
    handler: str | None = None
    """The Handler setting; optional for ``provided.*`` runtimes."""
    timeout: float = 3.0
    """Seconds. Lambda takes whole seconds 1..900; fractions are allowed here for tests."""
    memory_size: int = 128
    ephemeral_storage: int = 512
    """``EphemeralStorage.Size``: MB of /tmp (Lambda's default 512, at most 10,240)."""
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    architectures: tuple[str, ...] = ("x86_64",)
    layers: tuple[Path, ...] = ()
    """Local layer directories, absolute, in the order Lambda extracts them to /opt."""
    built_layers: tuple[Path, ...] = ()
    """Those of LAYERS that ``sam build`` builds (``Metadata: BuildMethod: python3.x``): the
    packages of their requirements go into their ``python/``, next to their own files."""
    url: UrlConfig | None = None
    reserved_concurrency: int | None = None
    logical_id: str | None = None
    image: str | None = None
    """An OCI image to run instead of the code (``lambdakit image`` builds one): its ENTRYPOINT
    and CMD are the bootstrap and the handler. CODE_DIR and the runtime then only name it."""
    image_build: ImageBuild | None = None
    """A ``PackageType: Image`` function: how its image is built (then IMAGE names it)."""
    logging: LoggingConfig = LoggingConfig()
    async_config: AsyncConfig = AsyncConfig()
    alias: str | None = None
    """``AutoPublishAlias``: the alias that names the published version."""
    provisioned_concurrency: int | None = None
    """``ProvisionedConcurrencyConfig``: environments started (and kept) before any invoke."""
    per_tenant: bool = False
    """``TenancyConfig: TenantIsolationMode: PER_TENANT``: each tenant gets its own
    environments, and every invocation must name its tenant."""
    published: bool = False
    """Version 1 exists (``AutoPublishAlias``, or an ``AWS::Lambda::Version`` of the template);
    always so when ALIAS is set. Locally it runs the same code as $LATEST."""
    packaged: bool = False
    """The code is a built deployment package (``--package``): its packages are inside it, as
    in /var/task on Lambda, so its requirements are not installed again."""
    dependencies: Mapping[str, Path] = field(default_factory=dict, hash=False)
    """Packages the emulator prepared for it, by what they serve: ``"function"`` (its code's
    requirements), ``"sdk"`` (the boto3 of a managed python3.x runtime), or a layer's path
    (that layer's requirements). Empty until the emulator prepares the function."""

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise TemplateError(
                f"function {self.name!r}: timeout {self.timeout:g} s is out of range; "
                f"Lambda allows 1 to {MAX_TIMEOUT} seconds"
            )
        if not MIN_MEMORY <= self.memory_size <= MAX_MEMORY:
            raise TemplateError(
                f"function {self.name!r}: memory size {self.memory_size} MB is out of range; "
                f"Lambda allows {MIN_MEMORY} to {MAX_MEMORY} MB"
            )
        # Normalise, so that a spec never shares a mutable dict with its caller.
        object.__setattr__(self, "timeout", float(self.timeout))
        object.__setattr__(self, "code_dir", Path(self.code_dir).absolute())
        object.__setattr__(self, "environment", dict(self.environment))
        object.__setattr__(self, "dependencies", dict(self.dependencies))
        object.__setattr__(self, "architectures", tuple(self.architectures))
        object.__setattr__(self, "layers", tuple(Path(p).absolute() for p in self.layers))
        object.__setattr__(
            self, "built_layers", tuple(Path(p).absolute() for p in self.built_layers)
        )

    @property
    def is_python(self) -> bool:
        return self.runtime.startswith("python")

    def with_overrides(
        self,
        *,
        handler: str | None = None,
        timeout: float | None = None,
        memory_size: int | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> FunctionSpec:
        """A copy with the given settings replaced; ENVIRONMENT is merged over the current."""
        return dataclasses.replace(
            self,
            handler=self.handler if handler is None else handler,
            timeout=self.timeout if timeout is None else timeout,
            memory_size=self.memory_size if memory_size is None else memory_size,
            environment=check_variables(
                {**self.environment, **(environment or {})},
                lambda message: TemplateError(f"function {self.name!r}: {message}"),
            ),
        )


@dataclass(frozen=True, slots=True)
class TemplateResult:
    """The functions found, in template order, and what the user should know about them."""

    functions: list[FunctionSpec]
    warnings: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    """How each function will behave locally unlike on AWS; also among WARNINGS."""


@dataclass(frozen=True, slots=True)
class Difference:
    """A property of a function that lambdakit does not honour locally (``differences.py``)."""

    function: str
    """The function's logical id."""
    property: str
    local_behaviour: str
    """What happens locally instead."""


def local_python_runtime() -> str:
    """The ``python3.X`` runtime of this interpreter, the one Python functions run on."""
    return "python%d.%d" % sys.version_info[:2]
