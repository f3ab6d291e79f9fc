"""``Settings``: how the emulator's environments run, and the account and region it models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdakit.emulator.debugging import DebugSettings

__all__ = ["ACCOUNT_ID", "Settings"]

ACCOUNT_ID = "123456789012"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How environments run; the emulator's configuration passes these down."""

    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID  # the account the emulator models (serve --account-id)
    init_timeout: float = 10.0  # Lambda's Init phase limit
    # Lambda's Shutdown phase (runtimes-extensions-api.html, "Shutdown phase"; reference §2.1):
    # none without extensions (SIGKILL at once); with an internal extension only, the runtime
    # gets SIGTERM and 500 ms; with external ones, 2,000 ms in all, of which the runtime gets
    # 300 ms (500 ms with an internal extension too) before the extensions' SHUTDOWN.
    shutdown_grace: float = 2.0  # the whole phase with external extensions, then SIGKILL
    runtime_share: float = 0.3
    runtime_share_internal: float = 0.5
    python: str = ""  # interpreter for Python functions; "" = the one each Runtime names
    # The host's variables a function gets (with COVERAGE_*, for the test suite's coverage):
    # the AWS credentials, so that a function calls real AWS locally as with SAM CLI, and the
    # profile and its files, which SAM CLI resolves into credentials and the function's SDK
    # reads here itself. Nothing else: Lambda's variables replace the host's (variables.py).
    passthrough: tuple[str, ...] = (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    )  # fmt: skip
    debug: DebugSettings | None = None  # --debug-port, pdb on the terminal (debugging.py)

    @classmethod
    def from_env(cls, *, region: str | None = None, account_id: str | None = None) -> Settings:
        """Defaults, with the region REGION, else from AWS_REGION / AWS_DEFAULT_REGION, the
        account ACCOUNT_ID, and the init limit from LAMBDAKIT_INIT_TIMEOUT (seconds; Lambda's
        is 10)."""
        region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )  # fmt: skip
        init_timeout = float(os.environ.get("LAMBDAKIT_INIT_TIMEOUT") or 10.0)
        return cls(region=region, account_id=account_id or ACCOUNT_ID, init_timeout=init_timeout)

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of function NAME (with QUALIFIER) in the account, region and partition the
        emulator models: the one source of the ARNs it gives and accepts."""
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        partition = "aws-us-gov" if self.region.startswith("us-gov-") else partition
        arn = f"arn:{partition}:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn
