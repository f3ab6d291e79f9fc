"""``lambdakit deploy``: a project's functions to AWS Lambda, step by step and idempotently.

For each function of a template (or a function directory), in this order:

    layer        publish each layer zip the build made, unless its latest version has the
                 same CodeSha256
    function     create the function, or else
    code         update its code when the CodeSha256 (or image, or architecture) differs
    configuration  update the fields that differ: Runtime, Handler, Role, Timeout,
                 MemorySize, Environment, Layers
    version      with ``publish``: publish a version (Lambda returns the latest one when
                 nothing changed since it was published)
    url          create or update the Function URL of ``FunctionUrlConfig``
    permission   AuthType NONE: the two public statements a URL needs; AWS_IAM: remove them
    concurrency  put or delete ``ReservedConcurrentExecutions``

Every step reads first and writes only what differs, so a second deploy changes nothing.
In a dry run only the reads happen and each step says what it would do; if AWS cannot be
read (no credentials), the plan assumes that nothing exists yet and says so.

boto3 is an optional dependency (``lambdakit[deploy]``), imported on first use. botocore's
exceptions are translated once, in ``_translate``, into ``DeployError`` messages that say
what to do.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import importlib
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdakit.project import bundle
from lambdakit.project.errors import DeployError
from lambdakit.template import (
    FUNCTION_TYPES,
    TEMPLATE_NAMES,
    FunctionSpec,
    TemplateError,
    load_functions,
    read_template,
)

__all__ = [
    "Action",
    "Builder",
    "DeployResult",
    "Package",
    "Settings",
    "Step",
    "connect",
    "deploy",
    "deploy_function",
    "lambdakit_builder",
    "template_settings",
]

# The script AWS_LAMBDA_EXEC_WRAPPER must name: the managed runtime then starts lambdakit's
# runtime instead of its own.
WRAPPER = bundle.WRAPPER_PATH
ROLE_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
NO_ROLE = (
    "creating a function needs an execution role: pass --role arn:aws:iam::<account>:role/<name>"
)
# IAM is eventually consistent: a role created seconds ago may not be assumable by Lambda yet,
# and CreateFunction then fails ("The role defined for the function cannot be assumed by
# Lambda"). Retry after these pauses (seconds) before giving up.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
ROLE_RETRY_DELAYS = (2.0, 4.0, 8.0)
# The two statements a public (AuthType NONE) Function URL needs since October 2025; the
# statement ids are those of the Lambda developer guide.
# https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html#urls-auth-none
PUBLIC_URL_STATEMENTS: dict[str, dict[str, Any]] = {
    "FunctionURLAllowPublicAccess": {
        "Principal": "*",
        "Action": "lambda:InvokeFunctionUrl",
        "FunctionUrlAuthType": "NONE",
    },
    "FunctionURLInvokeAllowPublicAccess": {
        "Principal": "*",
        "Action": "lambda:InvokeFunction",
        "InvokedViaFunctionUrl": True,
    },
}
# The condition key that makes each action's statement a Function URL one.
_CONDITION_KEYS = {
    "lambda:InvokeFunctionUrl": "lambda:FunctionUrlAuthType",
    "lambda:InvokeFunction": "lambda:InvokedViaFunctionUrl",
}
CORS_KEYS = (
    *("AllowCredentials", "AllowHeaders", "AllowMethods"),
    *("AllowOrigins", "ExposeHeaders", "MaxAge"),
)


# ---------------------------------------------------------------------------------------------
# Values


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
class _Code:
    """The code to deploy: zip bytes and their CodeSha256, or an image URI."""

    zip: bytes | None = None
    sha256: str = ""
    image_uri: str | None = None
    layers: tuple[Path, ...] = ()
    runtime: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


# ---------------------------------------------------------------------------------------------
# boto3, imported when first needed


def _boto3() -> Any:
    try:
        return importlib.import_module("boto3")
    except ImportError as error:
        raise DeployError(
            "lambdakit deploy needs boto3, which is not installed: pip install 'lambdakit[deploy]'"
        ) from error


def _exceptions() -> Any:
    _boto3()
    return importlib.import_module("botocore.exceptions")


@dataclass(frozen=True, slots=True)
class Clients:
    """boto3 clients of one session: Lambda, and ECR to resolve image tags."""

    lambda_: Any
    ecr: Any = None


def connect(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    ecr: bool = False,
) -> Clients:
    """boto3 clients for REGION and PROFILE (default: the environment's and ~/.aws's)."""
    boto3 = _boto3()
    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION (which the AWS CLI v2, the other
    # SDKs and Lambda itself set) goes first, as there.
    region = region or os.environ.get("AWS_REGION") or None
    with _translated("", None):
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return Clients(
            lambda_=session.client("lambda", endpoint_url=endpoint_url),
            ecr=session.client("ecr", endpoint_url=endpoint_url) if ecr else None,
        )


# ---------------------------------------------------------------------------------------------
# Deploying a project


def deploy(
    path: Path,
    *,
    function_name: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    role: str | None = None,
    zip_file: Path | None = None,
    image_uri: str | None = None,
    publish: bool = False,
    dry_run: bool = False,
    target: str | None = None,
    python_layer: Path | None = None,
    build: Builder | None = None,
    report: Callable[[Step], None] = lambda step: None,
    warn: Callable[[str], None] = lambda text: None,
    progress: Callable[[str], None] = lambda text: None,
) -> list[DeployResult]:
    """Deploy the functions of PATH (a template, a directory holding one, or a function's code).

    The code comes from ZIP_FILE, IMAGE_URI (PackageType Image), BUILD, or by default
    ``lambdakit build`` for TARGET (default: each function's Runtime) with PYTHON_LAYER (see
    ``lambdakit_builder``). REPORT receives each step as it is done; WARN what the user should
    know (template warnings, a dry run that could not read AWS); PROGRESS the build's progress.
    """
    if zip_file is not None and image_uri is not None:
        raise DeployError("give either --zip or --image-uri, not both")
    if role is not None and not ROLE_PATTERN.fullmatch(role):
        raise DeployError(
            f"--role {role}: not a role ARN; give one like arn:aws:iam::123456789012:role/name"
        )
    functions = _select(path, function_name, warn)
    if (zip_file or image_uri) and len(functions) > 1:
        names = ", ".join(spec.name for spec in functions)
        flag = "--zip" if zip_file else "--image-uri"
        raise DeployError(
            f"{flag} is the code of one function; choose it with --function ({names})"
        )
    if zip_file is not None:
        build = _given_zip(zip_file)
    elif image_uri is None and build is None:
        build = lambdakit_builder(
            bundle.default_output(path), target=target, python_layer=python_layer,
            progress=progress, warn=warn,
        )  # fmt: skip
    clients = _connect_for(dry_run, region, profile, endpoint_url, image_uri is not None, warn)
    settings = _template_settings_of(path)
    results = []
    for spec in functions:
        found = settings.get(spec.logical_id or "", Settings())
        results.append(
            deploy_function(
                spec,
                client=clients.lambda_ if clients else None,
                ecr=clients.ecr if clients else None,
                build=None if image_uri else build,
                image_uri=image_uri,
                settings=Settings(
                    role=role or found.role,
                    role_hint=found.role_hint,
                    layer_arns=found.layer_arns,
                    publish=publish,
                    dry_run=dry_run,
                ),
                report=report,
                warn=warn,
            )
        )
    return results


def _select(path: Path, name: str | None, warn: Callable[[str], None]) -> list[FunctionSpec]:
    try:
        result = load_functions(path)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    for warning in result.warnings:
        # The loader skips layer ARNs because it cannot run them; deploy attaches them.
        if "cannot be fetched locally" not in warning:
            warn(warning)
    if name is None:
        return result.functions
    chosen = [spec for spec in result.functions if name in (spec.name, spec.logical_id)]
    if not chosen:
        names = ", ".join(spec.name for spec in result.functions)
        raise DeployError(f"no function {name!r} in {path} (there are: {names})")
    return chosen


def _template_settings_of(path: Path) -> dict[str, Settings]:
    template = path if path.is_file() else _find_template(path)
    return template_settings(template) if template is not None else {}


def _find_template(directory: Path) -> Path | None:
    return next((directory / n for n in TEMPLATE_NAMES if (directory / n).is_file()), None)


def _connect_for(
    dry_run: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    ecr: bool,
    warn: Callable[[str], None],
) -> Clients | None:
    """Clients; in a dry run, None (and a warning) where they cannot be made."""
    _boto3()  # without boto3 not even a dry run can go on
    try:
        return connect(region=region, profile=profile, endpoint_url=endpoint_url, ecr=ecr)
    except DeployError as error:
        if not dry_run:
            raise
        warn(f"could not check AWS ({error}); the plan assumes that nothing exists yet")
        return None


def _given_zip(path: Path) -> Builder:
    def build(spec: FunctionSpec) -> Path:
        return path

    return build


def lambdakit_builder(
    output: Path,
    *,
    target: str | None = None,
    python_layer: Path | None = None,
    progress: Callable[[str], None] = lambda text: None,
    warn: Callable[[str], None] = lambda text: None,
) -> Builder:
    """A builder that runs ``lambdakit build`` for each function, into OUTPUT.

    TARGET (default: the function's Runtime) and PYTHON_LAYER are ``lambdakit build``'s
    options. A python3.X target comes with the lambdakit runtime layer and the variable that
    makes the managed runtime start it; a provided.* one runs Python only from a layer.
    """

    def build(spec: FunctionSpec) -> Package:
        arch, python, runtime = bundle.resolve_settings(spec, target=target)
        results = bundle.build_function(
            spec, output=output, arch=arch, python=python, target=runtime,
            python_layer=python_layer, progress=lambda text: progress(f"{spec.name}: {text}"),
        )  # fmt: skip
        zips = {result.kind: Path(result.path) for result in results}
        if runtime.startswith("provided") and "python-layer" not in zips and _is_python(spec):
            warn(
                f"{spec.name}: {runtime} has no Python of its own; unless one of the function's "
                "layers brings one to /opt/bin, give --python-layer (see "
                "docs/project.md) or deploy an image (`lambdakit image`, --image-uri)"
            )
        return Package(
            zips.pop("function"),
            tuple(zips.values()),
            runtime=runtime,
            environment={"AWS_LAMBDA_EXEC_WRAPPER": WRAPPER} if "runtime-layer" in zips else {},
        )

    return build


def _is_python(spec: FunctionSpec) -> bool:
    """Whether the code needs a Python: lambdakit's bootstrap, or Python modules at its root."""
    own_bootstrap = (spec.code_dir / "bootstrap").is_file()
    return not own_bootstrap or any(spec.code_dir.glob("*.py"))


def template_settings(template: Path) -> dict[str, Settings]:
    """The Role and literal layer ARNs of each function of TEMPLATE, by logical id.

    Only literal values count: ``!GetAtt Role.Arn`` or ``!Sub ...${AWS::AccountId}`` name
    things that exist once CloudFormation has deployed the stack, which lambdakit deploy does
    not do. ``role_hint`` then says why there is no role.
    """
    try:
        data = read_template(template)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    common = _mapping(_mapping(data.get("Globals")).get("Function"))
    settings = {}
    for logical_id, resource in _mapping(data.get("Resources")).items():
        if not isinstance(resource, dict) or resource.get("Type") not in FUNCTION_TYPES:
            continue
        properties = _mapping(resource.get("Properties"))
        serverless = resource["Type"] == "AWS::Serverless::Function"
        inherited = common if serverless else {}
        layers = [*_list(inherited.get("Layers")), *_list(properties.get("Layers"))]
        role = properties.get("Role", inherited.get("Role"))
        settings[str(logical_id)] = Settings(
            role=role if isinstance(role, str) and ROLE_PATTERN.fullmatch(role) else None,
            role_hint=_role_hint(f"{template}: {logical_id}", role),
            layer_arns=tuple(x for x in layers if isinstance(x, str) and x.startswith("arn:")),
        )
    return settings


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _role_hint(where: str, role: object) -> str:
    """Why ROLE, a function's Role property, cannot be used ('' if it can)."""
    if isinstance(role, str) and ROLE_PATTERN.fullmatch(role):
        return ""
    if role is None:
        return (
            f"{where} has no Role: SAM creates one when it deploys a stack, lambdakit deploy "
            "does not"
        )
    if isinstance(role, dict):
        return (
            f"{where}.Role is a {next(iter(role), 'function')}, which CloudFormation resolves "
            "when it deploys a stack; lambdakit deploy needs the role's ARN"
        )
    return f"{where}.Role {role!r} is not a role ARN"


# ---------------------------------------------------------------------------------------------
# Deploying one function


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
    deployment = _Deployment(spec, client, settings or Settings(), ecr, report, warn)
    with _translated(spec.name, deployment.settings.role):
        return deployment.run(build, image_uri)


class _Deployment:
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
        self.errors = _exceptions()
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
            if _error_code(error) == "ResourceNotFoundException":
                return None
            return self._unreadable(error)
        except self.errors.BotoCoreError as error:
            return self._unreadable(error)

    def _unreadable(self, error: Exception) -> None:
        if not self.dry_run:
            raise error
        self.offline = True
        reason = _translate(error, self.name, None) or error
        self.warn(f"could not check AWS ({reason}); the plan assumes that nothing exists yet")

    def write(self, operation: str, **arguments: Any) -> Any:
        assert not self.dry_run, f"{operation} in a dry run"
        return getattr(self.client, operation)(**arguments)

    def wait(self, waiter: str) -> None:
        # function_active_v2 / function_updated_v2 poll GetFunction every second.
        # https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
        self.client.get_waiter(waiter).wait(FunctionName=self.name)

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

    def code(self, build: Builder | None, image_uri: str | None) -> _Code:
        if image_uri is not None:
            return _Code(image_uri=image_uri, source=image_uri)
        assert build is not None
        built = build(self.spec)
        package = built if isinstance(built, Package) else Package(built)
        data = _read_zip(package.function)
        return _Code(
            zip=data,
            sha256=_code_sha256(data),
            layers=package.layers,
            runtime=package.runtime,
            environment=package.environment,
            source=f"{_shown(package.function)}, {_size(len(data))}",
        )

    def runtime(self, code: _Code) -> str:
        return code.runtime or self.spec.runtime

    def layers(self, code: _Code) -> list[str]:
        return [self.layer(path, self.runtime(code)) for path in code.layers]

    def layer(self, path: Path, runtime: str) -> str:
        """The ARN of the layer version holding the zip at PATH, published if needed."""
        name = _layer_name(self.name, path)
        data = _read_zip(path)
        sha256, subject = _code_sha256(data), f"layer {name}"
        latest = self.latest_layer_version(name)
        if latest is not None and latest["Content"]["CodeSha256"] == sha256:
            self.step(subject, Action.UNCHANGED, f"version {latest['Version']}")
            return str(latest["LayerVersionArn"])
        if self.dry_run:
            self.step(subject, Action.PUBLISH, f"{_shown(path)}, {_size(len(data))}")
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

    def configuration(self, code: _Code, layers: list[str]) -> dict[str, Any]:
        """The settings UpdateFunctionConfiguration takes, as the template wants them."""
        spec = self.spec
        desired: dict[str, Any] = {
            "Timeout": math.ceil(spec.timeout),
            "MemorySize": spec.memory_size,
            "Environment": {"Variables": {**spec.environment, **code.environment}},
        }
        if code.image_uri is None:
            desired |= {"Runtime": self.runtime(code), "Handler": _handler(spec), "Layers": layers}
        elif layers or spec.layers:
            self.warn(f"{self.name}: an image function cannot have layers; they are not attached")
        if self.settings.role:
            desired["Role"] = self.settings.role
        return desired

    def create(self, code: _Code, desired: dict[str, Any]) -> str | None:
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
            **_code_arguments(code),
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
                if "cannot be assumed by Lambda" not in _error_message(error):
                    raise
                self.warn(f"{self.name}: Lambda cannot assume the role yet; retry in {delay:g} s")
                time.sleep(delay)
        return self.write("create_function", **arguments)

    def update(self, current: Mapping[str, Any], code: _Code, desired: dict[str, Any]) -> bool:
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

    def update_code(self, current: Mapping[str, Any], code: _Code) -> bool:
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
                **_code_arguments(code)["Code"],
            )
            self.wait("function_updated_v2")
        self.step("code", Action.UPDATE, detail)
        return True

    def same_code(self, current: Mapping[str, Any], code: _Code) -> tuple[bool, str]:
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
        changes = {k: v for k, v in desired.items() if _deployed(configuration, k) != v}
        if not changes:
            self.step("configuration", Action.UNCHANGED)
            return False
        if not self.dry_run:
            self.write("update_function_configuration", FunctionName=self.name, **changes)
            self.wait("function_updated_v2")
        detail = ", ".join(_change(key, configuration, desired) for key in changes)
        self.step("configuration", Action.UPDATE, detail)
        return True

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
            "Cors": _cors(self.name, wanted.cors),
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
        if _same_url(current, desired):
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
        present = {sid for sid in PUBLIC_URL_STATEMENTS if _granted(statements, sid)}
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
            if _error_code(error) != "ResourceConflictException":
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


# ---------------------------------------------------------------------------------------------
# Helpers: the shapes Lambda's API uses


def _handler(spec: FunctionSpec) -> str:
    if spec.handler:
        return spec.handler
    return "app.handler" if (spec.code_dir / "app.py").is_file() else "bootstrap"


def _code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 (not hex) SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _code_arguments(code: _Code) -> dict[str, Any]:
    if code.image_uri is not None:
        return {"PackageType": "Image", "Code": {"ImageUri": code.image_uri}}
    return {"PackageType": "Zip", "Code": {"ZipFile": code.zip}}


def _read_zip(path: Path) -> bytes:
    if not zipfile.is_zipfile(path):
        what = "does not exist" if not path.exists() else "is not a zip file"
        raise DeployError(f"{path} {what}; deploy needs the zip that `lambdakit build` makes")
    return path.read_bytes()


def _shown(path: Path) -> str:
    """PATH as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def _layer_name(function: str, path: Path) -> str:
    """The zip's name (``hello-runtime-layer.zip``), with the function's name before it if it
    lacks one, in the characters a layer name may use."""
    stem = re.sub(r"\.zip$", "", path.name)
    name = stem if stem.startswith(f"{function}-") else f"{function}-{stem}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:140]


def _deployed(configuration: Mapping[str, Any], key: str) -> Any:
    """The value of KEY in GetFunction's Configuration, in UpdateFunctionConfiguration's shape."""
    if key == "Environment":
        return {"Variables": (configuration.get("Environment") or {}).get("Variables") or {}}
    if key == "Layers":
        return [layer["Arn"] for layer in configuration.get("Layers") or []]
    return configuration.get(key)


def _change(key: str, configuration: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """``MemorySize 128 -> 256``; only the name for values that may be secret or long."""
    if key in ("Environment", "Layers", "Role"):
        return key
    return f"{key} {_deployed(configuration, key)} -> {desired[key]}"


def _cors(function: str, cors: Mapping[str, object] | None) -> dict[str, Any]:
    """The template's Cors in the API's shape (the same keys, with proper types)."""
    result: dict[str, Any] = {}
    for key, value in (cors or {}).items():
        if key not in CORS_KEYS:
            raise DeployError(
                f"{function}: FunctionUrlConfig.Cors.{key} is not a CORS setting of Function "
                f"URLs; use {', '.join(CORS_KEYS)}"
            )
        if key == "AllowCredentials":
            result[key] = value is True or str(value).lower() == "true"
        elif key == "MaxAge":
            result[key] = int(str(value))
        else:
            result[key] = [str(item) for item in value] if isinstance(value, list) else [str(value)]
    return result


def _normal_cors(cors: Mapping[str, Any] | None) -> dict[str, Any]:
    """CORS settings compared as Lambda treats them: unset equals empty, order is free."""
    normal: dict[str, Any] = {}
    for key, value in (cors or {}).items():
        if key in ("AllowHeaders", "ExposeHeaders"):
            value = sorted(item.lower() for item in value)
        elif key == "AllowMethods":
            value = sorted(item.upper() for item in value)
        elif isinstance(value, list):
            value = sorted(value)
        if value:
            normal[key] = value
    return normal


def _same_url(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return (
        current.get("AuthType") == desired["AuthType"]
        and str(current.get("InvokeMode", "BUFFERED")).upper() == desired["InvokeMode"]
        and _normal_cors(current.get("Cors")) == _normal_cors(desired["Cors"])
    )


def _granted(statements: Sequence[Mapping[str, Any]], sid: str) -> bool:
    """Whether a statement with SID, or one granting the same public access, is present."""
    action = PUBLIC_URL_STATEMENTS[sid]["Action"]
    for statement in statements:
        if statement.get("Sid") == sid:
            return True
        principal = statement.get("Principal")
        public = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        condition = json.dumps(statement.get("Condition") or {})
        if statement.get("Action") == action and public and _CONDITION_KEYS[action] in condition:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Errors: botocore's, translated once


def _error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    return _error_field(error, "Code")


def _error_message(error: BaseException) -> str:
    return _error_field(error, "Message")


def _error_field(error: BaseException, key: str) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get(key, "")) if isinstance(response, dict) else ""


@contextlib.contextmanager
def _translated(function: str, role: str | None) -> Iterator[None]:
    errors = _exceptions()
    try:
        yield
    except (errors.BotoCoreError, errors.ClientError) as error:
        translated = _translate(error, function, role)
        if translated is None:
            raise
        raise translated from error


_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass "
    "--profile NAME (or set AWS_PROFILE) for a profile in ~/.aws, or run `aws configure` or "
    "`aws sso login`"
)
_REGION = (
    "no AWS region: pass --region (e.g. --region us-east-1), set AWS_REGION, or give your "
    "profile a region (`aws configure set region us-east-1`)"
)
_BAD_CREDENTIALS = (
    *("UnrecognizedClientException", "InvalidSignatureException"),
    *("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"),
)
_TOO_LARGE = (
    "the deployment package is too large for Lambda (50 MB zipped when uploaded directly, "
    "250 MB unzipped including layers): move dependencies into a layer, or use the image "
    "route (`lambdakit image`, then `lambdakit deploy --image-uri URI`, up to 10 GB)"
)


def _translate(error: Exception, function: str, role: str | None) -> DeployError | None:
    """ERROR as a DeployError that says what to do, or None to let it through."""
    kind = type(error).__name__
    where = f"{function}: " if function else ""
    if kind == "NoCredentialsError":
        return DeployError(_CREDENTIALS)
    if kind == "NoRegionError":
        return DeployError(_REGION)
    if kind == "ProfileNotFound":
        return DeployError(f"{error}: list your profiles with `aws configure list-profiles`")
    if kind == "WaiterError":
        last = getattr(error, "last_response", None) or {}
        reason = (last.get("Configuration") or {}).get("StateReason") or str(error)
        return DeployError(f"{where}the function did not become ready: {reason}")
    if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return DeployError(f"cannot reach AWS: {error}; check the network and --endpoint-url")
    code = _error_code(error)
    if not code:
        return None
    return DeployError(where + _client_error_message(code, error, role))


def _client_error_message(code: str, error: Exception, role: str | None) -> str:
    message = _error_message(error)
    operation = getattr(error, "operation_name", "the call")
    if code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"access denied to {operation}: {message}. The credentials in use need permission "
            "for lambda:GetFunction, CreateFunction, UpdateFunctionCode, "
            "UpdateFunctionConfiguration, PublishVersion, *FunctionUrlConfig, AddPermission, "
            "GetPolicy, PutFunctionConcurrency and iam:PassRole on the execution role"
        )
    if code in _BAD_CREDENTIALS:
        return f"AWS refused the credentials ({code}: {message}); renew them or use another profile"
    if code == "RequestEntityTooLargeException" or "Unzipped size must be" in message:
        return f"{_TOO_LARGE} ({message})"
    if code == "InvalidParameterValueException" and "role" in message.lower():
        return (
            f"the execution role {role or ''} cannot be used: {message}. Check that the role "
            "exists, that its trust policy lets lambda.amazonaws.com call sts:AssumeRole, and "
            "that your credentials may iam:PassRole it (a new role takes a few seconds to be "
            "usable)"
        )
    if code == "ResourceConflictException":
        return f"{message}; another update of the function is in progress: deploy again soon"
    return f"{operation} failed: {code}: {message}"
