"""Imports a package that is not installed: an init error (Runtime.ImportModuleError)."""

import lambdakit_differential_missing_dependency


def handler(event, context):
    return lambdakit_differential_missing_dependency
