"""Environment files laid over the functions: SAM CLI's ``--env-vars`` JSON, or dotenv.

Mistakes in them raise ``TemplateError`` with the file and line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lambdakit.template.errors import TemplateError
from lambdakit.template.specs import TemplateResult
from lambdakit.template.values import to_string

__all__ = ["apply_env_file", "parse_env_file", "parse_env_vars_json"]


def apply_env_file(result: TemplateResult, path: Path) -> TemplateResult:
    """RESULT with the variables of an environment file merged over each function's.

    A file ending in ``.json`` or starting with ``{`` is SAM CLI's ``--env-vars`` shape (see
    ``parse_env_vars_json``); anything else is a dotenv file applied to every function (see
    ``parse_env_file``). Unlike SAM CLI, which only overrides variables the template declares,
    every variable in the file is set: SAM's rule surprises its users again and again
    (aws-sam-cli #1553, #6145, #8046).
    """
    text = _read_text(path)
    if path.suffix != ".json" and not text.lstrip().startswith("{"):
        variables = parse_env_file(path)
        return TemplateResult(
            [spec.with_overrides(environment=variables) for spec in result.functions],
            result.warnings,
            result.differences,
        )
    by_target = parse_env_vars_json(path)
    common = by_target.pop("Parameters", {})
    functions = [
        spec.with_overrides(
            environment={
                **common,
                **by_target.get(spec.logical_id or spec.name, {}),
                **by_target.get(spec.name, {}),
            }
        )
        for spec in result.functions
    ]
    known = {spec.name for spec in functions} | {spec.logical_id for spec in functions}
    unused = [
        f"{path}: {target!r} matches no function (by logical id or FunctionName); its "
        "variables are not used"
        for target in by_target
        if target not in known
    ]
    return TemplateResult(functions, [*result.warnings, *unused], result.differences)


def parse_env_vars_json(path: Path) -> dict[str, dict[str, str]]:
    """SAM CLI's ``--env-vars`` file: ``{"Parameters": {...}, "HelloFunction": {...}}``.

    Returns the mapping as it is: the ``Parameters`` key holds variables for every function,
    other keys a function's logical id or FunctionName. Numbers keep the text they were
    written with, booleans become ``true``/``false``.
    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html#serverless-sam-cli-using-invoke-environment-file
    """
    try:
        data = json.loads(_read_text(path), parse_int=str, parse_float=str)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}:{exc.lineno}:{exc.colno}: JSON error: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a JSON object of functions")
    return {str(target): _env_vars_of(path, str(target), values) for target, values in data.items()}


def _env_vars_of(path: Path, target: str, values: object) -> dict[str, str]:
    if not isinstance(values, dict):
        raise TemplateError(
            f"{path}: {target!r} must map to an object of variables, as in SAM CLI's env.json: "
            f'{{"{target}": {{"NAME": "value"}}}}; for a flat NAME=value list use a .env file'
        )
    variables = {}
    for name, value in values.items():
        text = to_string(value)
        if text is None:
            raise TemplateError(f"{path}: {target}.{name}: must be a string, not a list or object")
        variables[str(name)] = text
    return variables


_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")
_DOTENV_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def parse_env_file(path: Path) -> dict[str, str]:
    """Variables of a dotenv-style file, as Docker Compose and python-dotenv read them.

    ``NAME=value`` lines; blank lines and ``#`` comments are skipped; ``export `` before the
    name is allowed; ``'single'`` quotes keep the text as it is, ``"double"`` quotes read
    ``\\n``, ``\\t``, ``\\"`` and ``\\\\``; an unquoted value ends at `` #``. A value spans one
    line, and ``${OTHER}`` is not expanded. A later line wins over an earlier one.
    """
    variables = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.fullmatch(line)
        if match is None:
            raise TemplateError(
                f"{path}:{number}: expected NAME=value (or a # comment), found {line.strip()!r}"
            )
        variables[match[1]] = _dotenv_value(match[2].strip(), f"{path}:{number}")
    return variables


def _dotenv_value(raw: str, where: str) -> str:
    if not raw.startswith(("'", '"')):
        return re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
    quote = raw[0]
    end = _closing_quote(raw, quote)
    if end < 0:
        raise TemplateError(f"{where}: the {quote} quote is not closed on this line")
    if raw[end + 1 :].strip() and not raw[end + 1 :].strip().startswith("#"):
        raise TemplateError(f"{where}: unexpected text after the closing {quote} quote")
    body = raw[1:end]
    if quote == "'":
        return body
    return re.sub(r"\\(.)", lambda m: _DOTENV_ESCAPES.get(m[1], m[1]), body)


def _closing_quote(raw: str, quote: str) -> int:
    index = 1
    while index < len(raw):
        if raw[index] == "\\" and quote == '"':
            index += 2
        elif raw[index] == quote:
            return index
        else:
            index += 1
    return -1


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
