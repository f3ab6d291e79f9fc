"""A local resolver of CloudFormation's intrinsic functions, for one template.

Resolving evaluates intrinsics the way CloudFormation would at deploy time, as far as that is
possible on a laptop: parameters, pseudo parameters, conditions and mappings are known; other
stacks, SSM and the physical ids of resources are not. What cannot be known becomes a
``${Name}`` placeholder and a warning naming the property, never an exception: a template that
deploys must also load.
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html)
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from lambdakit.template.errors import TemplateError
from lambdakit.template.parameters import is_ssm, parameter_values, pseudo_parameters
from lambdakit.template.values import FUNCTION_TYPES, LAYER_TYPES, NO_VALUE, to_string

__all__ = ["Resolver", "is_intrinsic"]


def is_intrinsic(value: Any) -> bool:
    """Whether VALUE is an intrinsic function call (``{"Ref": ...}``, ``{"Fn::Sub": ...}``)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in _FUNCTIONS or str(key).startswith("Fn::")


def _section(template: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    section = template.get(name) or {}
    if not isinstance(section, dict):
        raise TemplateError(f"{source}: the template's {name} section must be a mapping")
    return section


class Resolver:
    """Evaluates intrinsic functions of one template; collects warnings as it goes.

    WHERE arguments name the property being resolved (``HelloFunction.Timeout``); warnings
    read ``SOURCE: WHERE: what happened``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        source: str,
        stack_name: str,
        overrides: Mapping[str, str],
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.source = source
        self.resources = _section(template, "Resources", source)
        self.mappings = _section(template, "Mappings", source)
        self.declared = _section(template, "Parameters", source)
        self.warnings: list[str] = []
        self.pseudo = pseudo_parameters(overrides, stack_name, environ)
        self._conditions = _section(template, "Conditions", source)
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._function_names: dict[str, str] = {}
        self._naming: set[str] = set()  # functions whose FunctionName is being resolved
        self._cyclic: set[str] = set()  # ... and found to depend on itself
        self._parameters = parameter_values(self.declared, overrides, source)
        for name in sorted(overrides.keys() - self.declared.keys() - self.pseudo.keys()):
            self.warn("Parameters", f"parameter override {name!r} matches no parameter")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{self.source}: {where}: {message}")

    # -- parameters ---------------------------------------------------------------------------

    def _parameter(self, name: str, where: str) -> Any:
        value = self._parameters[name]
        if value is not None:
            return value
        if is_ssm(self.declared[name]):
            why = "is read from SSM Parameter Store at deploy time"
        else:
            why = "has no Default and no value was given"
        self.warn(where, f"parameter {name} {why}; pass a parameter override {name}=VALUE")
        return "${" + name + "}"

    # -- the resolver -------------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        """VALUE with every intrinsic function evaluated; ``AWS::NoValue`` keys dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                function = _FUNCTIONS.get(key)
                if function is not None:
                    return function(self, argument, where)
                if key.startswith("Fn::"):
                    self.warn(where, f"{key} cannot be evaluated locally; left empty")
                    return ""
            pairs = ((k, self.resolve(v, f"{where}.{k}")) for k, v in value.items())
            return {k: v for k, v in pairs if v is not NO_VALUE}
        if isinstance(value, list):
            items = (self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value))
            return [v for v in items if v is not NO_VALUE]
        return value

    def string(self, value: Any, where: str) -> str:
        """VALUE resolved and converted to a string; a list or map there gives a warning."""
        resolved = self.resolve(value, where)
        text = to_string(resolved)
        if text is None:
            self.warn(where, f"expected a string, found a {type(resolved).__name__}")
            return ""
        return text

    def function_name(self, logical_id: str) -> str:
        """The name of a function resource: its FunctionName resolved (``!Sub
        ${AWS::StackName}-api`` included, as SAM CLI resolves it), else its logical id, as
        SAM CLI names a function without one. A name that cannot be known locally (it
        depends on another stack, or on itself) falls back to the logical id, with a warning."""
        known = self._function_names.get(logical_id)
        if known is not None:
            return known
        properties = self.resources[logical_id].get("Properties") or {}
        raw = properties.get("FunctionName") if isinstance(properties, dict) else None
        name = logical_id
        if raw is not None and logical_id not in self._naming:
            self._naming.add(logical_id)
            try:
                where = f"{logical_id}.FunctionName"
                resolved = self.resolve(raw, where)
                text = to_string(resolved) if resolved is not NO_VALUE else None
                if logical_id in self._cyclic:
                    self.warn(where, "refers to itself; the function is named by its logical id")
                elif text and "${" not in text:
                    name = text
                elif text:
                    self.warn(where, f"{text} cannot be known locally; the function is "
                              f"named {logical_id} here")  # fmt: skip
            finally:
                self._naming.discard(logical_id)
        elif raw is not None:
            self._cyclic.add(logical_id)  # the outer resolution of this name gives up
            return logical_id
        self._function_names[logical_id] = name
        return name

    def arn(self, service: str, resource: str) -> str:
        """An ARN in this stack's partition, region and account."""
        pseudo = self.pseudo
        return (
            f"arn:{pseudo['AWS::Partition']}:{service}:{pseudo['AWS::Region']}:"
            f"{pseudo['AWS::AccountId']}:{resource}"
        )

    def function_arn(self, name: str) -> str:
        return self.arn("lambda", f"function:{name}")

    def layer_arn(self, logical_id: str) -> str:
        """A stand-in ARN for a layer of this template; the reader maps it back to its directory."""
        return self.arn("lambda", f"layer:{logical_id}:1")

    def condition(self, name: str, where: str) -> bool:
        """The value of the named condition (evaluated once, cycles rejected)."""
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._conditions:
            raise TemplateError(
                f"{self.source}: {where}: condition {name!r} is not defined in the Conditions "
                "section"
            )
        if name in self._evaluating:
            raise TemplateError(f"{self.source}: Conditions.{name}: refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self._conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    def _truth(self, value: Any, where: str) -> bool:
        resolved = self.resolve(value, where)
        if isinstance(resolved, bool) or to_string(resolved) in ("true", "false"):
            return resolved is True or resolved == "true"
        self.warn(where, f"expected a condition, found {resolved!r}; taken as false")
        return False

    def _arguments(
        self, argument: Any, where: str, name: str, counts: tuple[int, ...]
    ) -> list[Any]:
        if isinstance(argument, list) and len(argument) in counts:
            return argument
        self.warn(where, f"{name} takes a list of {' or '.join(map(str, counts))} items")
        return [""] * counts[-1]

    # -- one method per intrinsic function, in the order of the CloudFormation reference -----

    def _base64(self, argument: Any, where: str) -> str:
        return base64.b64encode(self.string(argument, where).encode()).decode("ascii")

    def _cidr(self, argument: Any, where: str) -> list[str]:
        block, count, bits = (
            self.string(a, where) for a in self._arguments(argument, where, "Fn::Cidr", (3,))
        )
        try:
            network = ipaddress.ip_network(block, strict=False)
            subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
            return [str(subnet) for subnet in itertools.islice(subnets, int(count))]
        except ValueError as exc:
            self.warn(where, f"Fn::Cidr: {exc}")
            return []

    def _find_in_map(self, argument: Any, where: str) -> Any:
        arguments = self._arguments(argument, where, "Fn::FindInMap", (3, 4))
        keys = [self.string(key, where) for key in arguments[:3]]
        value: Any = self.mappings
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return self.resolve(value, where)
        default = arguments[3] if len(arguments) == 4 else None
        if isinstance(default, dict) and "DefaultValue" in default:
            return self.resolve(default["DefaultValue"], where)
        self.warn(where, f"Fn::FindInMap: Mappings has no {'.'.join(keys)}")
        return "${" + ".".join(keys) + "}"

    def _get_att(self, argument: Any, where: str) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = (
            self.string(a, where) for a in self._arguments(argument, where, "Fn::GetAtt", (2,))
        )
        placeholder = "${" + f"{logical_id}.{attribute}" + "}"
        resource = self.resources.get(logical_id)
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind in FUNCTION_TYPES and attribute == "Arn":
            return self.function_arn(self.function_name(logical_id))
        if kind is None:
            self.warn(where, f"!GetAtt {logical_id}.{attribute}: no resource {logical_id}")
            return placeholder
        if attribute == "Arn":
            service = str(kind).split("::")[1].lower() if str(kind).count("::") == 2 else "aws"
            arn = self.arn(service, logical_id)
            self.warn(where, f"!GetAtt {logical_id}.Arn: no {kind} locally; using {arn}")
            return arn
        self.warn(where, f"!GetAtt {logical_id}.{attribute} is known only after deployment")
        return placeholder

    def _get_azs(self, argument: Any, where: str) -> list[str]:
        region = self.string(argument, where) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _if(self, argument: Any, where: str) -> Any:
        name, when_true, when_false = self._arguments(argument, where, "Fn::If", (3,))
        return self.resolve(when_true if self.condition(str(name), where) else when_false, where)

    def _import_value(self, argument: Any, where: str) -> str:
        name = self.string(argument, where)
        self.warn(where, f"!ImportValue {name}: exported by another stack, unknown locally")
        return "${ImportValue:" + name + "}"

    def _join(self, argument: Any, where: str) -> str:
        delimiter, items = self._arguments(argument, where, "Fn::Join", (2,))
        items = self.resolve(items, where)
        if not isinstance(items, list):
            self.warn(where, "Fn::Join: the second item must be a list")
            return ""
        return str(delimiter).join(self.string(item, where) for item in items)

    def _length(self, argument: Any, where: str) -> int:
        items = self.resolve(argument, where)
        return len(items) if isinstance(items, list) else 0

    def _select(self, argument: Any, where: str) -> Any:
        index, items = self._arguments(argument, where, "Fn::Select", (2,))
        position, items = self.string(index, where), self.resolve(items, where)
        if isinstance(items, list) and position.isdigit() and int(position) < len(items):
            return items[int(position)]
        self.warn(where, f"Fn::Select: no item {position} in {items!r}")
        return ""

    def _split(self, argument: Any, where: str) -> list[str]:
        delimiter, source = self._arguments(argument, where, "Fn::Split", (2,))
        return self.string(source, where).split(str(delimiter))

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, list):
            text, variables = self._arguments(argument, where, "Fn::Sub", (2,))
        else:
            text, variables = argument, {}
        variables = self.resolve(variables, where)
        if not isinstance(text, str) or not isinstance(variables, dict):
            self.warn(where, "Fn::Sub takes a string, or a string and a map of variables")
            return ""
        return _SUB_VARIABLE.sub(lambda m: self._sub_variable(m[1].strip(), variables, where), text)

    def _sub_variable(self, name: str, variables: Mapping[str, Any], where: str) -> str:
        if name.startswith("!"):  # "${!Literal}" writes "${Literal}"
            return "${" + name[1:] + "}"
        if name in variables:
            return self.string(variables[name], where)
        if "." in name and name not in self._parameters:
            return self.string(self._get_att(name, where), where)
        return self.string(self._ref(name, where), where)

    def _to_json_string(self, argument: Any, where: str) -> str:
        return json.dumps(self.resolve(argument, where), separators=(",", ":"))

    def _equals(self, argument: Any, where: str) -> bool:
        left, right = self._arguments(argument, where, "Fn::Equals", (2,))
        return self.string(left, where) == self.string(right, where)

    def _and(self, argument: Any, where: str) -> bool:
        items = argument if isinstance(argument, list) else [argument]
        return all([self._truth(item, where) for item in items])

    def _or(self, argument: Any, where: str) -> bool:
        items = argument if isinstance(argument, list) else [argument]
        return any([self._truth(item, where) for item in items])

    def _not(self, argument: Any, where: str) -> bool:
        (item,) = self._arguments(argument, where, "Fn::Not", (1,))
        return not self._truth(item, where)

    def _condition(self, argument: Any, where: str) -> bool:
        return self.condition(str(argument), where)

    def _ref(self, argument: Any, where: str) -> Any:
        name = self.string(argument, where)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self._parameters:
            return self._parameter(name, where)
        resource = self.resources.get(name)
        if isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES:
            return self.function_name(name)  # Ref of a function is its name
        if isinstance(resource, dict) and resource.get("Type") in LAYER_TYPES:
            return self.layer_arn(name)  # Ref of a layer version is its ARN
        if resource is not None:
            kind = resource.get("Type") if isinstance(resource, dict) else None
            self.warn(where, f"!Ref {name}: {kind} does not exist locally; using its logical id")
            return name
        self.warn(where, f"!Ref {name}: no parameter or resource of that name")
        return "${" + name + "}"

    def _transform(self, argument: Any, where: str) -> str:
        self.warn(where, "Fn::Transform runs a macro at deploy time; left empty")
        return ""


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

_FUNCTIONS: dict[str, Callable[[Resolver, Any, str], Any]] = {
    "Fn::And": Resolver._and,
    "Fn::Base64": Resolver._base64,
    "Fn::Cidr": Resolver._cidr,
    "Fn::Equals": Resolver._equals,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::GetAZs": Resolver._get_azs,
    "Fn::If": Resolver._if,
    "Fn::ImportValue": Resolver._import_value,
    "Fn::Join": Resolver._join,
    "Fn::Length": Resolver._length,
    "Fn::Not": Resolver._not,
    "Fn::Or": Resolver._or,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::Sub": Resolver._sub,
    "Fn::ToJsonString": Resolver._to_json_string,
    "Fn::Transform": Resolver._transform,
    "Condition": Resolver._condition,
    "Ref": Resolver._ref,
}
