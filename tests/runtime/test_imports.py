"""Cold start is a feature: the runtime imports only light parts of the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys

FORBIDDEN = ("http.client", "email", "ssl", "asyncio", "logging", "json", "typing", "dataclasses")

PROBE = """
before = set(sys.modules)
import lambdakit.runtime.__main__, lambdakit.runtime.loop, lambdakit.runtime.client
print(repr(sorted(set(sys.modules) - before)))
"""


def loaded_modules() -> list[str]:
    # -S: no site-packages processing, so nothing but the runtime adds modules. -I would drop
    # the source tree from sys.path too, so the package's location is passed explicitly.
    import lambdakit

    root = lambdakit.__path__[0].rsplit("/", 1)[0]
    code = f"import sys; sys.path.insert(0, {root!r})\n" + PROBE
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, check=True)
    return list(ast.literal_eval(out.stdout.decode()))


def test_the_runtime_imports_only_the_standard_library() -> None:
    loaded = loaded_modules()
    ours = [m for m in loaded if m == "lambdakit" or m.startswith("lambdakit.")]
    others = [m for m in loaded if m not in ours]
    top_level = {m.split(".")[0] for m in others}
    assert top_level <= set(sys.stdlib_module_names), top_level - set(sys.stdlib_module_names)
    assert not [m for m in others if m.startswith(FORBIDDEN)], others


def test_the_runtime_does_not_import_the_tooling() -> None:
    loaded = loaded_modules()
    assert not [m for m in loaded if m.startswith(("lambdakit.cli", "lambdakit.emulator"))]
    assert "lambdakit.runtime.logbridge" not in loaded  # only once user code imports logging
