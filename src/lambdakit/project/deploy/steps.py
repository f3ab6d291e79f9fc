"""The machinery of one function's deployment steps: reads that find nothing in a dry run
or when the resource does not exist, writes that never happen in a dry run, waiters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdakit.project.deploy.aws import botocore_exceptions, error_code, translate
from lambdakit.project.deploy.values import Action, Settings, Step
from lambdakit.template import FunctionSpec

__all__ = ["Steps"]


class Steps:
    """The steps of one function's deployment, and what they have found out so far."""

    def __init__(
        self,
        spec: FunctionSpec,
        client: Any,
        settings: Settings,
        ecr: Any,
        report: Callable[[Step], None],
        warn: Callable[[str], None],
    ) -> None:
        self.spec, self.name, self.client, self.ecr = spec, spec.name, client, ecr
        self.settings, self.dry_run = settings, settings.dry_run
        self.report, self.warn = report, warn
        self.errors = botocore_exceptions()
        self.steps: list[Step] = []
        self.offline = client is None
        """Whether AWS cannot be read (dry runs only): every read then finds nothing."""

    def step(self, subject: str, action: Action, detail: str = "") -> None:
        step = Step(self.name, subject, action, detail)
        self.steps.append(step)
        self.report(step)

    def read(self, operation: str, **arguments: Any) -> Any:
        """The answer of a read-only call, or None if the resource does not exist."""
        if self.offline:
            return None
        try:
            return getattr(self.client, operation)(**arguments)
        except self.errors.ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            return self._unreadable(error)
        except self.errors.BotoCoreError as error:
            return self._unreadable(error)

    def _unreadable(self, error: Exception) -> None:
        if not self.dry_run:
            raise error
        self.offline = True
        reason = translate(error, self.name, None) or error
        self.warn(f"could not check AWS ({reason}); the plan assumes that nothing exists yet")

    def write(self, operation: str, **arguments: Any) -> Any:
        assert not self.dry_run, f"{operation} in a dry run"
        return getattr(self.client, operation)(**arguments)

    def wait(self, waiter: str) -> None:
        # function_active_v2 / function_updated_v2 poll GetFunction every second.
        # https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
        self.client.get_waiter(waiter).wait(FunctionName=self.name)
