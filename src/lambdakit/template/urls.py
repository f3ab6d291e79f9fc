"""A Function URL's ``Cors``, checked when the template loads, as CloudFormation checks it.

The shape and limits are those of ``AWS::Lambda::Url`` ``Cors`` (SAM's ``FunctionUrlConfig``
passes it through unchanged):
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-url-cors.html
and https://docs.aws.amazon.com/lambda/latest/api/API_Cors.html: ``AllowMethods`` from ``GET
PUT HEAD POST PATCH DELETE *`` (at most 6), ``AllowOrigins`` 1 to 253 characters each (at most
100), ``AllowHeaders``/``ExposeHeaders`` up to 1024 characters each (at most 100), ``MaxAge``
0 to 86400 seconds, ``AllowCredentials`` a boolean. A template outside these limits fails to
deploy, so it fails here too, with the property named.

What Lambda accepts but what is probably a mistake gets a warning: a header list written as one
comma-separated entry (Lambda then treats it as one header name, and preflights fail), and an
origin with a path or a ``*`` inside it (an origin is ``scheme://host[:port]``; ``*`` alone is
the only wildcard Lambda documents). ``AllowOrigins: ["*"]`` with ``AllowCredentials: true`` is
accepted, as Lambda accepts it (it then echoes every origin, credentials allowed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lambdakit.template.properties import Properties

__all__ = ["url_cors"]

METHODS = ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*")
_LISTS = {  # key: (most items, longest item)
    "AllowOrigins": (100, 253),
    "AllowMethods": (6, 6),
    "AllowHeaders": (100, 1024),
    "ExposeHeaders": (100, 1024),
}
KEYS = ("AllowCredentials", *_LISTS, "MaxAge")
_ORIGIN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#*]+")


def url_cors(value: object, properties: Properties, prefix: str = "") -> dict[str, object] | None:
    """The URL's ``Cors`` with proper types (lists of strings, a bool, an int), or None."""
    if value is None:
        return None
    where = f"{prefix}Cors"
    if not isinstance(value, Mapping):
        raise properties.error(where, "must be a mapping (AllowOrigins, AllowMethods...)")
    unknown = [str(key) for key in value if key not in KEYS]
    if unknown:
        raise properties.error(
            f"{where}.{unknown[0]}",
            f"is not a CORS setting of Function URLs; use {', '.join(KEYS)}",
        )
    _check_methods(value.get("AllowMethods"), properties, where)  # before the lengths
    cors: dict[str, object] = {}
    for key, (most, longest) in _LISTS.items():
        if key in value:
            items = _strings(value[key], properties, f"{where}.{key}", most, longest)
            cors[key] = [m.upper() for m in items] if key == "AllowMethods" else items
    if "AllowCredentials" in value:
        cors["AllowCredentials"] = _boolean(value["AllowCredentials"], properties, where)
    if "MaxAge" in value:
        cors["MaxAge"] = _max_age(value["MaxAge"], properties, where)
    _warn_about(cors, properties, where)
    return cors


def _strings(
    value: object, properties: Properties, where: str, most: int, longest: int
) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise properties.error(where, f"{value!r} is not a list of strings")
    items = [str(v) for v in value]
    if len(items) > most:
        raise properties.error(where, f"has {len(items)} entries; Lambda allows at most {most}")
    for item in items:
        if not 1 <= len(item) <= longest:
            raise properties.error(where, f"{item!r}: each entry must be 1 to {longest} characters")
    return items


def _boolean(value: object, properties: Properties, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"  # CloudFormation accepts "true"/"false" strings
    raise properties.error(f"{where}.AllowCredentials", f"{value!r}: use true or false")


def _max_age(value: object, properties: Properties, where: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise properties.error(f"{where}.MaxAge", f"{value!r} is not a whole number of seconds")
    if int(text) > 86400:
        raise properties.error(
            f"{where}.MaxAge", f"{int(text)} is out of range; Lambda allows 0 to 86400 seconds"
        )
    return int(text)


def _check_methods(methods: object, properties: Properties, where: str) -> None:
    for method in methods if isinstance(methods, list) else []:
        # Lambda takes methods in any case and keeps them in capitals (what deploy compares).
        if str(method).upper() not in METHODS:
            hint = " (preflights are answered by the URL itself)" if method == "OPTIONS" else ""
            raise properties.error(
                f"{where}.AllowMethods",
                f"{method!r} is not allowed{hint}; use {', '.join(METHODS)}, in capitals",
            )


def _warn_about(cors: Mapping[str, object], properties: Properties, where: str) -> None:
    warn = properties.resolver.warn
    for key in ("AllowHeaders", "ExposeHeaders"):
        for item in _listed(cors, key):
            if "," in item:
                warn(
                    f"{properties.logical_id}.{where}.{key}",
                    f"{item!r} is one header name to Lambda; list each header separately",
                )
    for origin in _listed(cors, "AllowOrigins"):
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            warn(
                f"{properties.logical_id}.{where}.AllowOrigins",
                f"{origin!r} matches no browser's Origin exactly (scheme://host[:port], no path; "
                "'*' alone is the only wildcard); it is compared as written",
            )


def _listed(cors: Mapping[str, object], key: str) -> list[str]:
    value = cors.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []
