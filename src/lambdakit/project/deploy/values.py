"""The values of a deployment: what a step did, the packages a build made, the settings."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambdakit.template import FunctionSpec

__all__ = ["Action", "Builder", "Code", "DeployResult", "Package", "Settings", "Step"]


class Action(enum.Enum):
    """What a step did, or in a dry run would do."""

    CREATE = ("created", "would create")
    """It did not exist and was made."""
    UPDATE = ("updated", "would update")
    """It existed and differed; the fields that differed were changed."""
    PUBLISH = ("published", "would publish")
    """A new layer version or function version was published."""
    DELETE = ("removed", "would remove")
    """It existed and the template no longer asks for it."""
    UNCHANGED = ("unchanged", "unchanged")
    """It already matched; nothing was written."""

    def verb(self, dry_run: bool) -> str:
        return self.value[1] if dry_run else self.value[0]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of one function's deployment."""

    function: str
    subject: str
    """``function``, ``code``, ``configuration``, ``layer NAME``, ``version``, ``url``..."""
    action: Action
    detail: str = ""

    def describe(self, dry_run: bool = False) -> str:
        """``hello: url: created (https://...)``, or ``would create`` in a dry run."""
        text = f"{self.function}: {self.subject}: {self.action.verb(dry_run)}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True, slots=True)
class Package:
    """The zips a build made for one function: its code and the layers built beside it."""

    function: Path
    layers: tuple[Path, ...] = ()
    runtime: str | None = None
    """The runtime the zips were built for; None: the function's own Runtime."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Variables the zips need, set over the function's (``AWS_LAMBDA_EXEC_WRAPPER``)."""


Builder = Callable[[FunctionSpec], "Path | Package"]
"""Makes the deployment package of a function (``lambdakit build``, or a given zip)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What a deployment needs beyond the FunctionSpec, from the flags and the template."""

    role: str | None = None
    """The execution role's ARN: --role, else the template's Role when it is a literal ARN."""
    role_hint: str = ""
    """Why the template's Role could not be used, for the missing-role message."""
    layer_arns: tuple[str, ...] = ()
    """Layer ARNs the template lists literally (the FunctionSpec keeps only local layers)."""
    publish: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class DeployResult:
    """What one function's deployment did."""

    function: str
    steps: list[Step]
    arn: str | None = None
    url: str | None = None
    version: str | None = None
    """The version published (or found current) with ``publish``."""
    checked: bool = True
    """False when a dry run could not read AWS and assumed that nothing existed."""


@dataclass(frozen=True, slots=True)
class Code:
    """The code to deploy: zip bytes and their CodeSha256, or an image URI."""

    zip: bytes | None = None
    sha256: str = ""
    image_uri: str | None = None
    layers: tuple[Path, ...] = ()
    runtime: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
