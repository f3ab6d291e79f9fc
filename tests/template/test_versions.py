"""Versions and aliases (SAM's AutoPublishAlias, CloudFormation's AWS::Lambda::Version and
AWS::Lambda::Alias), provisioned concurrency and tenant isolation, read and checked as SAM and
Lambda check them at deploy time."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import FunctionSpec, TemplateError, load_template
from lambdakit.template.versions import executed_version
from tests.template.test_functions import fn, resource, template, write

PC = "ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}"


def load(tmp_path: Path, *resources: str, head: str = "") -> list[FunctionSpec]:
    return load_template(write(tmp_path, template(*resources, head=head))).functions


def fields(spec: FunctionSpec) -> tuple[object, ...]:
    return spec.alias, spec.published, spec.provisioned_concurrency, spec.per_tenant


@pytest.mark.parametrize(
    ("properties", "head", "expected"),
    [
        ((), "", (None, False, None, False)),
        (("AutoPublishAlias: live",), "", ("live", True, None, False)),
        (("AutoPublishAlias: live", PC), "", ("live", True, 2, False)),
        ((PC,), "Globals: {Function: {AutoPublishAlias: prod}}", ("prod", True, 2, False)),
        (
            ("AutoPublishAlias: !Ref Alias",),
            "Parameters: {Alias: {Type: String, Default: staging}}",
            ("staging", True, None, False),
        ),
        (("TenancyConfig: {TenantIsolationMode: PER_TENANT}",), "", (None, False, None, True)),
    ],
)
def test_sam_properties(
    tmp_path: Path, properties: tuple[str, ...], head: str, expected: tuple[object, ...]
) -> None:
    (spec,) = load(tmp_path, fn(*properties), head=head)
    assert fields(spec) == expected


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (
            (PC,),
            "Fn.ProvisionedConcurrencyConfig: To set ProvisionedConcurrencyConfig "
            "AutoPublishALias must be defined on the function",
        ),
        (("AutoPublishAlias: '42'",), "Fn.AutoPublishAlias: '42' is not an alias name"),
        (("AutoPublishAlias: [a]",), "'AutoPublishAlias' must be a string"),
        (
            (
                "AutoPublishAlias: live",
                "ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 0}",
            ),
            "ProvisionedConcurrentExecutions: 0: give a whole number, 1 or more",
        ),
        (
            ("AutoPublishAlias: live", PC, "ReservedConcurrentExecutions: 1"),
            "2 provisioned environments exceed the function's reserved concurrency (1)",
        ),
        (
            ("AutoPublishAlias: live", PC, "TenancyConfig: {TenantIsolationMode: PER_TENANT}"),
            "does not allow provisioned concurrency on a function with tenant isolation",
        ),
        (
            (
                "TenancyConfig: {TenantIsolationMode: PER_TENANT}",
                "FunctionUrlConfig: {AuthType: NONE}",
            ),
            "does not allow a Function URL on a function with tenant isolation",
        ),
        (("TenancyConfig: {TenantIsolationMode: SHARED}",), "Fn.TenancyConfig:"),
    ],
)
def test_sam_mistakes(tmp_path: Path, properties: tuple[str, ...], message: str) -> None:
    with pytest.raises(TemplateError, match=r"template\.yaml: ") as error:
        load(tmp_path, fn(*properties))
    assert message in str(error.value)


def _lambda_function(*properties: str) -> str:
    return resource(
        "Fn", "AWS::Lambda::Function", "Code: code", "Runtime: provided.al2023", *properties
    )


def _version(target: str = "!Ref Fn", *properties: str, name: str = "Ver") -> str:
    return resource(name, "AWS::Lambda::Version", f"FunctionName: {target}", *properties)


def _alias(version: str = "!GetAtt Ver.Version", *properties: str, target: str = "!Ref Fn") -> str:
    lines = [f"FunctionName: {target}", f"FunctionVersion: {version}", "Name: live"]
    return resource("Alias", "AWS::Lambda::Alias", *lines, *properties)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ((_version(),), (None, True, None, False)),
        ((_version(), _alias()), ("live", True, None, False)),
        (
            (_version("!GetAtt Fn.Arn"), _alias(target="!GetAtt Fn.Arn")),
            ("live", True, None, False),
        ),
        (
            (_version("fn"), _alias("!GetAtt [Ver, Version]", target="fn")),
            ("live", True, None, False),
        ),
        ((_version(), _alias("!GetAtt Ver.Version", PC)), ("live", True, 2, False)),
        ((_version("!Ref Fn", PC),), (None, True, 2, False)),
        ((_version("other"),), (None, False, None, False)),  # another function's version
    ],
)
def test_cloudformation_versions_and_aliases(
    tmp_path: Path, resources: tuple[str, ...], expected: tuple[object, ...]
) -> None:
    (spec,) = load(tmp_path, _lambda_function("FunctionName: fn"), *resources)
    assert fields(spec) == expected


def test_an_alias_of_latest_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, template(_lambda_function(), _version(), _alias("$LATEST")))
    result = load_template(path)
    assert fields(result.functions[0]) == (None, True, None, False)
    assert any("Alias.FunctionVersion" in warning for warning in result.warnings)


def test_a_version_whose_condition_is_false_does_not_count(tmp_path: Path) -> None:
    version = resource("Ver", "AWS::Lambda::Version", "FunctionName: !Ref Fn", condition="Never")
    head = "Conditions: {Never: !Equals [a, b]}"
    (spec,) = load(tmp_path, _lambda_function(), version, head=head)
    assert not spec.published


@pytest.mark.parametrize(
    ("published", "alias", "qualifier", "expected"),
    [
        (False, None, None, "$LATEST"),
        (False, None, "$LATEST", "$LATEST"),
        (False, None, "1", None),
        (True, None, "1", "1"),
        (True, "live", "live", "1"),
        (True, "live", "2", None),
        (True, "live", "other", None),
    ],
)
def test_executed_version(
    tmp_path: Path, published: bool, alias: str | None, qualifier: str | None, expected: str | None
) -> None:
    spec = FunctionSpec(
        name="f", code_dir=tmp_path, runtime="provided.al2023", published=published, alias=alias
    )
    assert executed_version(spec, qualifier) == expected
