"""Where an execution environment's parts are, as its process sees them.

On Lambda the function's code is at /var/task (with the packages a build installed next to
it), its layers are extracted in order into /opt, and the runtime is at /var/runtime
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
Locally these are directories of the developer's machine: the code directory, the prepared
packages, the layer directories, the runtime directory. A ``Layout`` says which paths the
process is given for each part, so that the search path, the variables and the bootstrap's
path are written once for both cases:

- ``host_layout``: plain processes see the host's directories; /opt is several directories,
  most important first (a later layer's files win in /opt, as on Lambda);
- ``sandbox.lambda_layout``: in the sandbox the process sees Lambda's own paths, one each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator.python_paths import runtime_directory

if TYPE_CHECKING:
    from lambdakit.template import FunctionSpec

__all__ = ["Layout", "OptPart", "host_layout"]


@dataclass(frozen=True, slots=True)
class OptPart:
    """A directory whose files are in /opt: at its root (``at=""``: a layer), or in
    /opt/python (``at="python"``: the files of a layer built with ``BuildMethod``, and the
    packages its requirements brought)."""

    root: Path
    at: str = ""


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths a process is given for /var/task, /opt and /var/runtime."""

    task: tuple[Path, ...]
    """What stands for /var/task: the code, then the packages prepared for it."""
    opt: tuple[OptPart, ...]
    """What stands for /opt, the part whose files win first."""
    runtime: Path
    """What stands for /var/runtime: lambdakit's runtime package."""
    sandboxed: bool = False
    """These are Lambda's own paths, in the sandbox (sandbox.py)."""

    @property
    def task_root(self) -> Path:
        """LAMBDA_TASK_ROOT, and the process's working directory."""
        return self.task[0]

    def python_paths(self, version: tuple[int, int]) -> list[Path]:
        """The layers' entries of a Python function's search path: each part's
        ``python/lib/pythonX.Y/site-packages`` then ``python/``
        (https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths)."""
        site = Path("lib", "python%d.%d" % version, "site-packages")
        paths: list[Path] = []
        for part in self.opt:
            python = part.root if part.at == "python" else part.root / "python"
            paths += [python / site, python]
        return paths

    def search_path(self, version: tuple[int, int]) -> list[Path]:
        """What a Python function's ``sys.path`` has before the standard library: /var/task,
        the layers' paths, the runtime (python_paths.py)."""
        return [*self.task, *self.python_paths(version), self.runtime]

    def bins(self) -> list[Path]:
        """/opt/bin, the part that wins first first."""
        return [part.root / "bin" for part in self.opt if not part.at]

    def libraries(self) -> list[Path]:
        """/opt/lib, as above."""
        return [part.root / "lib" for part in self.opt if not part.at]

    def bootstraps(self) -> list[Path]:
        """Where Lambda looks for a ``provided.*`` runtime's executable, in its order:
        /var/task/bootstrap, then /opt/bootstrap
        (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html)."""
        return [self.task_root / "bootstrap"] + [
            part.root / "bootstrap" for part in self.opt if not part.at
        ]


def host_layout(spec: FunctionSpec) -> Layout:
    """SPEC's parts where they are on this machine: its code and prepared packages, its layers
    (last first), and the runtime directory."""
    task = [spec.code_dir]
    if "function" in spec.dependencies:
        task.append(spec.dependencies["function"])
    opt: list[OptPart] = []
    for layer in reversed(spec.layers):
        built = spec.dependencies.get(str(layer))
        if built is None:
            opt.append(OptPart(layer))
        else:  # a BuildMethod layer: its packages and its own files make /opt/python
            opt += [OptPart(built, "python"), OptPart(layer, "python")]
    return Layout(tuple(task), tuple(opt), runtime_directory())
