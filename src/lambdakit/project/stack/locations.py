"""Local paths in a template and their S3 locations, as ``sam package`` writes them.

    AWS::Serverless::Function CodeUri, ::LayerVersion ContentUri   "s3://bucket/key"
    AWS::Lambda::Function Code, AWS::Lambda::LayerVersion Content  {S3Bucket, S3Key}
    AWS::Serverless::Api / HttpApi / StateMachine DefinitionUri    "s3://bucket/key"
    AWS::ApiGateway::RestApi, AWS::ApiGatewayV2::Api BodyS3Location {Bucket, Key}
    Fn::Transform AWS::Include Location (anywhere)                "s3://bucket/key"

Which properties ``sam package`` uploads:
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-package.html
A nested application or stack with a local template (``AWS::Serverless::Application``
Location, ``AWS::CloudFormation::Stack`` TemplateURL) is refused: packaging the nested
template is not done yet.

Also the lambdakit runtime layer of python3.X functions (``add_runtime_layers``): the direct
deploy publishes it and sets AWS_LAMBDA_EXEC_WRAPPER; a stack declares it as a layer resource.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lambdakit.project.contents import WRAPPER_PATH
from lambdakit.project.errors import DeployError
from lambdakit.project.stack.artifacts import local_path

__all__ = ["add_runtime_layers", "file_properties", "include_locations", "set_location"]

# Properties whose local file is uploaded as it is (no build), by resource type.
FILE_PROPERTIES = {
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::ApiGateway::RestApi": "BodyS3Location",
    "AWS::ApiGatewayV2::Api": "BodyS3Location",
}
NESTED = {"AWS::Serverless::Application": "Location", "AWS::CloudFormation::Stack": "TemplateURL"}


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def set_location(resource: dict[str, Any], prop: str, uri: str) -> None:
    """Write URI into PROP of RESOURCE in the shape its type takes."""
    bucket, key = split_uri(uri)
    properties = resource.setdefault("Properties", {})
    if prop in ("Code", "Content"):
        properties[prop] = {"S3Bucket": bucket, "S3Key": key}
    elif prop == "BodyS3Location":
        properties[prop] = {"Bucket": bucket, "Key": key}
    else:
        properties[prop] = uri


def file_properties(resources: Mapping[str, Any], base: Path) -> Iterator[tuple[str, str, Path]]:
    """(logical id, property, file) of each local file to upload as it is; refuses nested
    templates on disk."""
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        properties = resource.get("Properties") or {}
        kind = resource.get("Type")
        nested = NESTED.get(str(kind))
        if nested and local_path(properties.get(nested), base) is not None:
            raise DeployError(
                f"{logical_id}: {kind} {nested} {properties[nested]} is a local template, and "
                "deploy --stack does not package nested templates yet; package it with `sam "
                "package` and give its S3 URL"
            )
        prop = FILE_PROPERTIES.get(str(kind))
        path = local_path(properties.get(prop), base) if prop else None
        if prop and path is not None:
            if not path.is_file():
                raise DeployError(f"{logical_id}: {prop} {path} does not exist")
            yield logical_id, prop, path


def include_locations(node: Any, base: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """(Parameters mapping, file) of each ``Fn::Transform: AWS::Include`` with a local
    Location under NODE; the caller writes the S3 URI into the mapping's Location."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            parameters = transform.get("Parameters")
            if isinstance(parameters, dict):
                path = local_path(parameters.get("Location"), base)
                if path is not None:
                    if not path.is_file():
                        raise DeployError(f"AWS::Include Location {path} does not exist")
                    yield parameters, path
        for value in node.values():
            yield from include_locations(value, base)
    elif isinstance(node, list):
        for value in node:
            yield from include_locations(value, base)


def add_runtime_layers(
    resources: dict[str, Any], layers: Mapping[str, tuple[str, str]], stack: str
) -> list[str]:
    """Give each function of LAYERS (logical id -> (S3 URI, runtime)) lambdakit's runtime
    layer, as a resource ``LambdakitRuntime<hash>`` shared by functions with the same layer,
    last in its Layers (Lambda extracts layers in order: nothing replaces the wrapper), and
    AWS_LAMBDA_EXEC_WRAPPER. Returns warnings for functions that cannot take them."""
    warnings = []
    for logical_id, (uri, runtime) in layers.items():
        bucket, key = split_uri(uri)
        layer_id = "LambdakitRuntime" + key.rsplit("/", 1)[-1][:12]
        resources.setdefault(
            layer_id,
            {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {
                    "LayerName": f"{stack}-lambdakit-runtime",
                    "Description": "the lambdakit runtime (AWS_LAMBDA_EXEC_WRAPPER runs it)",
                    "Content": {"S3Bucket": bucket, "S3Key": key},
                    "CompatibleRuntimes": [runtime],
                },
            },
        )
        properties = resources[logical_id].setdefault("Properties", {})
        problem = _attach(properties, layer_id)
        if problem:
            warnings.append(f"{logical_id}: {problem}; it runs on the managed runtime's own client")
    return warnings


def _attach(properties: dict[str, Any], layer_id: str) -> str:
    layers = properties.setdefault("Layers", [])
    if not isinstance(layers, list):
        return "Layers is not a list, so lambdakit's runtime layer cannot be added"
    environment = properties.setdefault("Environment", {})
    if not isinstance(environment, dict) or not isinstance(
        environment.setdefault("Variables", {}), dict
    ):
        return "Environment.Variables is not a mapping, so AWS_LAMBDA_EXEC_WRAPPER cannot be set"
    layers.append({"Ref": layer_id})
    environment["Variables"].setdefault("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER_PATH)
    return ""
