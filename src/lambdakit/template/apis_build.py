"""``read_apis``: the template read again, its parameters resolved as ``load_template`` resolved
them, and the APIs of ``apis_sam`` and ``apis_cfn`` completed into ``ApiSpec`` values."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdakit.template.apis import ApiSpec, ApisResult
from lambdakit.template.apis_cfn import read_cfn_apis
from lambdakit.template.apis_reading import ApiReader
from lambdakit.template.apis_sam import read_sam_apis
from lambdakit.template.intrinsics import Resolver
from lambdakit.template.reading import read_template
from lambdakit.template.specs import FunctionSpec

__all__ = ["read_apis"]


def read_apis(
    path: Path, functions: Sequence[FunctionSpec], parameters: Mapping[str, str]
) -> ApisResult:
    template = read_template(path)
    resolver = Resolver(
        template,
        source=str(path),
        stack_name=path.absolute().parent.name,  # as load_template names the stack
        overrides=dict(parameters),
        environ=os.environ,
    )
    reader = ApiReader(path, resolver, functions)
    builders = read_sam_apis(reader, template) | read_cfn_apis(reader)
    apis: list[ApiSpec] = [builder.build() for builder in builders.values()]
    return ApisResult(apis, _own(resolver.warnings))


def _own(warnings: list[str]) -> list[str]:
    """The warnings about APIs: load_template has already given those about function names
    and parameter overrides, which resolving the same template gives again."""
    repeated = (".FunctionName: ", ": Parameters: parameter override ")
    return list(dict.fromkeys(w for w in warnings if not any(r in w for r in repeated)))
