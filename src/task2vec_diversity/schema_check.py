"""The config checked against the schema (config.schema.yaml, with snakemake.utils.validate):
the config with the schema's defaults filled in, or ConfigError with one line that names the
key, the value and what to write, in words made from the schema. config.py checks the rest.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import os
import re
import tempfile

from . import schema
from .errors import ConfigError


def check(config: dict) -> dict:
    """The config with the schema's defaults filled in, or ConfigError with one line."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    data = copy.deepcopy(config)
    try:
        snakemake_validate(data, _schema_as_json(), set_default=True)
    except WorkflowError as wrapped:
        error = wrapped.__context__
        if not isinstance(error, jsonschema.ValidationError):
            raise
        raise ConfigError(_message(error, config)) from None
    return data


@functools.cache
def _schema_as_json() -> str:
    """The schema written once per process as JSON, which the validator reads far faster than YAML."""
    handle, path = tempfile.mkstemp(prefix="task2vec-config-schema-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(schema.schema(), out)
    atexit.register(os.remove, path)
    return path


_YAML_BOOLEANS = {w: True for w in ("yes", "true", "on", "y")} | {w: False for w in ("no", "false", "off", "n")}


def _types(node: dict) -> list:
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _expected(node: dict) -> str:
    """What a value must be, in words, from its schema."""
    if "x-expected" in node:
        text = node["x-expected"]
    elif "enum" in node:
        text = "one of " + ", ".join(schema._yaml(v) for v in node["enum"])
    else:
        types = [t for t in _types(node) if t != "null"]
        low, high = node.get("minimum"), node.get("maximum")
        kind = types[0] if types else ""
        if kind == "integer":
            if high is not None:
                text = f"an integer from {low} to {high}"
            else:
                text = {0: "a non-negative integer", 1: "a positive integer", None: "an integer"}.get(
                    low, f"an integer >= {low}"
                )
        elif kind == "number":
            if node.get("exclusiveMinimum") == 0:
                text = "a positive number"
            elif high is not None:
                text = f"a number in [{low}, {high}]"
            else:
                text = "a non-negative number" if low == 0 else "a number"
        else:
            text = {
                "boolean": "true or false",
                "string": "a non-empty string" if node.get("minLength") else "a string",
                "array": "a list",
                "object": "a mapping",
            }.get(kind, "a value of another type")
        if "null" in _types(node):
            text += " or null"
    return text + (f" ({node['x-hint']})" if "x-hint" in node else "")


def _yaml11_float(text: str) -> str:
    """1e-4 written as YAML 1.1 (and so PyYAML) reads a float: a dot in the mantissa, a signed exponent."""
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + ("e" + exponent if exponent else "")


def _hint(value, node: dict) -> str:
    """Why a string that looks like the right value is refused, and what to write."""
    if not isinstance(value, str):
        return ""
    types, text = _types(node), value.strip()
    if "boolean" in types and text.lower() in _YAML_BOOLEANS:
        return f" (a string, because of the quotes: write {str(_YAML_BOOLEANS[text.lower()]).lower()} without quotes)"
    if ("integer" in types or "number" in types) and re.fullmatch(r"[+-]?\d+", text):
        return f" (a string, because of the quotes: write {int(text)} without quotes)"
    if "number" in types:
        try:
            float(text)
        except ValueError:
            return ""
        return f" (a string: YAML 1.1 reads {text} as text; write {_yaml11_float(text)})"
    return ""


def _where(path, config) -> str:
    """A dotted key (list items as [i]), or 'config' for the top level."""
    out, node = "", config
    for part in path:
        out += f"[{part}]" if isinstance(node, list) else (f".{part}" if out else str(part))
        node = node[part] if isinstance(node, (list, dict)) else None
    return out or "config"


def _allowed(node: dict, instance: dict) -> set:
    """The keys a mapping may hold: its properties, those it refers to, and those of the
    branches that apply to it (a dataset's source)."""
    import jsonschema

    keys = set(node.get("properties", {}))
    if "$ref" in node:
        keys |= _allowed(schema.resolve(node), instance)
    for branch in node.get("allOf", []):
        if "if" in branch and jsonschema.Draft202012Validator(branch["if"]).is_valid(instance):
            keys |= _allowed(branch["then"], instance)
    return keys


def _message(error, config: dict) -> str:
    """One line for a schema error: the key, the value and what to write."""
    where, node, value = _where(error.absolute_path, config), error.schema, error.instance
    if "propertyNames" in error.absolute_schema_path:
        if isinstance(value, bool):
            return (
                f"config: a name in '{where}' is read by YAML as the boolean {str(value).lower()} (yes, no, on, off, "
                "true and false are booleans); put the name in quotes ('yes':) or rename it"
            )
        if not isinstance(value, str):
            return (
                f"config: a name in '{where}' is read by YAML as the number {value!r}; put the name in quotes "
                f"('{value}':) or rename it"
            )
        return f"config: name {value!r} in '{where}' must be {_expected(node)}"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed(node, value)
        unknown = sorted(str(k) for k in value if k not in allowed)
        return f"config: unknown key '{unknown[0]}' in '{where}'; allowed keys: {', '.join(sorted(allowed))}"
    if error.validator in ("required", "dependentRequired"):
        needed = error.validator_value
        if error.validator == "dependentRequired":
            needed = [k for given, keys in needed.items() if given in value for k in keys]
        missing = next(k for k in needed if k not in value)
        spec = schema.properties(node).get(missing, {})
        wanted = spec.get("x-expected") or spec.get("description") or schema.resolve(spec).get("description", "")
        key = missing if where == "config" else f"{where}.{missing}"
        return f"config: '{key}' is missing; set it to {wanted[:1].lower()}{wanted[1:].rstrip('.')}"
    return f"config: '{where}' must be {_expected(node)}, got {_shown(value)}{_hint(value, node)}"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
