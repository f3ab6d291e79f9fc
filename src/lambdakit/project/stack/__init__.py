"""``lambdakit deploy --stack``: the whole template as one CloudFormation stack.

``packaging`` builds, uploads and transforms the template (``package_stack``); the change
set, its execution, the events and ``delete`` are in the modules next to it.
"""

from lambdakit.project.stack.packaging import Packaged, Upload, package_stack

__all__ = ["Packaged", "Upload", "package_stack"]
