"""Versions, the Function URL and its public permissions, reserved concurrency: the steps
after the function itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambdakit.project.deploy.aws import error_code
from lambdakit.project.deploy.shapes import PUBLIC_URL_STATEMENTS, cors_arguments, granted, same_url
from lambdakit.project.deploy.steps import Steps
from lambdakit.project.deploy.values import Action

__all__ = ["AccessSteps"]


class AccessSteps(Steps):
    """Publishing a version; the URL, its permissions and the function's concurrency."""

    def publish(self, current: Mapping[str, Any] | None, changed: bool) -> str | None:
        published = self.versions() if current is not None else []
        if self.dry_run:
            sha256 = current["Configuration"].get("CodeSha256") if current else None
            if published and not changed and published[-1].get("CodeSha256") == sha256:
                latest = str(published[-1]["Version"])
                self.step("version", Action.UNCHANGED, f"version {latest} is current")
                return latest
            self.step("version", Action.PUBLISH)
            return None
        version = str(self.write("publish_version", FunctionName=self.name)["Version"])
        if version in {str(v["Version"]) for v in published}:
            self.step("version", Action.UNCHANGED, f"version {version} is current")
        else:
            self.step("version", Action.PUBLISH, f"version {version}")
        return version

    def versions(self) -> list[Mapping[str, Any]]:
        """The published versions, oldest first ($LATEST left out)."""
        if self.offline:
            return []
        versions: list[Mapping[str, Any]] = []
        pages = self.client.get_paginator("list_versions_by_function")
        for page in pages.paginate(FunctionName=self.name):
            versions += [v for v in page["Versions"] if v["Version"] != "$LATEST"]
        return sorted(versions, key=lambda v: int(v["Version"]))

    # --- Function URL, its permissions, concurrency

    def function_url(self) -> str | None:
        wanted = self.spec.url
        current = self.read("get_function_url_config", FunctionName=self.name)
        if wanted is None:
            if current is not None:
                kept = f"{current['FunctionUrl']}; not in the template, so left as it is"
                self.step("url", Action.UNCHANGED, kept)
            return None if current is None else str(current["FunctionUrl"])
        desired = {
            "AuthType": wanted.auth_type,
            "InvokeMode": wanted.invoke_mode,
            "Cors": cors_arguments(self.name, wanted.cors),
        }
        described = f"AuthType {wanted.auth_type}, {wanted.invoke_mode}"
        if current is None:
            url = None
            if not self.dry_run:
                arguments = {k: v for k, v in desired.items() if v}
                created = self.write(
                    "create_function_url_config", FunctionName=self.name, **arguments
                )
                url = str(created["FunctionUrl"])
            self.step("url", Action.CREATE, f"{url or 'a new address'}, {described}")
            return url
        url = str(current["FunctionUrl"])
        if same_url(current, desired):
            self.step("url", Action.UNCHANGED, f"{url}, {described}")
        else:
            if not self.dry_run:
                self.write("update_function_url_config", FunctionName=self.name, **desired)
            self.step("url", Action.UPDATE, f"{url}, {described}")
        return url

    def permissions(self) -> None:
        """AuthType NONE needs public statements in the function's policy; AWS_IAM does not."""
        if self.spec.url is None:
            return
        answer = self.read("get_policy", FunctionName=self.name)
        statements = json.loads(answer["Policy"])["Statement"] if answer else []
        present = {sid for sid in PUBLIC_URL_STATEMENTS if granted(statements, sid)}
        if self.spec.url.auth_type == "AWS_IAM":
            ours = sorted({s.get("Sid") for s in statements} & set(PUBLIC_URL_STATEMENTS))
            if ours:
                for sid in [] if self.dry_run else ours:
                    self.write("remove_permission", FunctionName=self.name, StatementId=sid)
                self.step("permission", Action.DELETE, "public access; AuthType is AWS_IAM")
            return
        missing = [sid for sid in PUBLIC_URL_STATEMENTS if sid not in present]
        detail = "public access: lambda:InvokeFunctionUrl and lambda:InvokeFunction via the URL"
        if not missing:
            self.step("permission", Action.UNCHANGED, detail)
            return
        for sid in [] if self.dry_run else missing:
            self.add_permission(sid)
        self.step("permission", Action.CREATE, detail)

    def add_permission(self, sid: str) -> None:
        try:
            statement = PUBLIC_URL_STATEMENTS[sid]
            self.write("add_permission", FunctionName=self.name, StatementId=sid, **statement)
        except self.errors.ClientError as error:
            # A statement with this id exists (another deploy won the race): that is our goal.
            if error_code(error) != "ResourceConflictException":
                raise

    def concurrency(self, current: Mapping[str, Any] | None) -> None:
        wanted = self.spec.reserved_concurrency
        deployed = ((current or {}).get("Concurrency") or {}).get("ReservedConcurrentExecutions")
        if wanted == deployed:
            if wanted is not None:
                self.step("concurrency", Action.UNCHANGED, f"{wanted} reserved")
            return
        if wanted is None:
            if not self.dry_run:
                self.write("delete_function_concurrency", FunctionName=self.name)
            self.step("concurrency", Action.DELETE, f"was {deployed} reserved")
            return
        if not self.dry_run:
            self.write(
                "put_function_concurrency",
                FunctionName=self.name,
                ReservedConcurrentExecutions=wanted,
            )
        action = Action.CREATE if deployed is None else Action.UPDATE
        self.step("concurrency", action, f"{wanted} reserved")
