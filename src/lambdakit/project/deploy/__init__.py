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
exceptions are translated once, in ``aws.translate``, into ``DeployError`` messages that say
what to do.

    values.py     Action, Step, Package, Settings, DeployResult
    project.py    ``deploy``: choose, build, connect, then each function
    startable.py  refuses a package whose bootstrap needs a Python nothing brings
    function.py   ``deploy_function``: code, layers, create or update
    access.py     version, Function URL, permissions, concurrency
    steps.py      reads, writes and waits of one function's steps
    shapes.py     the shapes of Lambda's API (CodeSha256, CORS, policy statements)
    aws.py        boto3 and the translation of its errors
"""

from __future__ import annotations

from lambdakit.project.deploy.aws import Clients, connect
from lambdakit.project.deploy.function import deploy_function
from lambdakit.project.deploy.project import deploy, lambdakit_builder, template_settings
from lambdakit.project.deploy.values import (
    Action,
    Builder,
    DeployResult,
    Package,
    Settings,
    Step,
)

__all__ = [
    "Action",
    "Builder",
    "Clients",
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
