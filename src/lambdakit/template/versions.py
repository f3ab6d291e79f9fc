"""Versions, aliases, provisioned concurrency and tenant isolation of one function.

Locally a function has ``$LATEST`` and, when the template publishes one, version ``1``: SAM's
``AutoPublishAlias`` publishes a version and points the alias at it
(sam-resource-function.html#sam-function-autopublishalias); in plain CloudFormation an
``AWS::Lambda::Version`` and ``AWS::Lambda::Alias`` naming a function of the template do the
same. ``ProvisionedConcurrencyConfig`` (on the SAM function, the alias or the version) says how
many environments of that version are started before any invocation
(provisioned-concurrency.html). ``TenancyConfig: {TenantIsolationMode: PER_TENANT}`` gives each
tenant environments of its own (tenant-isolation.html).

The checks are the ones SAM and Lambda make at deploy time, so that a template that fails to
deploy also fails here, with the resource, the property and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambdakit.template.properties import Properties
from lambdakit.template.values import to_string

if TYPE_CHECKING:
    from lambdakit.template.intrinsics import Resolver
    from lambdakit.template.specs import FunctionSpec

__all__ = ["LATEST", "PUBLISHED", "executed_version", "version_settings"]

LATEST = "$LATEST"
PUBLISHED = "1"
"""The one version a function has locally when the template publishes one."""

# API_CreateAlias: Name is 1-128 characters of this set, and not a number (that is a version).
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9\-_]{1,128}")
_PC = "ProvisionedConcurrencyConfig"
_PC_KEY = "ProvisionedConcurrentExecutions"
# SAM's own message (samtranslator/model/sam_resources.py), spelling included.
_PC_WITHOUT_ALIAS = (
    "To set ProvisionedConcurrencyConfig AutoPublishALias must be defined on the function"
)


def executed_version(spec: FunctionSpec, qualifier: str | None) -> str | None:
    """The version an invocation with QUALIFIER runs (``$LATEST`` or ``1``), or None if the
    function has no such version or alias (Lambda answers 404 then)."""
    if qualifier is None or qualifier == LATEST:
        return LATEST
    if spec.published and qualifier in (PUBLISHED, spec.alias):
        return PUBLISHED
    return None


def version_settings(properties: Properties, *, serverless: bool) -> dict[str, Any]:
    """The ``FunctionSpec`` fields ``alias``, ``published``, ``provisioned_concurrency`` and
    ``per_tenant`` of the function PROPERTIES belong to."""
    if serverless:
        alias, provisioned = _sam_alias(properties)
        published = alias is not None
    else:
        alias, published, provisioned = _cloudformation_versions(properties)
    per_tenant = _per_tenant(properties)
    _check_provisioned(properties, provisioned, per_tenant)
    return {
        "alias": alias,
        "published": published,
        "provisioned_concurrency": provisioned,
        "per_tenant": per_tenant,
    }


# --- SAM ---------------------------------------------------------------------------------------


def _sam_alias(properties: Properties) -> tuple[str | None, int | None]:
    provisioned = _provisioned(properties, properties.raw.get(_PC), _PC)
    if properties.raw.get("AutoPublishAlias") is None:
        if provisioned is not None:
            raise properties.error(_PC, f"{_PC_WITHOUT_ALIAS} (add AutoPublishAlias: live)")
        return None, None
    value = properties.get("AutoPublishAlias")
    name = to_string(value) if not isinstance(value, bool) else None
    if name is None:
        raise properties.error(
            "AutoPublishAlias",
            "'AutoPublishAlias' must be a string or a Ref to a template parameter",
        )
    return _alias_name(properties, "AutoPublishAlias", name), provisioned


def _alias_name(properties: Properties, key: str, name: str) -> str:
    if _ALIAS.fullmatch(name) is None:
        raise properties.error(
            key,
            f"{name!r} is not an alias name; Lambda allows 1 to 128 letters, digits, - and _, "
            "not all digits (e.g. live)",
        )
    return name


def _provisioned(properties: Properties, raw: Any, where: str) -> int | None:
    """``ProvisionedConcurrentExecutions`` of a ProvisionedConcurrencyConfig, 1 or more."""
    if raw is None:
        return None
    value = properties.resolver.resolve(raw, f"{properties.logical_id}.{where}")
    if not isinstance(value, Mapping) or _PC_KEY not in value:
        raise properties.error(where, f"must be a mapping with {_PC_KEY}: N")
    text = to_string(value[_PC_KEY])
    if text is None or not re.fullmatch(r"\s*\d+\s*", text) or int(text) < 1:
        raise properties.error(
            f"{where}.{_PC_KEY}", f"{value[_PC_KEY]!r}: give a whole number, 1 or more"
        )
    return int(text)


# --- CloudFormation ----------------------------------------------------------------------------


def _cloudformation_versions(properties: Properties) -> tuple[str | None, bool, int | None]:
    """The template's ``AWS::Lambda::Version`` and ``AWS::Lambda::Alias`` resources that name
    this function: (the alias, whether version 1 exists, its provisioned concurrency)."""
    resolver = properties.resolver
    versions = [v for v in _resources(resolver, "AWS::Lambda::Version") if _names(properties, v)]
    provisioned = None
    for logical_id in versions:
        raw = _resource_properties(resolver, logical_id).get(_PC)
        provisioned = provisioned or _provisioned(_other(properties, logical_id), raw, _PC)
    aliases = []
    for logical_id in _resources(resolver, "AWS::Lambda::Alias"):
        if _names(properties, logical_id) and _alias_of(properties, logical_id, versions):
            aliases.append(logical_id)
    if len(versions) > 1 or len(aliases) > 1:
        more = ", ".join([*versions, *aliases])
        resolver.warn(
            properties.logical_id,
            f"{more}: lambdakit publishes one version (1) with one alias; the first of each "
            "is used",
        )
    if not aliases:
        return None, bool(versions), provisioned
    alias = _other(properties, aliases[0])
    name = to_string(alias.get("Name"))
    if name is None:
        raise alias.error("Name", "missing; give the alias a name (e.g. live)")
    alias_pc = _provisioned(alias, alias.raw.get(_PC), _PC)
    return _alias_name(alias, "Name", name), True, alias_pc or provisioned


def _alias_of(properties: Properties, logical_id: str, versions: list[str]) -> bool:
    """Whether the alias points at a version of the template (``!GetAtt V.Version`` or ``!Ref
    V``); another target (``$LATEST``, a number) is named in a warning."""
    raw = _resource_properties(properties.resolver, logical_id).get("FunctionVersion")
    target = None
    if isinstance(raw, Mapping) and len(raw) == 1:
        ((key, argument),) = raw.items()
        if key == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            target = parts[0] if isinstance(parts, list) and parts[1:] == ["Version"] else None
        elif key == "Ref":
            target = argument  # Ref of a version is its ARN, which an alias also accepts
    if target in versions:
        return True
    properties.resolver.warn(
        f"{logical_id}.FunctionVersion",
        "lambdakit runs aliases of the template's AWS::Lambda::Version only "
        "(FunctionVersion: !GetAtt VERSION.Version); this alias is ignored",
    )
    return False


def _names(properties: Properties, logical_id: str) -> bool:
    """Whether the resource's FunctionName is this function (its name, ARN or logical id)."""
    resolver = properties.resolver
    raw = _resource_properties(resolver, logical_id).get("FunctionName")
    if isinstance(raw, Mapping) and raw.get("Ref") == properties.logical_id:
        return True
    if isinstance(raw, Mapping) and "Fn::GetAtt" in raw:
        argument = raw["Fn::GetAtt"]
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        return isinstance(parts, list) and parts[:1] == [properties.logical_id]
    name = resolver.function_name(properties.logical_id)
    value = to_string(resolver.resolve(raw, f"{logical_id}.FunctionName"))
    return value in (name, resolver.function_arn(name))


