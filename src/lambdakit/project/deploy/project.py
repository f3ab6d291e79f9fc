"""Deploying a project: choosing its functions (``lambdakit.template.select``), building
them, connecting to AWS, and the settings only the template can give (Role, layer ARNs)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdakit.project import bundle
from lambdakit.project.deploy import startable
from lambdakit.project.deploy.aws import Clients, connect, import_boto3
from lambdakit.project.deploy.function import deploy_function
from lambdakit.project.deploy.values import Builder, DeployResult, Package, Settings, Step
from lambdakit.project.errors import DeployError
from lambdakit.project.layers import check_build_methods
from lambdakit.template import (
    FUNCTION_TYPES,
    FunctionSpec,
    Selected,
    TemplateError,
    read_template,
    select,
)

__all__ = ["ROLE_PATTERN", "deploy", "lambdakit_builder", "template_settings"]


# The script AWS_LAMBDA_EXEC_WRAPPER must name: the managed runtime then starts lambdakit's
# runtime instead of its own.
WRAPPER = bundle.WRAPPER_PATH
ROLE_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def deploy(
    path: Path,
    *,
    function_name: str | None = None,
    parameter_overrides: Any = None,
    config_env: str | None = None,
    config_file: Path | None = None,
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
    PARAMETER_OVERRIDES, CONFIG_ENV and CONFIG_FILE choose the template's parameters as for
    every command (``lambdakit.template.select``, samconfig's ``deploy`` sections), whose
    ``region`` and ``profile`` apply unless REGION and PROFILE are given.

    A package lambdakit builds (or ZIP_FILE) whose bootstrap runs Python on a ``provided.*``
    runtime that has none is refused with ``DeployError`` before anything is built or sent
    (``startable``).
    """
    if zip_file is not None and image_uri is not None:
        raise DeployError("give either --zip or --image-uri, not both")
    if role is not None and not ROLE_PATTERN.fullmatch(role):
        raise DeployError(
            f"--role {role}: not a role ARN; give one like arn:aws:iam::123456789012:role/name"
        )
    chosen = _select(
        path, function_name, warn, parameter_overrides=parameter_overrides,
        config_env=config_env, config_file=config_file, region=region,
    )  # fmt: skip
    functions = chosen.functions
    region, profile = region or chosen.config.region, profile or chosen.config.profile
    if (zip_file or image_uri) and len(functions) > 1:
        names = ", ".join(spec.name for spec in functions)
        flag = "--zip" if zip_file else "--image-uri"
        raise DeployError(
            f"{flag} is the code of one function; choose it with --function ({names})"
        )
    settings = template_settings(chosen.template) if chosen.template is not None else {}
    arns = {logical_id: found.layer_arns for logical_id, found in settings.items()}
    if zip_file is not None:
        startable.check_zip(functions[0], zip_file, arns.get(functions[0].logical_id or "", ()))
        build = _given_zip(zip_file)
    elif image_uri is None and build is None:
        if chosen.template is not None:
            check_build_methods(chosen.template, functions)  # before anything is built
        # A package that cannot start is refused before anything is built or created.
        startable.check_build(
            functions, target=target, python_layer=python_layer is not None, layer_arns=arns
        )
        build = lambdakit_builder(
            bundle.default_output(path), target=target, python_layer=python_layer,
            progress=progress, warn=warn,
        )  # fmt: skip
    clients = _connect_for(dry_run, region, profile, endpoint_url, image_uri is not None, warn)
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


def _select(path: Path, name: str | None, warn: Callable[[str], None], **choice: Any) -> Selected:
    try:
        chosen = select(path, command="deploy", function=name, **choice)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    for warning in chosen.other_warnings():  # what differs locally is no matter here
        # The loader skips layer ARNs because it cannot run them; deploy attaches them.
        if "cannot be fetched locally" not in warning:
            warn(warning)
    return chosen


def _connect_for(
    dry_run: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    ecr: bool,
    warn: Callable[[str], None],
) -> Clients | None:
    """Clients; in a dry run, None (and a warning) where they cannot be made."""
    import_boto3()  # without boto3 not even a dry run can go on
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

    The package's layers are the zips of the function's local layers (built as ``sam build``
    builds a ``BuildMethod: python3.x`` layer), then lambdakit's own, in the order Lambda
    extracts them. TARGET (default: the function's Runtime) and PYTHON_LAYER are
    ``lambdakit build``'s options. A python3.X target comes with the lambdakit runtime layer
    and the variable that makes the managed runtime start it; a provided.* one runs Python
    only from a layer.
    """

    def build(spec: FunctionSpec) -> Package:
        arch, python, runtime = bundle.resolve_settings(spec, target=target)
        results = bundle.build_function(
            spec, output=output, arch=arch, python=python, target=runtime,
            python_layer=python_layer, progress=lambda text: progress(f"{spec.name}: {text}"),
        )  # fmt: skip
        zips = {result.kind: Path(result.path) for result in results}
        layers = tuple(Path(result.path) for result in results[1:])  # the template's, then ours
        found = startable.interpreter(
            spec, runtime, startable.built_bootstrap(spec),
            python_layer="python-layer" in zips, layers=spec.layers,
        )  # fmt: skip
        if found is startable.Interpreter.MISSING:  # deploy() refused it unless a layer ARN
            warn(
                f"{spec.name}: {runtime} has no Python of its own; unless one of the function's "
                "layers brings one to /opt/bin, give --python-layer (see "
                "docs/project.md) or deploy an image (`lambdakit image`, --image-uri)"
            )
        return Package(
            zips["function"],
            layers,
            runtime=runtime,
            environment={"AWS_LAMBDA_EXEC_WRAPPER": WRAPPER} if "runtime-layer" in zips else {},
        )

    return build


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
