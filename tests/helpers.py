"""Running a runtime as a real child process against the stub Runtime API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

FUNCTIONS = Path(__file__).parent / "functions"
BASIC = FUNCTIONS / "basic"

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "test-function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test-function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
}


# The trust policy of a role Lambda may assume: the tests that create one (in moto) use it.
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def fake_aws_credentials(monkeypatch: Any, region: str = "us-east-1") -> None:
    """Dummy credentials and REGION for moto's in-process mock, with no profile in the way."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class RuntimeProcess:
    """``python -m lambdakit.runtime HANDLER`` (or another runtime module, or ``command``) as a
    child process in its own session, with a function's environment."""

    def __init__(
        self,
        handler: str,
        address: str,
        *,
        cwd: Path = BASIC,
        env: dict[str, str] | None = None,
        module: str = "lambdakit.runtime",
        pass_fds: tuple[int, ...] = (),
        measured: bool = True,
        command: list[str] | None = None,
    ) -> None:
        # measured=False keeps coverage out of the child (it imports modules of its own).
        unwanted = ("AWS_", "_X_AMZN") if measured else ("AWS_", "_X_AMZN", "COVERAGE_")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}
        environ.update(FUNCTION_ENV)
        environ["AWS_LAMBDA_RUNTIME_API"] = address
        environ.update(env or {})
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", module, handler],
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            start_new_session=True,  # so that stop() reaches worker processes too
        )
        self.stdout = ""
        self.stderr = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 15) -> int:
        """Wait for the process to exit and collect its output."""
        out, err = self.process.communicate(timeout=timeout)
        self.stdout, self.stderr = out.decode(), err.decode()
        return self.process.returncode

    def stop(self) -> None:
        """Kill the runtime and everything it started, then collect the output."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.stdout and not self.process.stdout.closed:
            self.wait()

    def __enter__(self) -> RuntimeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