def _resources(resolver: Resolver, kind: str) -> list[str]:
    """The resources of type KIND whose Condition (if any) holds."""
    found = []
    for logical_id, resource in resolver.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != kind:
            continue
        condition = resource.get("Condition")
        if isinstance(condition, str) and not resolver.condition(condition, logical_id):
            continue
        found.append(logical_id)
    return found


def _resource_properties(resolver: Resolver, logical_id: str) -> Mapping[str, Any]:
    properties = resolver.resources[logical_id].get("Properties") or {}
    return properties if isinstance(properties, Mapping) else {}


def _other(function: Properties, logical_id: str) -> Properties:
    raw = _resource_properties(function.resolver, logical_id)
    return Properties(logical_id, raw, function.resolver, function.source)


# --- tenancy and the checks that combine ------------------------------------------------------


def _per_tenant(properties: Properties) -> bool:
    """``TenancyConfig: {TenantIsolationMode: PER_TENANT}`` (API_TenancyConfig.html: the one
    mode there is, and required when TenancyConfig is given)."""
    value = properties.get("TenancyConfig")
    if value is None:
        return False
    mode = value.get("TenantIsolationMode") if isinstance(value, Mapping) else None
    if mode != "PER_TENANT":
        raise properties.error(
            "TenancyConfig", f"{value!r}: give TenancyConfig: {{TenantIsolationMode: PER_TENANT}}"
        )
    if properties.raw.get("FunctionUrlConfig") is not None:
        raise properties.error(
            "TenancyConfig",
            "Lambda does not allow a Function URL on a function with tenant isolation (it "
            "cannot pass a tenant id); remove FunctionUrlConfig or TenancyConfig",
        )
    return True


def _check_provisioned(properties: Properties, provisioned: int | None, per_tenant: bool) -> None:
    if provisioned is None:
        return
    if per_tenant:
        raise properties.error(
            "TenancyConfig",
            "Lambda does not allow provisioned concurrency on a function with tenant isolation; "
            "remove ProvisionedConcurrencyConfig or TenancyConfig",
        )
    reserved = properties.integer("ReservedConcurrentExecutions", 0, 2**31, "executions")
    if reserved is not None and provisioned > reserved:
        raise properties.error(
            _PC,
            f"{provisioned} provisioned environments exceed the function's reserved "
            f"concurrency ({reserved}); Lambda allows at most that many",
        )
