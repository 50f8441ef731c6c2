"""The config files as YAML text: what the YAML reader lets through or words badly, refused
with one line before Snakemake's own reading of the values matters. A key given twice in one
mapping (YAML keeps the last one, silently) and a tag (``!!python/...``, ``!custom``: a config
holds plain values) name their file, line and key. Read with PyYAML's composer, which builds
nodes and never constructs objects, so no tag can run anything here."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

# the tags plain YAML values have (what a config may hold)
PLAIN = {
    f"tag:yaml.org,2002:{kind}"
    for kind in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")
}


def check(paths) -> None:
    """Refuse a config file that holds a key twice in one mapping, or a YAML tag; a file that
    does not exist is left to Snakemake."""
    for path in paths:
        if Path(path).is_file():
            check_text(Path(path).read_text(encoding="utf-8", errors="replace"), str(path))


def check_text(text: str, where: str) -> None:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"config: {where} is not valid YAML ({problem}{at}); fix that line") from None
    if node is not None:
        _walk(node, where, "")


def _walk(node, where: str, path: str) -> None:
    import yaml

    if node.tag not in PLAIN:
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConfigError(
            f"config: {where} line {node.start_mark.line + 1}: the YAML tag {shown} {_at(path)}is not allowed (a "
            "config holds plain values: text, numbers, true/false, lists and mappings); remove the tag"
        )
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                inside = f"in '{path}' " if path else "at the top level "
                raise ConfigError(
                    f"config: {where} line {key.start_mark.line + 1}: key '{name}' is given twice {inside}(first at "
                    f"line {seen[name] + 1}); YAML would keep only the last: remove or rename one"
                )
            if name is not None:
                seen[name] = key.start_mark.line
            _walk(key, where, path)
            _walk(value, where, f"{path}.{name}" if path else str(name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, where, f"{path}[{i}]")


def _at(path: str) -> str:
    return f"(at '{path}') " if path else ""


def main(argv: list[str]) -> int:
    """``python -m task2vec_diversity.config_text FILE...``: the one line for a config file that
    Snakemake could not read. Snakemake reads a ``--configfile`` before the workflow starts and
    words a tag or a YAML error there as "not valid JSON or YAML"; this names the line."""
    try:
        check(argv)
    except ConfigError as error:
        print(f"error: {error}")
        return 1
    print(f"ok: {', '.join(argv)}: no YAML error, no tag, no key given twice")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
