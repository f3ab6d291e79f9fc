"""The lambdakit runtime: the process that runs Python handlers inside AWS Lambda.

Run it as ``python -m lambdakit.runtime module.handler`` (or through the shipped ``bootstrap``
script). It uses the standard library only and imports as little of it as it can: everything
here is on the cold-start path of every function that ships it. Keep this file free of imports.
"""
