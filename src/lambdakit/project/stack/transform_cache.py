"""Transformed templates cached by content, so that deploying an unchanged template neither
imports ``aws-sam-translator`` (about half a second) nor runs it.

The key is the SHA-256 of everything the transform's output depends on:

    the SAM template   after ``sam package``'s step: artifacts at their S3 locations, so a
                       changed artifact (a new content-hash key) is a new template
    the parameters     the values given and the pseudo parameters (account, region, stack)
    the translator     its ``__init__.py`` (which holds ``__version__``), read, not imported;
                       its bundled managed-policy map ships with that version
    lambdakit          its version and ``transform.py``'s source (what is done around the
                       translator: the py27 fix, the transforms left for CloudFormation)

A transform that had to ask IAM for a managed policy's ARN (a name the translator's bundled
map lacks: ``ManagedPolicyLoader``) is not cached: what IAM answers is not part of the key.

Entries live in ``$XDG_CACHE_HOME/lambdakit/transforms/<key>/template.json`` (default
``~/.cache``), each written whole or not at all (``lambdakit._atomic``), never changed after.
A cache that cannot be read or written is skipped: the transform runs as if it were absent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdakit._atomic import make_directory
from lambdakit._version import __version__

__all__ = ["cache_root", "key", "load", "store"]

FORMAT = "1"
ENTRY = "template.json"


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/lambdakit/transforms``, or ``~/.cache/lambdakit/transforms``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lambdakit" / "transforms"


def key(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> str | None:
    """The cache key of transforming TEMPLATE with PARAMETERS; None when there is none (the
    translator is not installed, or the template is not JSON data)."""
    translator = _translator_source()
    if translator is None:
        return None
    try:
        document = json.dumps([template, parameters], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0".encode())
    digest.update(hashlib.sha256(translator).digest())
    digest.update(hashlib.sha256(Path(__file__).with_name("transform.py").read_bytes()).digest())
    digest.update(document.encode())
    return digest.hexdigest()


def load(name: str) -> dict[str, Any] | None:
    """The transformed template cached under NAME, or None."""
    try:
        data = json.loads((cache_root() / name / ENTRY).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(name: str, template: Mapping[str, Any]) -> None:
    """Cache TEMPLATE under NAME (nothing happens when it cannot be written)."""
    try:
        body = json.dumps(template, sort_keys=True).encode()
    except (TypeError, ValueError):
        return  # not JSON data: CloudFormation could not be sent it from a cache either
    try:
        make_directory(cache_root() / name, lambda staging: _write(staging / ENTRY, body))
    except OSError:
        pass  # a read-only or full cache directory: the next deploy transforms again


def _write(path: Path, body: bytes) -> None:
    path.write_bytes(body)


def _translator_source() -> bytes | None:
    """``samtranslator/__init__.py`` (its version), found without importing the package."""
    try:
        spec = importlib.util.find_spec("samtranslator")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    try:
        return Path(spec.origin).read_bytes()
    except OSError:
        return None
