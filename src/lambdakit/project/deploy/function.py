"""One function's deployment: its code and layers, then create or update, then (through
``AccessSteps``) its version, URL, permissions and concurrency."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lambdakit.project.deploy.access import AccessSteps
from lambdakit.project.deploy.aws import error_message, translated
from lambdakit.project.deploy.shapes import (
    code_arguments,
    code_sha256,
    deployed_value,
    describe_change,
    handler_of,
    layer_name,
    read_zip,
    shown,
    size_text,
)
from lambdakit.project.deploy.values import (
    Action,
    Builder,
    Code,
    DeployResult,
    Package,
    Settings,
    Step,
)
from lambdakit.project.errors import DeployError
from lambdakit.template import FunctionSpec

__all__ = ["NO_ROLE", "ROLE_RETRY_DELAYS", "deploy_function"]

NO_ROLE = (
    "creating a function needs an execution role: pass --role arn:aws:iam::<account>:role/<name>"
)
# IAM is eventually consistent: a role created seconds ago may not be assumable by Lambda yet,
# and CreateFunction then fails ("The role defined for the function cannot be assumed by
# Lambda"). Retry after these pauses (seconds) before giving up.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
ROLE_RETRY_DELAYS = (2.0, 4.0, 8.0)


def deploy_function(
    spec: FunctionSpec,
    *,
    client: Any,
    build: Builder | None = None,
    image_uri: str | None = None,
    settings: Settings | None = None,
    ecr: Any = None,
    report: Callable[[Step], None] = lambda step: None,
    warn: Callable[[str], None] = lambda text: None,
) -> DeployResult:
    """Deploy SPEC with boto3's Lambda CLIENT, from BUILD's zip or from IMAGE_URI.

    CLIENT may be None in a dry run: nothing can be read and the plan assumes that the
    function does not exist. ECR (optional) resolves an image tag to its digest, so that an
    unchanged image is not deployed again.
    """
    if (build is None) == (image_uri is None):
        raise TypeError("deploy_function needs exactly one of build and image_uri")
    deployment = Deployment(spec, client, settings or Settings(), ecr, report, warn)
    with translated(spec.name, deployment.settings.role):
        return deployment.run(build, image_uri)


class Deployment(AccessSteps):
    """Deploys one function: ``run`` takes every step in order."""

    def run(self, build: Builder | None, image_uri: str | None) -> DeployResult:
        current = self.read("get_function", FunctionName=self.name)
        if current is None and self.settings.role is None and not self.dry_run:
            hint = f". {self.settings.role_hint}" if self.settings.role_hint else ""
            raise DeployError(f"{self.name}: {NO_ROLE}{hint}")  # before a needless build
        code = self.code(build, image_uri)
        layers = [*self.layers(code), *self.settings.layer_arns]
        desired = self.configuration(code, layers)
        if current is None:
            arn, changed = self.create(code, desired), True
        else:
            arn = current["Configuration"]["FunctionArn"]
            changed = self.update(current, code, desired)
        version = self.publish(current, changed) if self.settings.publish else None
        url = self.function_url()
        self.permissions()
        self.concurrency(current)
        return DeployResult(self.name, self.steps, arn, url, version, not self.offline)

    # --- code and layers

    def code(self, build: Builder | None, image_uri: str | None) -> Code:
        if image_uri is not None:
            return Code(image_uri=image_uri, source=image_uri)
        assert build is not None
        built = build(self.spec)
        package = built if isinstance(built, Package) else Package(built)
        data = read_zip(package.function)
        return Code(
            zip=data,
            sha256=code_sha256(data),
            layers=package.layers,
            runtime=package.runtime,
            environment=package.environment,
            source=f"{shown(package.function)}, {size_text(len(data))}",
        )

    def runtime(self, code: Code) -> str:
        return code.runtime or self.spec.runtime

    def layers(self, code: Code) -> list[str]:
        return [self.layer(path, self.runtime(code)) for path in code.layers]

    def layer(self, path: Path, runtime: str) -> str:
        """The ARN of the layer version holding the zip at PATH, published if needed."""
        name = layer_name(self.name, path)
        data = read_zip(path)
        sha256, subject = code_sha256(data), f"layer {name}"
        latest = self.latest_layer_version(name)
        if latest is not None and latest["Content"]["CodeSha256"] == sha256:
            self.step(subject, Action.UNCHANGED, f"version {latest['Version']}")
            return str(latest["LayerVersionArn"])
        if self.dry_run:
            self.step(subject, Action.PUBLISH, f"{shown(path)}, {size_text(len(data))}")
            return f"{name}:(new version)"
        response = self.write(
            "publish_layer_version",
            LayerName=name,
            Content={"ZipFile": data},
            CompatibleArchitectures=list(self.spec.architectures),
            CompatibleRuntimes=[runtime],
            Description=f"built by lambdakit for {self.name}",
        )
        self.step(subject, Action.PUBLISH, f"version {response['Version']}")
        return str(response["LayerVersionArn"])

    def latest_layer_version(self, name: str) -> Any:
        listed = self.read("list_layer_versions", LayerName=name, MaxItems=1)
        versions = (listed or {}).get("LayerVersions") or []
        if not versions:
            return None
        return self.read("get_layer_version", LayerName=name, VersionNumber=versions[0]["Version"])

    # --- the function

    def configuration(self, code: Code, layers: list[str]) -> dict[str, Any]:
        """The settings UpdateFunctionConfiguration takes, as the template wants them."""
        spec = self.spec
        desired: dict[str, Any] = {
            "Timeout": math.ceil(spec.timeout),
            "MemorySize": spec.memory_size,
            "Environment": {"Variables": {**spec.environment, **code.environment}},
        }
        if code.image_uri is None:
            desired |= {
                "Runtime": self.runtime(code),
                "Handler": handler_of(spec),
                "Layers": layers,
            }
        elif layers or spec.layers:
            self.warn(f"{self.name}: an image function cannot have layers; they are not attached")
        if self.settings.role:
            desired["Role"] = self.settings.role
        return desired

    def create(self, code: Code, desired: dict[str, Any]) -> str | None:
        spec, role = self.spec, self.settings.role
        kind = self.runtime(code) if code.image_uri is None else "image"
        detail = f"{kind}, {spec.architectures[0]}, {spec.memory_size} MB, {desired['Timeout']} s"
        if role is None:  # a dry run: run() refused the real thing
            detail += f"; but {NO_ROLE}"
        if self.dry_run:
            self.step("function", Action.CREATE, detail)
            return None
        response = self.create_function(
            FunctionName=self.name,
            Architectures=list(spec.architectures),
            **code_arguments(code),
            **{key: value for key, value in desired.items() if key != "Layers" or value},
        )
        self.wait("function_active_v2")
        self.step("function", Action.CREATE, f"{detail}; code {code.source}")
        return str(response["FunctionArn"])

    def create_function(self, **arguments: Any) -> Any:
        """CreateFunction, retried while IAM has not yet made a new role usable by Lambda."""
        for delay in ROLE_RETRY_DELAYS:
            try:
                return self.write("create_function", **arguments)
            except self.errors.ClientError as error:
                if "cannot be assumed by Lambda" not in error_message(error):
                    raise
                self.warn(f"{self.name}: Lambda cannot assume the role yet; retry in {delay:g} s")
                time.sleep(delay)
        return self.write("create_function", **arguments)

    def update(self, current: Mapping[str, Any], code: Code, desired: dict[str, Any]) -> bool:
        configuration = current["Configuration"]
        package_type = "Zip" if code.image_uri is None else "Image"
        if configuration.get("PackageType", "Zip") != package_type:
            raise DeployError(
                f"{self.name} is a {configuration.get('PackageType')} function on AWS and "
                f"this deploy is {package_type}; Lambda cannot change a function's package "
                "type: delete the function first, or deploy under another name"
            )
        code_changed = self.update_code(current, code)
        return self.update_configuration(configuration, desired) or code_changed

    def update_code(self, current: Mapping[str, Any], code: Code) -> bool:
        configuration = current["Configuration"]
        architectures = list(self.spec.architectures)
        moved = configuration.get("Architectures", ["x86_64"]) != architectures
        same, note = self.same_code(current, code)
        if same and not moved:
            self.step("code", Action.UNCHANGED, code.source)
            return False
        detail = code.source + (f"; architecture {architectures[0]}" if moved else "") + note
        if not self.dry_run:
            self.write(
                "update_function_code",
                FunctionName=self.name,
                Architectures=architectures,
                **code_arguments(code)["Code"],
            )
            self.wait("function_updated_v2")
        self.step("code", Action.UPDATE, detail)
        return True

    def same_code(self, current: Mapping[str, Any], code: Code) -> tuple[bool, str]:
        """Whether CURRENT already runs CODE, and a note when that cannot be known."""
        if code.image_uri is None:
            return current["Configuration"].get("CodeSha256") == code.sha256, ""
        deployed = current.get("Code") or {}
        uri = code.image_uri
        if "@sha256:" in uri:
            return uri in (deployed.get("ImageUri"), deployed.get("ResolvedImageUri")), ""
        digest = self.image_digest(uri) if deployed.get("ImageUri") == uri else None
        if digest is not None:
            return str(deployed.get("ResolvedImageUri", "")).endswith(f"@{digest}"), ""
        return False, "; a tag may name a new image: give uri@sha256:... to skip unchanged ones"

    def image_digest(self, uri: str) -> str | None:
        """The digest an ECR tag names now, or None if ECR cannot say."""
        match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.[^/]+/([^:@]+):([\w.-]+)", uri)
        if match is None or self.ecr is None or self.offline:
            return None
        registry, repository, tag = match.groups()
        try:
            images = self.ecr.describe_images(
                registryId=registry, repositoryName=repository, imageIds=[{"imageTag": tag}]
            )["imageDetails"]
        except (self.errors.BotoCoreError, self.errors.ClientError):
            return None
        return str(images[0]["imageDigest"]) if images else None

    def update_configuration(
        self, configuration: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> bool:
        changes = {k: v for k, v in desired.items() if deployed_value(configuration, k) != v}
        if not changes:
            self.step("configuration", Action.UNCHANGED)
            return False
        if not self.dry_run:
            self.write("update_function_configuration", FunctionName=self.name, **changes)
            self.wait("function_updated_v2")
        detail = ", ".join(describe_change(key, configuration, desired) for key in changes)
        self.step("configuration", Action.UPDATE, detail)
        return True
