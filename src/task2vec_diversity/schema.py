"""The config schema, config.schema.yaml: the one place where a key's type, range, default
and description are written. The library's defaults are read from it here (yaml only: no
torch, no snakemake), and docs/configuration.md is generated from it:

    PYTHONPATH=src .venv/bin/python -m task2vec_diversity.schema docs/configuration.md
"""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def schema() -> dict:
    """A copy of the schema (the validator fills defaults into what it is given)."""
    return copy.deepcopy(_schema())


def resolve(node: dict) -> dict:
    """The node a local ``$ref`` (#/$defs/name) points to, or the node itself."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = _schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def section(name: str) -> dict:
    """A top-level key's schema, or an entry of $defs."""
    root = _schema()
    return root["properties"][name] if name in root["properties"] else root["$defs"][name]


def properties(node: dict | str) -> dict:
    """The properties of a node, with those of the node it refers to ($ref, or the ``then`` of
    a mapping-or-null) under its own."""
    node = section(node) if isinstance(node, str) else node
    found = {}
    if "$ref" in node:
        found.update(properties(resolve(node)))
    if node.get("if") == {"type": "object"}:
        found.update(properties(node["then"]))
    found.update(node.get("properties", {}))
    return found


def defaults(name: str) -> dict:
    """{key: default} of a section (probe_build, task2vec_method, sampling, source_ginc, report ...)."""
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties(name).items() if "default" in spec}


# --- docs/configuration.md ---

BEGIN, END = "<!-- generated from config.schema.yaml: begin -->", "<!-- generated from config.schema.yaml: end -->"
INTRO = """# Configuration

Every key of a workflow config, its type, range and default. A dataset's `sampling`, `task2vec`
(method keys) and `probe` go over the top-level ones. A wrong value stops the workflow before any
job, with one line naming the key, the value and what to write instead.
"""


def _kind(spec: dict) -> str:
    spec = {**resolve(spec), **spec} if "$ref" in spec and "type" not in spec else spec
    if "enum" in spec:
        return " \\| ".join(f"`{_yaml(v)}`" for v in spec["enum"])
    types = spec.get("type", "")
    types = [types] if isinstance(types, str) else list(types)
    text = " or ".join("mapping" if t == "object" else "list" if t == "array" else t for t in types if t) or "any"
    bounds = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in spec:
            bounds.append(f"{sign} {spec[key]}")
    if spec.get("minItems"):
        bounds.append(f"at least {spec['minItems']} items")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _yaml(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict) and not value:
        return "{}"
    return str(value)


def _rows(node: dict, prefix: str) -> list[str]:
    rows = []
    for key, spec in properties(node).items():
        description = spec.get("description", resolve(spec).get("description", ""))
        default = f"`{_yaml(spec['default'])}`" if "default" in spec and spec["default"] != {} else ""
        if spec.get("x-hint"):
            description += f" ({spec['x-hint']})"
        rows.append(f"| `{prefix}{key}` | {_kind(spec)} | {default} | {description} |")
    return rows


def _table(title: str, text: str, node: dict, prefix: str) -> list[str]:
    header = ["", f"### {title}", ""] + ([text, ""] if text else [])
    return header + ["| key | type | default | description |", "|---|---|---|---|", *_rows(node, prefix)]


def markdown() -> str:
    """The reference part of docs/configuration.md."""
    root = _schema()
    defs = root["$defs"]
    out = [BEGIN, "", "## Reference", "", "Generated from `src/task2vec_diversity/config.schema.yaml`: edit that file,"]
    out += ["then `PYTHONPATH=src .venv/bin/python -m task2vec_diversity.schema docs/configuration.md`."]
    for name, spec in root["properties"].items():
        if name in ("datasets", "pools", "sweeps"):
            continue
        out += _table(f"`{name}`", spec["description"], spec, f"{name}.")
        if name == "probe":
            text = defs["probe"]["properties"]["build"]["description"]
            out += _table("`probe.build`", text, defs["probe_build"], "probe.build.")
    out += _table("`datasets.<name>`", root["properties"]["datasets"]["description"], defs["dataset"], "")
    for source in defs["dataset"]["properties"]["source"]["enum"]:
        key = f"source_{source}"
        if key in defs:
            out += _table(f"`source: {source}`", defs[key]["description"], defs[key], "")
    for name in ("pools", "sweeps"):
        spec = root["properties"][name]
        out += _table(f"`{name}.<name>`", spec["description"], spec["additionalProperties"], "")
    return "\n".join([*out, "", END, ""])


def render(existing: str | None) -> str:
    """docs/configuration.md with its generated part replaced (hand-written text around it kept)."""
    if not existing or BEGIN not in existing or END not in existing:
        return INTRO + "\n" + markdown()
    head, rest = existing.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + markdown().rstrip("\n") + tail


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target is None:
        print(markdown())
    else:
        target.write_text(render(target.read_text() if target.exists() else None))
